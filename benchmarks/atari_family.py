"""Atari beyond Pong (issue 41): candidate recipes for the Atari family, screened on the A3C
paper's classic games at equal wall-clock budgets, scored by the human-normalized score.

    python benchmarks/atari_family.py --games Breakout SpaceInvaders BeamRider Seaquest Qbert \\
        --recipes paper universe paper-lstm universe-ff --seeds 0 --budget 1200          # the screen
    python benchmarks/atari_family.py --recipes universe paper --seeds 1 --budget 1800  # the two best
    python benchmarks/atari_family.py --games Breakout SpaceInvaders --recipes universe \
        --peers sb3-a2c sb3-ppo --seeds 0 1 --budget 1800                                # beside the peers
    python benchmarks/atari_family.py --report-only

Each run is `a3c train ALE/<game>-v5 --algo ALGO` on the family's protocol of today (clipped
rewards, a lost life ends the bootstrap, sticky actions, noop starts, the linear lr anneal over
its total_steps of 10M, as in a user's run) with the recipe's settings on top, trained for the whole
budget (no target; the budgets end before 10M steps),
alone on the machine, one torch thread per process, recipes alternating with the order rotated per
seed. Its curve (mean of the last 100 training episodes, unclipped game score) gives the stability
figures of issue 37 (best, final, drop), and its final mean the human-normalized score
(score - random) / (human - random). The aggregate over games and seeds is the interquartile mean
with its 95% bootstrap interval (benchmarks/aggregate.py), the median beside it.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from aggregate import over_tasks  # noqa: E402
from figures import atari_family_text  # noqa: E402
from stability import a3c_sets, figures, keep, plot, provenance  # noqa: E402
from systems import run_a3c, run_sb3  # noqa: E402

RESULTS = HERE / "results" / "atari-family"

# Random and human scores: Mnih et al. 2015 (Nature DQN), Extended Data Table 2, the reference of
# the human-normalized scores in the A3C paper and since (rliable uses the same human scores).
RANDOM_HUMAN = {
    "Pong": (-20.7, 14.6),
    "Breakout": (1.7, 30.5),
    "SpaceInvaders": (148.0, 1668.7),
    "BeamRider": (363.9, 16926.5),
    "Seaquest": (68.4, 42054.7),
    "Qbert": (163.9, 13455.0),
}

# name -> (why, settings on top of the family's). The family's protocol settings stay as they are.
RECIPES: dict[str, tuple[str, tuple[str, ...]]] = {
    "paper": (
        "today's family default: the A3C paper's feed-forward agent (84x84, 4 frames, its conv net, "
        "RMSProp 7e-4, 5-step rollouts)",
        (),
    ),
    "universe": (
        "Pong's preset (universe-starter-agent, pytorch-a3c): 42x42 single frames, four 3x3 convs, an LSTM "
        "of 256, Adam 5e-4, 20-step rollouts; it solves Pong where the family's settings were at -13",
        (
            "screen_size=42",
            "frame_stack=1",
            "torso=universe",
            "recurrent=true",
            "lstm_size=256",
            "t_max=20",
            "optimizer=adam",
            "lr=5e-4",
            "value_coef=0.5",
        ),
    ),
    "paper-lstm": (
        "the A3C paper's LSTM agent: its conv net on 84x84 single frames with an LSTM of 256, which the paper "
        "reports ahead of the feed-forward agent on most games",
        ("frame_stack=1", "recurrent=true", "lstm_size=256", "t_max=20"),
    ),
    "universe-ff": (
        "the universe recipe without the LSTM (4 stacked 42x42 frames): whether Pong's gain is the memory or "
        "the small frames, small net and Adam",
        (
            "screen_size=42",
            "frame_stack=4",
            "torso=universe",
            "recurrent=false",
            "t_max=20",
            "optimizer=adam",
            "lr=5e-4",
            "value_coef=0.5",
        ),
    ),
}


PEERS = {
    "sb3-a2c": "SB3 A2C on rl-baselines3-zoo's Atari settings (16 envs, 5-step rollouts, RMSProp 7e-4, 4 frames)",
    "sb3-ppo": "SB3 PPO on rl-baselines3-zoo's Atari settings (8 envs, 128 steps, 4 epochs, Adam 2.5e-4 annealed)",
}
ZOO = "zoo"  # the recipe name of a peer's run


def system_name(algo: str, recipe: str) -> str:
    return f"{algo}/{recipe}"


def run(algo: str, recipe: str, game: str, seed: int, budget: float, out: Path) -> dict[str, Any]:
    env_id = f"ALE/{game}-v5"
    if algo in PEERS:
        return run_sb3(algo.removeprefix("sb3-"), env_id, seed, budget, None, out)
    # The family's own total_steps stay, so its lr anneals as in a user's run (the budget ends first).
    sets = a3c_sets(RECIPES[recipe][1], own_step_cap=True)
    return run_a3c(env_id, seed, budget, None, out, algo=algo, system=system_name(algo, recipe), sets=sets)


def normalized(game: str, score: float) -> float:
    random, human = RANDOM_HUMAN[game]
    return (score - random) / (human - random)


def game_of(env_id: str) -> str:
    return env_id.removeprefix("ALE/").removesuffix("-v5")


def summarize(records: list[dict[str, Any]]) -> dict[str, Any]:
    """What the pages show (benchmarks/figures.py's atari-family block): a row per game and system
    (each seed's final, best, drop and env steps, and the human-normalized median final), and per
    system the aggregate of the human-normalized finals over games and seeds. Failed runs (no
    curve) are left out."""
    kept = [r for r in records if r.get("figures")]
    by: dict[tuple[str, str], list[dict]] = {}
    for r in kept:
        by.setdefault((game_of(r["env_id"]), r["system"]), []).append(r)
    rows = []
    for (game, system), runs in sorted(by.items()):
        runs.sort(key=lambda r: r["seed"])
        finals = [r["figures"]["final"] for r in runs]
        rows.append(
            dict(
                game=game,
                system=system,
                seeds=[r["seed"] for r in runs],
                final=finals,
                best=[r["figures"]["best"] for r in runs],
                drop=[r["figures"]["drop"] for r in runs],
                env_steps=[r["env_steps"] for r in runs],
                budget_s=sorted({r["cap_s"] for r in runs}),
                normalized=normalized(game, statistics.median(finals)),
            )
        )
    aggregates = []
    for system in sorted({row["system"] for row in rows}):
        scores = {
            row["game"]: [normalized(row["game"], v) for v in row["final"]] for row in rows if row["system"] == system
        }
        counts = {len(v) for v in scores.values()}
        # rliable's stratified bootstrap needs as many seeds in every game: until then, no interval.
        figure = over_tasks(scores) if len(counts) == 1 else None
        aggregates.append(dict(system=system, games=sorted(scores), figure=figure))
    # Where each run was measured, for figures.records_measured, and the commands that ran them.
    runs = [{k: r.get(k) for k in ("seed", "date", "commit", "cpu", "cores")} for r in kept]
    commands = sorted({r["command"] for r in kept if r.get("command")})
    return dict(rows=rows, aggregates=aggregates, runs=runs, commands=commands)


def write_summary(records: list[dict[str, Any]], out: Path) -> dict[str, Any]:
    summary = summarize(records)
    (out / "summary.json").write_text(json.dumps(summary, indent=1) + "\n")
    return summary


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--games", nargs="+", default=["Breakout", "SpaceInvaders", "BeamRider", "Seaquest", "Qbert"])
    parser.add_argument("--recipes", nargs="+", default=list(RECIPES), choices=list(RECIPES))
    parser.add_argument("--algos", nargs="+", default=["a3c"], choices=["a3c", "ga3c"])
    parser.add_argument(
        "--peers",
        nargs="*",
        default=[],
        choices=list(PEERS),
        help="SB3 systems on the zoo's Atari settings, run beside the recipes",
    )
    parser.add_argument("--seeds", type=int, nargs="+", default=[0])
    parser.add_argument("--budget", type=float, default=1200.0, help="training seconds per run")
    parser.add_argument("--out", type=Path, default=RESULTS)
    parser.add_argument("--report-only", action="store_true")
    parser.add_argument("--plot", type=Path, help="also draw the curves of --games x the systems run into this PNG")
    args = parser.parse_args()
    unknown = [g for g in args.games if g not in RANDOM_HUMAN]
    if unknown:
        parser.error(f"no random/human scores for {unknown}; known: {sorted(RANDOM_HUMAN)}")
    os.environ["PYTHONPATH"] = os.pathsep.join(filter(None, [str(HERE), os.environ.get("PYTHONPATH")]))
    args.out.mkdir(parents=True, exist_ok=True)
    path = args.out / "records.json"
    records: list[dict[str, Any]] = json.loads(path.read_text()) if path.exists() else []
    if not args.report_only:
        plan = [(algo, recipe) for algo in args.algos for recipe in args.recipes] + [(p, ZOO) for p in args.peers]
        for i, seed in enumerate(args.seeds):
            for game in args.games:
                shift = i % len(plan)
                for algo, recipe in plan[shift:] + plan[:shift]:
                    record = run(algo, recipe, game, seed, args.budget, args.out)
                    record.update(
                        provenance(),
                        recipe=recipe,
                        why=PEERS[algo] if algo in PEERS else RECIPES[recipe][0],
                        command=" ".join(["python", *sys.argv]),
                        # The drop's reference is the literature's random play, as the normalized score's.
                        figures=figures(record, RANDOM_HUMAN[game][0]),
                    )
                    records = keep(records, record, path)
                    write_summary(records, args.out)
                    f = record["figures"] or {}
                    print(
                        f"{game} {record['system']} seed {seed}: final {f.get('final')} best {f.get('best')} "
                        f"drop {f.get('drop')} ({record['env_steps']:,} steps)",
                        flush=True,
                    )
    print(atari_family_text(write_summary(records, args.out)))
    if args.plot:
        envs = [f"ALE/{game}-v5" for game in args.games]
        systems = sorted({r["system"] for r in records if r["env_id"] in envs and r.get("series")})
        plot(records, envs, systems, args.plot, {f"ALE/{g}-v5": RANDOM_HUMAN[g][0] for g in args.games})


if __name__ == "__main__":
    main()
