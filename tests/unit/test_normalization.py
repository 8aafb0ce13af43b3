"""Normalization in one process: running moments by hand, the observation normalizer's clipped
standard scores, the return scaler, one set of return statistics for every writer of a run,
and reward normalization reaching the learning signal. (The statistics shared across processes:
engines/test_shared_across_processes.py; their checkpoint round trip: run/test_resume_statistics.py.)"""

from types import SimpleNamespace

import gymnasium as gym
import numpy as np
import pytest
import torch

import a3c
from a3c.distributions import distribution_for
from a3c.envs import make_env_group
from a3c.envs.spaces import ObsSpec
from a3c.errors import UserError
from a3c.normalization import (
    Moments,
    ObsNormalizer,
    ReturnNormalizer,
    ReturnScaler,
    Statistics,
    batch_moments,
    merge_moments,
    moments_to_mean_var,
)

# ----- running statistics -----


def test_moments_by_hand_and_merge_equals_the_concatenation():
    moments = batch_moments(np.array([[1.0], [2.0], [3.0], [6.0]]))
    assert (moments.count, moments.mean[0], moments.m2[0]) == (4.0, 3.0, 14.0)  # deviations -2, -1, 0, 3
    rng = np.random.default_rng(0)
    a, b = rng.normal(3, 2, size=(7, 3)), rng.normal(-1, 5, size=(12, 3))
    merged = merge_moments(batch_moments(a), batch_moments(b))
    mean, var = moments_to_mean_var(merged)
    both = np.concatenate([a, b])
    np.testing.assert_allclose(mean, both.mean(0), rtol=1e-12)
    np.testing.assert_allclose(var, both.var(0), rtol=1e-12)
    assert merge_moments(Moments(0.0, np.zeros(3), np.zeros(3)), batch_moments(a)).count == 7.0


def test_normalizer_applies_clipped_standard_scores_and_a_resume_continues_its_statistics():
    normalizer = ObsNormalizer((2,), clip=3.0)
    with torch.no_grad():
        normalizer.mean.copy_(torch.tensor([1.0, -2.0]))
        normalizer.var.copy_(torch.tensor([4.0, 0.25]))
        normalizer.count.fill_(10.0)
    out = normalizer(torch.tensor([[3.0, -2.5], [101.0, -2.0]]))
    torch.testing.assert_close(out, torch.tensor([[1.0, -1.0], [3.0, 0.0]]), atol=1e-6, rtol=0)
    # A checkpoint's statistics seed the base row: new data merges with them, not instead of them.
    statistics = Statistics(SimpleNamespace(obs_norm=normalizer), observations={"worker": 1})
    statistics.writer("worker", 0).obs.observe(np.array([[1.0, -2.0]] * 10))
    assert normalizer.count.item() == 20.0
    torch.testing.assert_close(normalizer.var, torch.tensor([2.0, 0.125]))  # M2 unchanged, count doubled


def test_return_scaler_by_hand():
    scaler = ReturnScaler(1, gamma=0.5)
    first = scaler(np.array([2.0]), np.array([False]))  # R = 2; one sample: var 0 -> 2 / sqrt(1e-8) clipped
    assert first[0] == pytest.approx(10.0)
    second = scaler(np.array([2.0]), np.array([True]))  # R = 0.5 * 2 + 2 = 3; returns {2, 3}: var 0.25
    assert second[0] == pytest.approx(2.0 / 0.5, rel=1e-6)
    assert scaler.returns[0] == 0.0  # the episode ended: the next return starts afresh


# ----- one reward normalizer per run (issue 23) -----


def test_every_writer_divides_by_the_runs_one_return_statistics():
    statistics = Statistics(SimpleNamespace(reward_norm=ReturnNormalizer()), returns={"worker": 2})
    small = ReturnScaler(1, gamma=0.5, stats=statistics.writer("worker", 0).returns)
    large = ReturnScaler(1, gamma=0.5, stats=statistics.writer("worker", 1).returns)
    never = np.array([False])
    returns = []
    for _ in range(20):  # worker 0 earns 1 per step, worker 1 earns 10
        small(np.array([1.0]), never)
        returns.append(small.returns[0])
        large(np.array([10.0]), never)
        returns.append(large.returns[0])
    std = np.std(returns)
    # Both divide by the standard deviation of all 40 returns, not each by its own.
    assert small(np.array([1.0]), never)[0] == pytest.approx(1.0 / np.std(returns + [small.returns[0]]), rel=1e-6)
    returns.append(small.returns[0])
    assert large(np.array([1.0]), never)[0] == pytest.approx(1.0 / np.std(returns + [large.returns[0]]), rel=1e-6)
    assert std > 3  # the two streams' spread, far from either stream's own (~0 after a few steps)


def test_normalize_obs_on_images_is_a_user_error():
    cfg = a3c.Config.for_env("CartPole-v1", normalize_obs=True)
    from a3c.models import build_model

    with pytest.raises(UserError, match="normalize_obs=true is for float observations.*uint8"):
        build_model(cfg, ObsSpec((4, 84, 84), np.uint8, 1 / 255), distribution_for(gym.spaces.Discrete(2)))


def test_reward_normalization_reaches_the_learning_signal():
    cfg = a3c.Config.for_env("Pendulum-v1", normalize_reward=True, envs_per_worker=2)
    group = make_env_group(cfg, 2, 0)
    group.reset()
    rewards = [group.step(np.zeros((2, 1), dtype=np.float32)).rewards for _ in range(50)]
    # Pendulum pays -16..0 per step; scaled by the std of a return of ~-100 they are ~-1.
    assert np.abs(np.concatenate(rewards[10:])).max() < 3.0
