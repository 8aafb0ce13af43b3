"""Preset tuning: several candidate configs of one env trained at once, compared per step.

    python benchmarks/sweep.py LunarLanderContinuous-v3 --seeds 0 1 \\
        --candidate sepcritic "separate_critic=true" \\
        --candidate gamma999 "gamma=0.999 gae_lambda=0.98"
    python benchmarks/sweep.py ALE/Pong-v5 --seeds 0 --time-limit 2100 \\
        --candidate adam5e-4 "optimizer=adam lr=5e-4 adam_eps=1e-5"

Each candidate is one trial of an Optuna study run through a3c.tune (`a3c tune`'s module), with
the candidate's settings fixed (an enqueued trial: nothing sampled, nothing pruned): `a3c train
ENV --workers 2` on the env's preset plus the candidate's `--set` pairs, for each seed in turn, all
candidates at the same time, all on the same seeds. They share the machine, so the comparison is
per env step, not per second: the table gives each run's mean return of the last 100 training
episodes at a quarter, half, three quarters and the end of its steps, and its best. Without
--time-limit each run trains the preset's total_steps (a candidate's own total_steps is not used).
Runs go to results/raw/sweep-<env>-<time>/trials/<candidate>/seed-<seed>/, beside the study
(study.db, trials.csv, best.toml, history.png); the table is printed, for results/*.md.
"""

from __future__ import annotations

import argparse
import csv
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent


def curve(metrics: Path) -> str:
    if not metrics.is_file():
        return "no metrics.csv (the run failed; see its log)"
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


def candidates(pairs: list[list[str]]) -> dict[str, dict[str, str]]:
    """NAME "k=v k=v" pairs as {name: {field: value}}; "" is the preset itself."""
    named: dict[str, dict[str, str]] = {}
    for name, settings in pairs:
        if name in named:
            raise SystemExit(f"sweep.py: candidate {name} is given twice")
        fields = {}
        for pair in settings.split():
            key, sep, value = pair.partition("=")
            if not sep:
                raise SystemExit(f"sweep.py: candidate {name}: expected field=value pairs, got '{pair}'")
            fields[key] = value
        named[name] = fields
    return named


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("env_id")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0])
    parser.add_argument("--candidate", nargs=2, action="append", metavar=("NAME", "SETTINGS"), required=True,
                        help='a name and its space-separated field=value pairs ("" for the preset itself)')
    parser.add_argument("--time-limit", type=float, default=None, help="seconds per run; default: the preset's steps")
    args = parser.parse_args()

    from a3c.config import Config
    from a3c.errors import UserError
    from a3c.tune import Budget, Tuner, Tuning, write_outputs

    named = candidates(args.candidate)
    out = HERE / "results" / "raw" / f"sweep-{args.env_id.replace('/', '_')}-{time.strftime('%Y%m%d-%H%M%S')}"
    try:
        budget = (Budget("time", args.time_limit) if args.time_limit
                  else Budget("steps", Config.for_env(args.env_id).total_steps))
        tuner = Tuner(Tuning(
            env_id=args.env_id, trials=len(named), budget=budget, seeds=tuple(args.seeds), jobs=len(named),
            study_dir=out, fixed={"workers": "2", "target_return": "off", "log_interval_s": "5"},
            space={"defaults": False}, prune=False, candidates=named,
        ))
        print(f"runs in {out}", flush=True)
        study = tuner.run()
    except UserError as exc:
        print(f"sweep.py: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"interrupted; runs so far in {out}", file=sys.stderr)
        return 130
    write_outputs(tuner, study)
    states = {t.user_attrs.get("candidate"): t.state.name.lower() for t in study.get_trials(deepcopy=False)}
    print("Mean return of the last 100 training episodes at each point (env steps: return).")
    print("| candidate | settings | seed | 1/4 of the steps | 1/2 | 3/4 | end | best |")
    print("| --- | --- | --- | --- | --- | --- | --- | --- |")
    for name, settings in args.candidate:
        for seed in args.seeds:
            metrics = out / "trials" / name / f"seed-{seed}" / "metrics.csv"
            note = "" if states.get(name) == "complete" else f" ({states.get(name, 'not run')})"
            print(f"| {name}{note} | {settings or 'the preset'} | {seed} | {curve(metrics)} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
