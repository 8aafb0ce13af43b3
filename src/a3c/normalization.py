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
- `ReturnNormalizer`, one per run like the observation normalizer (shared rows, saved in
  checkpoints): the running variance of the discounted return, by which each env group's
  `ReturnScaler` divides its rewards (return-based scaling, as Stable-Baselines3's
  VecNormalize does, whose statistics are likewise one set, saved with the model).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn


@dataclass(frozen=True, eq=False)  # fields are arrays: no == or hash by value
class Moments:
    """Running moments of samples, float64: what a writer adds to its row, and what a Ray
    runner's reply carries to the driver."""

    count: float
    mean: np.ndarray  # [D]
    m2: np.ndarray  # [D], the sum of squared deviations from the mean


def batch_moments(x: np.ndarray) -> Moments:
    """Moments of the rows of x [B, ...] (one sample per row)."""
    x = np.asarray(x, dtype=np.float64).reshape(x.shape[0], -1)
    mean = x.mean(axis=0)
    return Moments(float(x.shape[0]), mean, ((x - mean) ** 2).sum(axis=0))


def merge_moments(a: Moments, b: Moments) -> Moments:
    """Moments of the union of the data behind a and b."""
    n_a, mean_a, m2_a = a.count, a.mean, a.m2
    n_b, mean_b, m2_b = b.count, b.mean, b.m2
    n = n_a + n_b
    if n == 0:
        return a
    delta = mean_b - mean_a
    mean = mean_a + delta * (n_b / n)
    m2 = m2_a + m2_b + delta**2 * (n_a * n_b / n)
    return Moments(n, mean, m2)


def moments_to_mean_var(m: Moments) -> tuple[np.ndarray, np.ndarray]:
    return m.mean, (m.m2 / m.count if m.count > 0 else np.ones_like(m.mean))


class MomentsTable:
    """Running moments written by many processes without a lock: a shared float64 table with one
    row (count, mean[D], M2[D]) per writer, and row 0 for the statistics a run started from (what
    a checkpoint restored). One writer per row means a writer killed mid-update can leave only its
    own row stale, never block another process."""

    def __init__(self, size: int, writers: int, base: Moments | None = None):
        self.size = size
        rows = torch.zeros((writers + 1, 1 + 2 * size), dtype=torch.float64)
        if base is not None and base.count > 0:
            rows[0, 0] = base.count
            rows[0, 1 : 1 + size] = torch.from_numpy(np.asarray(base.mean, dtype=np.float64).reshape(-1))
            rows[0, 1 + size :] = torch.from_numpy(np.asarray(base.m2, dtype=np.float64).reshape(-1))
        self.rows = rows.share_memory_()

    @property
    def writers(self) -> int:
        return self.rows.shape[0] - 1

    def merge(self, writer: int, moments: Moments) -> None:
        """Merge moments into writer's row (only that writer calls this)."""
        if not 0 <= writer < self.writers:
            raise IndexError(f"writer {writer} of a table with {self.writers} writer rows")
        row = self.rows[writer + 1].numpy()
        size = self.size
        merged = merge_moments(Moments(row[0], row[1 : 1 + size], row[1 + size :]), moments)
        row[:] = np.concatenate([[merged.count], merged.mean, merged.m2])  # one write of the whole row

    def totals(self) -> Moments:
        """The moments of everything every writer merged, base row included (Chan et al., all rows at once)."""
        rows = self.rows.numpy()
        counts, means, m2s = rows[:, 0], rows[:, 1 : 1 + self.size], rows[:, 1 + self.size :]
        n = float(counts.sum())
        if n == 0:
            return Moments(0.0, np.zeros(self.size), np.zeros(self.size))
        mean = (counts[:, None] * means).sum(axis=0) / n
        m2 = m2s.sum(axis=0) + (counts[:, None] * (means - mean) ** 2).sum(axis=0)
        return Moments(n, mean, m2)


