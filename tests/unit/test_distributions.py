"""distributions.py against hand values and closed forms, and the entropy of bounded Gaussians
(clipped or tanh-squashed) against a quadrature and a histogram of the actions."""

import math

import gymnasium as gym
import numpy as np
import pytest
import torch

from a3c.distributions import Categorical, DiagGaussian, distribution_for
from a3c.errors import UserError


def test_categorical_log_prob_and_entropy_by_hand():
    # logits [0, ln 3] -> softmax [1/4, 3/4]
    dist = Categorical(2)
    logits = torch.tensor([[0.0, math.log(3.0)], [0.0, math.log(3.0)]])
    got = dist.log_prob(logits, torch.tensor([0, 1]))
    torch.testing.assert_close(got, torch.tensor([math.log(0.25), math.log(0.75)]))
    # H = -(1/4 ln 1/4 + 3/4 ln 3/4) = 0.5623351...
    expected_entropy = -(0.25 * math.log(0.25) + 0.75 * math.log(0.75))
    torch.testing.assert_close(dist.entropy(logits), torch.full((2,), expected_entropy))
    assert expected_entropy == pytest.approx(0.5623351446, abs=1e-9)


def test_categorical_uniform_entropy_is_log_n():
    assert Categorical(4).entropy(torch.zeros(1, 4)).item() == pytest.approx(math.log(4))


def test_categorical_log_prob_shifts_with_logits_invariance():
    # Adding a constant to every logit changes nothing: softmax is shift-invariant.
    dist = Categorical(3)
    logits = torch.tensor([[0.3, -1.2, 2.0]])
    action = torch.tensor([2])
    torch.testing.assert_close(dist.log_prob(logits + 5.0, action), dist.log_prob(logits, action))


def test_categorical_sampling_frequencies_match_probs():
    # logits ln [0.1, 0.2, 0.7] -> probs [0.1, 0.2, 0.7]; 20000 draws, std of a frequency <= 0.0033.
    torch.manual_seed(0)
    dist = Categorical(3)
    logits = torch.log(torch.tensor([0.1, 0.2, 0.7])).expand(20_000, 3)
    actions = dist.sample(logits)
    assert actions.shape == (20_000,) and actions.dtype == torch.int64
    freq = torch.bincount(actions, minlength=3).float() / actions.numel()
    torch.testing.assert_close(freq, torch.tensor([0.1, 0.2, 0.7]), atol=0.015, rtol=0)


def test_categorical_sampling_never_picks_an_impossible_action():
    torch.manual_seed(1)
    logits = torch.tensor([0.0, -1e9, 0.0]).expand(5000, 3)
    assert not (Categorical(3).sample(logits) == 1).any()


def test_categorical_mode_is_argmax():
    logits = torch.tensor([[0.1, 2.0, -1.0], [3.0, 0.0, 0.0], [-5.0, -4.0, -3.0]])
    assert Categorical(3).mode(logits).tolist() == [1, 0, 2]


def test_diag_gaussian_log_prob_and_entropy_closed_form():
    # params = [mean | log_std]: mean (0, 1), std (1, 2); action (1, 3) -> z = (1, 1).
    dist = DiagGaussian(2)
    params = torch.tensor([[0.0, 1.0, 0.0, math.log(2.0)]])
    action = torch.tensor([[1.0, 3.0]])
    # log N = sum_i (-z_i^2 / 2 - ln std_i - ln(2 pi) / 2) = -1 - ln 2 - ln(2 pi)
    expected = -1.0 - math.log(2.0) - math.log(2 * math.pi)
    assert dist.log_prob(params, action).item() == pytest.approx(expected, abs=1e-5)
    # H = sum_i (ln std_i + ln(2 pi e) / 2) = ln 2 + ln(2 pi e)
    assert dist.entropy(params).item() == pytest.approx(math.log(2.0) + math.log(2 * math.pi * math.e), abs=1e-5)
    # the same numbers from torch's own Normal, an independent reference
    normal = torch.distributions.Normal(torch.tensor([0.0, 1.0]), torch.tensor([1.0, 2.0]))
    assert dist.log_prob(params, action).item() == pytest.approx(normal.log_prob(action).sum().item(), abs=1e-5)


def test_diag_gaussian_sample_statistics_and_mode():
    torch.manual_seed(0)
    dist = DiagGaussian(2)
    params = torch.tensor([[-1.0, 3.0, math.log(0.5), math.log(2.0)]]).expand(20_000, 4)
    samples = dist.sample(params)
    assert samples.shape == (20_000, 2)
    torch.testing.assert_close(samples.mean(0), torch.tensor([-1.0, 3.0]), atol=0.05, rtol=0)
    torch.testing.assert_close(samples.std(0), torch.tensor([0.5, 2.0]), atol=0.05, rtol=0)
    torch.testing.assert_close(dist.mode(params[:1]), torch.tensor([[-1.0, 3.0]]))


