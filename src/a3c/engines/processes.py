"""Child processes: their start-up (context, preloads, seeds), their tie to the main process
(die with it, watch it), the stop flag, supervision (restart limits) and shutdown."""

from __future__ import annotations

import ctypes
import multiprocessing as mp
import multiprocessing.connection as mp_connection
import os
import random
import signal
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch

from a3c.seeding import process_seed


class StopFlag:
    """The main process's "stop now" to its children, a byte in shared memory they poll.

    Not multiprocessing.Event: its is_set() takes a lock, and a child SIGKILLed inside it leaves
    that lock taken, so every other child's next check, and the main process's set(), wait forever.
    """

    def __init__(self, ctx):
        self._flag = ctx.RawValue("b", 0)

    def set(self) -> None:
        self._flag.value = 1

    def is_set(self) -> bool:
        return bool(self._flag.value)


PR_SET_PDEATHSIG = 1


def die_with_parent() -> None:
    """Ask the kernel to SIGKILL this process when its parent dies (Linux), whatever kills the parent.

    Under forkserver the parent is the fork server, which exits as soon as the main process
    dies (its end of a pipe from the main process closes; see release_fork_server and
    fork_server_exit), so the chain main -> fork server -> child holds for kill -9 too, whatever
    the child is doing (blocked in a C call, a lock, a stopped process). Besides, each child's
    exit_with_main_process thread ends it the moment the main process dies, and the loops' own
    parent checks are a last resort.
    """
    if not sys.platform.startswith("linux"):
        return
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    except (OSError, AttributeError):
        return


def release_fork_server() -> None:
    """Close this child's copy of the fork server's "main process alive" pipe.

    The fork server exits when every copy of that pipe's write end is closed, and it hands one to
    each child it forks (so the child could start processes through it in turn). While a child
    holds it, the fork server outlives a SIGKILLed main process, and so does the child, whose
    parent-death signal is tied to the fork server: a child blocked where its loop never checks
    for a dead parent lived on for good. Children of a run start no processes, so they let go of it.
    """
    try:
        from multiprocessing import forkserver

        server = forkserver._forkserver
        fd = server._forkserver_alive_fd  # type: ignore[attr-defined]  # private: there is no public way
    except (ImportError, AttributeError):
        return
    if fd is not None and mp.parent_process() is not None:  # a forked child, never the main process
        server._forkserver_alive_fd = None  # type: ignore[attr-defined]
        try:
            os.close(fd)
        except OSError:
            pass


def exit_with_main_process() -> None:
    """Start a daemon thread that ends this child the instant the main process of the run dies.

    It waits on multiprocessing's sentinel of the process that started us (readable once that
    process is gone), so it reacts at once, wherever the child's own loop is: between two polls
    of its parent check, blocked in a call that never polls, or busy in a long env step. There is
    nothing to clean up in a child of a dead run, so it exits without Python's shutdown.
    """
    parent = mp.parent_process()
    if parent is None:
        return

    def watch() -> None:
        mp_connection.wait([parent.sentinel])
        os._exit(1)

    threading.Thread(target=watch, name="a3c-exit-with-main", daemon=True).start()


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
    """Setup every child process shares: death with the run (within tens of ms of a kill -9 of the
    main process, wherever the child is blocked), one torch thread, seeded RNGs,
    and Ctrl-C left to the main process, which stops the children through their stop event."""
    die_with_parent()
    release_fork_server()
    parent = mp.parent_process()
    if parent is not None and not parent.is_alive():  # it died before the death signal was armed
        os._exit(1)
    exit_with_main_process()
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
# A3C's workers also import torch._dynamo: the first torch.optim.Optimizer a process builds imports
# it (about a second), which every restarted worker would otherwise pay before its first update.
# GA3C's agents build no optimizer, and the fork server's import of it (1.5 s of a core on the
# AMD EPYC) held back their start by as much (benchmarks/results/speed.md).
OPTIMIZER_PRELOAD = ["torch._dynamo"]
# Always imported last: it makes the fork server's own exit immediate (see there).
EXIT_PRELOAD = "a3c.engines.fork_server_exit"


def child_preload(algo: str) -> list[str]:
    """What the fork server imports before it forks the children of an `algo` run."""
    optimizer = OPTIMIZER_PRELOAD if algo == "a3c" else []
    return [*CHILD_PRELOAD, *optimizer, EXIT_PRELOAD]


def context(algo: str = "a3c"):
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
    # Read when the fork server starts: the first run of a process chooses for the ones after it.
    ctx.set_forkserver_preload(child_preload(algo))
    return ctx


def warm_up_children(algo: str = "a3c") -> None:
    """Start the fork server now, so its imports overlap the main process's own set-up."""
    ctx = context(algo)
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

    def died(self, key: str, made_progress: bool) -> str | None:
        """Record a death; returns why the run must stop, or None to restart it."""
        streak = 1 if made_progress else self.streaks.get(key, 0) + 1
        self.streaks[key] = streak
        if streak >= self.limit:
            return (
                f"{key} died {streak} times in a row without making progress (restart_limit={self.limit}); "
                "see the crash reports above"
            )
        return None


class RoleFailed(Exception):
    """A role of the run keeps dying; the run stops with stop_reason "error" and a checkpoint."""


def run_pss_mb(root_pid: int | None = None) -> float | None:
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


def _pss_kb(pid: int, psutil) -> int | None:
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
