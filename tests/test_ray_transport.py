"""The flat-vector transport of the Ray backend and the one A3C step it shares with the serial
engine (no Ray needed: pure functions)."""

from __future__ import annotations

import warnings

import numpy as np
import torch

from a3c.config import Config
from a3c.distributions import distribution_for
from a3c.engines.a3c_step import a3c_gradients
from a3c.engines.weights import grads_to_vector, params_to_vector, vector_to_grads, vector_to_params
from a3c.envs import make_env_group
from a3c.loss import loss_settings
from a3c.models import build_model
from a3c.rollout import RolloutCollector


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
    for a, b in zip(source.parameters(), target.parameters()):
        assert torch.equal(a, b)
    next(target.parameters()).data.add_(1.0)  # the receiver's parameters do not alias the vector
    assert np.array_equal(vector, params_to_vector(source))


def test_a3c_step_gradients_round_trip_through_a_vector():
    cfg, local, dist, collector = _model_and_collector(0)
    step = a3c_gradients(local, collector, dist, loss_settings(cfg), cfg.max_grad_norm)
    assert step.env_steps == cfg.t_max * 2 and step.grad_norm > 0
    grads = [p.grad.clone() for p in local.parameters()]
    vector = grads_to_vector(local)
    vector.flags.writeable = False
    _, learner, _, _ = _model_and_collector(1)
    vector_to_grads(vector, learner)
    for g, p in zip(grads, learner.parameters()):
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
    from a3c.message_handling import RunFailed

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
