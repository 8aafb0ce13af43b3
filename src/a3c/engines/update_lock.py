"""The lock Hogwild workers take around one optimizer step of the shared network.

Gradients are computed in parallel and the workers read the global weights without it; only the
step itself (moments, step count, parameters) is one at a time. Lock-free steps raced on the
shared Adam moments: a step whose g^2 was overwritten by another worker's write of the second
moment divided its first moment by too small a denominator, and on MinAtar Breakout about one
short run in three blew up within a few hundred updates (value loss from ~0.1 to between 4.7 and
33,564, entropy to 0), which sometimes never recovered (benchmarks/results/correctness.md).

An advisory file lock (flock) and not a multiprocessing.Lock: the kernel releases it when its
holder dies, so a worker SIGKILLed inside a step cannot leave the others waiting forever.
"""

from __future__ import annotations

import atexit
import contextlib
import os
import tempfile

try:
    import fcntl
except ImportError:  # pragma: no cover - Windows has no flock; its workers step lock-free as before
    fcntl = None  # type: ignore[assignment]


class UpdateLock:
    """A picklable inter-process lock: each process opens the file for itself (flock locks belong
    to an open file, so two opens in two processes exclude each other)."""

    def __init__(self, path: str):
        self.path = path
        self._fd: int | None = None
        self._pid = 0  # the process that opened _fd: a forked child must open its own

    @classmethod
    def create(cls) -> UpdateLock:
        fd, path = tempfile.mkstemp(prefix="a3c-update-", suffix=".lock")
        os.close(fd)
        lock = cls(path)
        # An engine that is never closed (its run crashed) still takes its file along at exit;
        # only a SIGKILLed main process leaves an empty one in the temp dir.
        atexit.register(lock.remove)
        return lock

    def __getstate__(self) -> dict:
        return {"path": self.path}  # an open descriptor is this process's own

    def __setstate__(self, state: dict) -> None:
        self.path, self._fd, self._pid = state["path"], None, 0

    def __enter__(self) -> UpdateLock:
        if fcntl is not None:
            if self._fd is None or self._pid != os.getpid():
                self._fd, self._pid = os.open(self.path, os.O_RDWR), os.getpid()
            fcntl.flock(self._fd, fcntl.LOCK_EX)
        return self

    def __exit__(self, *exc) -> None:
        if fcntl is not None and self._fd is not None:
            fcntl.flock(self._fd, fcntl.LOCK_UN)

    def remove(self) -> None:
        """Delete the file once no worker is left to take the lock."""
        atexit.unregister(self.remove)  # many runs in one process (a3c tune) keep no entry each
        if self._fd is not None and self._pid == os.getpid():
            os.close(self._fd)
            self._fd = None
        with contextlib.suppress(FileNotFoundError):
            os.unlink(self.path)
