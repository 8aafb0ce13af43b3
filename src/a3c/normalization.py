"""Running statistics for normalizing observations and rewards, and their one owner.

The math is three pure functions on `Moments` (count, mean, M2 = sum of squared deviations):
`batch_moments`, `merge_moments` (Chan et al.'s parallel update, exact for any split of the
data) and `moments_to_mean_var`. Where the statistics are kept:

- `ObsNormalizer` and `ReturnNormalizer` sit on the model: their buffers hold the totals, so
  they are saved in every checkpoint, restored on resume, and (the observation normalizer's)
  applied, frozen, at evaluation. Each env group's `ReturnScaler` divides its rewards by the
  running standard deviation of the discounted return (as Stable-Baselines3's VecNormalize
  does, whose statistics are likewise one set, saved with the model).
- `Statistics` owns them while a run trains (SB3's VecNormalize again: one object owns the
  observation and return statistics). The engine makes it, naming which of its roles write
  which statistics and how many of each it may run; the owner numbers the rows of a shared
  float64 table (`MomentsTable`) for each, hands each role a `StatisticsWriter`, and publishes
  the totals into the model's buffers. One writer per row means no lock: a writer killed
  mid-update can leave only its own row stale, never block another process.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Protocol

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
    a checkpoint restored)."""

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

    def forward(self, obs: torch.Tensor) -> torch.Tensor:
        return ((obs - self.mean) * torch.rsqrt(self.var + self.eps)).clamp_(-self.clip, self.clip)

    def saved(self) -> Moments:
        """The buffers as moments (flat): what a checkpoint restored, which a run's statistics continue."""
        count = float(self.count)
        return Moments(
            count,
            self.mean.double().reshape(-1).cpu().numpy(),
            self.var.double().reshape(-1).cpu().numpy() * count,
        )

    @torch.no_grad()
    def set_totals(self, total: Moments) -> None:
        """The statistics that acting and training read, and checkpoints save (none yet: unchanged)."""
        if total.count == 0:
            return
        mean, var = moments_to_mean_var(total)
        self.mean.copy_(torch.from_numpy(mean.reshape(self.shape)))
        self.var.copy_(torch.from_numpy(var.reshape(self.shape)))
        self.count.fill_(total.count)


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

    def saved(self) -> Moments:
        count, mean, m2 = float(self.count), self.mean.detach().cpu().numpy(), self.m2.detach().cpu().numpy()
        return Moments(count, mean.copy(), m2.copy())

    @torch.no_grad()
    def set_totals(self, total: Moments) -> None:
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


class _Buffers(Protocol):
    """Where totals are published: ObsNormalizer or ReturnNormalizer."""

    def saved(self) -> Moments: ...

    def set_totals(self, total: Moments) -> None: ...


class StatisticsRow:
    """One writer's row of one kind of statistics (observations or returns): it adds to its own
    row and reads the totals of every row. A row with `buffers` (observations, which acting
    reads) publishes the totals into the model's buffers itself; the return statistics are read
    from the table by each env group's ReturnScaler and published by the owner, so a row that an
    agent process takes with it carries no model tensors (on the GPU, in GA3C)."""

    def __init__(self, table: MomentsTable, index: int, buffers: _Buffers | None = None):
        self.table, self.index, self.buffers = table, index, buffers

    def add(self, moments: Moments) -> None:
        self.table.merge(self.index, moments)

    def observe(self, x: np.ndarray | torch.Tensor) -> None:
        """Add a batch of samples [B, ...] (a rollout's observations), then publish the totals."""
        self.add(batch_moments(x.numpy() if isinstance(x, torch.Tensor) else x))
        self.publish()

    def publish(self) -> None:
        """The totals of every row into the model's buffers. Writers that publish at once write
        nearly equal values; a mix of two is still a valid normalization."""
        if self.buffers is None:
            raise RuntimeError("this statistics row has no buffers to publish to: its owner publishes them")
        self.buffers.set_totals(self.table.totals())

    def variance(self) -> float:
        """The variance of the totals' first element: the return scaler's scale."""
        return float(moments_to_mean_var(self.table.totals())[1][0])


class StatisticsWriter:
    """What one role writes: its row of the observation statistics and of the return statistics,
    each None where the role keeps none or the run does not normalize it."""

    def __init__(self, obs: StatisticsRow | None = None, returns: StatisticsRow | None = None):
        self.obs, self.returns = obs, returns

    @property
    def observe(self) -> Callable[[torch.Tensor], None] | None:
        """For RolloutCollector(observe=...): None when this role keeps no observation statistics."""
        return None if self.obs is None else self.obs.observe


class _Kind:
    """One kind of statistics: its table, the rows of each role in it, where its totals go."""

    def __init__(self, buffers: _Buffers, roles: Mapping[str, int], writers_publish: bool):
        self.buffers, self.writers_publish = buffers, writers_publish
        self.first: dict[str, tuple[int, int]] = {}  # role -> (its first row, how many it has)
        rows = 0
        for role, count in roles.items():
            self.first[role] = (rows, count)
            rows += count
        base = buffers.saved()  # what a checkpoint restored: a resumed run continues it
        self.table = MomentsTable(base.mean.size, rows, base)

    def row(self, role: str, index: int) -> StatisticsRow | None:
        if role not in self.first:
            return None
        first, count = self.first[role]
        if not 0 <= index < count:
            raise IndexError(f"{role} {index} of the {count} this run's statistics have rows for")
        return StatisticsRow(self.table, first + index, self.buffers if self.writers_publish else None)

    def publish(self) -> None:
        self.buffers.set_totals(self.table.totals())


class Statistics:
    """The run's one owner of normalization statistics. The engine makes it, beside itself, from
    its roles: which write observation statistics and which return statistics, and the most of
    each it may run; for example GA3C's

        Statistics(model, observations={"trainer": 4}, returns={"agent": 16})

    The owner numbers the rows; `writer(role, index)` is that role's handle on them, which goes
    with the role to whichever process or thread runs it. `publish()` puts the totals into the model's buffers (before a
    checkpoint is written, and on Ray before the weights go out with them). Without the model's
    normalizers (normalize_obs, normalize_reward off) it keeps nothing and every writer is empty."""

    def __init__(self, model, observations: Mapping[str, int] | None = None, returns: Mapping[str, int] | None = None):
        obs_norm, reward_norm = getattr(model, "obs_norm", None), getattr(model, "reward_norm", None)
        # Observation writers publish at once (acting reads the buffers); return totals are read
        # from the table (StatisticsRow.variance), and published here.
        self.obs = None if obs_norm is None else _Kind(obs_norm, observations or {}, writers_publish=True)
        self.returns = None if reward_norm is None else _Kind(reward_norm, returns or {}, writers_publish=False)

    def writer(self, role: str, index: int) -> StatisticsWriter:
        return StatisticsWriter(
            None if self.obs is None else self.obs.row(role, index),
            None if self.returns is None else self.returns.row(role, index),
        )

    def publish(self) -> None:
        for kind in (self.obs, self.returns):
            if kind is not None:
                kind.publish()


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
        stats: StatisticsRow | LocalReturnStats | None = None,
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
