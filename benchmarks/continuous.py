"""Continuous-control benchmarks, side by side in one run, against Stable-Baselines3 with
rl-zoo3's tuned settings (benchmarks/zoo_hyperparams.py).

    python benchmarks/continuous.py pendulum --seeds 3 --cap-s 200
    python benchmarks/continuous.py halfcheetah --seeds 2 --cap-s 600
    python benchmarks/continuous.py lunarlander --seeds 1 --cap-s 300

pendulum: training seconds until the mean return of the last 100 training episodes of
Pendulum-v1 reaches -250 (an unsolved seed counts as the cap), for a3c and ga3c on their
presets and SB3 PPO and A2C with the zoo's settings (gSDE, VecNormalize where the zoo has it).

halfcheetah: mean return of the last 100 training episodes of HalfCheetah-v5 after
`--cap-s` seconds of training, a3c against SB3 A2C (the zoo's mujoco defaults) and PPO.
lunarlander: the same on LunarLanderContinuous-v3 (`.[box2d]`), against the zoo's PPO and A2C.

Every system runs in its own subprocess with one torch thread (benchmarks/systems.py);
systems alternate within each seed, the first one rotating. Results: results/continuous-<task>.json
and a section appended to results/continuous.md, with the exact command and the machine's load.
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import statistics
import sys
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from aggregate import over_seeds  # noqa: E402
from run import git_commit, machine_info  # noqa: E402
from stability import RESULTS as RANDOM_PLAY  # noqa: E402
from stability import figures, random_returns  # noqa: E402
from systems import RUNNERS  # noqa: E402

OUT = HERE / "results"
TASKS = {
    "pendulum": dict(env_id="Pendulum-v1", target=-250.0, systems=["a3c", "ga3c", "sb3-ppo", "sb3-a2c"]),
    "halfcheetah": dict(env_id="HalfCheetah-v5", target=None, systems=["a3c", "sb3-a2c", "sb3-ppo"]),
    "lunarlander": dict(env_id="LunarLanderContinuous-v3", target=None, systems=["a3c", "sb3-ppo", "sb3-a2c"]),
}


def _median(values: list[float]) -> float:
    return statistics.median(values) if values else float("nan")


def times_to_target(runs: list[dict[str, Any]], cap_s: float) -> list[float]:
    """Each run's seconds to the target; an unsolved run counts as the cap."""
    return [r["time_to_target_s"] if r["solved"] else cap_s for r in runs]


def table(task: str, records: list[dict[str, Any]], systems: list[str], cap_s: float) -> list[str]:
    target = TASKS[task]["target"]
    if target is not None:
        lines = ["| system | solved | time to -250, s: median [min, max] | steps to target (median) | env steps/s |",
                 "|---|---|---|---|---|"]
        for system in systems:
            runs = [r for r in records if r["system"] == system]
            times = times_to_target(runs, cap_s)
            steps = [r["steps_to_target"] for r in runs if r["solved"]]
            capped = ">=" if any(not r["solved"] for r in runs) else ""
            lines.append(f"| {system} | {sum(r['solved'] for r in runs)}/{len(runs)} | {_median(times):.1f} "
                         f"[{min(times):.1f}, {capped}{max(times):.1f}] | "
                         f"{_median(steps):,.0f} | {_median([r['steps_per_second'] for r in runs]):,.0f} |")
        return lines
    lines = [f"| system | mean return of the last 100 episodes after {cap_s:g} s: median (seeds) | best (seeds) "
             "| drop from the best (seeds) | env steps |",
             "|---|---|---|---|---|"]
    for system in systems:
        runs = sorted((r for r in records if r["system"] == system), key=lambda r: r["seed"])
        returns = [r["mean_return_100"] for r in runs if r["mean_return_100"] is not None]
        each = ", ".join(f"{r['mean_return_100']:.0f}" if r["mean_return_100"] is not None else "-" for r in runs)
        shown = [r["figures"] for r in runs if r.get("figures")]
        best = ", ".join(f"{f['best']:.0f}" for f in shown) or "-"
        drop = ", ".join(f"{f['drop']:.2f}" for f in shown) or "-"
        lines.append(f"| {system} | {_median(returns):.0f} ({each}) | {best} | {drop} "
                     f"| {_median([r['env_steps'] for r in runs]):,.0f} |")
    return lines


