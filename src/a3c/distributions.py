"""Action distributions behind one interface, as pure functions of the policy head's output.

The acting path calls these on every step, so they work on raw tensors and build no
`torch.distributions` objects. Each distribution says how many numbers the policy head
must output per action (`param_size`) and interprets them:

- Categorical: the numbers are logits, one per discrete action.
- DiagGaussian: the numbers are [mean, log_std], each one per action dimension. The
  model either owns a state-independent log_std parameter and appends it, or outputs it
  from the state (state_dependent_std).

Continuous actions are sampled unbounded ("u") and stored so in rollouts; the env gets
`to_env_actions(u)`: u clipped to the Box bounds (squash "clip"), or squashed into them
with tanh (squash "tanh"). The log-prob is always of what was stored. For tanh it includes
the change-of-variables term -sum log(1 - tanh(u)^2); that term depends on u alone, so it
cancels in the policy gradient and in importance ratios, and makes the log-prob that of
the action the env received (up to the constant log of the bounds' half-widths).
"""

from __future__ import annotations

import math

import gymnasium as gym
import numpy as np
import torch
import torch.nn.functional as F

from a3c.errors import UserError


class Categorical:
    """Softmax policy over `n` discrete actions. Actions are int64 tensors of shape [B]."""

    def __init__(self, n: int):
        self.n = n
        self.param_size = n
        self.action_shape: tuple[int, ...] = ()
        self.action_dtype = torch.int64

    def sample(self, logits: torch.Tensor) -> torch.Tensor:
        # Gumbel-max is one fused pass, cheaper per step than multinomial on small batches.
        noise = torch.empty_like(logits).exponential_().log()
        return (logits - noise).argmax(dim=-1)

    def mode(self, logits: torch.Tensor) -> torch.Tensor:
        return logits.argmax(dim=-1)

    def log_prob(self, logits: torch.Tensor, actions: torch.Tensor) -> torch.Tensor:
        log_p = F.log_softmax(logits, dim=-1)
        return log_p.gather(-1, actions.long().unsqueeze(-1)).squeeze(-1)

    def entropy(self, logits: torch.Tensor) -> torch.Tensor:
        log_p = F.log_softmax(logits, dim=-1)
        return -(log_p.exp() * log_p).sum(dim=-1)

    def kl(self, logits_p: torch.Tensor, logits_q: torch.Tensor) -> torch.Tensor:
        """KL(p || q) = sum_a p(a) (log p(a) - log q(a)), per row."""
        log_p, log_q = F.log_softmax(logits_p, dim=-1), F.log_softmax(logits_q, dim=-1)
        return (log_p.exp() * (log_p - log_q)).sum(dim=-1)


