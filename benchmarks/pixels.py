"""Pixel benchmarks, side by side in one run: Pong throughput, and learning on Atari or MinAtar.

    python benchmarks/pixels.py throughput --seconds 60 --seeds 3
    python benchmarks/pixels.py minatar --seconds 300 --seeds 2
    python benchmarks/pixels.py learn --env MinAtar/SpaceInvaders-v1 --seconds 300 --seeds 2
    python benchmarks/pixels.py learn --env ALE/Pong-v5 --seconds 1500 --seeds 1
    python benchmarks/pixels.py stability results/pixels-minatar-STAMP.json [--env ID]  # (re)compute the figures

throughput: steady-state agent steps/s on ALE/Pong-v5 (the papers' preprocessing in every
system) of `a3c` (A3C, 2 workers), `ga3c`, Stable-Baselines3 A2C with rl-zoo3's Atari
settings (16 envs, AtariWrapper, 4-stack, CnnPolicy, RMSpropTFLike), and the raw limit:
ale-py's AtariVectorEnv, 16 games on 2 threads, random actions, no learning, at the papers'
84x84 with 4 frames (`raw`) or at the Pong preset's own 42x42 single frames (`raw42`, what a3c's
Pong command steps). `a3c:key=value,...` is an engine with settings changed (`--set key=value`),
e.g. `a3c:loss_precision=float32` beside the defaults. The rate is taken between 10 s after
training starts and the end, so start-up costs count for nobody.

learn: mean return of the last 100 training episodes after `--seconds` of training on `--env`
(default MinAtar/Breakout-v1; `minatar` is this task on that env), for `a3c`, `ga3c` and SB3 A2C
with rl-zoo3's Atari A2C settings: for ALE ids the zoo's whole recipe (the NoFrameskip-v4 game,
AtariWrapper, 4-stack, 16 envs, CnnPolicy), for MinAtar ids the same small CNN as a3c's
`minatar` torso (16 3x3 filters, FC 128) on 16 envs (no zoo entry exists for MinAtar). The
table also gives each run's mean return at a quarter, half and three quarters of the time, and
each record its stability figures (a3c.stats.stability against random play: best, final, drop).

Systems alternate within each seed, the first one rotating, so drift on a shared machine
falls on all of them. Each process uses one torch thread. Results: results/pixels-*.json
and a table appended to results/pixels.md, with the exact command.
"""

from __future__ import annotations

import argparse
import csv
import json
import platform
import statistics
import sys
import time
from collections import deque
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from aggregate import over_seeds  # noqa: E402
from run import cpu_model, git_commit  # noqa: E402
from systems import measure, sb3_atari_env  # noqa: E402

REPO = HERE.parent
OUT = HERE / "results"
WARMUP_S = 10.0  # rates are measured after this much training time


# ----- our systems: the CLI in a subprocess -----
def run_ours(system: str, env_id: str, seed: int, seconds: float, work: Path) -> dict[str, Any]:
    """system: an engine (a3c, ga3c) on the env's defaults, or with changes, a3c:key=value,key=value."""
    algo, _, changes = system.partition(":")
    sets = [arg for pair in changes.split(",") if pair for arg in ("--set", pair)]
    name = system.replace(":", "-").replace("=", "-").replace(",", "-")
    run_dir = work / f"{name}-{env_id.replace('/', '_')}-s{seed}"
    cmd = [sys.executable, "-m", "a3c", "train", env_id, "--algo", algo, "--workers", "2", "--seed", str(seed),
           "--time-limit", str(seconds), "--run-dir", str(run_dir), "--set", "progress=false",
           "--set", "tensorboard=false", "--set", "log_interval_s=1", *sets]
    proc = measure(cmd, work / f"{run_dir.name}.log", hard_limit_s=seconds + 120)
    rows = list(csv.DictReader(open(run_dir / "metrics.csv")))
    series = [(float(r["wall_s"]), int(r["env_steps"]),
               float(r["mean_return_100"]) if r["mean_return_100"] else None) for r in rows]
    summary = json.loads((run_dir / "summary.json").read_text())
    return dict(series=series, mean_return_100=summary["mean_return_100"], env_steps=summary["env_steps"],
                rc=proc["rc"], process_wall_s=proc["process_wall_s"], peak_pss_mb=proc.get("peak_pss_mb"))


