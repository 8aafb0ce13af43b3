"""The figure over seeds the benchmark pages print (benchmarks/aggregate.py): the interquartile
mean, its bootstrap interval and the median, pinned to hand-computed values."""

from __future__ import annotations

from pathlib import Path

import pytest

from fakes import load_file

ROOT = Path(__file__).resolve().parents[2]
aggregate = load_file(ROOT / "benchmarks" / "aggregate.py", "aggregate_under_test")


def test_iqm_drops_the_outer_quarters():
    # 8 runs: the middle half is 3, 4, 5, 6 (the outlier 1000 and the low 0 count for nothing).
    out = aggregate.over_seeds([0, 1000, 3, 4, 5, 6, 2, 7])
    assert out["iqm"] == pytest.approx(4.5)
    assert out["median"] == pytest.approx(4.5)
    assert out["n"] == 8


def test_five_seeds_trim_one_from_each_end():
    # scipy's trim_mean at 0.25 on 5 values cuts int(1.25) = 1 from each end: mean of 2, 3, 4.
    out = aggregate.over_seeds([1, 2, 3, 4, 100])
    assert out["iqm"] == pytest.approx(3.0)
    assert out["median"] == pytest.approx(3.0)


def test_interval_brackets_the_iqm_and_is_zero_wide_without_spread():
    spread = aggregate.over_seeds([3.1, 3.3, 3.4, 3.5, 3.7])
    assert 3.1 <= spread["iqm_ci_low"] < spread["iqm"] < spread["iqm_ci_high"] <= 3.7
    same = aggregate.over_seeds([5.0, 5.0, 5.0])
    assert same["iqm_ci_low"] == same["iqm"] == same["iqm_ci_high"] == 5.0


def test_interval_is_reproducible_and_widens_with_the_spread():
    a = aggregate.over_seeds([1, 2, 3, 4, 5], reps=500)
    b = aggregate.over_seeds([1, 2, 3, 4, 5], reps=500)
    wide = aggregate.over_seeds([1, 20, 30, 40, 50], reps=500)
    assert (a["iqm_ci_low"], a["iqm_ci_high"]) == (b["iqm_ci_low"], b["iqm_ci_high"])
    assert wide["iqm_ci_high"] - wide["iqm_ci_low"] > a["iqm_ci_high"] - a["iqm_ci_low"]


def test_no_values_is_an_error():
    with pytest.raises(ValueError, match="at least one"):
        aggregate.over_seeds([])


def test_over_tasks_takes_the_iqm_of_every_run_of_every_task():
    # 8 runs in all, 0..7: the IQM drops 0, 1 and 6, 7 -> mean(2, 3, 4, 5) = 3.5.
    out = aggregate.over_tasks({"Breakout": [0, 7, 2, 5], "Qbert": [1, 6, 3, 4]}, reps=500)
    assert out["iqm"] == pytest.approx(3.5) and out["median"] == pytest.approx(3.5) and out["n"] == 8
    assert out["iqm_ci_low"] <= 3.5 <= out["iqm_ci_high"]
    # One task is over_seeds itself.
    assert aggregate.over_tasks({"x": [1, 2, 3, 4, 5]}, reps=500) == aggregate.over_seeds([1, 2, 3, 4, 5], reps=500)


def test_over_tasks_needs_as_many_seeds_in_every_task():
    with pytest.raises(ValueError, match="same number of seeds"):
        aggregate.over_tasks({"Breakout": [1.0, 2.0], "Qbert": [3.0]})
    with pytest.raises(ValueError, match="at least one value"):
        aggregate.over_tasks({"Breakout": []})
