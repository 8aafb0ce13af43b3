"""ONNX export against `a3c eval`, on trained runs of four kinds of policy (issue 25):

    python benchmarks/export_check.py [--out DIR]

For CartPole-v1 (categorical MLP), a3c/MaskedCartPole-v1 (LSTM), Pendulum-v1 (Gaussian, clip)
and MinAtar/Breakout-v1 (uint8 grids, conv net): train a run on its preset (`a3c train`, a
time limit each), export it with `a3c export` (which itself compares onnxruntime with torch on
1,000 observations of greedy episodes), then play 10 greedy episodes twice with the same seeds:
once with `a3c eval --json`, once with onnxruntime alone (no torch, no a3c policy code in the
loop), and compare the returns episode by episode. Prints a markdown table.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

RUNS = {  # env id: seconds of training
    "CartPole-v1": 30,
    "a3c/MaskedCartPole-v1": 90,
    "Pendulum-v1": 45,
    "MinAtar/Breakout-v1": 120,
}
EPISODES, SEED = 10, 10_000  # a3c eval's default first seed


def a3c(*args: str) -> str:
    done = subprocess.run([sys.executable, "-m", "a3c", *args], capture_output=True, text=True, check=True)
    return done.stdout


def onnx_returns(env_id: str, run: Path, model: Path) -> list[float]:
    """Greedy episodes with onnxruntime, in the env `a3c eval` builds (the model's view of it)."""
    import onnxruntime as ort

    import a3c
    from a3c.envs import make_env

    config = a3c.load(run).config
    session = ort.InferenceSession(str(model), providers=["CPUExecutionProvider"])
    inputs = [i.name for i in session.get_inputs()]
    lstm = [i.shape[1] for i in session.get_inputs() if i.name == "h"]
    env = make_env(config)
    returns = []
    for episode in range(EPISODES):
        obs, _ = env.reset(seed=SEED + episode)
        state = [np.zeros((1, lstm[0]), np.float32)] * 2 if lstm else []
        total, done = 0.0, False
        while not done:
            feed = dict(zip(inputs, [obs[None], *state], strict=True))
            action, *rest = session.run(None, feed)
            state = rest[-2:] if lstm else []
            act = action[0] if action.ndim > 1 else action[0].item()
            obs, reward, terminated, truncated, _ = env.step(act)
            total += float(reward)
            done = terminated or truncated
        returns.append(total)
    env.close()
    return returns


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, default=None, help="where the runs go (default: a temp dir)")
    args = parser.parse_args()
    out = args.out or Path(tempfile.mkdtemp(prefix="export-check-"))
    print(
        "| env | policy | export check (onnxruntime vs torch) | `a3c eval` mean return | onnxruntime mean | "
        "episodes equal |"
    )
    print("| --- | --- | --- | --- | --- | --- |")
    for env_id, seconds in RUNS.items():
        run = out / env_id.replace("/", "_")
        a3c(
            "train",
            env_id,
            "--time-limit",
            str(seconds),
            "--run-dir",
            str(run),
            "--set",
            "progress=false",
            "--set",
            "tensorboard=false",
        )
        model = run / "policy.onnx"
        said = a3c("export", str(run), "-o", str(model), "--observations", "1000").strip().splitlines()[-1]
        evaluated = json.loads(a3c("eval", str(run), "--episodes", str(EPISODES), "--json").strip().splitlines()[-1])
        mine = onnx_returns(env_id, run, model)
        same = sum(abs(a - b) < 1e-6 for a, b in zip(evaluated["returns"], mine, strict=True))
        kind = {
            "CartPole-v1": "categorical MLP",
            "a3c/MaskedCartPole-v1": "categorical LSTM",
            "Pendulum-v1": "Gaussian (clip) MLP",
            "MinAtar/Breakout-v1": "categorical conv, uint8",
        }[env_id]
        print(
            f"| {env_id} | {kind} | {said} | {evaluated['mean_return']:.1f} | {np.mean(mine):.1f} | "
            f"{same}/{EPISODES} |",
            flush=True,
        )


if __name__ == "__main__":
    main()
