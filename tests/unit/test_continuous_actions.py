"""Continuous actions: the Gaussian, clipped or squashed, against hand values; Box actions of
any shape; the bound penalty; state-dependent std; a separate critic."""

import math

import gymnasium as gym
import numpy as np
import pytest
import torch

from a3c.distributions import DiagGaussian, distribution_for, tanh_log_det, to_env_actions
from a3c.errors import UserError
from a3c.loss import clip_gradients
from a3c.models import LOG_STD_MAX, LOG_STD_MIN, ActorCritic

# ----- the Gaussian, clipped or squashed -----


def test_clipped_gaussian_log_prob_is_of_the_unclipped_sample():
    # The env gets 2.0 (the bound); learning scores the sample 3.0 that was drawn: mean 0, std 1
    # -> log N(3) = -4.5 - ln(2 pi) / 2.
    dist = DiagGaussian(1)
    params = torch.tensor([[0.0, 0.0]])
    sample = torch.tensor([[3.0]])
    assert dist.log_prob(params, sample).item() == pytest.approx(-4.5 - 0.5 * math.log(2 * math.pi), abs=1e-6)
    space = gym.spaces.Box(-2.0, 2.0, shape=(1,), dtype=np.float32)
    np.testing.assert_array_equal(to_env_actions(sample.numpy(), space), [[2.0]])
    np.testing.assert_array_equal(to_env_actions(np.array([[-0.5]]), space), [[-0.5]])


def test_tanh_gaussian_log_prob_has_the_change_of_variables_term():
    # u = 0.5 under N(0.2, e^-0.5): log N(u) - log(1 - tanh(u)^2), by hand with math.tanh.
    mean, log_std, u = 0.2, -0.5, 0.5
    std = math.exp(log_std)
    gaussian = -0.5 * ((u - mean) / std) ** 2 - log_std - 0.5 * math.log(2 * math.pi)
    expected = gaussian - math.log(1 - math.tanh(u) ** 2)
    dist = DiagGaussian(1, squash="tanh")
    got = dist.log_prob(torch.tensor([[mean, log_std]]), torch.tensor([[u]])).item()
    assert got == pytest.approx(expected, abs=1e-6)
    # the stable form stays finite where 1 - tanh(u)^2 underflows to 0 in float32
    assert torch.isfinite(tanh_log_det(torch.tensor([40.0, -40.0]))).all()
    assert tanh_log_det(torch.tensor([40.0])).item() == pytest.approx(2 * (math.log(2) - 40), abs=1e-4)


def test_tanh_squash_maps_samples_into_the_bounds():
    space = gym.spaces.Box(np.array([-2.0, 0.0], np.float32), np.array([2.0, 10.0], np.float32))
    got = to_env_actions(np.array([[0.0, 0.0], [100.0, -100.0], [math.atanh(0.5), math.atanh(-0.5)]]), space, "tanh")
    # low + (tanh(u) + 1) / 2 * (high - low)
    np.testing.assert_allclose(got, [[0.0, 5.0], [2.0, 0.0], [1.0, 2.5]], atol=1e-6)


def test_box_actions_of_any_shape_are_flattened_for_the_head_and_reshaped_for_the_env():
    space = gym.spaces.Box(-1.0, 1.0, shape=(2, 3), dtype=np.float32)
    dist = distribution_for(space)
    assert dist.dim == 6 and dist.action_shape == (6,)
    flat = np.arange(12, dtype=np.float32).reshape(2, 6) / 10 - 0.5
    got = to_env_actions(flat, space)
    assert got.shape == (2, 2, 3)
    np.testing.assert_allclose(got[1], np.clip(flat[1].reshape(2, 3), -1, 1))


def test_infinite_bounds_clip_nothing_and_refuse_tanh():
    space = gym.spaces.Box(-np.inf, np.inf, shape=(2,), dtype=np.float32)
    np.testing.assert_array_equal(to_env_actions(np.array([[1e6, -1e6]]), space), [[1e6, -1e6]])
    with pytest.raises(UserError, match="action_squash=tanh.*not finite.*Allowed: action_squash = clip"):
        distribution_for(space, squash="tanh")


def test_mean_bound_excess_by_hand():
    # bounds [-1, 1] and [-2, 2] (half-ranges 1 and 2), a third axis unbounded above
    space = gym.spaces.Box(np.array([-1, -2, 0], np.float32), np.array([1, 2, np.inf], np.float32))
    dist = distribution_for(space)
    log_std = torch.zeros(3, 3)
    means = torch.tensor([[1.5, -3.0, 1e6],  # (0.5 / 1)^2 + (1 / 2)^2 + 0 = 0.5
                          [0.9, 1.9, 0.0],  # inside: 0
                          [-1.0, 2.0, -0.5]])  # on the bounds: 0; 0.5 below 0, half-range taken as 1: 0.25
    got = dist.mean_bound_excess(torch.cat([means, log_std], dim=1))
    torch.testing.assert_close(got, torch.tensor([0.5, 0.0, 0.25]))
    # tanh squashing has no bounds on its means
    tanh = distribution_for(gym.spaces.Box(-1.0, 1.0, shape=(3,)), squash="tanh")
    assert tanh.mean_bound_excess(torch.cat([means, log_std], dim=1)).abs().sum() == 0


