"""Helpers of the fault-injection tests: start a real `a3c train` in a subprocess, find the
processes of the run through psutil, and kill them."""

from __future__ import annotations

import csv
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Callable, Optional

import psutil

TESTS_DIR = Path(__file__).resolve().parents[1]
QUIET = ["--set", "progress=false", "--set", "tensorboard=false"]


def start_train(*args, log: Path, env_vars: Optional[dict] = None) -> subprocess.Popen:
    """`python -m a3c train ARGS` as a user runs it; tests/ on PYTHONPATH for the custom envs.
    Output goes to files: a pipe nobody reads could block the run."""
    env = dict(os.environ, **(env_vars or {}))
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(TESTS_DIR), env.get("PYTHONPATH")]))
    out, err = open(f"{log}.out", "w"), open(f"{log}.err", "w")
    return subprocess.Popen([sys.executable, "-m", "a3c", "train", *map(str, args), *QUIET],
                            stdout=out, stderr=err, text=True, env=env, preexec_fn=_default_sigint)


def _default_sigint() -> None:
    """Ctrl-C as a terminal delivers it, however pytest was started: a shell's background job
    inherits SIGINT ignored, and Python then never turns it into KeyboardInterrupt, so a test
    that interrupts its run would wait on a run that never heard it."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def run_tree(pid: int) -> list[psutil.Process]:
    """The main process of a run and every process under it: fork server, resource tracker,
    workers or agents."""
    root = psutil.Process(pid)
    return [root, *root.children(recursive=True)]


def children_of_fork_server(pid: int) -> list[psutil.Process]:
    """A run's workers (A3C) or agents (GA3C): the children of its fork server."""
    found = []
    try:
        for child in psutil.Process(pid).children():
            if "forkserver" in " ".join(child.cmdline()):
                found += child.children()
    except psutil.Error:
        pass
    return found


def alive(processes: list[psutil.Process]) -> list[psutil.Process]:
    """Those still running (is_running also checks the start time, so a reused pid is not them)."""
    survivors = []
    for proc in processes:
        try:
            if proc.is_running() and proc.status() != psutil.STATUS_ZOMBIE:
                survivors.append(proc)
        except psutil.NoSuchProcess:
            pass
    return survivors


def age_s(proc: psutil.Process) -> float:
    try:
        return time.time() - proc.create_time()
    except psutil.Error:
        return 0.0


def wait_for(condition: Callable[[], object], timeout: float, step: float = 0.05):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(step)
    raise AssertionError(f"timed out after {timeout} s waiting for {condition}")


def read_metrics(run_dir: Path) -> list[dict]:
    with open(run_dir / "metrics.csv", newline="") as fh:
        return list(csv.DictReader(fh))


def summary(run_dir: Path) -> dict:
    return json.loads((run_dir / "summary.json").read_text())


def output(log: Path) -> str:
    return Path(f"{log}.out").read_text() + Path(f"{log}.err").read_text()


def prepared_child_that_blocks_forever(ready) -> None:
    """A run's child (prepare_child) stuck where no loop checks for a dead parent: a lock never released."""
    import threading

    from a3c.engines.processes import prepare_child

    prepare_child(0)
    ready.set()
    lock = threading.Lock()
    lock.acquire()
    lock.acquire()
