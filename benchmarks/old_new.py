"""Old commit against new, side by side in one run (issue 22's check that a redesign costs no speed):
CartPole-v1 time to its target for both engines over seeds, and Pong agent steps/s for both engines
over a fixed time. Each run alone, the two trees alternating, one torch thread per process.

    git worktree add /tmp/old OLD_COMMIT
    python benchmarks/old_new.py --old /tmp/old --new . --seeds 0 1 2 --pong-seconds 60

--cartpole-steps N adds CartPole-v1 throughput on each tree's own defaults: N env steps with no
target (env steps / training seconds), the trees alternating per seed (issue 40's check against
da8f20c, the commit before every optimizer step took a lock). --out FILE keeps every value with
the date, the commits and the CPU.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from run import cpu_model, git_commit  # noqa: E402

# Pong under the Atari family's settings of both trees (the new tree's Pong preset for A3C is a
# different recipe; the point here is the code's speed on the same work).
PONG_SAME_WORK = [
    "screen_size=84", "frame_stack=4", "torso=auto", "recurrent=false", "t_max=5",
    "optimizer=rmsprop", "lr=7e-4", "value_coef=1.0",
]


def train(tree: Path, args: list[str], run_dir: Path) -> dict:
    env = dict(os.environ, PYTHONPATH=str(tree / "src"), OMP_NUM_THREADS="1")
    cmd = [sys.executable, "-m", "a3c", "train", *args, "--run-dir", str(run_dir),
           "--set", "progress=false", "--set", "tensorboard=false"]
    subprocess.run(cmd, env=env, check=True, capture_output=True, text=True)
    return json.loads((run_dir / "summary.json").read_text())


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--old", type=Path, required=True)
    parser.add_argument("--new", type=Path, required=True)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--pong-seconds", type=float, default=60, help="0: no Pong runs")
    parser.add_argument("--algos", nargs="+", default=["a3c", "ga3c"])
    parser.add_argument("--cartpole-steps", type=int, default=0, help="0: no CartPole throughput runs")
    parser.add_argument("--skip-time-to-target", action="store_true")
    parser.add_argument("--out", type=Path, help="a JSON file for every value measured")
    parser.add_argument("--new-set", action="append", default=[], metavar="key=value",
                        help="a setting for the new tree's CartPole runs only (to leave out a later learning change)")
    args = parser.parse_args()
    trees = {"old": args.old.resolve(), "new": args.new.resolve()}
    results: dict[tuple[str, str, str], list[float]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        n = 0
        for seed in args.seeds if args.cartpole_steps else []:
            for algo in args.algos:
                for name, tree in (list(trees.items()) if seed % 2 == 0 else list(trees.items())[::-1]):
                    n += 1
                    s = train(tree, ["CartPole-v1", "--algo", algo, "--seed", str(seed), "--time-limit", "600",
                                     "--total-steps", str(args.cartpole_steps), "--target-return", "1e18"],
                              Path(tmp) / f"run{n}")
                    value = s["env_steps"] / s["wall_seconds"]
                    results.setdefault(("CartPole-v1 env steps/s", algo, name), []).append(value)
                    print(f"cartpole throughput {algo} seed {seed} {name}: {value:,.0f}", flush=True)
        for seed in [] if args.skip_time_to_target else args.seeds:
            for algo in args.algos:
                for name, tree in (list(trees.items()) if seed % 2 == 0 else list(trees.items())[::-1]):
                    n += 1
                    extra = [x for pair in args.new_set for x in ("--set", pair)] if name == "new" else []
                    s = train(tree, ["CartPole-v1", "--algo", algo, "--seed", str(seed), "--time-limit", "120", *extra],
                              Path(tmp) / f"run{n}")
                    value = s["time_to_target_s"] if s["time_to_target_s"] is not None else float("inf")
                    results.setdefault(("CartPole-v1 time to 475 (s)", algo, name), []).append(value)
                    print(f"cartpole {algo} seed {seed} {name}: {value}", flush=True)
        for algo in args.algos if args.pong_seconds else []:
            for name, tree in trees.items():
                n += 1
                sets = [x for pair in PONG_SAME_WORK for x in ("--set", pair)]
                s = train(tree, ["ALE/Pong-v5", "--algo", algo, "--seed", "0", "--time-limit",
                                 str(args.pong_seconds), *sets], Path(tmp) / f"run{n}")
                results.setdefault(("ALE/Pong-v5 steps/s", algo, name), []).append(s["steps_per_second"])
                print(f"pong {algo} {name}: {s['steps_per_second']}", flush=True)
    if args.out:
        args.out.write_text(json.dumps(dict(
            date=time.strftime("%Y-%m-%dT%H:%M:%S"), command=" ".join(sys.argv), cpu=cpu_model(),
            cores=os.cpu_count(), seeds=args.seeds, commits={k: git_commit(t) for k, t in trees.items()},
            new_sets=args.new_set,
            values=[dict(measure=m, algo=a, tree=t, values=v) for (m, a, t), v in results.items()],
        ), indent=1) + "\n")
    print("\n| measure | engine | old | new | new/old |\n| --- | --- | --- | --- | --- |")
    for (measure, algo, name), values in results.items():
        if name != "old":
            continue
        old = statistics.median(values)
        new = statistics.median(results[(measure, algo, "new")])
        print(f"| {measure} | {algo} | {old:.2f} ({', '.join(f'{v:.1f}' for v in values)}) | {new:.2f} "
              f"({', '.join(f'{v:.1f}' for v in results[(measure, algo, 'new')])}) | {new / old:.2f} |")


if __name__ == "__main__":
    main()
