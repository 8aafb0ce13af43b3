"""Running statistics for normalizing observations and rewards.

The math is three pure functions on moments (count, mean, M2 = sum of squared deviations):
`batch_moments`, `merge_moments` (Chan et al.'s parallel update, exact for any split of the
data) and `moments_to_mean_var`. Two users:

- `ObsNormalizer`, a module inside the model: its mean and variance are buffers, so they
  are saved in every checkpoint, restored on resume and applied, frozen, at evaluation.
  During training every writer (an A3C worker, a GA3C trainer, the Ray driver for each
  runner) merges its data into its own row of a shared float64 table; `publish` merges
  the rows into the buffers. One writer per row means no lock: a writer killed mid-update
  can leave only its own row stale, never block another process.
- `ReturnScaler`, per env group: rewards divided by the running standard deviation of
  the discounted return (return-based scaling, as Stable-Baselines3's VecNormalize does).
"""

from __future__ import annotations

from typing import Callable, Optional

import numpy as np
import torch
from torch import nn

Moments = tuple[float, np.ndarray, np.ndarray]  # (count, mean, M2), float64


def batch_moments(x: np.ndarray) -> Moments:
    """Moments of the rows of x [B, ...] (one sample per row)."""
    x = np.asarray(x, dtype=np.float64).reshape(x.shape[0], -1)
    mean = x.mean(axis=0)
    return float(x.shape[0]), mean, ((x - mean) ** 2).sum(axis=0)


def merge_moments(a: Moments, b: Moments) -> Moments:
    """Moments of the union of the data behind a and b."""
    n_a, mean_a, m2_a = a
    n_b, mean_b, m2_b = b
    n = n_a + n_b
    if n == 0:
        return a
    delta = mean_b - mean_a
    mean = mean_a + delta * (n_b / n)
    m2 = m2_a + m2_b + delta**2 * (n_a * n_b / n)
    return n, mean, m2


def moments_to_mean_var(m: Moments) -> tuple[np.ndarray, np.ndarray]:
    n, mean, m2 = m
    return mean, (m2 / n if n > 0 else np.ones_like(mean))


class ObsNormalizer(nn.Module):
    """(obs - mean) / sqrt(var + eps), clipped to [-clip, clip], per observation element."""

    def __init__(self, shape, clip: float = 10.0, eps: float = 1e-8):
        super().__init__()
        self.shape, self.clip, self.eps = tuple(shape), clip, eps
        self.register_buffer("mean", torch.zeros(self.shape))
        self.register_buffer("var", torch.ones(self.shape))
        self.register_buffer("count", torch.zeros((), dtype=torch.float64))
        self.rows: Optional[torch.Tensor] = None  # [writers + 1, 1 + 2D] float64: row 0 what was loaded

    def forward(self, obs: torch.Tensor) -> torch.Tensor:
        return ((obs - self.mean) * torch.rsqrt(self.var + self.eps)).clamp_(-self.clip, self.clip)

    # ----- the training side -----
    def attach_writers(self, writers: int) -> None:
        """A shared table with a row per writer, its base row seeded from the buffers (what a
        checkpoint restored), so a resumed run continues its statistics rather than restarting."""
        size = int(np.prod(self.shape))
        rows = torch.zeros((writers + 1, 1 + 2 * size), dtype=torch.float64)
        count = float(self.count)
        if count > 0:
            rows[0, 0] = count
            rows[0, 1:1 + size] = self.mean.double().reshape(-1)
            rows[0, 1 + size:] = self.var.double().reshape(-1) * count
        self.rows = rows.share_memory_()

    def update(self, writer: int, obs: np.ndarray | torch.Tensor) -> None:
        """Merge a batch of observations [B, *shape] into writer's row (only that writer calls this)."""
        self.merge(writer, batch_moments(obs.numpy() if isinstance(obs, torch.Tensor) else obs))

    def merge(self, writer: int, moments: Moments) -> None:
        """Merge moments computed elsewhere (a Ray runner's rollout) into writer's row."""
        if self.rows is None:
            raise RuntimeError("ObsNormalizer.merge before attach_writers")
        row = self.rows[writer + 1].numpy()
        size = (row.shape[0] - 1) // 2
        merged = merge_moments((row[0], row[1:1 + size], row[1 + size:]), moments)
        row[:] = np.concatenate([[merged[0]], merged[1], merged[2]])  # one write of the whole row

    def totals(self) -> Moments:
        rows = self.rows.numpy()
        size = (rows.shape[1] - 1) // 2
        total: Moments = (0.0, np.zeros(size), np.zeros(size))
        for row in rows:
            if row[0] > 0:
                total = merge_moments(total, (row[0], row[1:1 + size], row[1 + size:]))
        return total

    @torch.no_grad()
    def publish(self) -> None:
        """Merge every writer's row into the buffers that acting and training read. Writers that
        publish at once write nearly equal values; a mix of two is still a valid normalization."""
        total = self.totals()
        if total[0] == 0:
            return
        mean, var = moments_to_mean_var(total)
        self.mean.copy_(torch.from_numpy(mean.reshape(self.shape)))
        self.var.copy_(torch.from_numpy(var.reshape(self.shape)))
        self.count.fill_(total[0])


def shared_stats_writer(model, writer: int) -> Optional[Callable[[torch.Tensor], None]]:
    """For RolloutCollector(observe=...): merge a rollout's observations into writer's row of
    model's normalizer and publish the totals; None when the model does not normalize."""
    normalizer = getattr(model, "obs_norm", None)
    if normalizer is None:
        return None

    def observe(obs: torch.Tensor) -> None:
        normalizer.update(writer, obs)
        normalizer.publish()

    return observe


class ReturnScaler:
    """Divides each env's rewards by the running standard deviation of its discounted return.

    The return R_t = gamma * R_{t-1} + r_t restarts at each episode's end; its variance over
    all envs and steps so far sets the scale. Scaled rewards are clipped to [-clip, clip]."""

    def __init__(self, n: int, gamma: float, clip: float = 10.0, eps: float = 1e-8):
        self.gamma, self.clip, self.eps = gamma, clip, eps
        self.returns = np.zeros(n, dtype=np.float64)
        self.moments: Moments = (0.0, np.zeros(1), np.zeros(1))

    def __call__(self, rewards: np.ndarray, ended: np.ndarray) -> np.ndarray:
        self.returns = self.returns * self.gamma + rewards
        self.moments = merge_moments(self.moments, batch_moments(self.returns.reshape(-1, 1)))
        self.returns[ended] = 0.0
        _, var = moments_to_mean_var(self.moments)
        scaled = rewards / np.sqrt(var[0] + self.eps)
        return np.clip(scaled, -self.clip, self.clip).astype(np.float32)
