"""Envs nobody tuned (issue 26): a3c's family defaults against SB3 on SB3's own defaults.

Each env here has no a3c preset and no zoo file is read: every system gets what a user gets for
an env of their own. a3c and ga3c run `a3c train ENV` with no settings but the budget (and
`recurrent=true` for the memory rows); SB3 A2C and PPO run `A2C("MlpPolicy", env)` /
`PPO("MlpPolicy", env)` on one env, sb3-contrib's RecurrentPPO `RecurrentPPO("MlpLstmPolicy", env)`.
One subprocess per run, one torch thread each, the systems alternating seed-major with the order
rotated per seed, nothing else running. The score is the mean return of the last 100 training
episodes when the wall-clock budget ends.

    python benchmarks/own_env_defaults.py --seeds 0 1 2 --budget 90
    python benchmarks/own_env_defaults.py --report-only     # rebuild the table from the JSON
    python benchmarks/own_env_defaults.py --speed --seeds 0 1 2 --budget 30

--speed: GA3C's steps/s on the defaults of a CartPole-sized env (own_envs:PlainCartPole, CartPole
as a user's class) against GA3C on the tuned CartPole-v1 preset, the two alternating.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from recurrent import machine_load  # noqa: E402
from run import provenance  # noqa: E402
from systems import _record, _workdir, _write, measure, run_a3c, solved_callback  # noqa: E402

# env -> (why it is here, needs memory)
ENVS: dict[str, tuple[str, bool]] = {
    # Since 2026-12-06 a preset of its own (the family's settings; A3C's critic of its own): a re-run
    # measures that preset for A3C, where the table's row measured the family defaults.
    "LunarLander-v3": ("discrete actions, dense shaped reward, Box2D", False),
    "MountainCar-v0": ("discrete actions, sparse: -1 a step until the flag, found only by exploring", False),
    "InvertedDoublePendulum-v5": ("continuous actions, MuJoCo balance", False),
    "Hopper-v5": ("continuous actions, MuJoCo locomotion (the classic untuned MuJoCo task)", False),
    "own_envs:NoVelocityCartPole": ("home-made, partially observed, discrete (the issue's own case)", True),
    "own_envs:NoVelocityPendulum": ("home-made, partially observed, continuous", True),
}
RESULTS = HERE / "results" / "own-env-defaults"


def systems_for(needs_memory: bool) -> list[str]:
    ours = ["a3c", "ga3c"] + (["a3c-lstm", "ga3c-lstm"] if needs_memory else [])
    return ours + ["sb3-a2c", "sb3-ppo"] + (["sb3-rppo"] if needs_memory else [])


def make_env(env_id: str):
    """A fresh env for SB3: a `module:Class` id is the class; any other id goes to gym.make."""
    import gymnasium as gym

    if ":" in env_id:
        import importlib

        module, name = env_id.split(":")
        return getattr(importlib.import_module(module), name)()
    from a3c.envs.families import register_family

    register_family(env_id)  # MinAtar's and ALE's ids exist once their package registers them
    return gym.make(env_id)


def sb3_child(system: str, env_id: str, seed: int, cap_s: float, out_path: Path, n_envs: int = 1) -> None:
    """In the child: SB3 on its own defaults for cap_s seconds, on n_envs envs (DummyVecEnv)."""
    import torch

    torch.set_num_threads(1)
    from sb3_contrib import RecurrentPPO
    from stable_baselines3 import A2C, PPO
    from stable_baselines3.common.env_util import make_vec_env

    env = make_vec_env(lambda: make_env(env_id), n_envs=n_envs, seed=seed)
    algo, policy = {"sb3-a2c": (A2C, "MlpPolicy"), "sb3-ppo": (PPO, "MlpPolicy"),
                    "sb3-rppo": (RecurrentPPO, "MlpLstmPolicy")}[system]
    model = algo(policy, env, seed=seed, device="cpu", verbose=0)
    started_at, started = time.time(), time.monotonic()
    callback = solved_callback(started, None, cap_s)
    model.learn(total_timesteps=10**10, callback=callback)
    wall = time.monotonic() - started
    callback.log(wall)
    out_path.write_text(json.dumps(dict(
        stop_reason=callback.stop_reason, time_to_target_s=None, steps_to_target=None,
        env_steps=model.num_timesteps, train_wall_s=wall, train_started_at=started_at,
        mean_return_100=callback.mean(), series=callback.series,
        settings=dict(source=f"{algo.__name__}({policy!r}, env) on SB3's defaults, {n_envs} env(s)"))))


def run_sb3(system: str, env_id: str, seed: int, cap_s: float, out_dir: Path, n_envs: int = 1,
            name: str | None = None) -> dict[str, Any]:
    """SB3 on its own defaults; name: the record's system (default: system)."""
    work = _workdir(out_dir, name or system, env_id, seed)
    child_json = work / "child.json"
    cmd = [sys.executable, str(HERE / "own_env_defaults.py"), "sb3-child", system, env_id, str(seed), str(cap_s),
           str(child_json), str(n_envs)]
    run = measure(cmd, work / "log.txt", hard_limit_s=cap_s + 120)
    result = json.loads(child_json.read_text()) if child_json.exists() else {}
    series, settings = result.pop("series", []), result.pop("settings", {})
    return _write(_record(name or system, env_id, seed, cap_s, None, run, result, series, settings), out_dir)


