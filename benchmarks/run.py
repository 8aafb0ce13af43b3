"""Run a3c (and ga3c) side by side with Stable-Baselines3 A2C and PPO; write the results.

    python benchmarks/run.py --envs CartPole-v1 Acrobot-v1 --seeds 5 --cap-s 180

Runs alternate seed-major (for each seed, each env, each system in turn, the system order
rotated by one per seed), so slow drifts in machine load spread over all systems.
Writes benchmarks/results/: runs/*.json (one per system x env x seed), results.json,
results.md and <env>.png. See benchmarks/README.md.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import shlex
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, Optional

sys.path.insert(0, str(Path(__file__).resolve().parent))
import systems  # noqa: E402
from aggregate import over_seeds  # noqa: E402
from systems import REPO, RUNNERS, SYSTEMS, measure, peak_memory, raw_env_rate  # noqa: E402

DEFAULT_OUT = Path(__file__).resolve().parent / "results"


def target_for(env_id: str) -> Optional[float]:
    """The target a3c itself would use: its preset's target_return, else the env's reward_threshold."""
    from a3c.config import Config
    from a3c.envs import env_threshold

    return Config.for_env(env_id).resolved_target(env_threshold(env_id))


def ga3c_available(out_dir: Path) -> tuple[bool, str]:
    """ga3c runs when a3c.engines.ga3c imports and a 10-second CartPole run ends without error."""
    probe = subprocess.run([sys.executable, "-c", "import a3c.engines.ga3c"], capture_output=True, text=True,
                           env=systems.child_env(), cwd=REPO)
    if probe.returncode != 0:
        return False, "ga3c skipped: `import a3c.engines.ga3c` failed: " + probe.stderr.strip().splitlines()[-1]
    work = out_dir / "work" / "ga3c-probe"
    run_dir = work / "run"
    if run_dir.exists():
        import shutil

        shutil.rmtree(run_dir)
    work.mkdir(parents=True, exist_ok=True)
    cmd = [sys.executable, "-m", "a3c", "train", "CartPole-v1", "--algo", "ga3c", "--time-limit", "10",
           "--run-dir", str(run_dir), "--set", "progress=false", "--set", "tensorboard=false"]
    run = measure(cmd, work / "log.txt", hard_limit_s=90)
    summary = run_dir / "summary.json"
    stop = json.loads(summary.read_text())["stop_reason"] if summary.exists() else "no summary.json"
    if run["rc"] != 0 or stop == "error":
        return False, f"ga3c skipped: a 10 s probe run failed (exit {run['rc']}, {stop}; see {work / 'log.txt'})"
    return True, "ga3c probe run ok"


def cpu_model() -> str:
    """The CPU's model name from /proc/cpuinfo ("unknown" where it has none)."""
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            return line.split(":", 1)[1].strip()
    return "unknown"


def git_commit(tree: Path) -> Optional[str]:
    """The short commit of the checkout at `tree` (where the code measured lives); None outside git."""
    out = subprocess.run(["git", "-C", str(tree), "rev-parse", "--short", "HEAD"], capture_output=True, text=True)
    return out.stdout.strip() or None


def provenance() -> dict[str, Any]:
    """What a record keeps of where it was measured: the day, the commit of the checkout the a3c
    under test is imported from (a worktree on PYTHONPATH, or this one), the CPU and its cores."""
    import a3c

    code = Path(a3c.__file__).resolve().parent
    return dict(date=time.strftime("%Y-%m-%d"), commit=git_commit(code), cpu=cpu_model(), cores=os.cpu_count())


def machine_info() -> dict[str, Any]:
    import gymnasium
    import stable_baselines3
    import torch

    return dict(
        date=dt.datetime.now().isoformat(timespec="seconds"), cores=os.cpu_count(), cpu=cpu_model(),
        memory_gib=round(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30, 1),
        load_average_at_start=[round(x, 2) for x in os.getloadavg()],
        python=platform.python_version(), torch=torch.__version__, gymnasium=gymnasium.__version__,
        stable_baselines3=stable_baselines3.__version__,
    )


