"""Normalizer statistics travel with a run: the observation statistics and the run's one set of
reward statistics are saved in its checkpoints, continued (not restarted) by a resume, and
frozen at evaluation."""

import numpy as np
import torch

import a3c
from a3c.checkpoint import load_checkpoint


def _pendulum(tmp_path, name, **overrides):
    return a3c.Config.for_env(
        "Pendulum-v1", normalize_obs=True, workers=1, envs_per_worker=2, t_max=8, deterministic=True,
        target_return="off", progress=False, tensorboard=False, run_dir=str(tmp_path / name), **overrides)


def test_obs_statistics_round_trip_through_checkpoint_resume_and_eval(tmp_path):
    result = a3c.train(_pendulum(tmp_path, "run", total_steps=1024))
    sidecar, tensors, _ = load_checkpoint(tmp_path / "run")
    # Every observation a rollout saw, once: the statistics' count is the run's env steps.
    assert tensors["obs_norm.count"].item() == result.env_steps == sidecar["counters"][0]
    assert tensors["obs_norm.var"].min().item() > 0 and tensors["obs_norm.mean"].abs().sum().item() > 0
    agent = a3c.load(tmp_path / "run")
    torch.testing.assert_close(agent.model.obs_norm.mean, tensors["obs_norm.mean"])
    before = agent.model.obs_norm.mean.clone()
    agent.act(np.array([5.0, 5.0, 5.0], dtype=np.float32))
    torch.testing.assert_close(agent.model.obs_norm.mean, before)  # frozen at evaluation
    resumed = a3c.train(_pendulum(tmp_path, "run", total_steps=2048), resume=tmp_path / "run")
    _, tensors, _ = load_checkpoint(tmp_path / "run")
    assert tensors["obs_norm.count"].item() == resumed.env_steps == 2048  # continued, not restarted


def _pendulum_normalizing_rewards(tmp_path, total_steps, **overrides):
    return a3c.Config.for_env(
        "Pendulum-v1", normalize_reward=True, reward_scale=1.0, workers=2, envs_per_worker=2, t_max=8,
        deterministic=True, target_return="off", progress=False, tensorboard=False, total_steps=total_steps,
        run_dir=str(tmp_path / "run"), **overrides)


def test_reward_statistics_are_one_set_saved_in_checkpoints_and_resumed(tmp_path):
    first = a3c.train(_pendulum_normalizing_rewards(tmp_path, 1024))
    _, tensors, _ = load_checkpoint(tmp_path / "run")
    # Every env step of both workers, once: one set for the run.
    assert tensors["reward_norm.count"].item() == first.env_steps == 1024
    assert tensors["reward_norm.m2"].item() > 0
    resumed = a3c.train(_pendulum_normalizing_rewards(tmp_path, 2048), resume=tmp_path / "run")
    _, tensors, _ = load_checkpoint(tmp_path / "run")
    assert tensors["reward_norm.count"].item() == resumed.env_steps == 2048  # continued, not restarted
    agent = a3c.load(tmp_path / "run")  # evaluation builds the same model and ignores the statistics
    assert agent.act(np.zeros(3, dtype=np.float32)).shape == (1,)
