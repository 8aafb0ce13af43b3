"""Running totals the predictor and trainer threads add to and the engine reads: rates for
metrics.csv, the training rate the dynamic adjuster maximises, the policy lag (engines.lag) and
the loss reports."""

from __future__ import annotations

import threading
from dataclasses import dataclass, replace

from a3c.engines.lag import PolicyLag
from a3c.engines.messages import MetricSums, Report


@dataclass
class Totals:
    predictions: int = 0  # observations given an action
    predict_rows: int = 0  # rows through the network, truncation values included
    predict_batches: int = 0  # forward passes
    trained_samples: int = 0  # env steps trained on
    train_batches: int = 0  # updates
    ratio_sum: float = 0.0  # sum over updates of exp(mean log pi/mu)


class Stats:
    def __init__(self):
        self._lock = threading.Lock()
        self._totals = Totals()
        self.lag = PolicyLag()  # the trainers record each applied update's; the engine takes the mean
        self._metrics = MetricSums()
        self._loss_count = 0
        self._nonfinite = 0  # updates skipped for a NaN/inf loss or gradient, not yet reported
        self._ratio_taken = (0, 0.0)  # (updates, ratio sum) when take_lag_and_ratio last ran

    def skipped(self) -> None:
        with self._lock:
            self._nonfinite += 1

    def predicted(self, actions: int, rows: int) -> None:
        with self._lock:
            self._totals.predictions += actions
            self._totals.predict_rows += rows
            self._totals.predict_batches += 1

    def trained(self, samples: int, ratio: float, metrics: dict[str, float]) -> None:
        with self._lock:
            self._totals.trained_samples += samples
            self._totals.train_batches += 1
            self._totals.ratio_sum += ratio
            self._metrics.add(metrics)
            self._loss_count += 1

    def totals(self) -> Totals:
        with self._lock:
            return replace(self._totals)

    def take_lag_and_ratio(self) -> dict[str, float | None]:
        """metrics.csv's policy_lag and importance_ratio: their means over the updates since the last
        call (a skipped update measured neither, so it is in neither mean; None without an update)."""
        with self._lock:
            now = (self._totals.train_batches, self._totals.ratio_sum)
        (updates_before, ratio_before), self._ratio_taken = self._ratio_taken, now
        updates = now[0] - updates_before
        return dict(
            policy_lag=self.lag.take(),
            importance_ratio=(now[1] - ratio_before) / updates if updates else None,
        )

    def take_loss_report(self) -> Report | None:
        """The losses since the last call, as the report message the main loop expects."""
        with self._lock:
            if not self._loss_count and not self._nonfinite:
                return None
            metrics, count, nonfinite = self._metrics, self._loss_count, self._nonfinite
            self._metrics = MetricSums()
            self._loss_count = self._nonfinite = 0
        return Report(-1, sums=metrics.sums, count=count, nonfinite=nonfinite, counts=metrics.counts)
