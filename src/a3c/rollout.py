"""Rollout: the fixed-shape record of t_max steps of N envs, and the collector that fills it.

Every engine trains on the same Rollout through `loss.rollout_loss`; only who fills it
differs (an A3C worker with its local network, a GA3C agent through the predictors).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, fields

import numpy as np
import torch

from a3c.distributions import Distribution
from a3c.envs import EnvBatch, EpisodeStats
from a3c.models import ActorCritic, State


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


class RolloutCollector:
    """Steps an EnvBatch with a local model for t_max steps at a time (the A3C worker's half)."""

    def __init__(
        self,
        envs: EnvBatch,
        model: ActorCritic,
        dist: Distribution,
        t_max: int,
        observe: Callable[[torch.Tensor], None] | None = None,
    ):
        self.envs, self.model, self.dist = envs, model, dist
        self.observe = observe  # sees each rollout's observations [T*N, ...]: running normalization statistics
        lstm = model.lstm_size if model.recurrent else 0
        self.buffer = Rollout.allocate(t_max, envs.n, envs.obs_shape, envs.obs_dtype, dist, lstm)
        self.obs = torch.as_tensor(envs.reset())
        self.start = torch.ones(envs.n)
        self.state: State = model.initial_state(envs.n)

    @torch.no_grad()
    def collect(self) -> tuple[Rollout, list[EpisodeStats]]:
        buf, model, dist = self.buffer, self.model, self.dist
        finished: list[EpisodeStats] = []
        if self.state is not None:
            buf.h0.copy_(self.state[0])
            buf.c0.copy_(self.state[1])
        for t in range(buf.t_max):
            buf.obs[t] = self.obs
            buf.starts[t] = self.start
            params, _, next_state = model(self.obs, self.state)
            actions = dist.sample(params)
            buf.actions[t] = actions
            buf.behaviour_log_probs[t] = dist.log_prob(params, actions)
            step = self.envs.step(actions.numpy())
            buf.rewards[t] = torch.from_numpy(step.rewards)
            buf.terminated[t] = torch.from_numpy(step.terminated)
            buf.truncated[t] = torch.from_numpy(step.truncated)
            buf.truncation_values[t] = 0.0
            if step.final_obs:
                # A time limit is not the end of the task: value the state it cut off.
                idx = list(step.final_obs)
                final = torch.as_tensor(np.stack([step.final_obs[i] for i in idx]))
                sub_state = None if next_state is None else (next_state[0][idx], next_state[1][idx])
                _, final_values, _ = model(final, sub_state)
                buf.truncation_values[t, idx] = final_values
            finished.extend(step.episodes)
            self.obs = torch.as_tensor(step.obs)
            self.start = torch.from_numpy(step.starts)
            # Most steps end no episode: then the state carries over untouched.
            self.state = _reset_where(next_state, self.start) if step.starts.any() else next_state
        buf.obs[buf.t_max] = self.obs
        buf.starts[buf.t_max] = self.start
        if self.observe is not None:  # rows 0..T-1: row T comes back as the next rollout's row 0
            self.observe(buf.obs[: buf.t_max].flatten(0, 1))
        return buf, finished


def _reset_where(state: State, ended: torch.Tensor) -> State:
    if state is None:
        return None
    keep = (1.0 - ended).unsqueeze(-1)
    return state[0] * keep, state[1] * keep
