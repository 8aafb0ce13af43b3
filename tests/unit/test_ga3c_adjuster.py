"""GA3C's dynamic adjuster against scripted training rates: it keeps a change that pays, reverts
one that does not, stays within its limits, and reports its own crash."""

import pytest

from a3c.engines.ga3c.adjust import MARGIN, ROLES, DynamicAdjuster
from a3c.engines.messages import Crash

# ----- the dynamic adjuster -----

class FakeControls:
    """The engine's controls with scripted training rates; checks every count it is given."""

    def __init__(self, counts: dict, limits: dict, rates: list, when_done=lambda: None):
        self._counts, self.limits, self.rates, self.when_done = dict(counts), dict(limits), list(rates), when_done
        self.changes: list[tuple[str, int]] = []

    def counts(self) -> dict:
        return dict(self._counts)

    def set_count(self, role: str, count: int) -> None:
        assert 1 <= count <= self.limits[role], (role, count)
        self.changes.append((role, count))
        self._counts[role] = count

    def training_rate(self, seconds: float):
        rate = self.rates.pop(0)
        if not self.rates:
            self.when_done()
        return rate


def test_adjuster_keeps_a_change_that_pays_and_reverts_one_that_does_not():
    start = {"agents": 2, "predictors": 1, "trainers": 1}
    # baseline 100; the first change gives 110 (> 2% better: kept); the second 111 (< 2% over 110: reverted),
    # after which the baseline is measured afresh (105) and the adjuster is told to stop.
    limits = {"agents": 4, "predictors": 2, "trainers": 2}
    messages: list[str] = []
    controls = FakeControls(start, limits, [100.0, 110.0, 111.0, 105.0], when_done=lambda: adjuster.stop_event.set())
    adjuster = DynamicAdjuster(controls, interval_s=5.0, seed=3, emit=messages.append)
    adjuster.run()  # in this thread

    (role1, count1), (role2, count2), (role2_again, reverted) = controls.changes
    first_before = start[role1]
    assert abs(count1 - first_before) == 1
    second_before = count1 if role2 == role1 else start[role2]
    assert abs(count2 - second_before) == 1
    assert role2_again == role2 and reverted == second_before
    final = dict(start, **{role1: count1})
    assert controls.counts() == final  # the kept change stands, the reverted one is undone
    assert len(messages) == 2
    assert f"{role1} {first_before} -> {count1} kept" in messages[0]
    assert "100 -> 110" in messages[0]
    assert f"{role2} {second_before} -> {count2} reverted to {second_before}" in messages[1]
    assert "110 -> 111" in messages[1]
    assert controls.rates == [] and adjuster.baseline == 105.0  # re-measured after the revert


def test_adjuster_leaves_off_when_the_engine_stops_mid_trial():
    controls = FakeControls({"agents": 2, "predictors": 1, "trainers": 1},
                            {"agents": 3, "predictors": 2, "trainers": 2}, [100.0, None])
    messages: list[str] = []
    adjuster = DynamicAdjuster(controls, interval_s=5.0, seed=0, emit=messages.append)
    adjuster.run()  # returns: the engine is stopping, so neither keep nor revert is reported
    assert len(controls.changes) == 1 and messages == [] and adjuster.baseline is None


@pytest.mark.parametrize("rate, kept", [(100.0 * (1 + MARGIN) * 1.001, True), (100.0 * (1 + MARGIN) * 0.999, False)])
def test_adjuster_margin(rate, kept):
    controls = FakeControls({"agents": 2, "predictors": 1, "trainers": 1},
                            {"agents": 3, "predictors": 1, "trainers": 1}, [rate, 100.0])
    messages: list[str] = []
    adjuster = DynamicAdjuster(controls, interval_s=5.0, seed=0, emit=messages.append)
    adjuster.baseline = 100.0
    adjuster.trial()
    # predictors and trainers are pinned at their limit of 1: only agents can move, 2 -> 3 or 2 -> 1
    role, count = controls.changes[0]
    assert role == "agents" and count in (1, 3)
    assert controls.counts()["agents"] == (count if kept else 2)
    assert ("kept" in messages[0]) is kept and ("reverted" in messages[0]) is not kept


def test_adjuster_stays_within_one_and_the_limit():
    controls = FakeControls({"agents": 4, "predictors": 1, "trainers": 2},
                            {"agents": 4, "predictors": 3, "trainers": 2}, [])
    adjuster = DynamicAdjuster(controls, interval_s=1.0, seed=1, emit=lambda text: None)
    moves = {adjuster.propose() for _ in range(200)}
    # agents and trainers at their limits can only go down, predictors at 1 only up
    assert moves == {("agents", -1), ("predictors", 1), ("trainers", -1)}
    # nothing can move when every role is pinned at 1 = its limit: the trial only re-measures
    pinned = FakeControls({r: 1 for r in ROLES}, {r: 1 for r in ROLES}, [90.0])
    adjuster = DynamicAdjuster(pinned, interval_s=1.0, seed=1, emit=lambda text: pytest.fail(text))
    adjuster.baseline = 100.0
    adjuster.trial()
    assert pinned.changes == [] and adjuster.baseline == 90.0


def test_adjuster_reports_its_own_crash():
    class Broken(FakeControls):
        def training_rate(self, seconds):
            raise RuntimeError("boom")

    crashes: list[dict] = []
    adjuster = DynamicAdjuster(Broken({r: 1 for r in ROLES}, {r: 2 for r in ROLES}, []), 1.0, 0,
                               emit=lambda text: None, on_crash=crashes.append)
    adjuster.run()
    (crash,) = crashes
    assert isinstance(crash, Crash) and crash.role == "adjuster" and "boom" in crash.error