# ----- SB3 A2C: the child process -----
def zoo_atari_id(env_id: str) -> str:
    """The id rl-zoo3 trains a game under: ALE/Pong-v5 -> PongNoFrameskip-v4 (no sticky actions,
    no frame skip of its own: AtariWrapper adds the papers' protocol, as a3c does for ALE ids)."""
    return env_id.split("/", 1)[1].rsplit("-v", 1)[0] + "NoFrameskip-v4"


def sb3_child(env_id: str, seed: int, seconds: float, out_path: Path) -> None:
    import gymnasium as gym
    import torch
    from torch import nn

    torch.set_num_threads(1)
    from stable_baselines3 import A2C
    from stable_baselines3.common.callbacks import BaseCallback
    from stable_baselines3.common.env_util import make_vec_env
    from stable_baselines3.common.sb2_compat.rmsprop_tf_like import RMSpropTFLike
    from stable_baselines3.common.torch_layers import BaseFeaturesExtractor
    from stable_baselines3.common.vec_env import DummyVecEnv

    # rl-zoo3 a2c.yml, atari: 16 envs, 4-stack, CnnPolicy, ent 0.01, vf 0.25, RMSpropTFLike eps 1e-5.
    zoo = dict(ent_coef=0.01, vf_coef=0.25)
    optimizer = dict(optimizer_class=RMSpropTFLike, optimizer_kwargs=dict(eps=1e-5))
    if env_id.startswith("ALE/"):
        env = sb3_atari_env(zoo_atari_id(env_id), n_envs=16, seed=seed)  # the zoo's id: no sticky actions
        model = A2C("CnnPolicy", env, seed=seed, device="cpu", policy_kwargs=optimizer, **zoo)
    else:
        import minatar.gym

        minatar.gym.register_envs()

        class Float(gym.ObservationWrapper):  # MinAtar's bool [10, 10, C] grids as float [C, 10, 10]
            def __init__(self, env):
                super().__init__(env)
                h, w, c = env.observation_space.shape
                self.observation_space = gym.spaces.Box(0.0, 1.0, (c, h, w), dtype="float32")

            def observation(self, obs):
                return obs.transpose(2, 0, 1).astype("float32")

        class MinAtarNet(BaseFeaturesExtractor):  # the same net as a3c's `minatar` torso
            def __init__(self, space):
                super().__init__(space, features_dim=128)
                c, h, w = space.shape
                self.net = nn.Sequential(nn.Conv2d(c, 16, 3, 1), nn.ReLU(), nn.Flatten(),
                                         nn.Linear(16 * (h - 2) * (w - 2), 128), nn.ReLU())

            def forward(self, obs):
                return self.net(obs)

        env = make_vec_env(env_id, n_envs=16, seed=seed, wrapper_class=Float, vec_env_cls=DummyVecEnv)
        model = A2C("MlpPolicy", env, seed=seed, device="cpu", **zoo,
                    policy_kwargs=dict(optimizer, features_extractor_class=MinAtarNet, net_arch=[]))

    class Clock(BaseCallback):
        def __init__(self):
            super().__init__()
            self.started = time.monotonic()
            self.returns: deque[float] = deque(maxlen=100)
            self.series: list = []
            self.last = -1.0

        def _on_step(self) -> bool:
            for info in self.locals["infos"]:
                if "episode" in info:  # SB3's Monitor: the whole game's real score
                    self.returns.append(float(info["episode"]["r"]))
            wall = time.monotonic() - self.started
            if wall - self.last >= 1.0:
                mean = sum(self.returns) / len(self.returns) if self.returns else None
                self.series.append((wall, self.num_timesteps, mean))
                self.last = wall
            return wall < seconds

    clock = Clock()
    model.learn(total_timesteps=10**9, callback=clock)
    clock.last = -1e9
    clock._on_step()
    mean = sum(clock.returns) / len(clock.returns) if clock.returns else None
    out_path.write_text(json.dumps(dict(series=clock.series, mean_return_100=mean, env_steps=model.num_timesteps)))


def run_sb3(env_id: str, seed: int, seconds: float, work: Path) -> dict[str, Any]:
    out = work / f"sb3-a2c-{env_id.replace('/', '_')}-s{seed}.json"
    cmd = [sys.executable, str(HERE / "pixels.py"), "sb3-child", env_id, str(seed), str(seconds), str(out)]
    proc = measure(cmd, work / f"{out.stem}.log", hard_limit_s=seconds + 300)
    return dict(json.loads(out.read_text()), rc=proc["rc"], process_wall_s=proc["process_wall_s"],
                peak_pss_mb=proc.get("peak_pss_mb"))


