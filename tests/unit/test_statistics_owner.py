"""The one owner of a run's normalization statistics (normalization.Statistics): each engine makes
it for its own roles, which get distinct rows; it merges the rows, continues the statistics a
checkpoint restored, and publishes the totals into the model's buffers (what checkpoints save and
evaluation uses, frozen); a Ray runner's moments cross to the driver as a typed message."""

from __future__ import annotations

import inspect
import pickle

import numpy as np
import pytest
import torch

import a3c
from a3c.distributions import distribution_for
from a3c.engines.base import EngineParts
from a3c.envs import probe
from a3c.models import build_model
from a3c.normalization import LocalReturnStats, Moments, Statistics, batch_moments
from a3c.optim import build_optimizer
from fakes import NullCounters


def _parts(**overrides) -> EngineParts:
    values = dict(normalize_obs=True, normalize_reward=True, workers=3, envs_per_worker=1, t_max=4, trainers=2,
                  max_trainers=4, max_agents=5)  # fmt: skip
    cfg = a3c.Config.for_env("Pendulum-v1", **{**values, **overrides})
    spec, action_space = probe(cfg)
    model = build_model(cfg, spec, distribution_for(action_space, cfg.action_squash))
    model.share_memory()
    return EngineParts(cfg, model, build_optimizer(cfg, model.parameters()), NullCounters(), None, spec, action_space)


def _serial_a3c():
    from a3c.engines.serial import SerialA3CEngine

    return SerialA3CEngine(_parts(deterministic=True)), None


def _serial_ga3c():
    from a3c.engines.serial import SerialGA3CEngine

    return SerialGA3CEngine(_parts(algo="ga3c", deterministic=True)), None


def _hogwild():
    from a3c.engines.hogwild import HogwildEngine
    from a3c.engines.processes import context

    parts = _parts()
    parts.ctx = context()
    engine = HogwildEngine(parts)
    return engine, engine.close


def _ga3c():
    from a3c.engines.ga3c import GA3CEngine
    from a3c.engines.processes import context

    parts = _parts(algo="ga3c")
    parts.ctx = context()
    engine = GA3CEngine(parts)
    return engine, engine.close


def _ray_a3c():
    from a3c.engines.ray.algorithms import RayA3C

    return RayA3C(_parts(backend="ray")), None  # the algorithm part: RayEngine takes its statistics


def _ray_ga3c():
    from a3c.engines.ray.algorithms import RayGA3C

    return RayGA3C(_parts(algo="ga3c", backend="ray")), None


# Which roles write which statistics, and the most of each (workers=3, trainers up to 4, agents up to 5).
LAYOUTS = {
    "serial a3c": (_serial_a3c, {"worker": 3}, {"worker": 3}),
    "serial ga3c": (_serial_ga3c, {"trainer": 1}, {"agent": 3}),
    "hogwild": (_hogwild, {"worker": 3}, {"worker": 3}),
    "ga3c": (_ga3c, {"trainer": 4}, {"agent": 5}),
    "ray a3c": (_ray_a3c, {"runner": 3}, {"runner": 3}),
    "ray ga3c": (_ray_ga3c, {"trainer": 1}, {"runner": 3}),
}


@pytest.mark.parametrize("layout", list(LAYOUTS))
def test_each_engine_hands_its_roles_distinct_rows_of_the_statistics_they_write(layout):
    make, observations, returns = LAYOUTS[layout]
    engine, close = make()
    try:
        statistics = engine.statistics
        for kind, roles in (("obs", observations), ("returns", returns)):
            rows = []
            for role in ("worker", "agent", "trainer", "runner"):
                for index in range(roles.get(role, 1)):
                    row = getattr(statistics.writer(role, index), kind)
                    assert (row is not None) == (role in roles), (kind, role)  # only the roles that write it
                    if row is not None:
                        rows.append(row.index)
                if role in roles:
                    with pytest.raises(IndexError, match=role):
                        statistics.writer(role, roles[role])  # one past the most the engine may run
            # One row for every writer there can be, never two writers on one row.
            assert sorted(rows) == list(range(getattr(statistics, kind).table.writers)), kind
    finally:
        if close is not None:
            close()


def _filled(model, rng):
    """Buffers as a checkpoint restores them: the statistics of 10 observations and of 6 returns."""
    seen, returns = rng.normal(2.0, 3.0, size=(10, 3)), rng.normal(-5.0, 2.0, size=(6, 1))
    with torch.no_grad():
        model.obs_norm.mean.copy_(torch.from_numpy(seen.mean(0)))
        model.obs_norm.var.copy_(torch.from_numpy(seen.var(0)))
        model.obs_norm.count.fill_(10)
        model.reward_norm.count.fill_(6)
        model.reward_norm.mean.copy_(torch.from_numpy(returns.mean(0)))
        model.reward_norm.m2.copy_(torch.from_numpy(((returns - returns.mean(0)) ** 2).sum(0)))
    return seen, returns


