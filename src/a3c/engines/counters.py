"""Env steps, updates and episodes over all processes: a table in shared memory, no lock; and the
run's wall-clock seconds, which the main process writes and the learners read."""

from __future__ import annotations

import threading

import numpy as np

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

    Beside the table, the run's wall-clock seconds (counting the time before a resume), written
    only by the main process: a learner in a worker, an agent's trainer or the Ray driver reads it
    for a learning-rate schedule that ends at time_limit.
    """

    def __init__(self, ctx, initial: tuple[int, int, int] = (0, 0, 0), ranks: int = 0):
        self._shared = ctx.RawArray("q", 3 * (1 + ranks))  # [1 + ranks, 3] int64
        self._shared[:3] = list(initial)
        self._clock = ctx.RawArray("d", 1)
        self._row = 0
        self._attach()

    def _attach(self) -> None:
        self._table = np.frombuffer(self._shared, dtype=np.int64).reshape(-1, 3)
        self._mine = self._table[self._row]
        self._lock = threading.Lock()  # threads of one process that share its row (GA3C trainers)

    def __getstate__(self) -> dict:
        return {"shared": self._shared, "clock": self._clock, "row": self._row}

    def __setstate__(self, state: dict) -> None:
        self._shared, self._clock, self._row = state["shared"], state["clock"], state["row"]
        self._attach()

    def for_rank(self, rank: int) -> SharedCounters:
        """The same counters, adding to rank's own row: what worker or agent `rank` is given."""
        if not 0 <= rank < len(self._table) - 1:
            raise ValueError(f"rank {rank} has no counter row ({len(self._table) - 1} ranks)")
        view = SharedCounters.__new__(SharedCounters)
        view.__setstate__({"shared": self._shared, "clock": self._clock, "row": 1 + rank})
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

    @property
    def wall_seconds(self) -> float:
        """The run's wall-clock seconds as the main process last wrote them."""
        return float(self._clock[0])

    def set_wall_seconds(self, seconds: float) -> None:
        self._clock[0] = seconds
