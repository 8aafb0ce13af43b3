"""bfloat16 on Pong's network, one process, one torch thread (issue 40): time and numbers.

    python benchmarks/bf16_step.py [--reps 30] [--out benchmarks/results/bf16-pong-step.json]

The A3C worker's two network passes on the Pong preset (the universe torso on 42x42 frames, an
LSTM of 256): the loss's forward and backward over one 20-step rollout of 8 envs, and the acting
forward on 8 observations. Each is timed in float32 and in bfloat16 (the loss as the engines run
it with loss_precision=bfloat16, the acting forward under torch.autocast),
alternating, on random frames; then the numbers are compared: the bfloat16 gradient against the
float32 one (cosine and relative error of the whole flat gradient) and the acting policy's
probabilities (largest difference). A CPU without bfloat16 units (AVX-512 BF16 or AMX) runs
bfloat16 in emulation, and the times say so.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import json
import sys
import time
from pathlib import Path

import numpy as np
import torch

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from a3c.config import Config  # noqa: E402
from a3c.distributions import Categorical  # noqa: E402
from a3c.envs.spaces import ObsSpec  # noqa: E402
from a3c.loss import LossSettings, rollout_loss  # noqa: E402
from a3c.models import build_model  # noqa: E402
from a3c.rollout import Rollout  # noqa: E402
from run import provenance  # noqa: E402

ACTIONS = 6  # Pong's minimal action set


def autocast(bf16: bool):
    return torch.autocast("cpu", dtype=torch.bfloat16) if bf16 else contextlib.nullcontext()


def pong_parts(seed: int = 0):
    cfg = Config.for_env("ALE/Pong-v5", algo="a3c")
    torch.manual_seed(seed)
    dist = Categorical(ACTIONS)
    spec = ObsSpec((1, cfg.screen_size, cfg.screen_size), np.uint8, 1 / 255)
    model = build_model(cfg, spec, dist)
    gen = torch.Generator().manual_seed(seed)
    rollout = Rollout.allocate(cfg.t_max, cfg.envs_per_worker, spec.shape, torch.uint8, dist, cfg.lstm_size)
    rollout.obs.copy_(torch.randint(0, 256, rollout.obs.shape, generator=gen, dtype=torch.uint8))
    rollout.actions.copy_(torch.randint(0, ACTIONS, rollout.actions.shape, generator=gen))
    rollout.rewards.copy_(torch.randint(-1, 2, rollout.rewards.shape, generator=gen).float())
    rollout.starts[0] = 1.0
    return cfg, dist, model, rollout


def loss_step(model, dist, rollout, settings, bf16: bool) -> torch.Tensor:
    """One loss forward and backward as the engines run it (loss_precision=bfloat16 or float32);
    returns the flat gradient."""
    model.zero_grad(set_to_none=True)
    terms = rollout_loss(model, dist, rollout, dataclasses.replace(settings, bfloat16=bf16))
    terms.total.backward()
    return torch.cat([p.grad.reshape(-1) for p in model.parameters() if p.grad is not None])


def act(model, obs, state, bf16: bool) -> torch.Tensor:
    with torch.inference_mode(), autocast(bf16):
        params, _, _ = model(obs, state)
    return torch.softmax(params.float(), dim=-1)


def timed(fn, reps: int) -> float:
    start = time.perf_counter()
    for _ in range(reps):
        fn()
    return (time.perf_counter() - start) / reps


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reps", type=int, default=30, help="timed repetitions of each pass per round")
    parser.add_argument("--rounds", type=int, default=4, help="float32 and bfloat16 alternate this many times")
    parser.add_argument("--out", type=Path, default=HERE / "results" / "bf16-pong-step.json")
    args = parser.parse_args()
    torch.set_num_threads(1)
    cfg, dist, model, rollout = pong_parts()
    settings = LossSettings.from_config(cfg)
    obs = rollout.obs[0]
    state = model.initial_state(obs.shape[0])

    fp32_grad = loss_step(model, dist, rollout, settings, bf16=False)
    bf16_grad = loss_step(model, dist, rollout, settings, bf16=True)
    cosine = float(torch.nn.functional.cosine_similarity(fp32_grad, bf16_grad, dim=0))
    rel_error = float((bf16_grad - fp32_grad).norm() / fp32_grad.norm())
    prob_diff = float((act(model, obs, state, True) - act(model, obs, state, False)).abs().max())

    times: dict[str, list[float]] = {k: [] for k in ("loss_fp32", "loss_bf16", "act_fp32", "act_bf16")}
    for _ in range(args.rounds):
        for bf16 in (False, True):
            name = "bf16" if bf16 else "fp32"
            loss_step(model, dist, rollout, settings, bf16)  # warm-up
            times[f"loss_{name}"].append(timed(lambda b=bf16: loss_step(model, dist, rollout, settings, b), args.reps))
            act(model, obs, state, bf16)
            times[f"act_{name}"].append(timed(lambda b=bf16: act(model, obs, state, b), args.reps * 10))
    medians = {k: float(np.median(v)) for k, v in times.items()}
    result = dict(
        **provenance(),  # the commit of the a3c imported: a worktree on PYTHONPATH or this checkout
        torch=torch.__version__,
        command="python benchmarks/bf16_step.py " + " ".join(sys.argv[1:]),
        rollout=dict(t_max=cfg.t_max, envs=cfg.envs_per_worker, screen=cfg.screen_size, lstm=cfg.lstm_size),
        seconds=times,
        median_ms={k: round(v * 1e3, 3) for k, v in medians.items()},
        loss_speedup=round(medians["loss_fp32"] / medians["loss_bf16"], 3),
        act_speedup=round(medians["act_fp32"] / medians["act_bf16"], 3),
        gradient_cosine=round(cosine, 6),
        gradient_relative_error=round(rel_error, 6),
        policy_prob_max_diff=round(prob_diff, 6),
    )
    args.out.write_text(json.dumps(result, indent=1) + "\n")
    print(json.dumps({k: v for k, v in result.items() if k != "seconds"}, indent=1))


if __name__ == "__main__":
    main()