def summarize(task: str, records: list[dict[str, Any]], systems: list[str], cap_s: float) -> list[dict[str, Any]]:
    """Per system, the figure over seeds (aggregate.over_seeds: IQM, its 95% bootstrap interval,
    median): seconds to the target (an unsolved seed counts as the cap) or the final mean return."""
    rows = []
    for system in systems:
        runs = [r for r in records if r["system"] == system]
        if TASKS[task]["target"] is not None:
            rows.append(dict(system=system, time_over_seeds=over_seeds(times_to_target(runs, cap_s))))
        else:
            returns = [r["mean_return_100"] for r in runs if r["mean_return_100"] is not None]
            rows.append(dict(system=system, return_over_seeds=over_seeds(returns) if returns else None))
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("task", choices=sorted(TASKS))
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--cap-s", type=float, default=200.0, help="training seconds per run")
    parser.add_argument("--systems", nargs="+", choices=sorted(RUNNERS), help="default: the task's")
    parser.add_argument("--note", action="append", default=[], help="a line for the results (repeatable)")
    parser.add_argument("--out", type=Path, default=OUT)
    args = parser.parse_args()
    out = args.out
    out.mkdir(parents=True, exist_ok=True)
    spec = TASKS[args.task]
    systems = args.systems or spec["systems"]
    meta = dict(command=shlex.join(["python", "benchmarks/continuous.py"] + sys.argv[1:]), machine=machine_info(),
                commit=git_commit(HERE), seeds=list(range(args.seeds)), notes=args.note)
    work = out / "continuous-work"
    records: list[dict[str, Any]] = []
    # Random play's mean return, the reference of each run's drop from its best (issue 37's measure).
    reference = random_returns([spec["env_id"]], RANDOM_PLAY)[spec["env_id"]]
    started = time.monotonic()
    for seed in range(args.seeds):
        order = systems[seed % len(systems):] + systems[:seed % len(systems)]
        for system in order:
            rec = RUNNERS[system](spec["env_id"], seed, args.cap_s, spec["target"], work)
            rec["figures"] = figures(rec, reference)
            records.append(rec)
            print(f"[{time.monotonic() - started:6.0f}s] {system} seed {seed}: stop {rec['stop_reason']}, "
                  f"time to target {rec['time_to_target_s']}, mean_return_100 {rec['mean_return_100']}, "
                  f"{rec['env_steps']:,} steps (rc {rec['rc']})", flush=True)
    meta["machine"]["load_average_at_end"] = [round(x, 2) for x in os.getloadavg()]
    meta["wall_minutes"] = round((time.monotonic() - started) / 60, 1)
    stamp = time.strftime("%Y%m%d-%H%M%S")
    (out / f"continuous-{args.task}-{stamp}.json").write_text(
        json.dumps(dict(meta=meta, runs=[{k: v for k, v in r.items() if k != "series"} for r in records],
                        summary=summarize(args.task, records, systems, args.cap_s)), indent=1) + "\n")
    m = meta["machine"]
    section = [
        f"## {spec['env_id']} ({args.task}), {m['date']}", "",
        f"Command: `{meta['command']}`", "",
        f"{m['cores']} cores ({m['cpu']}); torch {m['torch']}, stable-baselines3 {m['stable_baselines3']}. "
        f"Load average at start {m['load_average_at_start']}, at end {m['load_average_at_end']}; "
        f"{meta['wall_minutes']} minutes in all. Seeds 0..{args.seeds - 1}, systems alternating, one torch thread "
        "per process; a3c/ga3c on their presets with 2 workers/agents, SB3 with rl-zoo3's settings.", "",
        *[f"Note: {n}" for n in args.note], "",
        *table(args.task, records, systems, args.cap_s), "",
    ]
    with open(out / "continuous.md", "a") as f:
        if f.tell() == 0:
            f.write("# Continuous control\n\nWritten by benchmarks/continuous.py; newest section last.\n\n")
        f.write("\n".join(section) + "\n")
    print("\n".join(section))


if __name__ == "__main__":
    main()
