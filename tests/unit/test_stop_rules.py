"""When a run stops (a3c.stop_rules): the target, then total_steps, then time_limit, each checked on
numbers handed in, so the time limit is tested here without a clock."""

import a3c
from a3c.stop_rules import stop_rule, target_met


def _cfg(**fields) -> a3c.Config:
    return a3c.Config(**{"total_steps": 1000, "target_window": 3, **fields})


def test_the_target_is_the_mean_of_a_full_window():
    assert target_met(10.0, [10.0, 10.0], window=3) is None  # not yet a full window
    assert target_met(10.0, [0.0, 9.0, 10.0, 11.0], window=3) == 10.0  # the last three only
    assert target_met(10.0, [9.0, 10.0, 10.0], window=3) is None
    assert target_met(None, [100.0] * 3, window=3) is None  # no target: never met


def test_no_rule_while_none_is_met():
    assert stop_rule(_cfg(time_limit=60.0), 10.0, [1.0] * 3, env_steps=999, wall_seconds=59.9) is None


def test_total_steps_and_time_limit_stop_the_run():
    rule = stop_rule(_cfg(), None, [], env_steps=1000, wall_seconds=1e6)
    assert rule.reason == "total_steps" and "1,000 env steps >= total_steps 1,000" in str(rule)
    rule = stop_rule(_cfg(time_limit=60.0), None, [], env_steps=999, wall_seconds=60.0)
    assert rule.reason == "time_limit" and "60.0 s >= time_limit 60 s" in str(rule)
    assert stop_rule(_cfg(time_limit=None), None, [], env_steps=999, wall_seconds=1e6) is None


def test_the_target_comes_first_then_total_steps_then_time_limit():
    cfg = _cfg(time_limit=60.0)
    assert stop_rule(cfg, 10.0, [10.0] * 3, env_steps=1000, wall_seconds=60.0).reason == "target_reached"
    assert stop_rule(cfg, 10.0, [0.0] * 3, env_steps=1000, wall_seconds=60.0).reason == "total_steps"
