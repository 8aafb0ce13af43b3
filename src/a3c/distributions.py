"""Action distributions behind one interface, as pure functions of the policy head's output.

The acting path calls these on every step, so they work on raw tensors and build no
`torch.distributions` objects. Each distribution says how many numbers the policy head
must output per action (`param_size`) and interprets them:

- Categorical: the numbers are logits, one per discrete action.
- DiagGaussian: the numbers are means, one per action dimension; the log standard
  deviation is a state-independent parameter the model owns and appends, so the head
  output seen here is [mean, log_std] of size 2 * action_dim.
"""

from __future__ import annotations

import math

import gymnasium as gym
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


class DiagGaussian:
    """Independent normal per action dimension. Actions are float tensors of shape [B, dim]."""

    def __init__(self, dim: int):
        self.dim = dim
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
        return (-0.5 * z.pow(2) - log_std - 0.5 * math.log(2 * math.pi)).sum(dim=-1)

    def entropy(self, params: torch.Tensor) -> torch.Tensor:
        _, log_std = self._split(params)
        return (log_std + 0.5 * math.log(2 * math.pi * math.e)).sum(dim=-1)


Distribution = Categorical | DiagGaussian


def distribution_for(action_space: gym.Space) -> Distribution:
    """The distribution that fits a Gymnasium action space, or a UserError naming what is allowed."""
    if isinstance(action_space, gym.spaces.Discrete) and int(action_space.start) == 0:
        # Categorical samples 0..n-1; a Discrete(n, start=s) env would get actions off by s.
        return Categorical(int(action_space.n))
    if isinstance(action_space, gym.spaces.Box) and len(action_space.shape) == 1:
        return DiagGaussian(int(action_space.shape[0]))
    raise UserError(
        f"unsupported action space {action_space}. Allowed: Discrete(n), or a 1-D Box for continuous actions."
    )