# ----- aggregation -----
def summarize(records: list[dict], raw: dict[str, Any]) -> list[dict]:
    rows = []
    records = [r for r in records if r.get("kind", "to_target") == "to_target"]
    for env_id in dict.fromkeys(r["env_id"] for r in records):
        limit = raw.get(env_id, {}).get("limit")
        for system in [s for s in SYSTEMS if any(r["system"] == s and r["env_id"] == env_id for r in records)]:
            runs = sorted((r for r in records if r["system"] == system and r["env_id"] == env_id),
                          key=lambda r: r["seed"])
            capped = [r["time_to_target_s"] if r["solved"] else r["cap_s"] for r in runs]
            capped_process = [r["time_to_target_process_s"] if r["solved"] else r["cap_s"] + r["startup_s"]
                              for r in runs]
            solved_steps = [r["steps_to_target"] for r in runs if r["solved"]]
            throughput = statistics.median(r["steps_per_second"] for r in runs)
            rows.append(dict(
                env_id=env_id, system=system, seeds=len(runs), solved=sum(r["solved"] for r in runs),
                unsolved_seeds=[r["seed"] for r in runs if not r["solved"]],
                time_median_s=statistics.median(capped), time_min_s=min(capped), time_max_s=max(capped),
                time_over_seeds=over_seeds(capped),
                any_capped=any(not r["solved"] for r in runs),
                process_time_median_s=statistics.median(capped_process),
                startup_median_s=statistics.median(r["startup_s"] for r in runs),
                steps_to_target_median=statistics.median(solved_steps) if solved_steps else None,
                steps_per_second_median=throughput,
                fraction_of_limit=throughput / limit if limit else None,
                **memory_summary(runs),
                peak_threads_max=max(r["peak_threads"] for r in runs),
                settings=runs[0]["settings"],
            ))
    return rows


def memory_summary(runs: list[dict]) -> dict[str, Any]:
    """Median and max peak memory of some runs, and what it is: "PSS" (summed over the process tree),
    "RSS" (summed, in results written before PSS), or "PSS/RSS" where a summary mixes both."""
    measured = [peak_memory(r) for r in runs]
    values = [mb for mb, _ in measured if mb is not None]
    return dict(peak_mb_median=statistics.median(values) if values else None,
                peak_mb_max=max(values) if values else None,
                memory="/".join(sorted({kind for mb, kind in measured if mb is not None})) or "-")


def memory_label(rows: list[dict]) -> str:
    kinds = sorted({k for r in rows for k in r.get("memory", "-").split("/") if k != "-"}) or ["PSS"]
    return "/".join(kinds)


def memory_note(label: str) -> str:
    notes = {"PSS": "PSS: peak proportional set size summed over the process and its children (each shared "
                    "page split among the processes that map it).",
             "RSS": "RSS: peak resident memory summed over the process and its children (results taken before "
                    "PSS; it counts pages shared by forked processes once per process, overstating them)."}
    return " ".join(notes[kind] for kind in label.split("/") if kind in notes)


def iqm_text(figure: Optional[dict], fmt: str) -> str:
    """An over_seeds() figure as "IQM [low, high]" ("-" for results written before it was kept)."""
    if not figure:
        return "-"
    return f"{fmt.format(figure['iqm'])} [{fmt.format(figure['iqm_ci_low'])}, {fmt.format(figure['iqm_ci_high'])}]"


def _mb(value: Optional[float]) -> str:
    return "-" if value is None else f"{value:,.0f}"


