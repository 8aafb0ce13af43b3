"""Preset tuning: several candidate configs of one env trained at once, compared per step.

    python benchmarks/sweep.py LunarLanderContinuous-v3 --seeds 0 1 \\
        --candidate sepcritic "separate_critic=true" \\
        --candidate gamma999 "gamma=0.999 gae_lambda=0.98"
    python benchmarks/sweep.py ALE/Pong-v5 --seeds 0 --time-limit 2100 \\
        --candidate adam5e-4 "optimizer=adam lr=5e-4 adam_eps=1e-5"

Every candidate of a seed runs at the same time (`a3c train ENV --workers 2` on the env's preset
plus the candidate's `--set` pairs), one round per seed. They share the machine, so the
comparison is per env step, not per second: the table gives each run's mean return of the
last 100 training episodes at a quarter, half, three quarters and the end of its steps, and its
best. Runs go to results/raw/sweep-<env>-<time>/; the table is printed, for results/*.md.
"""

from __future__ import annotations

import argparse
import csv
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent


def curve(metrics: Path) -> str:
    with open(metrics) as f:
        rows = [r for r in csv.DictReader(f) if r["mean_return_100"]]
    if not rows:
        return "no finished episodes"
    last = int(rows[-1]["env_steps"])
    points = []
    for fraction in (0.25, 0.5, 0.75, 1.0):
        row = min(rows, key=lambda r: abs(int(r["env_steps"]) - last * fraction))
        points.append(f"{int(row['env_steps']) / 1e6:.2f}M: {float(row['mean_return_100']):.1f}")
    best = max(float(r["mean_return_100"]) for r in rows)
    return " | ".join(points) + f" | {best:.1f}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("env_id")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0])
    parser.add_argument("--candidate", nargs=2, action="append", metavar=("NAME", "SETTINGS"), required=True,
                        help='a name and its space-separated field=value pairs ("" for the preset itself)')
    parser.add_argument("--time-limit", type=float, default=None, help="seconds per run; default: the preset's steps")
    args = parser.parse_args()

    out = HERE / "results" / "raw" / f"sweep-{args.env_id.replace('/', '_')}-{time.strftime('%Y%m%d-%H%M%S')}"
    out.mkdir(parents=True)
    print(f"runs in {out}", flush=True)
    for seed in args.seeds:
        procs, logs = [], []
        for name, settings in args.candidate:
            cmd = [sys.executable, "-m", "a3c", "train", args.env_id, "--workers", "2", "--seed", str(seed),
                   "--target-return", "off", "--run-dir", str(out / f"{name}-s{seed}"),
                   "--set", "progress=false", "--set", "tensorboard=false", "--set", "log_interval_s=5"]
            if args.time_limit:
                cmd += ["--time-limit", str(args.time_limit)]
            for pair in settings.split():
                cmd += ["--set", pair]
            logs.append(open(out / f"{name}-s{seed}.log", "w"))
            procs.append(subprocess.Popen(cmd, stdout=logs[-1], stderr=subprocess.STDOUT))
        for proc, log in zip(procs, logs):
            proc.wait()
            log.close()
    print("Mean return of the last 100 training episodes at each point (env steps: return).")
    print("| candidate | settings | seed | 1/4 of the steps | 1/2 | 3/4 | end | best |")
    print("| --- | --- | --- | --- | --- | --- | --- | --- |")
    for name, settings in args.candidate:
        for seed in args.seeds:
            print(f"| {name} | {settings or 'the preset'} | {seed} | {curve(out / f'{name}-s{seed}' / 'metrics.csv')} |")


if __name__ == "__main__":
    main()
