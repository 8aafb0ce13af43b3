"""--backend ray (a local Ray on this machine) against the local engines on CartPole-v1 and Pong.

    python benchmarks/ray_bench.py --seeds 3 --throughput-steps 200000
    python benchmarks/ray_bench.py --pong-seconds 120 --skip-cartpole    # pixels: steps/s only

For each seed, for each algorithm, the local engine and the Ray backend run in turn (the order
alternates per seed): `a3c train CartPole-v1 --algo ALGO [--backend ray] --seed S` to the
target (475). Then each system trains --throughput-steps with no target, for steps/s. Every run
is a fresh `a3c` process with the defaults (2 workers). Times are the training clock of
summary.json; Ray's start-up (ray.init + actors ready) is off that clock and reported apart,
from events.log. Writes benchmarks/results/ray.md and ray.json.
"""

from __future__ import annotations

import argparse
import csv
import datetime as dt
import json
import os
import platform
import re
import shlex
import statistics
import sys
import tempfile
from pathlib import Path

OUT = Path(__file__).resolve().parent / "results"
# ray.md below this line is written by hand (profiles, node loss, readings of the tables): a new
# report replaces only what is above it.
HAND_WRITTEN = "<!-- written by hand below; ray_bench.py keeps it -->"
RAY_ENV = {"RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER": "0", "RAY_AUTH_MODE": "disabled", "RAY_USAGE_STATS_ENABLED": "0"}
sys.path.insert(0, str(OUT.parent))
from run import cpu_model, git_commit  # noqa: E402
from systems import measure  # noqa: E402  (runs a command, sampling its process tree's PSS)


def run(algo: str, backend: str, seed: int, extra: list[str], work: Path, env_id: str = "CartPole-v1") -> dict:
    run_dir = work / f"{algo}-{backend}-{seed}-{len(list(work.iterdir()))}"
    cmd = [sys.executable, "-m", "a3c", "train", env_id, "--algo", algo, "--backend", backend,
           "--seed", str(seed), "--run-dir", str(run_dir), "--set", "progress=false", *extra]
    log = work / f"{run_dir.name}.log"
    proc = measure(cmd, log, hard_limit_s=600)  # the Ray processes a local run starts are in its tree
    process_s = proc["process_wall_s"]
    if proc["rc"] != 0:
        raise RuntimeError(f"{shlex.join(cmd)} exited {proc['rc']}:\n{log.read_text()[-2000:]}")
    summary = json.loads((run_dir / "summary.json").read_text())
    with open(run_dir / "metrics.csv") as f:
        curve = [(int(r["env_steps"]), float(r["mean_return_100"])) for r in csv.DictReader(f) if r["mean_return_100"]]
    startup = re.search(r"start-up took ([0-9.]+) s", (run_dir / "events.log").read_text())
    return dict(env_id=env_id, algo=algo, backend=backend, seed=seed, solved=summary["solved"],
                mean_return_100=summary["mean_return_100"], curve=curve,
                time_to_target_s=summary["time_to_target_s"], steps_to_target=summary["steps_to_target"],
                env_steps=summary["env_steps"], wall_seconds=summary["wall_seconds"],
                steps_per_second=summary["steps_per_second"], process_s=round(process_s, 1),
                ray_startup_s=float(startup.group(1)) if startup else None, peak_pss_mb=proc["peak_pss_mb"],
                command=shlex.join(cmd[1:]), date=dt.date.today().isoformat(), commit=git_commit(OUT.parent),
                cpu=cpu_model(), cores=os.cpu_count())


def med(values) -> str:
    values = [v for v in values if v is not None]
    if not values:
        return "-"
    fmt = ",.0f" if all(isinstance(v, int) for v in values) else ",.1f"
    return f"{statistics.median(values):{fmt}} [{min(values):{fmt}}, {max(values):{fmt}}]"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--algos", nargs="+", default=["a3c", "ga3c"])
    parser.add_argument("--throughput-steps", type=int, default=200_000)
    parser.add_argument("--pong-seconds", type=float, default=0, help="also train ALE/Pong-v5 this long each, steps/s")
    parser.add_argument("--minatar-seconds", type=float, default=0,
                        help="also train MinAtar/Breakout-v1 this long each: learning per env step")
    parser.add_argument("--skip-cartpole", action="store_true")
    parser.add_argument("--note", default="", help="a line for ray.md about the conditions")
    parser.add_argument("--report-only", action="store_true", help="rewrite ray.md from ray.json; run nothing")
    args = parser.parse_args()
    OUT.mkdir(exist_ok=True)
    if args.report_only:
        write_report(json.loads((OUT / "ray.json").read_text()), args)
        return
    results = []
    with tempfile.TemporaryDirectory(prefix="raybench") as tmp:
        work = Path(tmp)
        os.environ.setdefault("RAY_TMPDIR", tempfile.mkdtemp(prefix="ray", dir="/tmp"))
        os.environ.update(RAY_ENV)  # measure() passes os.environ on to every run
        plan = [] if args.skip_cartpole else [
            ("to_target", "CartPole-v1", []),
            ("throughput", "CartPole-v1", ["--total-steps", str(args.throughput_steps), "--target-return", "off"]),
        ]
        if args.pong_seconds:
            plan.append(("pong", "ALE/Pong-v5", ["--time-limit", str(args.pong_seconds), "--target-return", "off"]))
        if args.minatar_seconds:
            plan.append(("minatar", "MinAtar/Breakout-v1",
                         ["--time-limit", str(args.minatar_seconds), "--target-return", "off"]))
        for kind, env_id, extra in plan:
            for seed in range(args.seeds if kind in ("to_target", "throughput") else 1):
                for algo in args.algos:
                    order = ["local", "ray"] if seed % 2 == 0 else ["ray", "local"]
                    for backend in order:
                        r = dict(run(algo, backend, seed, extra, work, env_id), kind=kind)
                        print(json.dumps(r), flush=True)
                        results.append(r)
    if args.skip_cartpole and (OUT / "ray.json").exists():  # keep the CartPole results of an earlier run
        kept = ({"to_target", "throughput"} | ({"pong"} if not args.pong_seconds else set())
                | ({"minatar"} if not args.minatar_seconds else set()))
        results = [r for r in json.loads((OUT / "ray.json").read_text()) if r["kind"] in kept] + results
    (OUT / "ray.json").write_text(json.dumps(results, indent=2) + "\n")
    write_report(results, args)


