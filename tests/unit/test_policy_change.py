"""The policy-change measure (distributions' KL, loss.policy_change), the adaptive step size and
the log-std floor."""

import math

import gymnasium as gym
import numpy as np
import pytest
import torch

from a3c.config import Config
from a3c.distributions import Categorical, DiagGaussian
from a3c.engines.learner import LR_SCALE_MIN, Learner
from a3c.models import ActorCritic
from fakes import NullCounters


def test_categorical_kl_by_hand_and_against_torch():
    # p = [1/2, 1/2], q = [1/4, 3/4]: KL = 1/2 ln 2 + 1/2 ln(2/3) = 1/2 ln(4/3).
    p = torch.log(torch.tensor([[0.5, 0.5]]))
    q = torch.log(torch.tensor([[0.25, 0.75]]))
    assert Categorical(2).kl(p, q).item() == pytest.approx(0.5 * math.log(4 / 3))
    logits_p, logits_q = torch.randn(7, 5), torch.randn(7, 5)
    expected = torch.distributions.kl_divergence(
        torch.distributions.Categorical(logits=logits_p), torch.distributions.Categorical(logits=logits_q)
    )
    torch.testing.assert_close(Categorical(5).kl(logits_p, logits_q), expected)


def test_gaussian_kl_by_hand_and_against_torch():
    dist = DiagGaussian(1)
    # Same std 1, means 0 and 1: KL = 1/2. Same mean, std 1 vs 2: ln 2 + 1/8 - 1/2.
    assert dist.kl(torch.tensor([[0.0, 0.0]]), torch.tensor([[1.0, 0.0]])).item() == pytest.approx(0.5)
    assert dist.kl(torch.tensor([[0.0, 0.0]]), torch.tensor([[0.0, math.log(2)]])).item() == pytest.approx(
        math.log(2) + 1 / 8 - 1 / 2
    )
    dist3 = DiagGaussian(3)
    p, q = torch.randn(4, 6), torch.randn(4, 6)
    expected = torch.distributions.kl_divergence(
        torch.distributions.Normal(p[:, :3], p[:, 3:].exp()), torch.distributions.Normal(q[:, :3], q[:, 3:].exp())
    ).sum(-1)
    torch.testing.assert_close(dist3.kl(p, q), expected)


def test_the_same_step_in_the_mean_is_a_larger_policy_change_at_a_smaller_spread():
    # Why the spread matters: KL = (dm)^2 / (2 s^2) for equal spreads.
    dist = DiagGaussian(1)
    step = torch.tensor([[0.1, 0.0]])
    wide, narrow = torch.tensor([[0.0, 0.0]]), torch.tensor([[0.0, -3.0]])
    assert dist.kl(narrow, narrow + step).item() == pytest.approx(math.exp(6) * dist.kl(wide, wide + step).item())


def _learner(counters=None, **cfg) -> Learner:
    model = torch.nn.Linear(2, 1)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    optimizer.set_lr = lambda lr: [g.__setitem__("lr", lr) for g in optimizer.param_groups]  # type: ignore[attr-defined]
    return Learner(Config(**cfg), model, optimizer, counters or NullCounters())


def test_the_learner_steps_at_the_scheduled_rate_of_the_run_s_clock():
    class SixtySecondsIn(NullCounters):
        wall_seconds = 60.0

    learner = _learner(SixtySecondsIn(), lr=0.1, lr_schedule="linear_budget", time_limit=80.0, target_kl=0.01)
    learner.observe_kl(0.05)  # the adaptive share applies on top of the schedule
    learner.apply([torch.ones(1, 2), torch.ones(1)])
    assert learner.optimizer.param_groups[0]["lr"] == pytest.approx(0.1 * (1 - 60 / 80) / 1.5)


def test_the_step_size_shrinks_above_twice_the_target_and_grows_back_below_half():
    learner = _learner(target_kl=0.01)
    learner.observe_kl(0.015)  # within [target/2, 2 target]: unchanged
    assert learner.lr_scale == 1.0
    learner.observe_kl(0.05)
    assert learner.lr_scale == pytest.approx(1 / 1.5)
    learner.observe_kl(0.05)
    assert learner.lr_scale == pytest.approx(1 / 1.5**2)
    learner.observe_kl(0.001)
    assert learner.lr_scale == pytest.approx(1 / 1.5)
    for _ in range(5):
        learner.observe_kl(0.0)
    assert learner.lr_scale == 1.0  # never above the scheduled lr
    for _ in range(100):
        learner.observe_kl(1.0)
    assert learner.lr_scale == LR_SCALE_MIN
    learner.observe_kl(float("nan"))  # a NaN measure changes nothing
    assert learner.lr_scale == LR_SCALE_MIN


def test_without_a_target_the_step_size_stays():
    learner = _learner(target_kl=None)
    learner.observe_kl(100.0)
    assert learner.lr_scale == 1.0


def test_the_learner_steps_with_the_scaled_lr():
    learner = _learner(lr=0.1, target_kl=0.01)
    learner.observe_kl(1.0)
    before = learner.model.bias.detach().clone()
    learner.apply([torch.zeros(1, 2), torch.ones(1)])
    assert learner.optimizer.param_groups[0]["lr"] == pytest.approx(0.1 / 1.5)
    torch.testing.assert_close(learner.model.bias.detach(), before - 0.1 / 1.5)


def _gaussian_model(log_std_min):
    space = gym.spaces.Box(-1.0, 1.0, (2,), np.float32)
    dist = DiagGaussian(2, "clip", space.low, space.high)
    return ActorCritic((3,), dist, log_std_init=-1.0, log_std_min=log_std_min), dist


def test_the_log_std_floor_holds_in_forward_and_after_a_step():
    model, dist = _gaussian_model(log_std_min=-2.0)
    with torch.no_grad():
        model.log_std.fill_(-5.0)
    params, _, _ = model(torch.zeros(4, 3))
    assert torch.all(params[:, 2:] == -2.0)  # forward floors it
    model.constrain_()  # and the parameter is projected back, so a gradient can raise it again
    assert torch.all(model.log_std == -2.0)


def test_no_floor_leaves_the_log_std_alone():
    model, _ = _gaussian_model(log_std_min=None)
    with torch.no_grad():
        model.log_std.fill_(-5.0)
    model.constrain_()
    assert torch.all(model.log_std == -5.0)


def test_config_checks_the_new_fields():
    from a3c.errors import ConfigError

    with pytest.raises(ConfigError, match="target_kl"):
        Config(target_kl=0.0)
    with pytest.raises(ConfigError, match="log_std_min"):
        Config(log_std_init=-1.0, log_std_min=0.0)  # a floor above the first spread
    assert Config(target_kl=0.01, log_std_min=-2.0).log_std_min == -2.0
