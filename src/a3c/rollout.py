"""Rollout: the fixed-shape record of t_max steps of N envs, and the one writer that fills it.

Every engine trains on the same Rollout through `loss.rollout_loss`, and every wiring fills its
rollouts and GA3C segments with the same RolloutWriter; only the link it acts through differs
(acting.py: a local network, or a GA3C agent's mailbox to the predictors).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, fields

import numpy as np
import torch

from a3c.acting import ActorLink
from a3c.distributions import Distribution
from a3c.envs import EnvBatch, EpisodeStats
from a3c.models import State


@dataclass
class Rollout:
    # T = t_max steps, N = envs. obs holds T + 1 rows: row T is s_T, the bootstrap state.
    obs: torch.Tensor  # [T+1, N, *obs_shape]
    starts: torch.Tensor  # [T+1, N] 1.0 where obs[t] begins an episode (LSTM state resets; not at a lost life)
    actions: torch.Tensor  # [T, N, *action_shape]
    rewards: torch.Tensor  # [T, N]
    terminated: torch.Tensor  # [T, N] 1.0 where the episode terminated after step t
    truncated: torch.Tensor  # [T, N] 1.0 where it was cut by a time limit after step t
    truncation_values: torch.Tensor  # [T, N] V(final obs) where truncated, else 0
    behaviour_log_probs: torch.Tensor  # [T, N] log mu(a_t|s_t) of the policy that acted
    h0: torch.Tensor  # [N, H] LSTM state before obs[0] (H = 0 for feed-forward models)
    c0: torch.Tensor  # [N, H]

    @classmethod
    def allocate(cls, t_max: int, n_envs: int, obs_shape, obs_dtype, dist: Distribution, lstm_size: int = 0):
        f32 = torch.float32
        return cls(
            obs=torch.zeros((t_max + 1, n_envs, *obs_shape), dtype=obs_dtype),
            starts=torch.zeros((t_max + 1, n_envs), dtype=f32),
            actions=torch.zeros((t_max, n_envs, *dist.action_shape), dtype=dist.action_dtype),
            rewards=torch.zeros((t_max, n_envs), dtype=f32),
            terminated=torch.zeros((t_max, n_envs), dtype=f32),
            truncated=torch.zeros((t_max, n_envs), dtype=f32),
            truncation_values=torch.zeros((t_max, n_envs), dtype=f32),
            behaviour_log_probs=torch.zeros((t_max, n_envs), dtype=f32),
            h0=torch.zeros((n_envs, lstm_size), dtype=f32),
            c0=torch.zeros((n_envs, lstm_size), dtype=f32),
        )

    @property
    def t_max(self) -> int:
        return self.rewards.shape[0]

    @property
    def n_envs(self) -> int:
        return self.rewards.shape[1]

    @property
    def episode_ends(self) -> torch.Tensor:
        return torch.maximum(self.terminated, self.truncated)

    def initial_state(self) -> State:
        return (self.h0, self.c0) if self.h0.shape[1] > 0 else None

    def tensors(self) -> dict[str, torch.Tensor]:
        return {f.name: getattr(self, f.name) for f in fields(self)}

    def numpy(self) -> dict[str, np.ndarray]:
        """Numpy views of every field, by name: the writer's rows (writing through them costs a
        fraction of the equivalent torch indexing)."""
        return {name: tensor.numpy() for name, tensor in self.tensors().items()}

    def share_memory_(self) -> Rollout:
        for tensor in self.tensors().values():
            tensor.share_memory_()
        return self

    @classmethod
    def concat(cls, rollouts: list[Rollout]) -> Rollout:
        """Join rollouts along the env axis into one batch for a single update."""
        joined = {}
        for f in fields(cls):
            axis = 0 if f.name in ("h0", "c0") else 1
            joined[f.name] = torch.cat([getattr(r, f.name) for r in rollouts], dim=axis)
        return cls(**joined)


def take_batch(pending: list, max_train_batch: int) -> tuple[list, list]:
    """(the segments of one GA3C update, the rest): a backlog joins the batch rather than growing
    staler waiting for the next one, up to max_train_batch segments (0: all of it), oldest first.
    The caller has checked that at least train_batch segments wait."""
    cap = max_train_batch or len(pending)
    return pending[:cap], pending[cap:]


class RolloutWriter:
    """The one writer of experience: steps an EnvBatch with the actions its link chose (acting.py)
    and writes each step as one row of a rollout: a Rollout's numpy views (Rollout.numpy()) or a
    GA3C segment slot's. Every wiring fills its rollouts and segments with it; only the link differs.

    The observations of the next step are posted with the final observations of the episodes this
    step cut, so a GA3C agent has both answered in one round trip; the last step of a rollout posts
    the next rollout's obs[0], whose initial state is read just before."""

    def __init__(self, envs: EnvBatch, link: ActorLink):
        self.envs, self.link = envs, link
        self.obs = envs.reset()
        self.starts = np.ones(envs.n, dtype=np.float32)  # a (re)started actor begins every episode afresh
        self.h0, self.c0 = link.initial_state(self.starts)
        self.acting = link.post(self.obs, self.starts, {}) is not None  # False: told to stop

    def fill(self, rows: dict[str, np.ndarray], versions: np.ndarray | None = None) -> list[EpisodeStats] | None:
        """Write t_max steps into rows (Rollout's fields by name; t_max = their length) and, given
        versions [T], the policy version of each step. Returns the episodes that ended, or None when
        the link was told to stop mid-way (the partial rollout is then worthless)."""
        if not self.acting:
            return None
        envs, link = self.envs, self.link
        t_max = len(rows["rewards"])
        rows["h0"][:], rows["c0"][:] = self.h0, self.c0
        finished: list[EpisodeStats] = []
        for t in range(t_max):
            acted = link.act()  # a local model chooses now, with the weights it has now
            rows["obs"][t] = self.obs
            rows["starts"][t] = self.starts
            rows["actions"][t] = acted.actions
            rows["behaviour_log_probs"][t] = acted.log_probs
            if versions is not None:
                versions[t] = acted.version
            step = envs.step(acted.actions)
            rows["rewards"][t] = step.rewards
            rows["terminated"][t] = step.terminated
            rows["truncated"][t] = step.truncated
            self.obs, self.starts = step.obs, step.starts
            if t == t_max - 1:  # the next rollout's obs[0] is posted now: the state it goes in with is this one
                self.h0, self.c0 = link.initial_state(self.starts)
            final_values = link.post(self.obs, self.starts, step.final_obs)
            if final_values is None:
                self.acting = False
                return None
            rows["truncation_values"][t] = 0.0
            if step.final_obs:
                # A time limit is not the end of the task: the cut-off state is valued and bootstraps.
                rows["truncation_values"][t, sorted(step.final_obs)] = final_values
            finished.extend(step.episodes)
        rows["obs"][t_max] = self.obs  # s_T, the bootstrap state; its action starts the next rollout
        rows["starts"][t_max] = self.starts
        return finished


class RolloutCollector:
    """A Rollout buffer of its own, refilled t_max steps at a time by a RolloutWriter: what A3C
    workers and Ray's EnvRunners train on or ship (engines/a3c_step.local_collector builds one
    over a local model)."""

    def __init__(
        self,
        envs: EnvBatch,
        link: ActorLink,
        dist: Distribution,
        t_max: int,
        observe: Callable[[torch.Tensor], None] | None = None,
    ):
        self.writer = RolloutWriter(envs, link)
        self.observe = observe  # sees each rollout's observations [T*N, ...]: running normalization statistics
        self.buffer = Rollout.allocate(t_max, envs.n, envs.obs_shape, envs.obs_dtype, dist, link.state_size)
        self.rows = self.buffer.numpy()

    def collect(self) -> tuple[Rollout, list[EpisodeStats]]:
        buf = self.buffer
        with torch.no_grad():
            finished = self.writer.fill(self.rows)
        assert finished is not None  # a local link is never told to stop
        if self.observe is not None:  # rows 0..T-1: row T comes back as the next rollout's row 0
            self.observe(buf.obs[: buf.t_max].flatten(0, 1))
        return buf, finished