def write_report(results: list[dict], args) -> None:
    lines = [
        "# --backend ray (local Ray) vs the local engines, CartPole-v1 (and Pong's steps/s)",
        "",
        f"Taken {dt.datetime.now(dt.timezone.utc):%Y-%m-%d %H:%M} UTC on {platform.machine()}, {os.cpu_count()} cores, "
        f"Python {platform.python_version()}; defaults (2 workers). Command:",
        "",
        f"    python benchmarks/ray_bench.py --seeds {args.seeds} --algos {' '.join(args.algos)} "
        f"--throughput-steps {args.throughput_steps}"
        + (f" --pong-seconds {args.pong_seconds:g}" if args.pong_seconds else "")
        + (" --skip-cartpole" if args.skip_cartpole else ""),
        "",
        *([args.note, ""] if args.note else []),
        "Median [min, max] over seeds. Training clock from summary.json; Ray start-up (ray.init and the",
        "env runners' imports) is before that clock starts, shown apart; process = the whole `a3c train`.",
        "Peak PSS: proportional set size summed over the `a3c train` process tree (a local Ray's",
        "processes included), sampled every 2 s; '-' for results taken before it was measured.",
        "",
        "| algo | backend | solved | time to target, s | steps to target | Ray start-up, s | process, s "
        "| peak PSS, MB |",
        "| --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for algo in args.algos:
        for backend in ("local", "ray"):
            rs = [r for r in results if r["kind"] == "to_target" and r["algo"] == algo and r["backend"] == backend]
            lines.append(f"| {algo} | {backend} | {sum(r['solved'] for r in rs)}/{len(rs)} | "
                         f"{med([r['time_to_target_s'] for r in rs])} | {med([r['steps_to_target'] for r in rs])} | "
                         f"{med([r['ray_startup_s'] for r in rs])} | {med([r['process_s'] for r in rs])} | "
                         f"{med([r.get('peak_pss_mb') for r in rs])} |")
    lines += ["", f"Throughput: {args.throughput_steps:,} env steps, no target, env steps/s (summary.json).", "",
              "| algo | backend | env steps/s | ray / local (medians) |", "| --- | --- | --- | --- |"]
    for algo in args.algos:
        rates = {b: [r["steps_per_second"] for r in results if r["kind"] == "throughput" and r["algo"] == algo
                     and r["backend"] == b] for b in ("local", "ray")}
        for backend in ("local", "ray"):
            ratio = (f"{statistics.median(rates['ray']) / statistics.median(rates['local']):.2f}"
                     if backend == "ray" and rates["local"] and rates["ray"] else "")
            lines.append(f"| {algo} | {backend} | {med(rates[backend])} | {ratio} |")
    pong = [r for r in results if r["kind"] == "pong"]
    if pong:
        lines += ["", f"Pixels: ALE/Pong-v5 on its presets, {pong[0]['wall_seconds']:.0f} s of training each, one "
                  "seed, env steps/s (summary.json).", "",
                  "| algo | backend | env steps/s | mean100 at the end | ray / local |",
                  "| --- | --- | --- | --- | --- |"]
        for algo in args.algos:
            rate = {r["backend"]: r for r in pong if r["algo"] == algo}
            for backend in ("local", "ray"):
                if backend in rate:
                    r = rate[backend]
                    ratio = (f"{r['steps_per_second'] / rate['local']['steps_per_second']:.2f}"
                             if backend == "ray" and "local" in rate else "")
                    lines.append(f"| {algo} | {backend} | {r['steps_per_second']:,.0f} | {r['mean_return_100']} | "
                                 f"{ratio} |")
    minatar = [r for r in results if r["kind"] == "minatar"]
    if minatar:
        lines += ["", "Learning per env step: MinAtar/Breakout-v1 on its presets, "
                  f"{minatar[0]['wall_seconds']:.0f} s of training each, seed 0; mean100 of each run at the env steps "
                  "the shorter run reached (the last metrics row at or below them).", "",
                  "| algo | backend | env steps/s | env steps | mean100 there | ray / local |",
                  "| --- | --- | --- | --- | --- | --- |"]
        for algo in args.algos:
            pair = {r["backend"]: r for r in minatar if r["algo"] == algo}
            if len(pair) < 2:
                continue
            common = min(max(s for s, _ in r["curve"]) for r in pair.values())
            there = {b: [m for s, m in r["curve"] if s <= common][-1] for b, r in pair.items()}
            for backend in ("local", "ray"):
                ratio = f"{there['ray'] / there['local']:.2f}" if backend == "ray" and there["local"] else ""
                lines.append(f"| {algo} | {backend} | {pair[backend]['steps_per_second']:,.0f} | {common:,} | "
                             f"{there[backend]:.2f} | {ratio} |")
    report = OUT / "ray.md"
    text = report.read_text() if report.exists() else ""
    kept = text[text.index(HAND_WRITTEN):] if HAND_WRITTEN in text else ""
    report.write_text("\n".join(lines) + "\n" + (f"\n{kept}" if kept else ""))
    print("\n".join(lines))


if __name__ == "__main__":
    main()
