"""The Ray backend's pieces called directly, with no Ray started: the flat-vector transport, the
one A3C step it shares with the serial engine, an EnvRunner's replies, the driver's head check
and its lag and ratio figures, and the CLI's answer when ray is not installed."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import torch

import a3c
from a3c.config import Config
from a3c.distributions import distribution_for
from a3c.engines.a3c_step import a3c_gradients
from a3c.engines.weights import grads_to_vector, params_to_vector, vector_to_grads, vector_to_params
from a3c.envs import make_env_group
from a3c.loss import LossSettings
from a3c.models import build_model
from a3c.rollout import Rollout, RolloutCollector


def _model_and_collector(seed: int = 0):
    cfg = Config.for_env("CartPole-v1", seed=seed)
    envs = make_env_group(cfg, 2, [seed, seed + 1])
    dist = distribution_for(envs.action_space)
    torch.manual_seed(seed)
    model = build_model(cfg, envs.spec, dist)
    return cfg, model, dist, RolloutCollector(envs, model, dist, cfg.t_max)


def test_weights_cross_as_one_read_only_float32_vector_and_are_copied_out():
    _, source, _, _ = _model_and_collector(0)
    _, target, _, _ = _model_and_collector(1)
    vector = params_to_vector(source)
    assert vector.dtype == np.float32 and vector.ndim == 1
    assert vector.size == sum(p.numel() for p in source.parameters())
    vector.flags.writeable = False  # as an array from Ray's object store arrives
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # torch warns on a non-writable numpy array it would alias
        vector_to_params(vector, target)
    for a, b in zip(source.parameters(), target.parameters(), strict=True):
        assert torch.equal(a, b)
    next(target.parameters()).data.add_(1.0)  # the receiver's parameters do not alias the vector
    assert np.array_equal(vector, params_to_vector(source))


def test_a3c_step_gradients_round_trip_through_a_vector():
    cfg, local, dist, collector = _model_and_collector(0)
    step = a3c_gradients(local, collector, dist, LossSettings.from_config(cfg), cfg.max_grad_norm)
    assert step.env_steps == cfg.t_max * 2 and step.metrics["grad_norm"] > 0
    grads = [p.grad.clone() for p in local.parameters()]
    vector = grads_to_vector(local)
    vector.flags.writeable = False
    _, learner, _, _ = _model_and_collector(1)
    vector_to_grads(vector, learner)
    for g, p in zip(grads, learner.parameters(), strict=True):
        assert torch.equal(g, p.grad)
    # clipped: the applied gradient's norm is at most max_grad_norm
    assert float(torch.linalg.vector_norm(torch.from_numpy(vector.copy()))) <= cfg.max_grad_norm + 1e-5


def test_an_a3c_job_carries_one_gradient_per_rollout_from_the_weights_it_was_sent(monkeypatch):
    """ray_rollouts_per_job=3: three rollouts, three gradients, all computed from the weights of
    the job (the runner does not step its own copy between them), each with its own env steps."""
    from a3c.engines.ray.runner import EnvRunner

    monkeypatch.setattr(EnvRunner, "where", lambda self: {})  # setup's reply; needs no Ray here
    cfg = Config.for_env("CartPole-v1", workers=1, ray_rollouts_per_job=3)
    runner = EnvRunner(cfg)
    runner.setup(0, 0)
    weights = params_to_vector(runner.local)
    reply = runner.a3c_step(5, weights)
    assert reply["version"] == 5 and len(reply["gradients"]) == 3
    assert all(g["env_steps"] == cfg.t_max * cfg.envs_per_worker for g in reply["gradients"])
    vectors = [g["grads"] for g in reply["gradients"]]
    assert not np.array_equal(vectors[0], vectors[1])  # different rollouts, different gradients
    np.testing.assert_array_equal(params_to_vector(runner.local), weights)  # the weights stayed as sent
    runner.close()


def test_the_head_check_stops_the_run_only_when_the_gcs_port_stops_answering():
    import socket

    import pytest

    from a3c.engines.ray.engine import _RayEngine
    from a3c.errors import RunFailed

    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen()
    engine = _RayEngine.__new__(_RayEngine)  # only the head check's state, no cluster
    engine._gcs, engine._head_probed, engine.head_lost = listener.getsockname(), 0.0, False
    engine._check_head()
    assert not engine.head_lost
    listener.close()  # the GCS is gone: its port refuses
    engine._check_head()  # probed less than a second ago: not asked again yet
    assert not engine.head_lost
    with pytest.raises(RunFailed, match="lost the Ray cluster's head node.*--resume"):
        engine._check_head(now=True)
    assert engine.head_lost
    engine._shutdown()  # asks the lost cluster nothing
    assert engine.runners == [] and engine.inflight == {}


# ----- env errors: a runner's reply carries them, the driver forwards them as the local engines do -----

@pytest.mark.parametrize("job", ["a3c_step", "ga3c_segment"])
def test_env_runner_replies_carry_the_errors_of_envs_that_raised(job, monkeypatch):
    """The EnvRunner class called directly (no Ray): FlakyStepEnv raises every 97th step."""
    from a3c.config import Config
    from a3c.engines.messages import EnvError
    from a3c.engines.ray.engine import env_error_messages
    from a3c.engines.ray.runner import EnvRunner

    monkeypatch.setattr(EnvRunner, "where", lambda self: {})  # setup's reply; needs no Ray here
    runner = EnvRunner(Config.for_env("fakes:FlakyStepEnv", workers=1, t_max=5))
    runner.setup(0, 0)
    messages = []
    for _ in range(30):  # 150 steps
        messages += env_error_messages(3, getattr(runner, job)(0, None))
    assert messages and all(isinstance(m, EnvError) and m.rank == 3 for m in messages)
    assert "ValueError: flaky env: lost its simulator connection" in messages[0].error
    runner.close()


# ----- Ray GA3C: a skipped update measures no lag and no ratio (issue 23) -----


def test_a_skipped_ray_ga3c_update_does_not_pull_the_lag_and_ratio_down():
    from a3c.distributions import Categorical
    from a3c.engines.ga3c.stats import Stats
    from a3c.engines.ray.engine import RayGA3CEngine

    class ScriptedUpdate:
        """Applies an update of lag 2 and ratio 0.5, then skips one (NaN), as BatchUpdate.train does."""

        def __init__(self, stats):
            self.stats, self.calls = stats, 0

        def train(self, local, batch, versions):
            self.calls += 1
            if self.calls == 1:
                self.stats.lag.record(2, 0)
                self.stats.trained(samples=1, ratio=0.5, metrics={})
                return True
            self.stats.skipped()
            return False

    engine = RayGA3CEngine.__new__(RayGA3CEngine)
    engine.cfg = a3c.Config(workers=1, train_batch=1, max_train_batch=1)
    engine.stats = Stats()
    engine.lag = engine.stats.lag
    engine.update = ScriptedUpdate(engine.stats)
    engine.local = None
    segment = Rollout.allocate(2, 1, (1,), torch.float32, Categorical(2))
    engine.pending = [(segment, torch.zeros(2, dtype=torch.int64))] * 2
    engine.waiting, engine.inbox, engine.nodes, engine.restarts = [], [], {}, 0
    engine._ratio_sum, engine._ratio_count = 0.0, 0
    engine._after_drain()
    metrics = engine.extra_metrics()
    assert metrics["policy_lag"] == pytest.approx(2.0) and metrics["importance_ratio"] == pytest.approx(0.5)
