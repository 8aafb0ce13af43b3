"""Run statistics: the numbers behind "solved", "best" and "stable", kept apart from any output.

`RunStats` follows the finished training episodes of a run: the window whose mean decides
"solved", the best mean so far and when it came, the time and steps to the target, and the
curve of the window's mean that the stability figures are read from. It does no I/O, so a
test feeds it returns and reads the figures; its state round-trips through `state()` for
checkpoints. `stability` is the pure formula, shared with the benchmarks:

    best  = the highest window mean of the run        final = the window mean at its end
    drop  = (best - final) / (best - reference)       0: it ended at its best; 1: back at the reference
    mean_over_run = the curve's time average (its area divided by its length)
    below_half = the share of the time after the first peak spent below halfway from reference to best

The final figure misses a policy that plunges for a few seconds and comes back (a policy that
fails fast fills the window with short episodes within seconds); `below_half` counts those dips.

`reference` stands for random play: the benchmarks pass the random policy's mean return; a run
uses the mean of its own first full window (the untrained policy).
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from a3c.stop_rules import target_met

CURVE_POINTS = 512  # the curve a run keeps for mean_over_run: thinned to at most this many points
PEAK_SHARE = 0.9  # the first peak: the first time the curve comes within 10% of its best (above reference)
PLUNGE_SHARE = 0.5  # a plunge: the curve below halfway from the reference to its best


@dataclass(frozen=True)
class Stability:
    best: float
    final: float
    reference: float
    drop: float  # (best - final) / (best - reference), 0 when best <= reference
    best_at: float  # the x (seconds or steps) of the best
    first_peak_at: float  # the first x where the curve reaches PEAK_SHARE of the way from reference to best
    mean_over_run: float  # the curve's average over x (trapezoids)
    below_half: float  # the share of x after first_peak_at during which the curve was below PLUNGE_SHARE of the way

    def as_dict(self) -> dict[str, float]:
        return {k: _round(v) for k, v in self.__dict__.items()}


def stability(xs: Sequence[float], means: Sequence[float], reference: float) -> Stability | None:
    """The stability figures of a curve of window means (means[i] at xs[i], xs increasing); None
    for an empty curve."""
    if not means:
        return None
    best_i = max(range(len(means)), key=lambda i: means[i])
    best, final = float(means[best_i]), float(means[-1])
    span = best - reference
    drop = max(0.0, (best - final) / span) if span > 0 else 0.0
    bar = reference + PEAK_SHARE * span
    peak_i = next(i for i, m in enumerate(means) if m >= bar or span <= 0)
    below = _share_below(xs, means, reference + PLUNGE_SHARE * span, peak_i) if span > 0 else 0.0
    return Stability(
        best, final, reference, drop, float(xs[best_i]), float(xs[peak_i]), _time_average(xs, means), below
    )


def _share_below(xs: Sequence[float], ys: Sequence[float], bar: float, start: int) -> float:
    """The share of [xs[start], xs[-1]] during which the curve was below bar, each point holding
    until the next (the window mean changes only when episodes finish)."""
    length = xs[-1] - xs[start]
    if length <= 0:
        return 0.0
    return sum(xs[i + 1] - xs[i] for i in range(start, len(xs) - 1) if ys[i] < bar) / length


def _time_average(xs: Sequence[float], ys: Sequence[float]) -> float:
    if len(xs) < 2 or xs[-1] <= xs[0]:
        return float(ys[-1])
    area = sum((xs[i + 1] - xs[i]) * (ys[i] + ys[i + 1]) / 2 for i in range(len(xs) - 1))
    return area / (xs[-1] - xs[0])


def _round(value: float) -> float:
    return round(value, 4) if math.isfinite(value) else value


class RunStats:
    """The episode window of a run and what is read off it (see the module docstring)."""

    def __init__(self, window: int, target: float | None, restored: dict[str, Any] | None = None):
        restored = restored or {}
        self.size, self.target = window, target
        self.window: deque[float] = deque(restored.get("recent_returns", []), maxlen=window)
        self.best_mean: float | None = restored.get("best_mean_return_100")
        self.best_at_s: float | None = restored.get("best_at_s")
        self.best_at_steps: int | None = restored.get("best_at_steps")
        self.first_mean: float | None = restored.get("first_mean_return_100")
        self.time_to_target: float | None = restored.get("time_to_target_s")
        self.steps_to_target: int | None = restored.get("steps_to_target")
        if restored and restored.get("target", target) != target:
            # A resume with a new target: the old one's time to target says nothing about the new one.
            self.time_to_target = self.steps_to_target = None
        # The kept curve: every curve_stride-th window mean, the stride doubling as the curve fills, so
        # the points stay evenly spread over the run; the best and the last are kept beside it.
        self.curve: list[tuple[float, float]] = [tuple(p) for p in restored.get("curve", [])]  # type: ignore[misc]
        self.curve_stride: int = restored.get("curve_stride", 1)
        self.curve_seen: int = restored.get("curve_seen", len(self.curve))
        last = restored.get("curve_last")
        self.curve_last: tuple[float, float] | None = tuple(last) if last else (self.curve[-1] if self.curve else None)  # type: ignore[assignment]
        self.counting = True  # episodes still join the window; see stop_counting
        self.improved = False  # a new best since the caller last took it (take_improvement)

    def mean(self) -> float | None:
        return sum(self.window) / len(self.window) if self.window else None

    def full(self) -> bool:
        return len(self.window) >= self.size

    def add(self, returns: Iterable[float], wall_s: float, env_steps: int) -> None:
        """Finished episodes, heard of at wall_s with the run at env_steps."""
        if not self.counting:
            return
        self.window.extend(float(r) for r in returns)
        mean = self.mean()
        if mean is None or not self.full():
            return
        if self.first_mean is None:
            self.first_mean = mean
        if self.best_mean is None or mean > self.best_mean:
            self.best_mean, self.best_at_s, self.best_at_steps = mean, wall_s, int(env_steps)
            self.improved = True
        self._extend_curve(wall_s, mean)
        if self.time_to_target is None and target_met(self.target, self.window, self.size) is not None:
            self.time_to_target, self.steps_to_target = wall_s, int(env_steps)

    def _extend_curve(self, wall_s: float, mean: float) -> None:
        # Halving the whole list each time it overflowed thinned the oldest points again and again
        # (a 1.5M-step run put its best at 113 s, its episodes at 6 s), so early peaks and plunges went unseen.
        if self.curve_seen % self.curve_stride == 0:
            self.curve.append((wall_s, mean))
            if len(self.curve) > CURVE_POINTS:
                self.curve, self.curve_stride = self.curve[::2], self.curve_stride * 2
        self.curve_seen += 1
        self.curve_last = (wall_s, mean)

    def take_improvement(self) -> bool:
        """Whether the best mean rose since the last call (the run then keeps those weights as best)."""
        improved, self.improved = self.improved, False
        return improved

    def stop_counting(self) -> None:
        """The run reached its target and is stopping: episodes its workers finish while shutting
        down no longer move the window, the best or the time to target, so it reports the mean that
        reached the target (and a --resume of it finds the rule met). Other stops keep counting: in
        a short run the last report, sent as the workers stop, may hold every episode it had."""
        self.counting = False

    def stability(self) -> Stability | None:
        """The run's stability figures over wall time, against its first full window."""
        if not self.curve or self.first_mean is None:
            return None
        # With the best and the last, which the evenly spread points may skip. Reports heard in one
        # pass share a wall_s, so the best and the last can share an x: both stay (a stable sort by x
        # keeps the last last), where a dict keyed by x let the last overwrite the best.
        points = list(self.curve)
        if self.best_at_s is not None and self.best_mean is not None:
            points.append((self.best_at_s, self.best_mean))
        if self.curve_last is not None:
            points.append(self.curve_last)
        xs, ys = zip(*sorted(points, key=lambda p: p[0]), strict=True)
        return stability(xs, ys, self.first_mean)

    def state(self) -> dict[str, Any]:
        return dict(
            recent_returns=list(self.window),
            best_mean_return_100=self.best_mean,
            best_at_s=self.best_at_s,
            best_at_steps=self.best_at_steps,
            first_mean_return_100=self.first_mean,
            time_to_target_s=self.time_to_target,
            steps_to_target=self.steps_to_target,
            target=self.target,
            curve=[list(p) for p in self.curve],
            curve_stride=self.curve_stride,
            curve_seen=self.curve_seen,
            curve_last=list(self.curve_last) if self.curve_last else None,
        )
