"""Benchmark-only: Hogwild's update lock made a no-op in every process that starts with this
folder on PYTHONPATH (the main process and the workers the forkserver starts), to measure what
the lock costs (benchmarks/results/speed.md). Never on the path of a real run: lock-free steps
race on the shared Adam moments (engines/update_lock.py says what that did to MinAtar)."""

try:
    from a3c.engines import update_lock
except ImportError:  # a process that is not a3c's (pip, a tool): nothing to patch
    pass
else:
    update_lock.UpdateLock.__enter__ = lambda self: self  # type: ignore[method-assign]
    update_lock.UpdateLock.__exit__ = lambda self, *exc: None  # type: ignore[method-assign]