# ----- the raw limit -----
# The raw systems' frames: (size, stack); raw42 is the Pong preset's preprocessing (presets._PONG).
RAW_FRAMES = {"raw": (84, 4), "raw42": (42, 1)}


def raw_child(seconds: float, out_path: Path, system: str = "raw") -> None:
    import numpy as np
    from ale_py.vector_env import AtariVectorEnv

    size, stack = RAW_FRAMES[system]
    env = AtariVectorEnv("pong", 16, num_threads=2, autoreset_mode="SameStep", reward_clipping=False,
                         img_height=size, img_width=size, stack_num=stack)
    env.reset(seed=0)
    rng = np.random.default_rng(0)
    steps, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        env.step(rng.integers(0, 6, 16))
        steps += 16
    out_path.write_text(json.dumps(dict(series=[(0.0, 0, None), (time.perf_counter() - start, steps, None)])))


def run_raw(seconds: float, work: Path, seed: int, system: str = "raw") -> dict[str, Any]:
    out = work / f"{system}-s{seed}.json"
    cmd = [sys.executable, str(HERE / "pixels.py"), "raw-child", str(min(seconds, 20.0)), str(out), system]
    measure(cmd, work / f"{out.stem}.log", hard_limit_s=120)
    return json.loads(out.read_text())


def steady_rate(series: list) -> float | None:
    """Steps/s between the first point at or after WARMUP_S and the last point."""
    late = [p for p in series if p[0] >= WARMUP_S] or series
    if len(late) < 2 or late[-1][0] <= late[0][0]:
        late = [series[0], series[-1]] if len(series) >= 2 else late
    if len(late) < 2:
        return None
    return (late[-1][1] - late[0][1]) / (late[-1][0] - late[0][0])


def return_at(series: list, wall_s: float) -> float | None:
    """The mean return of the last 100 episodes as it stood wall_s seconds into training."""
    seen = [p[2] for p in series if p[0] <= wall_s and p[2] is not None]
    return seen[-1] if seen else None