class DiagGaussian:
    """Independent normal per action dimension. Actions are float tensors of shape [B, dim]."""

    def __init__(self, dim: int, squash: str = "clip", low: np.ndarray | None = None, high: np.ndarray | None = None):
        self.dim, self.squash = dim, squash
        # The env's bounds, flattened like the actions (None: unbounded), for mean_bound_excess.
        self.low = None if low is None else torch.as_tensor(np.asarray(low, dtype=np.float32).reshape(dim))
        self.high = None if high is None else torch.as_tensor(np.asarray(high, dtype=np.float32).reshape(dim))
        # log of each bound pair's half-width, for the entropy: fixed with the bounds, so made once.
        self.log_half = None if self.low is None or self.high is None else _log_half_ranges(self.low, self.high)
        self.param_size = 2 * dim
        self.action_shape: tuple[int, ...] = (dim,)
        self.action_dtype = torch.float32

    def _split(self, params: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return params[..., : self.dim], params[..., self.dim :]

    def sample(self, params: torch.Tensor) -> torch.Tensor:
        mean, log_std = self._split(params)
        return mean + log_std.exp() * torch.randn_like(mean)

    def mode(self, params: torch.Tensor) -> torch.Tensor:
        return self._split(params)[0]

    def log_prob(self, params: torch.Tensor, actions: torch.Tensor) -> torch.Tensor:
        mean, log_std = self._split(params)
        z = (actions - mean) / log_std.exp()
        log_p = (-0.5 * z.pow(2) - log_std - 0.5 * math.log(2 * math.pi)).sum(dim=-1)
        if self.squash == "tanh":
            log_p = log_p - tanh_log_det(actions).sum(dim=-1)
        return log_p

    def kl(self, params_p: torch.Tensor, params_q: torch.Tensor) -> torch.Tensor:
        """KL(p || q) of the two Gaussians, summed over dimensions, per row:
        log(s_q / s_p) + (s_p^2 + (m_p - m_q)^2) / (2 s_q^2) - 1/2. Squashing applies the same map
        to both, so for tanh (invertible) it is the KL of the actions too; clipping can only lower it."""
        mean_p, log_std_p = self._split(params_p)
        mean_q, log_std_q = self._split(params_q)
        var_ratio = (2 * (log_std_p - log_std_q)).exp()
        gap = ((mean_p - mean_q) / log_std_q.exp()).pow(2)
        return (log_std_q - log_std_p + 0.5 * (var_ratio + gap) - 0.5).sum(dim=-1)

    def mean_bound_excess(self, params: torch.Tensor) -> torch.Tensor:
        """Per sample, the sum over dimensions of the squared distance by which the mean lies beyond
        the action bounds, in half-ranges of each bound pair (1 where a bound is infinite): 0 inside."""
        mean = self._split(params)[0]
        if self.low is None or self.high is None or self.squash != "clip":
            return mean.new_zeros(mean.shape[:-1])
        return mean_bound_excess(mean, self.low.to(mean.device), self.high.to(mean.device))

    def entropy(self, params: torch.Tensor) -> torch.Tensor:
        """The entropy of the actions the env receives, which peaks at a finite spread.

        The raw Gaussian's entropy grows without bound with log_std, so an entropy bonus on it
        pushes the spread up until nearly every sample lands on (clip) or next to (tanh) the
        action bounds: bang-bang control. Instead:
        - tanh: the squashed distribution's entropy, estimated from one reparameterised sample
          per row, H = H_gauss + E[sum_d log(1 - tanh(u_d)^2) + log half_range_d]; it falls again
          as mass piles up near the bounds and is largest for a near-uniform spread;
        - clip: the Gaussian's entropy with each std capped at its bound pair's half-width (past
          that, more spread only moves mass onto the bounds, so the bonus stops rewarding it);
        - unbounded axes: the Gaussian's own entropy, which is what the env receives.
        """
        mean, log_std = self._split(params)
        per_dim_gauss = 0.5 * math.log(2 * math.pi * math.e)
        if self.log_half is None:
            return (log_std + per_dim_gauss).sum(dim=-1)
        log_half = self.log_half.to(params.device)
        if self.squash == "tanh":
            u = mean + log_std.exp() * torch.randn_like(mean)
            return (log_std + per_dim_gauss + tanh_log_det(u) + log_half).sum(dim=-1)
        return (torch.minimum(log_std, log_half) + per_dim_gauss).sum(dim=-1)


def _log_half_ranges(low: torch.Tensor, high: torch.Tensor) -> torch.Tensor:
    """log((high - low) / 2) per dimension: +inf where a bound is infinite (nothing to cap), 0 for
    a degenerate pair (low == high), which no spread can fill."""
    half = (high - low) / 2
    return torch.where(half > 0, half, torch.ones_like(half)).log()


def mean_bound_excess(mean: torch.Tensor, low: torch.Tensor, high: torch.Tensor) -> torch.Tensor:
    """sum_d (relu(mean - high) + relu(low - mean))^2 / half_range^2 over the last axis."""
    half_range = (high - low) / 2
    half_range = torch.where(torch.isfinite(half_range) & (half_range > 0), half_range, torch.ones_like(half_range))
    beyond = F.relu(mean - high) + F.relu(low - mean)  # an infinite bound is never passed
    return (beyond / half_range).pow(2).sum(dim=-1)


def tanh_log_det(u: torch.Tensor) -> torch.Tensor:
    """log(1 - tanh(u)^2), written so it stays finite for large |u|."""
    return 2.0 * (math.log(2.0) - u - F.softplus(-2.0 * u))


def to_env_actions(actions: np.ndarray, space: gym.Space, squash: str = "clip") -> np.ndarray:
    """Sampled actions [B, ...] as the env takes them: Discrete unchanged; Box actions reshaped to
    the space's shape and clipped to its bounds, or tanh-squashed into them."""
    if not isinstance(space, gym.spaces.Box):
        return actions
    actions = np.asarray(actions, dtype=np.float64).reshape(-1, *space.shape)
    if squash == "tanh":
        low, high = space.low.astype(np.float64), space.high.astype(np.float64)
        return (low + (np.tanh(actions) + 1.0) * 0.5 * (high - low)).astype(space.dtype)
    return np.clip(actions, space.low, space.high).astype(space.dtype)


Distribution = Categorical | DiagGaussian


def distribution_for(action_space: gym.Space, squash: str = "clip") -> Distribution:
    """The distribution that fits a Gymnasium action space, or a UserError naming what is allowed.
    A Box of any shape gets one Gaussian dimension per element (reshaped for the env)."""
    if isinstance(action_space, gym.spaces.Discrete) and int(action_space.start) == 0:
        # Categorical samples 0..n-1; a Discrete(n, start=s) env would get actions off by s.
        return Categorical(int(action_space.n))
    if (
        isinstance(action_space, gym.spaces.Box)
        and action_space.shape
        and np.issubdtype(action_space.dtype, np.floating)
    ):
        if squash == "tanh" and not (np.all(np.isfinite(action_space.low)) and np.all(np.isfinite(action_space.high))):
            raise UserError(
                f"action_squash=tanh squashes actions into the Box bounds, and this env's are not finite: "
                f"{action_space}. Allowed: action_squash = clip (infinite bounds are left unclipped)."
            )
        return DiagGaussian(int(np.prod(action_space.shape)), squash, action_space.low, action_space.high)
    raise UserError(
        f"unsupported action space {action_space}. Allowed: Discrete(n), or a Box of floats for continuous actions."
    )