def markdown(rows: list[dict], raw: dict[str, Any], meta: dict[str, Any]) -> str:
    m = meta["machine"]
    lines = [
        "# Benchmark results", "",
        f"Taken {m['date']} on {m['cores']} cores ({m['cpu']}), {m['memory_gib']} GiB; Python {m['python']}, "
        f"torch {m['torch']}, gymnasium {m['gymnasium']}, stable-baselines3 {m['stable_baselines3']}. "
        f"Load average (1, 5, 15 min) at start {m['load_average_at_start']}, at end "
        f"{m.get('load_average_at_end', '-')}; the runs took {meta.get('wall_minutes', '-')} minutes.", "",
        f"Command: `{meta['command']}`", "",
        f"Seeds {meta['seeds']}, cap {meta['cap_s']:g} s of training time per run, every system in its own "
        "subprocess with one torch/OpenMP/MKL thread per process; runs alternated seed-major.", "",
    ]
    lines += [f"Note: {n}" for n in meta["notes"]] + [""]
    lines += [
        "Time to target: train-call seconds until the mean return of the last 100 finished training episodes "
        "reached the target (median [min, max] over seeds; an unsolved seed counts as the cap, shown as >=; "
        "IQM: the interquartile mean over seeds with its 95% bootstrap interval). "
        "Process: the same, counted from the launch of the subprocess. Throughput: env steps / training "
        "seconds over the whole run. Limit: random-action env steps/s of the machine (one gym.make env per "
        "core, all cores at once). " + memory_note(memory_label(rows)), "",
    ]
    header = ("| env | system | solved | time to target, s | IQM [95% CI], s | process time, s | startup, s | steps to target "
              f"| env steps/s | % of limit | peak {memory_label(rows)}, MB | threads |")
    for env_id in dict.fromkeys(r["env_id"] for r in rows):
        lim = raw.get(env_id, {})
        lines += [f"## {env_id} (target {meta['targets'][env_id]})", "",
                  f"Raw env limit: {lim.get('limit', 0):,.0f} steps/s on {lim.get('cores')} cores "
                  f"(measurements: {', '.join(f'{x:,}' for x in lim.get('measured', []))}).", "",
                  header, "|" + "---|" * 12]
        for r in (r for r in rows if r["env_id"] == env_id):
            ge = ">=" if r["any_capped"] else ""
            med_ge = ">=" if r["time_median_s"] >= meta["cap_s"] else ""
            steps = f"{r['steps_to_target_median']:,.0f}" if r["steps_to_target_median"] is not None else "-"
            frac = f"{100 * r['fraction_of_limit']:.1f}%" if r["fraction_of_limit"] is not None else "-"
            unsolved = f" (unsolved seeds {r['unsolved_seeds']})" if r["unsolved_seeds"] else ""
            lines.append(
                f"| {env_id} | {r['system']} | {r['solved']}/{r['seeds']}{unsolved} "
                f"| {med_ge}{r['time_median_s']:.1f} [{r['time_min_s']:.1f}, {ge}{r['time_max_s']:.1f}] "
                f"| {iqm_text(r.get('time_over_seeds'), '{:.1f}')} "
                f"| {med_ge}{r['process_time_median_s']:.1f} | {r['startup_median_s']:.1f} | {steps} "
                f"| {r['steps_per_second_median']:,.0f} | {frac} "
                f"| {_mb(r['peak_mb_median'])} (max {_mb(r['peak_mb_max'])}) | {r['peak_threads_max']} |")
        lines += ["", f"![{env_id}]({env_id}.png)", ""]
    lines += ["## Settings", ""]
    for r in rows:
        lines.append(f"- {r['env_id']} / {r['system']}: `{json.dumps(r['settings'])}`")
    return "\n".join(lines) + "\n"