def test_distribution_for_discrete_and_box():
    cat = distribution_for(gym.spaces.Discrete(3))
    assert isinstance(cat, Categorical) and cat.n == 3 and cat.param_size == 3 and cat.action_shape == ()
    gauss = distribution_for(gym.spaces.Box(-1.0, 1.0, shape=(2,), dtype=np.float32))
    # the head outputs a mean and a log std per dimension
    assert isinstance(gauss, DiagGaussian) and gauss.dim == 2 and gauss.param_size == 4
    assert gauss.action_shape == (2,)


@pytest.mark.parametrize("space", [
    gym.spaces.MultiDiscrete([2, 3]),
    gym.spaces.MultiBinary(4),
    gym.spaces.Box(-3, 3, shape=(2,), dtype=np.int64),  # integer Box: no Gaussian fits
    gym.spaces.Discrete(3, start=1),  # actions 1..3: a Categorical would hand out 0..2
])
def test_distribution_for_unsupported_space_is_a_user_error(space):
    with pytest.raises(UserError, match="unsupported action space.*Allowed: Discrete"):
        distribution_for(space)


# ----- the entropy bonus of a bounded Gaussian (issue 23) -----


def _params(mean: float, log_std: float) -> torch.Tensor:
    return torch.tensor([[mean, log_std]], dtype=torch.float32)


def _histogram_entropy(samples: np.ndarray, low: float, high: float, bins: int = 4000) -> float:
    """Differential entropy of samples on [low, high] from a fine histogram (a check that knows
    nothing of Gaussians or tanh)."""
    counts, edges = np.histogram(samples, bins=bins, range=(low, high))
    p = counts / counts.sum()
    width = edges[1] - edges[0]
    nonzero = p > 0
    return float(-(p[nonzero] * np.log(p[nonzero] / width)).sum())


def _quadrature_entropy(mean: float, std: float, half: float) -> float:
    """-E[log p(a)] for a = half * tanh(u), u ~ N(mean, std), by quadrature over u."""
    u = np.linspace(mean - 12 * std, mean + 12 * std, 400_001)
    density = np.exp(-0.5 * ((u - mean) / std) ** 2) / (std * math.sqrt(2 * math.pi))
    log_p_action = np.log(density + 1e-300) - np.log(half * (1 - np.tanh(u) ** 2) + 1e-300)
    return float(-(density * log_p_action).sum() * (u[1] - u[0]))


@pytest.mark.parametrize("log_std", [-1.0, 0.0, 1.0])
def test_the_tanh_entropy_is_that_of_the_squashed_actions(log_std):
    torch.manual_seed(0)
    dist = DiagGaussian(1, "tanh", np.array([-2.0]), np.array([2.0]))
    estimate = dist.entropy(_params(0.3, log_std).expand(200_000, 2)).mean().item()
    assert estimate == pytest.approx(_quadrature_entropy(0.3, math.exp(log_std), 2.0), abs=0.01)
    if log_std <= 0:  # a smooth density: a fine histogram of the actions agrees too
        u = 0.3 + math.exp(log_std) * np.random.default_rng(1).standard_normal(2_000_000)
        assert estimate == pytest.approx(_histogram_entropy(2.0 * np.tanh(u), -2.0, 2.0), abs=0.02)


def test_a_bounded_gaussians_entropy_stops_rewarding_spread_that_piles_onto_the_bounds():
    torch.manual_seed(0)
    tanh = DiagGaussian(1, "tanh", np.array([-1.0]), np.array([1.0]))
    entropies = [tanh.entropy(_params(0.0, s).expand(100_000, 2)).mean().item() for s in (-1.0, 0.0, 1.0, 2.0)]
    assert entropies[0] < entropies[1] and entropies[1] > entropies[2] > entropies[3]  # peaks, then falls
    clip = DiagGaussian(1, "clip", np.array([-1.0]), np.array([1.0]))
    at_half_width = clip.entropy(_params(0.0, 0.0)).item()  # std 1 = the half-width of [-1, 1]
    assert clip.entropy(_params(0.0, 2.0)).item() == pytest.approx(at_half_width)
    log_std = torch.tensor([[0.0, 3.0]], requires_grad=True)
    clip.entropy(log_std).sum().backward()
    assert log_std.grad[0, 1].item() == 0.0  # no push toward a wider spread
    unbounded = DiagGaussian(1, "clip", np.array([-np.inf]), np.array([np.inf]))
    assert unbounded.entropy(_params(0.0, 2.0)).item() == pytest.approx(2.0 + 0.5 * math.log(2 * math.pi * math.e))
