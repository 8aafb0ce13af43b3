"""Where each process of a run spends its time, from py-spy's sampled stacks (issue 40).

    py-spy record --subprocesses --format raw --rate 200 -o STACKS.txt -- a3c train ALE/Pong-v5 ...
    python benchmarks/profile_stacks.py STACKS.txt [--json OUT.json]

py-spy's raw format is one line per distinct stack, "frame;frame;...;frame COUNT", root first;
with --subprocesses each stack starts with a frame naming its process. This script sorts every
sample into one phase of the work by the innermost frame that names one (PHASES, first match from
the leaf up), so a sample inside the env's step called from the acting loop counts as the env, and
prints, per process, the share of its samples in each phase and its hottest a3c functions.
"""

from __future__ import annotations

import argparse
import gzip
import json
import re
from collections import Counter, defaultdict
from pathlib import Path

# (phase, pattern on one frame): the innermost frame that matches any pattern decides the phase.
PHASES: list[tuple[str, re.Pattern[str]]] = [
    (
        "waiting (lock, queue, sleep, select)",
        re.compile(r"\b(flock|acquire|wait|sleep|select|poll|_recv|recv_bytes|get \(multiprocessing|get \(queue)\b"),
    ),
    ("backward", re.compile(r"\b(backward|_engine_run_backward|run_backward)\b|torch/autograd")),
    ("optimizer step", re.compile(r"torch/optim/|a3c/optim\.py|\bstep \(a3c/optim")),
    ("env step (emulator and wrappers)", re.compile(r"ale_py|gymnasium/|a3c/envs/|minatar|mujoco")),
    ("network forward", re.compile(r"torch/nn/|\bforward \(a3c/")),
    ("torch ops outside modules", re.compile(r"torch/")),
    ("process messages (pickle, shared memory, pipes)", re.compile(r"multiprocessing/|pickle|shared_memory")),
]
OTHER = "python in a3c and the rest"
PROCESS = re.compile(r"^process (\d+):?\"?(.*?)\"?$")
A3C_FRAME = re.compile(r"^(\w+) \((?:.*/)?(a3c/[\w/]+\.py)(?::\d+)?\)")


def parse(path: Path) -> list[tuple[list[str], int]]:
    stacks = []
    text = gzip.decompress(path.read_bytes()).decode() if path.suffix == ".gz" else path.read_text()
    for line in text.splitlines():
        line = line.strip()
        if not line:
            continue
        frames, _, count = line.rpartition(" ")
        if not count.isdigit():
            continue
        stacks.append((frames.split(";"), int(count)))
    return stacks


def phase_of(frames: list[str]) -> str:
    for frame in reversed(frames):
        for name, pattern in PHASES:
            if pattern.search(frame):
                return name
    return OTHER


def process_name(frames: list[str]) -> tuple[str, list[str]]:
    """(the process's label, the frames below it). py-spy nests a child's stacks under its
    parent's process frame (main; forkserver; worker), so the innermost process frame names the
    process; samples taken without --subprocesses have none."""
    last = max((i for i, frame in enumerate(frames) if PROCESS.match(frame)), default=None)
    if last is None:
        return "main", frames
    m = PROCESS.match(frames[last])
    assert m is not None
    return f"{m[1]} {m[2][:90]}", frames[last + 1 :]


def role_of(frames: list[str]) -> str:
    """The a3c role a stack runs (its outermost a3c frame whose module is an engine part)."""
    for frame in frames:
        m = A3C_FRAME.match(frame)
        if m and ("engines/" in m[2] or "predictor" in m[2] or "trainer" in m[2]):
            return f"{m[1]} ({m[2]})"
    return "-"


def summarize(stacks: list[tuple[list[str], int]]) -> dict:
    per_process: dict[str, Counter[str]] = defaultdict(Counter)
    hot: dict[str, Counter[str]] = defaultdict(Counter)
    roles: dict[str, Counter[str]] = defaultdict(Counter)
    for frames, count in stacks:
        name, frames = process_name(frames)
        per_process[name][phase_of(frames)] += count
        roles[name][role_of(frames)] += count
        seen = set()
        for frame in frames:  # inclusive: each a3c function once per sample
            m = A3C_FRAME.match(frame)
            if m and (key := f"{m[1]} ({m[2]})") not in seen:
                seen.add(key)
                hot[name][key] += count
    out = {}
    for name, phases in sorted(per_process.items(), key=lambda kv: -sum(kv[1].values())):
        total = sum(phases.values())
        out[name] = dict(
            samples=total,
            phases={p: round(c / total, 4) for p, c in phases.most_common()},
            roles={r: round(c / total, 4) for r, c in roles[name].most_common(4)},
            hottest_a3c_functions={f: round(c / total, 4) for f, c in hot[name].most_common(12)},
        )
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("stacks", type=Path, help="py-spy record --format raw output")
    parser.add_argument("--json", type=Path, help="also write the summary here")
    parser.add_argument("--min-samples", type=int, default=100, help="leave out processes with fewer samples")
    args = parser.parse_args()
    summary = {k: v for k, v in summarize(parse(args.stacks)).items() if v["samples"] >= args.min_samples}
    for name, s in summary.items():
        print(f"\n## {name}: {s['samples']:,} samples")
        for p, share in s["phases"].items():
            print(f"  {100 * share:5.1f}%  {p}")
        print("  hottest a3c functions (inclusive):")
        for f, share in s["hottest_a3c_functions"].items():
            print(f"  {100 * share:5.1f}%  {f}")
    if args.json:
        args.json.write_text(json.dumps(summary, indent=1) + "\n")


if __name__ == "__main__":
    main()