def plot(records: list[dict], targets: dict[str, Optional[float]], cap_s: float, out_dir: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    colors = {"a3c": "tab:red", "ga3c": "tab:purple", "sb3-a2c": "tab:blue", "sb3-ppo": "tab:green"}
    for env_id in dict.fromkeys(r["env_id"] for r in records):
        fig, ax = plt.subplots(figsize=(8, 5))
        for system in SYSTEMS:
            runs = [r for r in records if r["env_id"] == env_id and r["system"] == system]
            for i, r in enumerate(runs):
                if r["series"]:
                    wall, _, ret = zip(*r["series"])
                    ax.plot(wall, ret, color=colors[system], linewidth=0.8, alpha=0.8,
                            label=system if i == 0 else None)
        if targets.get(env_id) is not None:
            ax.axhline(targets[env_id], color="black", linestyle="--", linewidth=0.8, label="target")
        longest = max((r["series"][-1][0] for r in records if r["env_id"] == env_id and r["series"]), default=cap_s)
        ax.set(xlabel="training wall time, s", ylabel="mean return of last 100 episodes", title=env_id,
               xlim=(0, min(cap_s, 1.05 * longest)))
        ax.legend()
        ax.grid(alpha=0.3)
        fig.tight_layout()
        fig.savefig(out_dir / f"{env_id}.png", dpi=110)
        plt.close(fig)


def summarize_throughput(records: list[dict], raw: dict[str, Any]) -> list[dict]:
    """Median env steps/s per system over fixed-length runs, against the limit and the peers."""
    records = [r for r in records if r.get("kind") == "throughput"]
    rows = []
    for env_id in dict.fromkeys(r["env_id"] for r in records):
        limit = raw.get(env_id, {}).get("limit")
        medians = {}
        for system in [s for s in SYSTEMS if any(r["system"] == s and r["env_id"] == env_id for r in records)]:
            runs = [r for r in records if r["system"] == system and r["env_id"] == env_id]
            medians[system] = (statistics.median(r["steps_per_second"] for r in runs), runs)
        for system, (rate, runs) in medians.items():
            rows.append(dict(
                env_id=env_id, system=system, runs=len(runs), fixed_steps=runs[0]["fixed_steps"],
                steps_per_second_median=rate, steps_per_second_all=[r["steps_per_second"] for r in runs],
                steps_per_second_over_seeds=over_seeds([r["steps_per_second"] for r in runs]),
                fraction_of_limit=rate / limit if limit else None,
                vs_sb3_a2c=rate / medians["sb3-a2c"][0] if medians.get("sb3-a2c", (0,))[0] else None,
                vs_a3c=rate / medians["a3c"][0] if medians.get("a3c", (0,))[0] else None,
                **memory_summary(runs),
            ))
    return rows


def throughput_markdown(rows: list[dict]) -> str:
    if not rows:
        return ""
    lines = ["## Training throughput at a fixed step budget", "",
             "Each system trains for the same number of env steps with no target (so no run stops early); "
             "throughput is env steps / train-call seconds, start-up of workers included. Median over seeds.", "",
             "| env | system | env steps | runs | env steps/s (each run) | % of limit | x SB3 A2C | x a3c "
             f"| peak {memory_label(rows)}, MB |", "|" + "---|" * 9]
    for r in rows:
        frac = f"{100 * r['fraction_of_limit']:.1f}%" if r["fraction_of_limit"] is not None else "-"
        ratio = lambda x: f"{x:.2f}" if x is not None else "-"  # noqa: E731
        each = ", ".join(f"{x:,.0f}" for x in r["steps_per_second_all"])
        lines.append(f"| {r['env_id']} | {r['system']} | {r['fixed_steps']:,} | {r['runs']} "
                     f"| {r['steps_per_second_median']:,.0f} ({each}) | {frac} | {ratio(r['vs_sb3_a2c'])} "
                     f"| {ratio(r['vs_a3c'])} | {_mb(r['peak_mb_median'])} |")
    return "\n".join(lines) + "\n"


def report(out_dir: Path, meta: dict[str, Any], records: list[dict]) -> list[dict]:
    rows = summarize(records, meta["raw_env"])
    throughput = summarize_throughput(records, meta["raw_env"])
    (out_dir / "results.json").write_text(
        json.dumps(dict(meta=meta, summary=rows, throughput=throughput, runs=records), indent=1) + "\n")
    text = markdown(rows, meta["raw_env"], meta)
    if throughput:  # before the Settings section
        head, sep, tail = text.partition("## Settings")
        text = head + throughput_markdown(throughput) + "\n" + sep + tail
    (out_dir / "results.md").write_text(text)
    plot([r for r in records if r.get("kind", "to_target") == "to_target"], meta["targets"], meta["cap_s"], out_dir)
    return rows


def measure_limits(envs: list[str], meta: dict[str, Any], seconds: float) -> None:
    cores = os.cpu_count() or 1
    for env_id in envs:
        entry = meta["raw_env"].setdefault(env_id, dict(cores=cores, measured=[]))
        entry["measured"].append(raw_env_rate(env_id, cores, seconds)["total"])
        entry["limit"] = max(entry["measured"])  # contention only lowers it: the best reading is the limit


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--envs", nargs="+", default=["CartPole-v1", "Acrobot-v1"], help="Gymnasium env ids")
    parser.add_argument("--seeds", type=int, default=5, help="seeds 0..N-1")
    parser.add_argument("--cap-s", type=float, default=180.0, help="training seconds per run before giving up")
    parser.add_argument("--systems", nargs="+", default=list(SYSTEMS), choices=SYSTEMS)
    parser.add_argument("--raw-seconds", type=float, default=3.0, help="seconds per raw env-rate measurement")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    parser.add_argument("--note", action="append", default=[], help="a line for results.md (repeatable)")
    parser.add_argument("--report-only", action="store_true", help="rebuild the table and plots from results.json")
    parser.add_argument("--throughput-steps", type=int, default=300_000,
                        help="env steps of each fixed-budget throughput run (0: skip that phase)")
    parser.add_argument("--throughput-seeds", type=int, default=3, help="throughput runs per system and env")
    parser.add_argument("--throughput-envs", nargs="+", default=["CartPole-v1"],
                        help="envs of the throughput phase (those also in --envs)")
    args = parser.parse_args()
    out_dir = args.out
    out_dir.mkdir(parents=True, exist_ok=True)

    if args.report_only:
        saved = json.loads((out_dir / "results.json").read_text())
        saved["meta"]["notes"] += [n for n in args.note if n not in saved["meta"]["notes"]]
        report(out_dir, saved["meta"], saved["runs"])
        print((out_dir / "results.md").read_text())
        return

    for old in (out_dir / "runs").glob("*.json"):  # one run's results per directory
        old.unlink()
    meta: dict[str, Any] = dict(
        command=shlex.join(["python", os.path.relpath(sys.argv[0], REPO)] + sys.argv[1:]),
        commit=git_commit(REPO),
        machine=machine_info(), seeds=list(range(args.seeds)), cap_s=args.cap_s, envs=args.envs,
        targets={e: target_for(e) for e in args.envs}, raw_env={}, notes=list(args.note),
    )
    chosen = list(args.systems)
    if "ga3c" in chosen:
        ok, message = ga3c_available(out_dir)
        print(message, flush=True)
        if not ok:
            chosen.remove("ga3c")
            meta["notes"].append(message)
    meta["systems"] = chosen
    measure_limits(args.envs, meta, args.raw_seconds)
    print(f"raw env limits: { {e: v['limit'] for e, v in meta['raw_env'].items()} }", flush=True)

    records: list[dict] = []
    started = time.monotonic()
    for seed in range(args.seeds):
        order = chosen[seed % len(chosen):] + chosen[:seed % len(chosen)]
        for env_id in args.envs:
            for system in order:
                rec = RUNNERS[system](env_id, seed, args.cap_s, meta["targets"][env_id], out_dir)
                records.append(rec)
                ttt = rec["time_to_target_s"]
                print(f"[{time.monotonic() - started:7.0f}s] {env_id} {system} seed {seed}: "
                      f"{'solved in %.1f s' % ttt if ttt is not None else 'not solved'} ({rec['stop_reason']}, "
                      f"rc {rec['rc']}), {rec['steps_per_second']:,.0f} steps/s, "
                      f"{_mb(peak_memory(rec)[0])} MB {peak_memory(rec)[1]}",
                      flush=True)
                report(out_dir, meta, records)  # keep results current if the run is cut short

    throughput_envs = [e for e in args.throughput_envs if e in args.envs] if args.throughput_steps else []
    meta["throughput"] = dict(steps=args.throughput_steps, seeds=args.throughput_seeds, envs=throughput_envs)
    for seed in range(args.throughput_seeds if throughput_envs else 0):
        order = chosen[seed % len(chosen):] + chosen[:seed % len(chosen)]
        for env_id in throughput_envs:
            for system in order:
                rec = RUNNERS[system](env_id, seed, args.cap_s, None, out_dir, fixed_steps=args.throughput_steps)
                records.append(rec)
                print(f"[{time.monotonic() - started:7.0f}s] {env_id} {system} seed {seed} throughput: "
                      f"{rec['env_steps']:,} steps, {rec['steps_per_second']:,.0f} steps/s (rc {rec['rc']})",
                      flush=True)
                report(out_dir, meta, records)

    measure_limits(args.envs, meta, args.raw_seconds)
    meta["wall_minutes"] = round((time.monotonic() - started) / 60, 1)
    meta["machine"]["load_average_at_end"] = [round(x, 2) for x in os.getloadavg()]
    report(out_dir, meta, records)
    print((out_dir / "results.md").read_text())


if __name__ == "__main__":
    main()
