"""Learning that stays learned (issue 37): train past the peak and measure the fall.

Each run trains for a fixed wall-clock budget with no early stop, and its curve (the mean of the
last 100 training episodes, every 2 s) gives a3c's own stability figures (a3c.stats.stability):
the best mean, the final one, the drop (best - final) / (best - random) and the time to the first
peak (the curve first within 10% of its best, above random). A system is a spec:

    a3c | ga3c                      the env's defaults, as `a3c train ENV` takes them
    a3c:key=value,key=value         the same with settings changed (an ablation)
    sb3-ppo | sb3-a2c               Stable-Baselines3 on its own defaults, one env (no zoo file)
    sb3-ppo:n_envs=8                the same on 8 envs (DummyVecEnv)

    python benchmarks/stability.py --envs InvertedDoublePendulum-v5 --seeds 0 1 2 --budget 600 \\
        --systems a3c ga3c sb3-ppo
    python benchmarks/stability.py --report-only    # (re)compute each record's figures, print the table
    python benchmarks/stability.py --envs Hopper-v5 --systems a3c --own-step-cap    # the default run as
        # a user's: it stops at its config's total_steps (and anneals lr to it) within the budget

One subprocess per run, one torch thread each, systems alternating seed-major with the order
rotated per seed, nothing else running. Random play's mean return per env (the reference of the
drop) is measured once, 100 episodes of uniform random actions, and kept in random.json.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from a3c.stats import stability  # noqa: E402
from figures import stability_table  # noqa: E402
from own_env_defaults import make_env, run_sb3  # noqa: E402
from recurrent import machine_load  # noqa: E402
from run import provenance  # noqa: E402
from systems import run_a3c  # noqa: E402

RESULTS = HERE / "results" / "stability"
NO_STEP_CAP = 10**12  # the budget is wall-clock: no env-step stop (and a linear lr schedule stays ~constant)


def keep(records: list[dict[str, Any]], record: dict[str, Any], path: Path) -> list[dict[str, Any]]:
    """records with `record` in place of any earlier run of its env, system and seed, written to path."""
    key = (record["env_id"], record["system"], record["seed"])
    records = [r for r in records if (r["env_id"], r["system"], r["seed"]) != key] + [record]
    path.write_text(json.dumps(records, indent=1) + "\n")
    return records


def a3c_sets(sets: tuple[str, ...], own_step_cap: bool = False) -> tuple[str, ...]:
    """The --set pairs of a run trained for its whole wall-clock budget: no target, and no step cap
    unless the system sets one or the run keeps its config's own (`own_step_cap`: it stops where
    `a3c train ENV` stops, and a linear lr schedule anneals as it does there)."""
    uncapped = not own_step_cap and not any(pair.startswith("total_steps=") for pair in sets)
    return ("target_return=off", *((f"total_steps={NO_STEP_CAP}",) if uncapped else ()), *sets)


def random_return(env_id: str, episodes: int = 100, seed: int = 0) -> float:
    """The mean return of uniform random actions over `episodes` episodes."""
    env = make_env(env_id)
    env.action_space.seed(seed)
    total = 0.0
    for i in range(episodes):
        env.reset(seed=seed + i)
        done, ret = False, 0.0
        while not done:
            _, reward, terminated, truncated, _ = env.step(env.action_space.sample())
            ret += float(reward)
            done = terminated or truncated
        total += ret
    env.close()
    return total / episodes


def random_returns(env_ids: list[str], out: Path) -> dict[str, float]:
    path = out / "random.json"
    known: dict[str, float] = json.loads(path.read_text()) if path.exists() else {}
    for env_id in env_ids:
        if env_id not in known:
            known[env_id] = round(random_return(env_id), 3)
            print(f"random play on {env_id}: {known[env_id]}", flush=True)
    path.write_text(json.dumps(known, indent=1, sort_keys=True) + "\n")
    return known


def parse_system(spec: str) -> tuple[str, tuple[str, ...]]:
    """'a3c:key=value,key=value' -> ('a3c', ('key=value', 'key=value')); a list value keeps its
    commas inside brackets: 'a3c:hidden_sizes=[128,128],lr=2e-3'."""
    algo, _, rest = spec.partition(":")
    return algo, tuple(pair for pair in re.split(r",(?![^\[]*\])", rest) if pair)


def run(system: str, env_id: str, seed: int, budget: float, out: Path, own_step_cap: bool = False) -> dict[str, Any]:
    if system.startswith("sb3-"):
        algo, sets = parse_system(system)
        n_envs = int(dict(pair.split("=") for pair in sets).get("n_envs", 1))
        return run_sb3(algo, env_id, seed, budget, out, n_envs=n_envs, name=system)
    algo, sets = parse_system(system)
    return run_a3c(env_id, seed, budget, None, out, algo=algo, system=system, sets=a3c_sets(sets, own_step_cap))


def figures(record: dict[str, Any], reference: float) -> dict[str, Any] | None:
    """The run's stability figures over training seconds (a3c.stats.stability); None without a curve.
    Points before the first full window of episodes (no mean yet) are not part of the curve."""
    series = [p for p in record.get("series") or [] if p[2] is not None]
    if not series:
        return None
    xs, means = [p[0] for p in series], [p[2] for p in series]
    result = stability(xs, means, reference)
    return None if result is None else result.as_dict()


def with_figures(records: list[dict[str, Any]], randoms: dict[str, float]) -> list[dict[str, Any]]:
    """Each record with its `figures` (re)computed, so that benchmarks/figures.py renders the pages
    from the JSON alone, with the same formula as summary.json."""
    return [dict(r, figures=figures(r, randoms[r["env_id"]])) for r in records]


def plot(
    records: list[dict[str, Any]], envs: list[str], systems: list[str], path: Path, randoms: dict[str, float]
) -> None:
    """One panel per env: each system's curves (mean of the last 100 episodes against training
    seconds), one line per seed, with random play dotted."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(envs), figsize=(5.5 * len(envs), 4), squeeze=False)
    colors = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    for ax, env_id in zip(axes[0], envs, strict=True):
        for i, system in enumerate(systems):
            runs = sorted(
                (r for r in records if r["env_id"] == env_id and r["system"] == system), key=lambda r: r["seed"]
            )
            for j, r in enumerate(runs):
                xs, ys = [p[0] for p in r["series"]], [p[2] for p in r["series"]]
                ax.plot(xs, ys, color=colors[i % len(colors)], alpha=0.8, lw=1.2, label=system if j == 0 else None)
        if env_id in randoms:
            ax.axhline(randoms[env_id], color="grey", ls=":", lw=1, label="random play")
        ax.set_title(env_id)
        ax.set_xlabel("training seconds")
        ax.set_ylabel("mean return of the last 100 episodes")
        ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--envs", nargs="+", default=["InvertedDoublePendulum-v5"])
    parser.add_argument("--systems", nargs="+", default=["a3c", "ga3c", "sb3-ppo"])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--budget", type=float, default=600.0, help="seconds of training per run")
    parser.add_argument("--out", type=Path, default=RESULTS)
    parser.add_argument(
        "--own-step-cap",
        action="store_true",
        help="a3c/ga3c runs stop at their config's own total_steps, as `a3c train ENV` does (the budget is then "
        "the most a run may take); without it they train for the whole budget",
    )
    parser.add_argument("--report-only", action="store_true")
    parser.add_argument("--plot", type=Path, help="also draw the curves of --envs x --systems into this PNG")
    args = parser.parse_args()
    os.environ["PYTHONPATH"] = os.pathsep.join(filter(None, [str(HERE), os.environ.get("PYTHONPATH")]))
    args.out.mkdir(parents=True, exist_ok=True)
    records_path = args.out / "records.json"
    records: list[dict[str, Any]] = json.loads(records_path.read_text()) if records_path.exists() else []
    if not args.report_only:
        randoms = random_returns(args.envs, args.out)
        meta_path = args.out / "meta.json"
        meta = json.loads(meta_path.read_text()) if meta_path.exists() else {"commands": []}
        meta["commands"].append(
            dict(
                command=" ".join(["python", *sys.argv]),
                started=time.strftime("%Y-%m-%d %H:%M"),
                load_before=machine_load(),
            )
        )
        for i, seed in enumerate(args.seeds):
            for env_id in args.envs:
                shift = i % len(args.systems)
                for system in args.systems[shift:] + args.systems[:shift]:
                    record = run(system, env_id, seed, args.budget, args.out, args.own_step_cap)
                    record.update(provenance(), figures=figures(record, randoms[env_id]))
                    records = keep(records, record, records_path)
                    f = record["figures"] or {}
                    print(
                        f"{env_id} {system} seed {seed}: best {f.get('best')} final {f.get('final')} "
                        f"drop {f.get('drop')} ({record['steps_per_second']:.0f} steps/s)",
                        flush=True,
                    )
        meta["commands"][-1]["load_after"] = machine_load()
        meta_path.write_text(json.dumps(meta, indent=1) + "\n")
    randoms = json.loads((args.out / "random.json").read_text())
    if args.report_only:
        records = with_figures(records, randoms)
        records_path.write_text(json.dumps(records, indent=1) + "\n")
    print(stability_table([r for r in records if args.report_only or r["env_id"] in args.envs]))
    if args.plot:
        plot(records, args.envs, args.systems, args.plot, randoms)
        print(f"curves: {args.plot}")


if __name__ == "__main__":
    main()
