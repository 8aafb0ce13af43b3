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
from a3c.engines.a3c_step import a3c_gradients, local_collector
from a3c.engines.weights import grads_to_vector, params_to_vector, vector_to_grads, vector_to_params
from a3c.envs import make_env_group
from a3c.loss import LossSettings
from a3c.models import build_model
from a3c.rollout import Rollout


def _model_and_collector(seed: int = 0):
    cfg = Config.for_env("CartPole-v1", seed=seed)
    envs = make_env_group(cfg, 2, [seed, seed + 1])
    dist = distribution_for(envs.action_space)
    torch.manual_seed(seed)
    model = build_model(cfg, envs.spec, dist)
    return cfg, model, dist, local_collector(envs, model, dist, cfg.t_max)


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
    step = a3c_gradients(local, collector, dist, LossSettings.from_config(cfg))
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

    monkeypatch.setattr(EnvRunner, "where", lambda self: None)  # setup's reply; needs no Ray here
    cfg = Config.for_env("CartPole-v1", workers=1, ray_rollouts_per_job=3)
    runner = EnvRunner(cfg)
    runner.setup(0, 0)
    weights = params_to_vector(runner.local)
    reply = runner.a3c_step(5, weights)
    assert reply.version == 5 and len(reply.gradients) == 3
    assert all(g.env_steps == cfg.t_max * cfg.envs_per_worker for g in reply.gradients)
    vectors = [g.grads for g in reply.gradients]
    assert not np.array_equal(vectors[0], vectors[1])  # different rollouts, different gradients
    np.testing.assert_array_equal(params_to_vector(runner.local), weights)  # the weights stayed as sent
    runner.close()


def test_the_head_check_stops_the_run_only_when_the_gcs_port_stops_answering():
    import socket

    from a3c.engines.ray.engine import RayEngine
    from a3c.engines.ray.health import HeadWatch
    from a3c.errors import RunFailed

    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen()
    head = HeadWatch(listener.getsockname())
    head.check(now=True)
    assert not head.lost
    listener.close()  # the GCS is gone: its port refuses
    head.check()  # probed less than a second ago: not asked again yet
    assert not head.lost
    with pytest.raises(RunFailed, match="lost the Ray cluster's head node.*--resume"):
        head.check(now=True)
    assert head.lost

    class LostCluster:
        def __getattr__(self, name):
            raise AssertionError(f"asked the lost cluster for {name}")

    engine = RayEngine.__new__(RayEngine)  # only what closing needs, no cluster
    engine.head, engine.ray, engine.inbox = head, LostCluster(), []
    engine.runners, engine.jobs = [object()], {object(): (0, 0)}
    assert engine.close() == []  # asks the lost cluster nothing
    assert engine.runners == [] and engine.jobs == {}


# ----- env errors: a runner's reply carries them, the driver forwards them as the local engines do -----

@pytest.mark.parametrize("job", ["a3c_step", "ga3c_segment"])
def test_env_runner_replies_carry_the_errors_of_envs_that_raised(job, monkeypatch):
    """The EnvRunner class called directly (no Ray): FlakyStepEnv raises every 97th step."""
    from a3c.config import Config
    from a3c.engines.ray.runner import EnvRunner

    monkeypatch.setattr(EnvRunner, "where", lambda self: None)  # setup's reply; needs no Ray here
    runner = EnvRunner(Config.for_env("fakes:FlakyStepEnv", workers=1, t_max=5))
    runner.setup(0, 0)
    errors = []
    for _ in range(30):  # 150 steps
        errors += getattr(runner, job)(0, None).env_errors
    assert errors and all(isinstance(e, str) for e in errors)
    assert "ValueError: flaky env: lost its simulator connection" in errors[0]
    runner.close()


# ----- Ray GA3C: a skipped update measures no lag and no ratio (issue 23) -----


def test_a_skipped_ray_ga3c_update_does_not_pull_the_lag_and_ratio_down():
    from a3c.distributions import Categorical
    from a3c.engines.ga3c.stats import Stats
    from a3c.engines.ray.algorithms import RayGA3C

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

    part = RayGA3C.__new__(RayGA3C)  # the training half only: no model, no runners
    part.cfg = a3c.Config(workers=1, train_batch=1, max_train_batch=1)
    part.stats = Stats()
    part._last_totals = part.stats.totals()
    part.update = ScriptedUpdate(part.stats)
    part.local = None
    segment = Rollout.allocate(2, 1, (1,), torch.float32, Categorical(2))
    part.pending = [(segment, torch.zeros(2, dtype=torch.int64))] * 2
    part.waiting = [0]
    outcome = part.after_drain()
    assert outcome.send == [0]  # back out once training is done
    assert [m.count for m in outcome.messages] == [1] and outcome.messages[0].nonfinite == 1
    metrics = part.metrics()
    assert metrics["policy_lag"] == pytest.approx(2.0) and metrics["importance_ratio"] == pytest.approx(0.5)
