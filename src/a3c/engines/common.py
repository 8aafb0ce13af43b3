"""Plumbing shared by the engines: global counters in shared memory, the reports workers
send to the main process, and process helpers."""

from __future__ import annotations

import multiprocessing as mp
import queue as queue_lib
import os
import random
import signal
import time
import traceback
from typing import Any, Optional

import numpy as np
import torch

from a3c.seeding import process_seed

# Index of each counter in SharedCounters.
ENV_STEPS, UPDATES, EPISODES = 0, 1, 2


class SharedCounters:
    """Env steps, updates and episodes over all processes, in shared memory.

    A lock guards each increment: workers add a whole rollout at a time, so the lock is
    taken a few dozen times a second, and no count is ever lost to a race.
    """

    def __init__(self, ctx, initial: tuple[int, int, int] = (0, 0, 0)):
        self._values = ctx.Array("q", list(initial))

    def add(self, env_steps: int = 0, updates: int = 0, episodes: int = 0) -> int:
        with self._values.get_lock():
            self._values[ENV_STEPS] += env_steps
            self._values[UPDATES] += updates
            self._values[EPISODES] += episodes
            return self._values[ENV_STEPS]

    def read(self) -> tuple[int, int, int]:
        with self._values.get_lock():
            return tuple(self._values[:3])  # type: ignore[return-value]

    @property
    def env_steps(self) -> int:
        return self._values[ENV_STEPS]


class Reporter:
    """Gathers a worker's episode returns and loss terms and sends them to the main process
    a few times a second, so the queue carries small batches rather than one message per step."""

    def __init__(self, queue, rank: int, every_s: float = 0.25):
        self.queue, self.rank, self.every_s = queue, rank, every_s
        self._reset()
        self._last = time.monotonic()

    def _reset(self) -> None:
        self.returns: list[float] = []
        self.lengths: list[int] = []
        self.sums = {"policy_loss": 0.0, "value_loss": 0.0, "entropy": 0.0, "grad_norm": 0.0}
        self.count = 0
        self.extra: dict[str, float] = {}

    def episodes(self, stats) -> None:
        for ep in stats:
            self.returns.append(ep.ret)
            self.lengths.append(ep.length)

    def losses(self, policy: float, value: float, entropy: float, grad_norm: float) -> None:
        self.sums["policy_loss"] += policy
        self.sums["value_loss"] += value
        self.sums["entropy"] += entropy
        self.sums["grad_norm"] += grad_norm
        self.count += 1

    def maybe_send(self, force: bool = False) -> None:
        now = time.monotonic()
        if not force and now - self._last < self.every_s:
            return
        if self.returns or self.count or self.extra:
            self.queue.put(dict(kind="report", rank=self.rank, returns=self.returns, lengths=self.lengths,
                                sums=self.sums, count=self.count, extra=self.extra))
        self._reset()
        self._last = now


def drain_queue(q, timeout: float) -> list:
    """Every message waiting on q: wait up to timeout for the first (not at all if timeout
    is 0), then take the rest without blocking. A queue torn down at shutdown reads as empty."""
    messages = []
    try:
        messages.append(q.get(timeout=timeout) if timeout > 0 else q.get_nowait())
        while True:
            messages.append(q.get_nowait())
    except (queue_lib.Empty, EOFError, OSError):
        pass
    return messages


def report_crash(queue, rank: int, role: str) -> None:
    """Tell the main process why this process is about to die (it logs it and restarts us)."""
    try:
        queue.put(dict(kind="crash", rank=rank, role=role, error=traceback.format_exc(limit=8)))
    except Exception:  # the queue itself may be gone at shutdown
        pass


def prepare_child(seed: int) -> None:
    """Setup every child process shares: one torch thread, seeded RNGs, and Ctrl-C left
    to the main process, which stops the children through their stop event."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    torch.set_num_threads(1)
    random.seed(seed)
    np.random.seed(seed % (2**32))
    torch.manual_seed(seed)


def child_seed(base_seed: int, rank: int, incarnation: int) -> int:
    """The seed of worker `rank`'s generators (see a3c.seeding): no two ranks, incarnations or
    run seeds share one, so a restarted worker (or a resumed run) does not replay its predecessor."""
    return process_seed(base_seed, rank, incarnation)


# What every worker and agent imports. The fork server imports it once; each child forked
# from it starts in milliseconds instead of spending a second or two importing torch.
CHILD_PRELOAD = ["a3c.engines.hogwild", "a3c.engines.ga3c.agent"]


def context():
    """The multiprocessing context of the engines.

    Never plain fork: it would copy the main process's threads (TensorBoard writer,
    progress bar, GA3C predictors and trainers) mid-flight, and workers are restarted
    and added late in a run. forkserver forks from a clean single-threaded server that
    has the heavy imports preloaded; spawn (a fresh interpreter per child) where there is
    no forkserver (Windows).
    """
    if "forkserver" not in mp.get_all_start_methods():
        return mp.get_context("spawn")
    ctx = mp.get_context("forkserver")
    ctx.set_forkserver_preload(CHILD_PRELOAD)
    return ctx


def warm_up_children() -> None:
    """Start the fork server now, so its imports overlap the main process's own set-up."""
    ctx = context()
    if ctx.get_start_method() == "forkserver":
        from multiprocessing import forkserver

        forkserver.ensure_running()


def stop_processes(processes: list, timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    for proc in processes:
        if proc is not None:
            proc.join(max(0.0, deadline - time.monotonic()))
    for proc in processes:
        if proc is not None and proc.is_alive():
            proc.terminate()
            proc.join(1.0)
        if proc is not None and proc.is_alive():
            os.kill(proc.pid, signal.SIGKILL)
            proc.join(1.0)
