"""--backend ray (a local Ray on this machine) against the local engines on CartPole-v1.

    python benchmarks/ray_bench.py --seeds 3 --throughput-steps 300000

For each seed, for each algorithm, the local engine and the Ray backend run in turn (the order
alternates per seed): `a3c train CartPole-v1 --algo ALGO [--backend ray] --seed S` to the
target (475). Then each system trains --throughput-steps with no target, for steps/s. Every run
is a fresh `a3c` process with the defaults (2 workers). Times are the training clock of
summary.json; Ray's start-up (ray.init + actors ready) is off that clock and reported apart,
from events.log. Writes benchmarks/results/ray.md and ray.json.
"""

from __future__ import annotations

import argparse
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
RAY_ENV = {"RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER": "0", "RAY_AUTH_MODE": "disabled", "RAY_USAGE_STATS_ENABLED": "0"}
sys.path.insert(0, str(OUT.parent))
from systems import measure  # noqa: E402  (runs a command, sampling its process tree's PSS)


def run(algo: str, backend: str, seed: int, extra: list[str], work: Path) -> dict:
    run_dir = work / f"{algo}-{backend}-{seed}-{len(list(work.iterdir()))}"
    cmd = [sys.executable, "-m", "a3c", "train", "CartPole-v1", "--algo", algo, "--backend", backend,
           "--seed", str(seed), "--run-dir", str(run_dir), "--set", "progress=false", *extra]
    log = work / f"{run_dir.name}.log"
    proc = measure(cmd, log, hard_limit_s=600)  # the Ray processes a local run starts are in its tree
    process_s = proc["process_wall_s"]
    if proc["rc"] != 0:
        raise RuntimeError(f"{shlex.join(cmd)} exited {proc['rc']}:\n{log.read_text()[-2000:]}")
    summary = json.loads((run_dir / "summary.json").read_text())
    startup = re.search(r"start-up took ([0-9.]+) s", (run_dir / "events.log").read_text())
    return dict(algo=algo, backend=backend, seed=seed, solved=summary["solved"],
                time_to_target_s=summary["time_to_target_s"], steps_to_target=summary["steps_to_target"],
                env_steps=summary["env_steps"], wall_seconds=summary["wall_seconds"],
                steps_per_second=summary["steps_per_second"], process_s=round(process_s, 1),
                ray_startup_s=float(startup.group(1)) if startup else None, peak_pss_mb=proc["peak_pss_mb"],
                command=shlex.join(cmd[1:]))


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
    parser.add_argument("--throughput-steps", type=int, default=300_000)
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
        for seed in range(args.seeds):
            for algo in args.algos:
                order = ["local", "ray"] if seed % 2 == 0 else ["ray", "local"]
                for backend in order:
                    r = dict(run(algo, backend, seed, [], work), kind="to_target")
                    print(json.dumps(r), flush=True)
                    results.append(r)
        for seed in range(args.seeds):
            for algo in args.algos:
                order = ["local", "ray"] if seed % 2 == 0 else ["ray", "local"]
                for backend in order:
                    r = dict(run(algo, backend, seed, ["--total-steps", str(args.throughput_steps),
                                                       "--target-return", "off"], work), kind="throughput")
                    print(json.dumps(r), flush=True)
                    results.append(r)
    (OUT / "ray.json").write_text(json.dumps(results, indent=2) + "\n")
    write_report(results, args)


def write_report(results: list[dict], args) -> None:
    lines = [
        "# --backend ray (local Ray) vs the local engines, CartPole-v1",
        "",
        f"Taken {dt.datetime.now(dt.timezone.utc):%Y-%m-%d %H:%M} UTC on {platform.machine()}, {os.cpu_count()} cores, "
        f"Python {platform.python_version()}; defaults (2 workers). Command:",
        "",
        f"    python benchmarks/ray_bench.py --seeds {args.seeds} --algos {' '.join(args.algos)} "
        f"--throughput-steps {args.throughput_steps}",
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
    (OUT / "ray.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