class ObsNormalizer(nn.Module):
    """(obs - mean) / sqrt(var + eps), clipped to [-clip, clip], per observation element."""

    mean: torch.Tensor
    var: torch.Tensor
    count: torch.Tensor

    def __init__(self, shape, clip: float = 10.0, eps: float = 1e-8):
        super().__init__()
        self.shape, self.clip, self.eps = tuple(shape), clip, eps
        self.register_buffer("mean", torch.zeros(self.shape))
        self.register_buffer("var", torch.ones(self.shape))
        self.register_buffer("count", torch.zeros((), dtype=torch.float64))
        self.table: MomentsTable | None = None  # the writers' shared statistics, while training

    def forward(self, obs: torch.Tensor) -> torch.Tensor:
        return ((obs - self.mean) * torch.rsqrt(self.var + self.eps)).clamp_(-self.clip, self.clip)

    # ----- the training side -----
    def attach_writers(self, writers: int) -> None:
        """A shared table with a row per writer, its base row seeded from the buffers (what a
        checkpoint restored), so a resumed run continues its statistics rather than restarting."""
        count = float(self.count)
        base = Moments(
            count,
            self.mean.double().reshape(-1).cpu().numpy(),
            self.var.double().reshape(-1).cpu().numpy() * count,
        )
        self.table = MomentsTable(int(np.prod(self.shape)), writers, base)

    def update(self, writer: int, obs: np.ndarray | torch.Tensor) -> None:
        """Merge a batch of observations [B, *shape] into writer's row (only that writer calls this)."""
        self.merge(writer, batch_moments(obs.numpy() if isinstance(obs, torch.Tensor) else obs))

    def merge(self, writer: int, moments: Moments) -> None:
        """Merge moments computed elsewhere (a Ray runner's rollout) into writer's row."""
        if self.table is None:
            raise RuntimeError("ObsNormalizer.merge before attach_writers")
        self.table.merge(writer, moments)

    def totals(self) -> Moments:
        if self.table is None:
            raise RuntimeError("ObsNormalizer.totals before attach_writers")
        return self.table.totals()

    @torch.no_grad()
    def publish(self) -> None:
        """Merge every writer's row into the buffers that acting and training read. Writers that
        publish at once write nearly equal values; a mix of two is still a valid normalization."""
        total = self.totals()
        if total.count == 0:
            return
        mean, var = moments_to_mean_var(total)
        self.mean.copy_(torch.from_numpy(mean.reshape(self.shape)))
        self.var.copy_(torch.from_numpy(var.reshape(self.shape)))
        self.count.fill_(total.count)


def reward_stats_writer(model, writer: int) -> SharedReturnStats | None:
    """The handle through which writer's env group adds to and reads the run's return statistics
    (make_env_group's reward_stats); None when the model's run does not normalize rewards."""
    normalizer = getattr(model, "reward_norm", None)
    return None if normalizer is None else normalizer.writer(writer)


def shared_stats_writer(model, writer: int) -> Callable[[torch.Tensor], None] | None:
    """For RolloutCollector(observe=...): merge a rollout's observations into writer's row of
    model's normalizer and publish the totals; None when the model does not normalize."""
    normalizer = getattr(model, "obs_norm", None)
    if normalizer is None:
        return None

    def observe(obs: torch.Tensor) -> None:
        normalizer.update(writer, obs)
        normalizer.publish()

    return observe