def test_the_bound_penalty_pulls_a_mean_back_from_beyond_the_bounds():
    # A mean at 4 on a [-1, 1] axis: every sample is clipped to 1, so the policy gradient has
    # nothing that pulls it back. With action_bound_coef the loss rises by coef * 3^2, and its
    # gradient points the mean back inside.
    from a3c.loss import rollout_loss
    from a3c.rollout import Rollout

    torch.manual_seed(0)
    dist = distribution_for(gym.spaces.Box(-1.0, 1.0, shape=(1,)))
    model = ActorCritic((2,), dist, hidden_sizes=(8,))
    with torch.no_grad():
        model.policy_head.weight.zero_()
        model.policy_head.bias.fill_(4.0)
    rollout = Rollout.allocate(3, 2, (2,), torch.float32, dist, 0)
    rollout.obs.normal_()
    rollout.actions.fill_(1.0)
    rollout.rewards.normal_()
    from fakes import loss_settings

    settings = dict(gamma=0.9, value_coef=0.5, entropy_coef=0.0)
    plain = rollout_loss(model, dist, rollout, loss_settings(**settings))
    bounded = rollout_loss(model, dist, rollout, loss_settings(**settings, action_bound_coef=0.1))
    torch.testing.assert_close(bounded.total - plain.total, torch.tensor(0.1 * 9.0))
    model.zero_grad()
    (bounded.total - plain.total).backward()
    torch.testing.assert_close(model.policy_head.bias.grad, torch.tensor([0.1 * 2 * 3.0]))  # d/dm c (m - 1)^2


def test_state_dependent_std_comes_from_the_head_and_is_bounded():
    dist = DiagGaussian(2)
    model = ActorCritic((3,), dist, hidden_sizes=(8,), state_dependent_std=True, log_std_init=-1.0)
    assert model.log_std is None and model.policy_head.out_features == 4
    params, _, _ = model(torch.zeros(5, 3))
    torch.testing.assert_close(params[:, 2:], torch.full((5, 2), -1.0))  # the initial log std, everywhere
    with torch.no_grad():
        model.policy_head.bias[2:] = 50.0
    params, _, _ = model(torch.zeros(1, 3))
    assert params[0, 2:].max().item() == LOG_STD_MAX and LOG_STD_MIN < LOG_STD_MAX
    free = ActorCritic((3,), dist, hidden_sizes=(8,), log_std_init=-2.0)
    torch.testing.assert_close(free.log_std.detach(), torch.full((2,), -2.0))


def test_a_separate_critic_shares_no_parameter_with_the_policy():
    torch.manual_seed(0)
    model = ActorCritic((3,), DiagGaussian(2), hidden_sizes=(8,), separate_critic=True)
    params, value, _ = model(torch.randn(4, 3))
    value.sum().backward()
    assert all(p.grad is None or not p.grad.any() for p in model.torso.parameters())
    assert model.policy_head.weight.grad is None and model.log_std.grad is None
    assert all(p.grad is not None and p.grad.any() for p in model.critic_torso.parameters())
    model.zero_grad()
    params.sum().backward()
    assert all(p.grad is None or not p.grad.any() for p in model.critic_torso.parameters())
    # The sequence path gives the values the step path does.
    obs = torch.randn(3, 2, 3)
    _, values = model.forward_sequence(obs, None, torch.zeros(3, 2))
    torch.testing.assert_close(values, model(obs.reshape(6, 3))[1].reshape(3, 2))
    shared = ActorCritic((3,), DiagGaussian(2), hidden_sizes=(8,))
    assert shared.critic_torso is None


def test_a_separate_critic_clips_its_own_gradients_when_asked():
    # Policy gradients (every parameter outside the critic) of norm 3, critic gradients of norm 4.
    model = ActorCritic((3,), DiagGaussian(2), hidden_sizes=(8,), separate_critic=True)
    critic = {id(p) for p in model.critic_parameters()}
    assert critic and critic == {id(p) for p in [*model.critic_torso.parameters(), *model.value_head.parameters()]}

    def set_grads():
        for p in model.parameters():
            p.grad = torch.zeros_like(p)
        policy_first = next(p for p in model.parameters() if id(p) not in critic)
        policy_first.grad.view(-1)[0] = 3.0
        model.value_head.bias.grad[0] = 4.0

    def norm(params):
        return float(torch.linalg.vector_norm(torch.cat([p.grad.reshape(-1) for p in params])))

    policy = [p for p in model.parameters() if id(p) not in critic]
    set_grads()
    total = clip_gradients(model, 1.0, 2.0)
    assert float(total) == pytest.approx(5.0)  # the norm before clipping, over both
    assert norm(policy) == pytest.approx(1.0) and norm(model.critic_parameters()) == pytest.approx(2.0)
    set_grads()
    total = clip_gradients(model, 1.0)  # one clip over both: 5 -> 1, the policy's share 3/5
    assert float(total) == pytest.approx(5.0)
    assert norm(policy) == pytest.approx(0.6) and norm(model.critic_parameters()) == pytest.approx(0.8)
    with pytest.raises(ValueError, match="separate critic"):
        clip_gradients(ActorCritic((3,), DiagGaussian(2), hidden_sizes=(8,)), 1.0, 2.0)


def test_a_separate_critic_is_refused_where_it_cannot_be_built():
    with pytest.raises(UserError, match="separate_critic=true is for feed-forward MLP.*torso minatar"):
        ActorCritic((4, 10, 10), DiagGaussian(2), separate_critic=True)
    with pytest.raises(UserError, match="separate_critic=true.*recurrent=True"):
        ActorCritic((3,), DiagGaussian(2), recurrent=True, separate_critic=True)


def test_an_auxiliary_value_head_needs_a_critic_of_its_own():
    with pytest.raises(UserError, match="aux_value_coef > 0 needs separate_critic=true"):
        ActorCritic((3,), DiagGaussian(2), aux_value=True)
    assert ActorCritic((3,), DiagGaussian(2), separate_critic=True, aux_value=True).aux_value_head is not None
    assert ActorCritic((3,), DiagGaussian(2), separate_critic=True).aux_value_head is None
