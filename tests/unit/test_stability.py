"""The stability figures (stats.stability) and the run statistics (stats.RunStats), by hand."""

import pytest

from a3c.stats import CURVE_POINTS, RunStats, stability


def test_stability_of_a_curve_that_rises_and_falls_by_hand():
    # reference 0, best 100 at x=20, final 40: drop = (100 - 40) / (100 - 0) = 0.6.
    xs = [0, 10, 20, 30]
    means = [0.0, 95.0, 100.0, 40.0]
    s = stability(xs, means, reference=0.0)
    assert (s.best, s.final, s.best_at) == (100.0, 40.0, 20)
    assert s.drop == pytest.approx(0.6)
    # The first peak: the first x with mean >= 0 + 0.9 * 100 = 90 -> x=10.
    assert s.first_peak_at == 10
    # Trapezoids: (0+95)/2*10 + (95+100)/2*10 + (100+40)/2*10 = 475 + 975 + 700 = 2150, over 30.
    assert s.mean_over_run == pytest.approx(2150 / 30)


def test_below_half_is_the_share_of_time_after_the_first_peak_spent_in_a_plunge():
    # reference 0, best 100: the first peak at x=10 (95 >= 90), the plunge bar at 50. After x=10,
    # each point holds until the next: [10, 20) 95, [20, 30) 100, [30, 40) 30 below, [40, 60) 80,
    # [60, 70) 20 below -> 20 of the 60 seconds after the first peak.
    xs = [0, 10, 20, 30, 40, 60, 70]
    means = [0.0, 95.0, 100.0, 30.0, 80.0, 20.0, 90.0]
    s = stability(xs, means, reference=0.0)
    assert s.first_peak_at == 10
    assert s.below_half == pytest.approx(20 / 60)
    # The rise before the first peak is not a plunge: the same curve without the dips has none.
    assert stability(xs, [0.0, 95.0, 100.0, 90.0, 80.0, 90.0, 90.0], reference=0.0).below_half == 0.0


def test_below_half_against_a_negative_reference():
    # reference -500, best -100: the plunge bar is -300; [1, 2) at -400 is below: 1 of the 2 seconds.
    s = stability([0, 1, 2, 3], [-500.0, -100.0, -400.0, -150.0], reference=-500.0)
    assert s.first_peak_at == 1 and s.below_half == pytest.approx(0.5)


def test_a_curve_that_ends_at_its_best_has_no_drop():
    s = stability([0, 1, 2], [-200.0, -150.0, -100.0], reference=-200.0)
    assert s.drop == 0.0 and s.final == s.best == -100.0


def test_drop_is_measured_against_the_reference_not_zero():
    # Negative returns: reference -1000, best -200, final -600: (−200 − −600) / (−200 − −1000) = 0.5.
    s = stability([0, 1, 2], [-1000.0, -200.0, -600.0], reference=-1000.0)
    assert s.drop == pytest.approx(0.5)


def test_a_curve_never_above_its_reference_reports_no_drop():
    s = stability([0, 1], [-5.0, -7.0], reference=0.0)
    assert s.drop == 0.0 and s.first_peak_at == 0


def test_an_empty_curve_has_no_figures():
    assert stability([], [], reference=0.0) is None


def test_run_stats_window_best_and_target():
    stats = RunStats(window=3, target=10.0)
    stats.add([1.0, 2.0], wall_s=1.0, env_steps=10)
    assert stats.mean() == 1.5 and stats.best_mean is None  # no full window yet
    stats.add([3.0], wall_s=2.0, env_steps=20)
    assert stats.best_mean == 2.0 and stats.first_mean == 2.0 and stats.take_improvement()
    assert not stats.take_improvement()  # taken once
    stats.add([12.0, 15.0], wall_s=3.0, env_steps=30)  # window [3, 12, 15]: mean 10 reaches the target
    assert stats.best_mean == 10.0 and stats.best_at_s == 3.0 and stats.best_at_steps == 30
    assert (stats.time_to_target, stats.steps_to_target) == (3.0, 30)
    assert stats.take_improvement()
    stats.add([0.0, 0.0], wall_s=4.0, env_steps=40)  # [15, 0, 0]: mean 5, below the best
    assert stats.best_mean == 10.0 and not stats.take_improvement()
    s = stats.stability()
    # reference: the first full window (2.0); best 10; final 5: drop = 5 / 8.
    assert s is not None and s.drop == pytest.approx(5 / 8)