def add_stability(records: list[dict[str, Any]], env_id: str) -> None:
    """Give each learning record its stability figures (benchmarks/stability.py's `figures`: best,
    final and the drop between them against random play on its env, issue 37's measure) from its
    curve; a record without env_id trained on env_id."""
    from stability import RESULTS, figures, random_returns

    randoms = random_returns(sorted({r.get("env_id", env_id) for r in records}), RESULTS)
    for r in records:
        r["figures"] = figures(r, randoms[r.get("env_id", env_id)])
        f = r["figures"] or {}
        print(f"{r['system']} seed {r['seed']}: best {f.get('best')}, final {f.get('final')}, drop {f.get('drop')}")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("task", choices=["throughput", "learn", "minatar", "stability", "sb3-child", "raw-child"])
    parser.add_argument("rest", nargs="*")
    parser.add_argument("--env", default="MinAtar/Breakout-v1", help="learn: the Atari or MinAtar id")
    parser.add_argument("--seconds", type=float, default=60)
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--systems", nargs="+", default=None)
    parser.add_argument("--note", default="")
    args = parser.parse_args()
    if args.task == "sb3-child":
        env_id, seed, seconds, out = args.rest
        return sb3_child(env_id, int(seed), float(seconds), Path(out))
    if args.task == "raw-child":
        return raw_child(float(args.rest[0]), Path(args.rest[1]), *args.rest[2:3])
    if args.task == "stability":  # a file whose records predate env_id trained on --env
        path = Path(args.rest[0])
        data = json.loads(path.read_text())
        add_stability(data["records"], args.env)
        path.write_text(json.dumps(data, indent=1))
        return None

    env_id = {"throughput": "ALE/Pong-v5", "minatar": "MinAtar/Breakout-v1"}.get(args.task, args.env)
    systems = args.systems or (["raw", "a3c", "ga3c", "sb3-a2c"] if args.task == "throughput"
                               else ["a3c", "ga3c", "sb3-a2c"])
    stamp = time.strftime("%Y%m%d-%H%M%S")
    work = OUT / "raw" / f"pixels-{args.task}-{stamp}"
    work.mkdir(parents=True, exist_ok=True)
    records = []
    for seed in range(args.seeds):
        order = systems[seed % len(systems):] + systems[: seed % len(systems)]
        for system in order:
            print(f"[{time.strftime('%H:%M:%S')}] {args.task} seed {seed}: {system}", flush=True)
            if system in RAW_FRAMES:
                result = run_raw(args.seconds, work, seed, system)
            elif system == "sb3-a2c":
                result = run_sb3(env_id, seed, args.seconds, work)
            else:
                result = run_ours(system, env_id, seed, args.seconds, work)
            result.update(system=system, env_id=env_id, seed=seed, steps_per_s=steady_rate(result["series"]),
                          curve=[return_at(result["series"], args.seconds * q) for q in (0.25, 0.5, 0.75)])
            records.append(result)
            rate, ret = result["steps_per_s"], result.get("mean_return_100")
            print(f"    steps/s {rate:.0f}  mean_return_100 {ret}", flush=True)

    rows = []
    for system in systems:
        mine = [r for r in records if r["system"] == system]
        rates = [r["steps_per_s"] for r in mine if r["steps_per_s"]]
        returns = [r["mean_return_100"] for r in mine if r.get("mean_return_100") is not None]
        rows.append(dict(system=system, runs=len(mine), median_steps_per_s=statistics.median(rates) if rates else None,
                         median_return_100=statistics.median(returns) if returns else None,
                         returns=returns, rates=[round(x) for x in rates]))
        if len(returns) >= 3:  # the figure over seeds the pages report: IQM with its 95% interval
            rows[-1]["return_over_seeds"] = over_seeds(returns)
    by = {r["system"]: r for r in rows}
    ratios = {}
    if args.task == "throughput":
        for s in (system for system in systems if system.partition(":")[0] in ("a3c", "ga3c")):
            if s in by and "sb3-a2c" in by and by[s]["median_steps_per_s"] and by["sb3-a2c"]["median_steps_per_s"]:
                ratios[f"{s}/sb3-a2c steps/s"] = by[s]["median_steps_per_s"] / by["sb3-a2c"]["median_steps_per_s"]
            for raw in RAW_FRAMES:
                if s in by and raw in by and by[s]["median_steps_per_s"]:
                    ratios[f"{s}/{raw} limit"] = by[s]["median_steps_per_s"] / by[raw]["median_steps_per_s"]
    # A ratio of returns means something where both are above zero (Pong's run from -21 to 21 is not).
    if args.task != "throughput" and "sb3-a2c" in by and (by["sb3-a2c"]["median_return_100"] or 0) > 0:
        for s in ("a3c", "ga3c"):
            if s in by and by[s]["median_return_100"] is not None:
                ratios[f"{s}/sb3-a2c return"] = by[s]["median_return_100"] / by["sb3-a2c"]["median_return_100"]
    meta = dict(command=" ".join(["python", "benchmarks/pixels.py", *sys.argv[1:]]), date=stamp,
                commit=git_commit(REPO), cpu=cpu_model(),
                python=platform.python_version(), cpus=__import__("os").cpu_count(), note=args.note,
                load_avg_at_end=__import__("os").getloadavg())
    task_name = args.task if args.task != "learn" else f"learn-{env_id.replace('/', '_')}"
    if args.task != "throughput":
        add_stability(records, env_id)
    (OUT / f"pixels-{task_name}-{stamp}.json").write_text(json.dumps(dict(meta=meta, rows=rows, ratios=ratios,
                                                                           records=records), indent=1))
    lines = [f"\n## {args.task} ({env_id}), {stamp}", "", f"`{meta['command']}`", "",
             f"{args.seeds} seeds x {args.seconds:.0f} s, systems alternating. {args.note}", "",
             "| system | runs | median steps/s | median mean_return_100 | steps/s per run | return per run "
             "| per run, return at 1/4, 1/2, 3/4 of the time |",
             "| --- | --- | --- | --- | --- | --- | --- |"]
    for r in rows:
        med_rate = f"{r['median_steps_per_s']:,.0f}" if r["median_steps_per_s"] else "-"
        med_ret = f"{r['median_return_100']:.2f}" if r["median_return_100"] is not None else "-"
        per = "; ".join(f"{a:,}" for a in r["rates"]) + " | " + "; ".join(f"{x:.2f}" for x in r["returns"])
        curves = "; ".join(" / ".join("-" if x is None else f"{x:.1f}" for x in c["curve"])
                           for c in records if c["system"] == r["system"])
        lines.append(f"| {r['system']} | {r['runs']} | {med_rate} | {med_ret} | {per} | {curves} |")
    lines += [""] + [f"- {k}: **{v:.2f}x**" for k, v in ratios.items()]
    with open(OUT / "pixels.md", "a") as fh:
        fh.write("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