class ReturnNormalizer(nn.Module):
    """The run's one set of return statistics for normalize_reward: every env group divides its
    rewards by the same running standard deviation of the discounted return, whichever worker,
    agent or Ray runner steps it. Its buffers (count, mean, M2) hold the totals that checkpoints
    save and a resume starts from; it sits on the model only so that they travel with it."""

    count: torch.Tensor
    mean: torch.Tensor
    m2: torch.Tensor

    def __init__(self):
        super().__init__()
        self.register_buffer("count", torch.zeros((), dtype=torch.float64))
        self.register_buffer("mean", torch.zeros(1, dtype=torch.float64))
        self.register_buffer("m2", torch.zeros(1, dtype=torch.float64))
        self.table: MomentsTable | None = None

    def attach_writers(self, writers: int) -> None:
        """A shared row per writer (worker, agent or runner rank), the base row the saved totals."""
        self.table = MomentsTable(1, writers, self.saved())

    def saved(self) -> Moments:
        count, mean, m2 = float(self.count), self.mean.detach().cpu().numpy(), self.m2.detach().cpu().numpy()
        return Moments(count, mean.copy(), m2.copy())

    def writer(self, rank: int) -> SharedReturnStats:
        if self.table is None:
            raise RuntimeError("ReturnNormalizer.writer before attach_writers")
        return SharedReturnStats(self.table, rank)

    @torch.no_grad()
    def publish(self) -> None:
        """Every writer's statistics into the buffers (before a checkpoint is written)."""
        if self.table is None:
            return
        total = self.table.totals()
        self.count.fill_(total.count)
        self.mean.copy_(torch.from_numpy(total.mean))
        self.m2.copy_(torch.from_numpy(total.m2))

    def _load_from_state_dict(
        self, state_dict, prefix, local_metadata, strict, missing_keys, unexpected_keys, error_msgs
    ):
        # Checkpoints written before the statistics were saved lack them: such a resume starts
        # them afresh, as every run did then, instead of refusing the checkpoint.
        if not any(key.startswith(prefix) for key in state_dict):
            return
        super()._load_from_state_dict(
            state_dict, prefix, local_metadata, strict, missing_keys, unexpected_keys, error_msgs
        )


class SharedReturnStats:
    """One writer's handle on a ReturnNormalizer's table: add to its own row, read the run's total."""

    def __init__(self, table: MomentsTable, writer: int):
        self.table, self.writer = table, writer

    def add(self, moments: Moments) -> None:
        self.table.merge(self.writer, moments)

    def variance(self) -> float:
        return float(moments_to_mean_var(self.table.totals())[1][0])


class LocalReturnStats:
    """Return statistics of one env group alone (a Ray runner adds the driver's totals to them)."""

    def __init__(self, base: Moments | None = None):
        self.base: Moments = base if base is not None else Moments(0.0, np.zeros(1), np.zeros(1))
        self.own = Moments(0.0, np.zeros(1), np.zeros(1))  # what this group added since take_own()

    def add(self, moments: Moments) -> None:
        self.own = merge_moments(self.own, moments)

    def variance(self) -> float:
        return float(moments_to_mean_var(merge_moments(self.base, self.own))[1][0])

    def take_own(self) -> Moments:
        """What this group added since the last call (for the driver's table), then forget it."""
        own, self.own = self.own, Moments(0.0, np.zeros(1), np.zeros(1))
        return own

    def set_base(self, base: Moments) -> None:
        """The run's totals as the driver last knew them (what this group sent included)."""
        self.base = base


class ReturnScaler:
    """Divides each env's rewards by the running standard deviation of its discounted return.

    The return R_t = gamma * R_{t-1} + r_t restarts at each episode's end; its variance over
    all envs and steps so far (the run's, through `stats`) sets the scale. Scaled rewards are
    clipped to [-clip, clip]."""

    def __init__(
        self,
        n: int,
        gamma: float,
        stats: SharedReturnStats | LocalReturnStats | None = None,
        clip: float = 10.0,
        eps: float = 1e-8,
    ):
        self.gamma, self.clip, self.eps = gamma, clip, eps
        self.stats = stats if stats is not None else LocalReturnStats()
        self.returns = np.zeros(n, dtype=np.float64)

    def __call__(self, rewards: np.ndarray, ended: np.ndarray) -> np.ndarray:
        self.returns = self.returns * self.gamma + rewards
        self.stats.add(batch_moments(self.returns.reshape(-1, 1)))
        self.returns[ended] = 0.0
        scaled = rewards / np.sqrt(self.stats.variance() + self.eps)
        return np.clip(scaled, -self.clip, self.clip).astype(np.float32)
