"""Policy lag, counted in one place (engines.lag) for GA3C, serial GA3C and both Ray engines."""

from __future__ import annotations

import pytest
import torch

from a3c.engines.lag import PolicyLag


def test_lag_is_the_updates_between_acting_and_learning_averaged_per_update():
    lag = PolicyLag()
    assert lag.take() is None  # no update counted: nothing to report, not a lag of 0
    assert lag.record(7, 4) == 3.0  # an A3C gradient computed from version 4, applied at 7
    # a GA3C batch of two segments [k=2, T=2]: its lag is the mean over its steps
    assert lag.record(10, torch.tensor([[10, 10], [6, 8]])) == pytest.approx(1.5)
    assert lag.take() == pytest.approx((3.0 + 1.5) / 2)  # per update, not per step
    assert lag.take() is None  # each row reports the updates since the previous one
