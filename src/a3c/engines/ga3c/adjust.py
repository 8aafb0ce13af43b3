"""GA3C dynamic adjustment (NVlabs ThreadDynamicAdjustment): a random walk over the number
of agents, predictors and trainers that keeps a step only if training got faster.

Every trial adds or removes one agent, predictor or trainer, measures the training rate
(experience samples trained per second) over adjust_interval_s, and keeps the change if
the rate beat the one before it by more than MARGIN, reverting it otherwise. Each change
and each revert is reported as an event. The engine supplies the controls, so this file
holds only the search.
"""

from __future__ import annotations

import random
import threading
from collections.abc import Callable
from typing import Protocol

from a3c.engines.messages import Crash

ROLES = ("agents", "predictors", "trainers")
MARGIN = 0.02  # a change must beat the old rate by more than this fraction: noise alone is not progress


class Controls(Protocol):
    limits: dict[str, int]  # role -> the most there may be

    def counts(self) -> dict[str, int]: ...

    def set_count(self, role: str, count: int) -> None: ...

    def training_rate(self, seconds: float) -> float | None:
        """Samples trained per second over the next `seconds`, once the last change has settled
        (a new agent has started); None when the engine is stopping."""


class DynamicAdjuster(threading.Thread):
    def __init__(
        self,
        controls: Controls,
        interval_s: float,
        seed: int,
        emit: Callable[[str], None],
        on_crash: Callable[[Crash], None] = lambda message: None,
    ):
        super().__init__(name="ga3c-adjuster", daemon=True)
        self.controls, self.interval_s, self.emit, self.on_crash = controls, interval_s, emit, on_crash
        self.rng = random.Random(seed)
        self.baseline: float | None = None
        self.stop_event = threading.Event()

    def run(self) -> None:
        try:
            self.baseline = self.controls.training_rate(self.interval_s)
            while self.baseline is not None and not self.stop_event.is_set():
                self.trial()
        except Exception:
            self.on_crash(Crash.now("adjuster", 0))

    def propose(self) -> tuple[str, int] | None:
        """A random role and direction that stays within 1..limit, or None if nothing can move."""
        counts, limits = self.controls.counts(), self.controls.limits
        moves = [(role, step) for role in ROLES for step in (1, -1) if 1 <= counts[role] + step <= limits[role]]
        return self.rng.choice(moves) if moves else None

    def trial(self) -> None:
        move = self.propose()
        if move is None:
            self.baseline = self.controls.training_rate(self.interval_s)
            return
        role, step = move
        before = self.controls.counts()[role]
        self.controls.set_count(role, before + step)
        rate = self.controls.training_rate(self.interval_s)
        if rate is None or self.baseline is None:  # stopping
            self.baseline = None
            return
        change = f"dynamic adjustment: {role} {before} -> {before + step}"
        rates = f"training rate {self.baseline:,.0f} -> {rate:,.0f} samples/s"
        if rate > self.baseline * (1 + MARGIN):
            self.emit(f"{change} kept ({rates})")
            self.baseline = rate
        else:
            self.controls.set_count(role, before)
            self.emit(f"{change} reverted to {before} ({rates})")
            self.baseline = self.controls.training_rate(self.interval_s)
