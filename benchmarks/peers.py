"""Pong on this machine with the Atari peers users would pick for speed: CleanRL's PPO on EnvPool
and Sample Factory 2, CPU only, each run alone, beside `a3c train ALE/Pong-v5`.

    python benchmarks/peers.py cleanrl --python /work/peers-venv/bin/python \\
        --cleanrl /path/to/cleanrl-checkout --minutes 30 --seeds 1
    python benchmarks/peers.py sample-factory --python /work/sf-venv/bin/python --minutes 30 --seeds 1

cleanrl: `cleanrl/ppo_atari_envpool.py` from a checkout of github.com/vwxyzjn/cleanrl (a git
directory; the file is read at its HEAD, whose commit the record keeps) with the flags its
README gives for "Learn Pong-v5 in ~5-10 mins" (`--clip-coef=0.2 --num-envs=16
--num-minibatches=8 --num-steps=128 --update-epochs=3`), `--env-id Pong-v5 --no-cuda`, run through
peer_shims/cleanrl_envpool.py (CleanRL pins EnvPool 0.6, which has no Python 3.11 wheel).
sample-factory: its Atari example (`sf_examples.atari.train_atari --env=atari_pong`, which is
PongNoFrameskip-v4 with its own wrappers) with 2 workers x 4 envs on the 2 cores, `--device=cpu`;
peer_shims/sample_factory_site registers ale-py's games in each of its processes.

Each peer runs in its own virtual environment (their pins conflict with ours and with each other;
benchmarks/README.md says how to make them), with one torch/OpenMP thread a process as every
system here. A run is stopped after --minutes of training. Measured: agent steps/s (one step of
one game, 4 emulator frames) after the first 10 s, the mean return of the last 100 games at the
end and the first time it reached 18. Writes benchmarks/results/peers-pong-STAMP.json.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
import time
from collections import deque
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from run import cpu_model, git_commit  # noqa: E402
from systems import measure  # noqa: E402

OUT = HERE / "results"
WARMUP_S = 10.0  # as pixels.py: start-up costs count for nobody
TARGET = 18.0  # Pong's "solved", as a3c's preset
CLEANRL_FILE = "cleanrl/ppo_atari_envpool.py"
CLEANRL_FLAGS = ["--clip-coef=0.2", "--num-envs=16", "--num-minibatches=8", "--num-steps=128", "--update-epochs=3"]


def run_figures(series: list[tuple[float, int, float | None]], full: list[bool]) -> dict[str, Any]:
    """The figures of one run from its curve of (train seconds, agent steps, mean return of the
    recent games or None) points: steps/s after WARMUP_S, the last mean, and the first point at
    TARGET among those whose window of games is full (full[i])."""
    late = [p for p in series if p[0] >= WARMUP_S]
    span = late[-1][0] - late[0][0] if len(late) > 1 else 0.0
    means = [p for p in series if p[2] is not None]
    reached = next((p for p, ok in zip(series, full, strict=True) if ok and p[2] is not None and p[2] >= TARGET), None)
    return dict(
        steps_per_s=(late[-1][1] - late[0][1]) / span if span > 0 else None,
        mean_return_100=means[-1][2] if means else None,
        agent_steps=series[-1][1] if series else 0,
        time_to_target_s=reached[0] if reached else None,
        steps_to_target=reached[1] if reached else None,
        series=series[:: max(1, len(series) // 400)],
    )


def curve_from_points(points: list[tuple[float, int, float | None]]) -> dict[str, Any]:
    """run_figures of a run that reports each finished game's return, from its (train seconds, agent
    steps, finished game's return or None) points: the curve is the mean of the last 100 games,
    which may count as reaching TARGET once 100 games have finished."""
    window: deque[float] = deque(maxlen=100)
    series, full = [], []
    for wall_s, step, ret in points:
        if ret is not None:
            window.append(ret)
        series.append((round(wall_s, 2), step, sum(window) / len(window) if window else None))
        full.append(len(window) == 100)
    return run_figures(series, full)


def parse_cleanrl(log: str, steps_per_update: int = 16 * 128) -> list[tuple[float, int, float | None]]:
    """CleanRL prints `global_step=N, episodic_return=R` per finished game and `SPS: S` after each
    update, S being global_step / seconds since its start; an update is num_envs x num_steps
    agent steps (CLEANRL_FLAGS: 16 x 128). Update k ends at k x steps_per_update / S_k seconds;
    the games printed before it are placed at their own step / S_k."""
    points: list[tuple[float, int, float | None]] = []
    pending: list[tuple[int, float]] = []
    updates = 0
    for line in log.splitlines():
        game = re.match(r"global_step=(\d+), episodic_return=\[?(-?[\d.]+)", line)
        if game:
            pending.append((int(game[1]), float(game[2])))
            continue
        sps = re.match(r"SPS: (\d+)", line)
        if sps:
            updates += 1
            rate = max(int(sps[1]), 1)
            points += [(s / rate, s, r) for s, r in pending]
            points.append((updates * steps_per_update / rate, updates * steps_per_update, None))
            pending = []
    return sorted(points, key=lambda point: point[1])  # in step order: the window's order


def run_cleanrl(args, seed: int, work: Path) -> dict[str, Any]:
    script = work / "ppo_atari_envpool.py"
    script.write_text(
        subprocess.run(
            ["git", "-C", args.cleanrl, "show", f"HEAD:{CLEANRL_FILE}"], check=True, capture_output=True, text=True
        ).stdout
    )
    peer_commit = subprocess.run(
        ["git", "-C", args.cleanrl, "rev-parse", "--short", "HEAD"], capture_output=True, text=True
    ).stdout.strip()
    shim = HERE / "peer_shims" / "cleanrl_envpool.py"  # the script unchanged, on EnvPool 0.8's API
    cmd = [
        args.python,
        str(shim),
        str(script),
        "--env-id",
        "Pong-v5",
        "--seed",
        str(seed),
        "--no-cuda",
        "--total-timesteps",
        "10000000",
        *CLEANRL_FLAGS,
    ]
    log = work / f"cleanrl-s{seed}.log"
    proc = measure(cmd, log, hard_limit_s=args.minutes * 60 + 60)  # + EnvPool's and torch's start-up
    return dict(
        curve_from_points(parse_cleanrl(log.read_text())),
        peer_commit=peer_commit,
        command=" ".join(["python", CLEANRL_FILE, *cmd[3:]]),
        rc=proc["rc"],
        process_wall_s=round(proc["process_wall_s"], 1),
        peak_pss_mb=proc["peak_pss_mb"],
    )


def parse_sample_factory(log: str) -> list[tuple[float, int, float | None]]:
    """Sample Factory logs `Fps is (...). Total num frames: F.` and `Avg episode reward: [(0,
    'R')]` every few seconds, with a clock time at the start of each line; frames are emulator
    frames (4 a step)."""
    points: list[tuple[float, int, float | None]] = []
    start = None
    frames = 0
    for line in log.splitlines():
        clock = re.search(r"(\d\d):(\d\d):(\d\d)[,.](\d+)", line)
        fps = re.search(r"Total num frames: (\d+)", line)
        if clock and fps:
            t = int(clock[1]) * 3600 + int(clock[2]) * 60 + int(clock[3]) + int(clock[4]) / 10 ** len(clock[4])
            start = t if start is None else start
            frames = int(fps[1])
            points.append((t - start, frames // 4, None))
        reward = re.search(r"Avg episode reward: \[\(0, '(-?[\d.]+)'\)\]", line)
        if reward and points:
            wall, step, _ = points[-1]
            points[-1] = (wall, step, float(reward[1]))
    return points


def run_sample_factory(args, seed: int, work: Path) -> dict[str, Any]:
    cmd = [
        args.python,
        "-m",
        "sf_examples.atari.train_atari",
        "--env=atari_pong",
        f"--experiment=pong-s{seed}",
        f"--train_dir={work}",
        "--device=cpu",
        "--num_workers=2",
        "--num_envs_per_worker=4",
        f"--seed={seed}",
        f"--train_for_seconds={int(args.minutes * 60)}",
        "--with_wandb=False",
    ]
    log = work / f"sf-s{seed}.log"
    # Every process it spawns imports sample_factory_site/sitecustomize.py: the games registered.
    saved = os.environ.get("PYTHONPATH")
    os.environ["PYTHONPATH"] = str(HERE / "peer_shims" / "sample_factory_site")  # its venv, not ours
    try:
        proc = measure(cmd, log, hard_limit_s=args.minutes * 60 + 120)  # it may outlive its own limit
    finally:
        if saved is None:
            del os.environ["PYTHONPATH"]
        else:
            os.environ["PYTHONPATH"] = saved
    # Its "Avg episode reward" is already a running mean of the last games: the curve keeps it as is.
    series = [(round(w, 2), s, r) for w, s, r in parse_sample_factory(log.read_text())]
    return dict(
        run_figures(series, [True] * len(series)),
        command=" ".join(["python", *cmd[1:]]),
        rc=proc["rc"],
        process_wall_s=round(proc["process_wall_s"], 1),
        peak_pss_mb=proc["peak_pss_mb"],
    )


RUNNERS = {"cleanrl": run_cleanrl, "sample-factory": run_sample_factory}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("peer", choices=sorted(RUNNERS))
    parser.add_argument("--python", required=True, help="the interpreter of the peer's own virtual environment")
    parser.add_argument("--cleanrl", help="cleanrl: a git checkout (or bare repository) of vwxyzjn/cleanrl")
    parser.add_argument("--minutes", type=float, default=30.0)
    parser.add_argument("--seeds", type=int, default=1)
    parser.add_argument("--out", type=Path, default=OUT)
    args = parser.parse_args()
    if args.peer == "cleanrl" and not args.cleanrl:
        parser.error("cleanrl needs --cleanrl, a checkout of github.com/vwxyzjn/cleanrl")
    stamp = time.strftime("%Y%m%d-%H%M%S")
    records = []
    with tempfile.TemporaryDirectory(prefix=f"peers-{args.peer}-") as tmp:
        for seed in range(args.seeds):
            print(f"[{time.strftime('%H:%M:%S')}] {args.peer} seed {seed}", flush=True)
            record = dict(RUNNERS[args.peer](args, seed, Path(tmp)), peer=args.peer, seed=seed, minutes=args.minutes)
            records.append(record)
            print(
                f"    steps/s {record['steps_per_s']}  mean_return_100 {record['mean_return_100']}  "
                f"time to {TARGET:g}: {record['time_to_target_s']}",
                flush=True,
            )
    meta = dict(
        command=" ".join(["python", "benchmarks/peers.py", *sys.argv[1:]]),
        date=time.strftime("%Y-%m-%d"),
        commit=git_commit(HERE),
        cpu=cpu_model(),
        cores=os.cpu_count(),
    )
    path = args.out / f"peers-pong-{args.peer}-{stamp}.json"
    path.write_text(json.dumps(dict(meta=meta, records=records), indent=1) + "\n")
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