def run(system: str, env_id: str, seed: int, cap_s: float, out_dir: Path) -> dict[str, Any]:
    if system.startswith("sb3-"):
        return run_sb3(system, env_id, seed, cap_s, out_dir)
    algo = system.removesuffix("-lstm")
    sets = ("target_return=off",) + (("recurrent=true",) if system.endswith("-lstm") else ())
    return run_a3c(env_id, seed, cap_s, None, out_dir, algo=algo, system=system, sets=sets)


def table(records: list[dict[str, Any]]) -> str:
    by: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for r in records:
        by.setdefault((r["env_id"], r["system"]), []).append(r)
    lines = ["| env | system | median mean100 | per seed | median steps/s |", "| --- | --- | --- | --- | --- |"]
    for env_id, (_why, memory) in ENVS.items():
        for system in systems_for(memory):
            runs = sorted(by.get((env_id, system), []), key=lambda r: r["seed"])
            if not runs:
                continue
            scores = [r["mean_return_100"] for r in runs]
            shown = ", ".join("-" if s is None else f"{s:.1f}" for s in scores)
            finite = [s for s in scores if s is not None]
            median = f"{statistics.median(finite):.1f}" if finite else "-"
            rate = statistics.median(r["steps_per_second"] for r in runs)
            lines.append(f"| {env_id} | {system} | {median} | {shown} | {rate:,.0f} |")
    return "\n".join(lines)


def speed(seeds: list[int], budget: float, out_dir: Path) -> None:
    rates: dict[str, list[float]] = {"CartPole-v1": [], "own_envs:PlainCartPole": []}
    for i, seed in enumerate(seeds):
        order = list(rates) if i % 2 == 0 else list(rates)[::-1]
        for env_id in order:
            record = run_a3c(env_id, seed, budget, None, out_dir / "speed", algo="ga3c", system="ga3c",
                             sets=("target_return=off",))
            rates[env_id].append(record["steps_per_second"])
            print(f"speed {env_id} seed {seed}: {record['steps_per_second']:.0f} steps/s", flush=True)
    tuned, defaults = (statistics.median(rates[k]) for k in rates)
    lines = ["| GA3C on | steps/s per seed | median |", "| --- | --- | --- |"]
    lines += [f"| {k} | {', '.join(f'{r:,.0f}' for r in v)} | {statistics.median(v):,.0f} |" for k, v in rates.items()]
    lines.append(f"\ndefaults / tuned preset: {defaults / tuned:.2f}")
    (out_dir / "speed.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--budget", type=float, default=90.0, help="seconds of training per run")
    parser.add_argument("--envs", nargs="+", default=list(ENVS))
    parser.add_argument("--systems", nargs="+", default=None, help="only these systems")
    parser.add_argument("--out", type=Path, default=RESULTS)
    parser.add_argument("--report-only", action="store_true")
    parser.add_argument("--speed", action="store_true", help="the GA3C speed check instead of the table")
    args = parser.parse_args()
    os.environ["PYTHONPATH"] = os.pathsep.join(filter(None, [str(HERE), os.environ.get("PYTHONPATH")]))
    if args.speed:
        return speed(args.seeds, args.budget, args.out)
    records_path = args.out / "records.json"
    records: list[dict[str, Any]] = json.loads(records_path.read_text()) if records_path.exists() else []
    if not args.report_only:
        args.out.mkdir(parents=True, exist_ok=True)
        load_before = machine_load()
        for i, seed in enumerate(args.seeds):
            for env_id in args.envs:
                systems = [s for s in systems_for(ENVS[env_id][1]) if not args.systems or s in args.systems]
                shift = i % len(systems)
                for system in systems[shift:] + systems[:shift]:
                    record = run(system, env_id, seed, args.budget, args.out) | provenance()
                    records = [r for r in records
                               if (r["env_id"], r["system"], r["seed"]) != (env_id, system, seed)] + [record]
                    records_path.write_text(json.dumps(records, indent=1) + "\n")
                    print(f"{env_id} {system} seed {seed}: {record['mean_return_100']} "
                          f"({record['steps_per_second']:.0f} steps/s)", flush=True)
        meta = dict(command=" ".join(["python", *sys.argv]), budget_s=args.budget, seeds=args.seeds,
                    load_before=load_before, load_after=machine_load())
        (args.out / "meta.json").write_text(json.dumps(meta, indent=1) + "\n")
    print(table(records))


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "sb3-child":
        system, env_id, seed, cap, out, *n_envs = sys.argv[2:]
        sb3_child(system, env_id, int(seed), float(cap), Path(out), int(n_envs[0]) if n_envs else 1)
    else:
        main()