def test_the_owner_merges_every_row_continues_a_restored_run_and_publishes_into_the_models_buffers():
    model = _parts().model
    rng = np.random.default_rng(0)
    seen, returns = _filled(model, rng)
    statistics = Statistics(model, observations={"trainer": 2}, returns={"agent": 2, "runner": 1})
    for index in range(2):  # each trainer's batch joins the totals, and is published at once
        batch = rng.normal(index, 1.0, size=(8, 3)).astype(np.float32)
        statistics.writer("trainer", index).obs.observe(torch.from_numpy(batch))
        seen = np.concatenate([seen, batch])
        assert model.obs_norm.count.item() == len(seen)
    for role, index in (("agent", 0), ("agent", 1), ("runner", 0)):
        more = rng.normal(index, 2.0, size=(5, 1))
        row = statistics.writer(role, index).returns
        row.add(batch_moments(more))
        returns = np.concatenate([returns, more])
        assert row.variance() == pytest.approx(returns.var(), rel=1e-9)  # every row's, read at once
    assert model.reward_norm.count.item() == 6  # the return totals wait for the owner
    with pytest.raises(RuntimeError, match="owner publishes"):
        statistics.writer("agent", 0).returns.publish()

    statistics.publish()  # what the run does before every checkpoint
    saved = model.state_dict()
    assert saved["obs_norm.count"].item() == len(seen) == 26
    torch.testing.assert_close(saved["obs_norm.mean"], torch.from_numpy(seen.mean(0)).float())
    torch.testing.assert_close(saved["obs_norm.var"], torch.from_numpy(seen.var(0)).float())
    assert saved["reward_norm.count"].item() == len(returns) == 21
    assert saved["reward_norm.mean"].item() == pytest.approx(returns.mean(), rel=1e-12)
    assert saved["reward_norm.m2"].item() == pytest.approx(((returns - returns.mean()) ** 2).sum(), rel=1e-12)
    # Evaluation applies the statistics frozen: acting changes none of them.
    with torch.no_grad():
        model(torch.from_numpy(rng.normal(size=(4, 3)).astype(np.float32)))
    assert all(torch.equal(model.state_dict()[name], value) for name, value in saved.items() if "norm" in name)


def test_an_owner_without_normalizers_keeps_nothing_and_hands_out_empty_writers():
    parts = _parts(normalize_obs=False, normalize_reward=False)
    statistics = Statistics(parts.model, observations={"worker": 3}, returns={"worker": 3})
    writer = statistics.writer("worker", 7)  # no rows to run out of
    assert writer.obs is None and writer.returns is None and writer.observe is None
    statistics.publish()


def test_a_runners_moments_cross_as_a_typed_message_into_its_row():
    # The runner: its env group's return statistics since the last job (none yet: zero, still typed).
    runner = LocalReturnStats()
    empty = runner.take_own()
    assert isinstance(empty, Moments) and empty.count == 0.0
    rng = np.random.default_rng(1)
    returns = rng.normal(size=(12, 1))
    runner.add(batch_moments(returns[:7]))
    runner.add(batch_moments(returns[7:]))
    sent = runner.take_own()
    buffers: list[pickle.PickleBuffer] = []  # pickled as Ray pickles a reply: arrays out of band
    arrived = pickle.loads(pickle.dumps(sent, protocol=5, buffer_callback=buffers.append), buffers=buffers)
    assert isinstance(arrived, Moments) and arrived.count == 12.0
    assert np.array_equal(arrived.mean, sent.mean) and np.array_equal(arrived.m2, sent.m2)
    # The driver: into that runner's row; published, the totals go out with the next weights.
    model = _parts(backend="ray").model
    statistics = Statistics(model, observations={"trainer": 1}, returns={"runner": 3})
    statistics.writer("runner", 2).returns.add(arrived)
    statistics.publish()
    assert model.reward_norm.count.item() == 12
    assert model.reward_norm.m2.item() == pytest.approx(((returns - returns.mean()) ** 2).sum(), rel=1e-12)


def test_the_run_knows_the_statistics_only_through_the_engine():
    """training.py lays out no rows and names no normalizer: it asks the engine's owner to publish."""
    from a3c import training

    source = inspect.getsource(training)
    for name in ("obs_norm", "reward_norm", "max_trainers", "attach_writers", "Statistics("):
        assert name not in source, name
    assert "self.engine.statistics.publish()" in source