def test_run_stats_stop_counting_freezes_the_window():
    stats = RunStats(window=2, target=1.0)
    stats.add([1.0, 1.0], wall_s=1.0, env_steps=5)
    stats.stop_counting()
    stats.add([-100.0], wall_s=2.0, env_steps=6)
    assert stats.mean() == 1.0


def test_run_stats_round_trip_through_state():
    stats = RunStats(window=2, target=None)
    stats.add([1.0, 3.0, 5.0], wall_s=1.0, env_steps=5)
    restored = RunStats(window=2, target=None, restored=stats.state())
    assert restored.state() == stats.state()
    assert restored.stability() == stats.stability()


def test_a_resume_with_a_new_target_forgets_the_old_time_to_target():
    stats = RunStats(window=1, target=1.0)
    stats.add([2.0], wall_s=1.0, env_steps=5)
    assert stats.time_to_target == 1.0
    assert RunStats(window=1, target=5.0, restored=stats.state()).time_to_target is None


def test_the_kept_curve_is_thinned_not_unbounded():
    stats = RunStats(window=1, target=None)
    for i in range(5 * CURVE_POINTS):
        stats.add([float(i)], wall_s=float(i), env_steps=i)
    assert len(stats.curve) <= CURVE_POINTS
    assert stats.curve[0][0] == 0.0 and stats.curve_last == (5 * CURVE_POINTS - 1, 5 * CURVE_POINTS - 1)


def test_the_kept_curve_stays_evenly_spread_and_keeps_an_early_plunge():
    # 5 x CURVE_POINTS window means a second apart: 100 at first, a plunge to 0 over seconds 100-299,
    # 100 again after. Thinning that halved the whole list at each overflow kept 1 point in 16 of the
    # first seconds (and 1 in 2 of the last), so the plunge shrank to a few points or vanished.
    n = 5 * CURVE_POINTS
    stats = RunStats(window=1, target=None)
    for i in range(n):
        stats.add([0.0 if 100 <= i < 300 else 100.0], wall_s=float(i), env_steps=i)
    gaps = {b[0] - a[0] for a, b in zip(stats.curve, stats.curve[1:], strict=False)}
    assert gaps == {float(stats.curve_stride)}, gaps
    s = stats.stability()
    assert s is not None
    # reference 100 (the first window) is the best too: nothing to fall from. Against reference 0:
    figures = stability([x for x, _ in stats.curve], [y for _, y in stats.curve], 0.0)
    assert figures is not None and figures.below_half == pytest.approx(200 / (n - 1), abs=0.01)
    assert figures.mean_over_run == pytest.approx(100 * (1 - 200 / n), abs=1.0)


def test_the_best_and_the_last_window_count_even_where_the_kept_points_skip_them():
    stats = RunStats(window=1, target=None)
    values = [10.0] * (3 * CURVE_POINTS)
    values[1001] = 90.0  # a one-point best at an odd index, which an even stride skips
    values[-1] = 50.0
    for i, v in enumerate(values[:-1] + [values[-1]]):
        stats.add([v], wall_s=float(i), env_steps=i)
    s = stats.stability()
    assert s is not None and (s.best, s.best_at, s.final) == (90.0, 1001.0, 50.0)
    assert s.drop == pytest.approx((90 - 50) / (90 - 10))


def test_a_best_and_a_last_heard_at_the_same_second_are_both_kept():
    # Two reports drained in one pass share a wall_s: the window's best (80) and then a lower last
    # mean (30) at x=2. Keyed by x, the last overwrote the best (a CI run's summary said best 79.03
    # and its stability 68.37).
    stats = RunStats(window=2, target=None)
    stats.add([10.0, 10.0], wall_s=1.0, env_steps=10)
    stats.add([70.0, 90.0], wall_s=2.0, env_steps=20)
    stats.add([10.0, 50.0], wall_s=2.0, env_steps=30)
    s = stats.stability()
    assert s is not None and (s.best, s.best_at, s.final) == (80.0, 2.0, 30.0)
    assert s.best == stats.best_mean and s.drop == pytest.approx((80 - 30) / (80 - 10))


def test_a_resumed_run_goes_on_thinning_where_it_stopped():
    stats = RunStats(window=1, target=None)
    for i in range(3 * CURVE_POINTS):
        stats.add([float(i % 7)], wall_s=float(i), env_steps=i)
    restored = RunStats(window=1, target=None, restored=stats.state())
    for run in (stats, restored):
        for i in range(3 * CURVE_POINTS, 4 * CURVE_POINTS):
            run.add([float(i % 7)], wall_s=float(i), env_steps=i)
    assert restored.curve == stats.curve and restored.stability() == stats.stability()
