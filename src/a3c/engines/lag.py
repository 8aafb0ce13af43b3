"""Policy lag, counted one way for every engine that measures it (GA3C's trainers, serial GA3C,
both Ray engines): the updates applied between the weights that acted (or computed a gradient)
and the update that learns from it, at the learner's one version counter. Each applied update
adds its lag; metrics.csv shows the mean per update since the previous row. A skipped (NaN/inf)
update adds nothing: it measured no lag, and must not pull the mean down.
"""

from __future__ import annotations

import threading

import torch


class PolicyLag:
    def __init__(self):
        self._lock = threading.Lock()  # GA3C's trainer threads record while the main loop takes
        self._sum, self._count = 0.0, 0

    def record(self, version: int, acted: int | torch.Tensor) -> float:
        """Count one applied update made at learner version `version` (before it applied) from
        experience acted with weights of version `acted`: one number (an A3C gradient) or a batch's
        per-step versions (GA3C, [k, T]), whose mean lag is the update's. Returns that lag."""
        if isinstance(acted, torch.Tensor):
            lag = float((version - acted).float().mean())
        else:
            lag = float(version - acted)
        with self._lock:
            self._sum += lag
            self._count += 1
        return lag

    def take(self) -> float | None:
        """The mean lag per update since the last take; None when no update was counted."""
        with self._lock:
            mean = self._sum / self._count if self._count else None
            self._sum, self._count = 0.0, 0
        return mean
