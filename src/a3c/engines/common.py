"""Plumbing shared by the engines: global counters in shared memory, the reports workers
send to the main process, and process helpers."""

from __future__ import annotations

import ctypes
import multiprocessing as mp
import queue as queue_lib
import os
import random
import signal
import sys
import time
import traceback
from pathlib import Path
from typing import Any, Callable, Optional

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
        self.nonfinite = 0  # updates skipped because their loss or gradient was NaN/inf
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

    def skipped(self) -> None:
        self.nonfinite += 1

    def env_errors(self, envs) -> None:
        """Send the tracebacks of env failures since the last call (each env already rebuilt)."""
        take = getattr(envs, "take_errors", None)  # the env layer grows take_errors(); until then, nothing
        for error in (take() if take is not None else []):
            self.queue.put(dict(kind="env_error", rank=self.rank, error=error))

    def maybe_send(self, force: bool = False) -> None:
        now = time.monotonic()
        if not force and now - self._last < self.every_s:
            return
        if self.returns or self.count or self.extra or self.nonfinite:
            self.queue.put(dict(kind="report", rank=self.rank, returns=self.returns, lengths=self.lengths,
                                sums=self.sums, count=self.count, extra=self.extra, nonfinite=self.nonfinite))
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


def update_is_finite(loss: torch.Tensor, grad_norm: torch.Tensor) -> bool:
    """Whether an update may be applied: a NaN or inf in the loss or anywhere in the gradient
    (clip_grad_norm_'s total norm is then NaN or inf) would poison the shared weights for good,
    so both engines skip such an update and count it instead."""
    return bool(torch.isfinite(loss.detach()) & torch.isfinite(grad_norm.detach()))


PR_SET_PDEATHSIG = 1


def die_with_parent() -> None:
    """Ask the kernel to SIGKILL this process when its parent dies (Linux), whatever kills the parent.

    Under forkserver the parent is the fork server, which exits as soon as the main process
    dies (its end of a pipe from the main process closes), so the chain main -> fork server
    -> child holds for kill -9 too. Elsewhere the loops' own parent checks do the job.
    """
    if not sys.platform.startswith("linux"):
        return
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    except (OSError, AttributeError):
        return


def parent_watch() -> Callable[[], bool]:
    """A cheap check, for a child's loop, that the main process of the run still lives.

    multiprocessing.parent_process() is the process that started us (the main process,
    also under forkserver, where our OS parent is the fork server). The OS parent is
    watched too: if it changes, the fork server died and so, in all likelihood, did the run.
    """
    parent, ppid = mp.parent_process(), os.getppid()

    def alive() -> bool:
        return (parent is None or parent.is_alive()) and os.getppid() == ppid

    return alive


def prepare_child(seed: int) -> None:
    """Setup every child process shares: death with the run, one torch thread, seeded RNGs,
    and Ctrl-C left to the main process, which stops the children through their stop event."""
    die_with_parent()
    parent = mp.parent_process()
    if parent is not None and not parent.is_alive():  # it died before the death signal was armed
        os._exit(1)
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
# torch._dynamo too: the first torch.optim.Optimizer a process builds imports it (about a second),
# which every restarted worker would otherwise pay before its first update.
CHILD_PRELOAD = ["a3c.engines.hogwild", "a3c.engines.ga3c.agent", "torch._dynamo"]


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


class RestartTracker:
    """Decides when a role "keeps dying": `limit` deaths in a row of one role's slot (worker 3,
    the predictors, ...) with no progress in between. A process killed at random after it has
    done some work is restarted however often it happens; one that dies on start-up, or on its
    first update, every time, stops the run instead of restarting forever."""

    def __init__(self, limit: int):
        self.limit = limit
        self.streaks: dict[str, int] = {}

    def died(self, key: str, made_progress: bool) -> Optional[str]:
        """Record a death; returns why the run must stop, or None to restart it."""
        streak = 1 if made_progress else self.streaks.get(key, 0) + 1
        self.streaks[key] = streak
        if streak >= self.limit:
            return (f"{key} died {streak} times in a row without making progress (restart_limit={self.limit}); "
                    "see the crash reports above")
        return None


class RoleFailed(Exception):
    """A role of the run keeps dying; the run stops with stop_reason "error" and a checkpoint."""


def run_pss_mb(root_pid: Optional[int] = None) -> Optional[float]:
    """Proportional set size of the run, in MB: this process and every descendant (workers,
    agents, the fork server). PSS splits each shared page among the processes that map it, so
    the sum is what the run really costs; summed RSS counts forked and shared memory once per
    process. None where it cannot be measured (no /proc and no psutil)."""
    pids = [root_pid or os.getpid()]
    try:
        import psutil

        pids += [child.pid for child in psutil.Process(pids[0]).children(recursive=True)]
    except ImportError:
        psutil = None  # type: ignore[assignment]
    except Exception:  # the process table changed under us: measure what we have
        pass
    total, measured = 0, False
    for pid in pids:
        kb = _pss_kb(pid, psutil)
        if kb is not None:
            total, measured = total + kb, True
    return round(total / 1024, 1) if measured else None


def _pss_kb(pid: int, psutil) -> Optional[int]:
    rollup = Path(f"/proc/{pid}/smaps_rollup")  # Linux >= 4.14: one cheap read, not the whole smaps walk
    try:
        for line in rollup.read_text().splitlines():
            if line.startswith("Pss:"):
                return int(line.split()[1])
    except (OSError, ValueError, IndexError):
        pass
    if psutil is None:
        return None
    try:
        return psutil.Process(pid).memory_full_info().pss // 1024
    except Exception:  # gone, no permission, or a platform without PSS
        return None


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
