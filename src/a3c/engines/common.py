"""Plumbing shared by the engines: global counters in shared memory, the reports workers
send to the main process, and process helpers."""

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
import traceback
from pathlib import Path
from typing import Any, Callable, Optional

import numpy as np
import torch

from a3c.seeding import process_seed

# Index of each counter in SharedCounters.
ENV_STEPS, UPDATES, EPISODES = 0, 1, 2


class SharedCounters:
    """Env steps, updates and episodes over all processes, in shared memory, with no lock.

    One row per writer: row 0 is the main process's (the counts a resumed run starts from, GA3C
    trainer threads, the Ray and serial engines), row 1 + r is worker or agent rank r's, which only
    that process writes (engines restart a rank only after its process died); readers sum the rows.
    A lock shared with the children would be one that a child SIGKILLed inside add() leaves taken
    for good, and every other process would wait on it forever. A kill inside add() costs at most
    part of that one rollout's count.
    """

    def __init__(self, ctx, initial: tuple[int, int, int] = (0, 0, 0), ranks: int = 0):
        self._shared = ctx.RawArray("q", 3 * (1 + ranks))  # [1 + ranks, 3] int64
        self._shared[:3] = list(initial)
        self._row = 0
        self._attach()

    def _attach(self) -> None:
        self._table = np.frombuffer(self._shared, dtype=np.int64).reshape(-1, 3)
        self._mine = self._table[self._row]
        self._lock = threading.Lock()  # threads of one process that share its row (GA3C trainers)

    def __getstate__(self) -> dict:
        return {"shared": self._shared, "row": self._row}

    def __setstate__(self, state: dict) -> None:
        self._shared, self._row = state["shared"], state["row"]
        self._attach()

    def for_rank(self, rank: int) -> "SharedCounters":
        """The same counters, adding to rank's own row: what worker or agent `rank` is given."""
        if not 0 <= rank < len(self._table) - 1:
            raise ValueError(f"rank {rank} has no counter row ({len(self._table) - 1} ranks)")
        view = SharedCounters.__new__(SharedCounters)
        view.__setstate__({"shared": self._shared, "row": 1 + rank})
        return view

    def add(self, env_steps: int = 0, updates: int = 0, episodes: int = 0) -> int:
        """Count into this process's row; returns the run's env steps, all rows together."""
        with self._lock:
            self._mine[ENV_STEPS] += env_steps
            self._mine[UPDATES] += updates
            self._mine[EPISODES] += episodes
        return self.env_steps

    def read(self) -> tuple[int, int, int]:
        env_steps, updates, episodes = self._table.sum(axis=0).tolist()
        return env_steps, updates, episodes

    @property
    def env_steps(self) -> int:
        return int(self._table[:, ENV_STEPS].sum())


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


class ReportSender:
    """A child's end of its report pipe (what Reporter and report_crash `put` to)."""

    def __init__(self, conn):
        self.conn = conn

    def put(self, message: dict) -> None:
        self.conn.send(message)


class ReportPipes:
    """Messages from the children to the main process: one pipe per child, which only that child writes.

    Not one multiprocessing.Queue for all: a child's queue writes go through a lock shared by
    every writer, held while its feeder thread writes to the pipe, so a child SIGKILLed (or
    stopped) mid-write leaves it taken and every other child's reports wait behind it forever;
    a message cut in half leaves the one reader waiting for its other half. Here a dead child
    only closes its own pipe: the main process reads end-of-file (dropping a half-written
    message with it) and forgets that pipe.
    """

    def __init__(self, ctx):
        self.ctx = ctx
        self._readers: list = []  # also the pipes of dead children, until their last message is read

    def sender(self) -> ReportSender:
        """A new pipe for a child about to start; call started() once it has."""
        reader, writer = self.ctx.Pipe(duplex=False)
        self._readers.append(reader)
        return ReportSender(writer)

    @staticmethod
    def started(sender: ReportSender) -> None:
        """The child holds its end now: close ours, so that its death reads as end-of-file."""
        sender.conn.close()

    def drain(self, timeout: float) -> list[dict]:
        """Every message waiting: wait up to timeout for the first, then take what is there."""
        if not self._readers:
            time.sleep(timeout)
            return []
        messages: list[dict] = []
        for reader in mp_connection.wait(self._readers, timeout):
            try:
                while reader.poll():
                    messages.append(reader.recv())
            except (EOFError, OSError):  # the child is gone; so is any message it had half written
                reader.close()
                self._readers.remove(reader)
        return messages

    def close(self) -> None:
        for reader in self._readers:
            reader.close()
        self._readers = []


class Reporter:
    """Gathers a worker's episode returns and loss terms and sends them to the main process
    a few times a second, so its report pipe carries small batches rather than one message per step.
    `queue` is anything with put(message): a ReportSender, or the serial engines' inbox."""

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
        for error in envs.take_errors():
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
        fd = server._forkserver_alive_fd
    except (ImportError, AttributeError):
        return
    if fd is not None and mp.parent_process() is not None:  # a forked child, never the main process
        server._forkserver_alive_fd = None
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
# torch._dynamo too: the first torch.optim.Optimizer a process builds imports it (about a second),
# which every restarted worker would otherwise pay before its first update.
# fork_server_exit last: it makes the fork server's own exit immediate (see there).
CHILD_PRELOAD = ["a3c.engines.hogwild", "a3c.engines.ga3c.agent", "torch._dynamo", "a3c.engines.fork_server_exit"]


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
