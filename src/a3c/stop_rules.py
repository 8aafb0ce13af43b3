"""When a run stops: the rules behind summary.json's stop_reason, written once for the main loop
(a live run) and for --resume (a checkpointed run that may have met one already)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import NamedTuple


class StopRule(NamedTuple):
    reason: str  # summary.json's stop_reason: target_reached, total_steps or time_limit
    detail: str  # what it was measured at, for messages

    def __str__(self) -> str:
        return f"{self.reason} ({self.detail})"


def target_met(target: float | None, returns: Iterable[float], window: int) -> float | None:
    """The mean of the last `window` returns when there are that many and it reaches target, else None."""
    if target is None:
        return None
    recent = list(returns)[-window:]
    if len(recent) < window:
        return None
    mean = sum(recent) / len(recent)
    return mean if mean >= target else None


def stop_rule(
    cfg, target: float | None, returns: Iterable[float], env_steps: int, wall_seconds: float
) -> StopRule | None:
    """The first rule met, in this order: the target (the mean of the last target_window episode
    returns), total_steps, time_limit; None while none is."""
    mean = target_met(target, returns, cfg.target_window)
    if mean is not None:
        return StopRule(
            "target_reached",
            f"mean return of the last {cfg.target_window} episodes {mean:.2f} >= target_return {target:g}",
        )
    if env_steps >= cfg.total_steps:
        return StopRule("total_steps", f"{env_steps:,} env steps >= total_steps {cfg.total_steps:,}")
    if cfg.time_limit is not None and wall_seconds >= cfg.time_limit:
        return StopRule("time_limit", f"{wall_seconds:.1f} s >= time_limit {cfg.time_limit:g} s")
    return None
