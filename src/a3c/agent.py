"""Agent: a trained policy loaded from a checkpoint, for evaluation and use in code."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import torch

from a3c.checkpoint import load_checkpoint
from a3c.config import Config
from a3c.distributions import distribution_for, to_env_actions
from a3c.envs import make_env_with_spec
from a3c.errors import CheckpointError, UserError
from a3c.models import State, build_model


class Agent:
    """A policy that acts on one observation or a batch of them (from a vector env)."""

    def __init__(self, config: Config, model, dist, action_space):
        self.config, self.model, self.dist, self.action_space = config, model, dist, action_space
        self.model.eval()
        self.state: State = model.initial_state(1)
        self.checkpoint: str | None = None  # the checkpoint file it was loaded from
        self.env_steps: int = 0  # training env steps behind that checkpoint
        self.skipped: list[str] = []  # why newer checkpoints of the run were passed over (corrupt)
        self.which = "file"  # which checkpoint of a run it is: best, latest, or file (named directly)
        self.note: str | None = None  # why a run's best was asked for and its latest given

    @classmethod
    def load(cls, path: str | Path, checkpoint: str = "best") -> Agent:
        """The agent of a run directory or checkpoint file. checkpoint: for a run directory, "best"
        (the weights of its best mean, the default: a policy that fell from its peak is not what a
        user wants to keep) or "latest" (the newest checkpoint, where training stopped)."""
        sidecar, model_tensors, _ = load_checkpoint(path, checkpoint)
        try:
            config = Config.from_dict(sidecar["config"])
        except (KeyError, TypeError, UserError) as exc:
            raise CheckpointError(f"checkpoint {sidecar.get('path')} has no valid config: {exc}") from None
        env, spec = make_env_with_spec(config)
        dist = distribution_for(env.action_space, config.action_squash)
        model = build_model(config, spec, dist)
        try:
            model.load_state_dict(model_tensors)
        except RuntimeError as exc:
            raise CheckpointError(f"checkpoint {sidecar.get('path')} does not match its config: {exc}") from None
        action_space = env.action_space
        env.close()
        agent = cls(config, model, dist, action_space)
        agent.checkpoint = sidecar.get("path")
        agent.env_steps = int((sidecar.get("counters") or [0])[0])
        agent.skipped = list(sidecar.get("skipped") or [])
        agent.which = sidecar.get("which", "file")
        agent.note = sidecar.get("fallback")
        return agent

    def describe(self) -> str:
        """Which checkpoint this is, for messages: its path, kind and training steps."""
        return f"{self.checkpoint} ({self.which}, env_steps {self.env_steps:,})"

    def reset(self, batch: int = 1) -> None:
        """Forget the recurrent state: call at the start of each episode (batch: envs acted for)."""
        self.state = self.model.initial_state(batch)

    @torch.no_grad()
    def act(self, obs: Any, deterministic: bool = True) -> Any:
        """The action for one observation, or actions for a batch [B, *obs_shape] (e.g. from
        gym.make_vec): the most likely ones, or samples when not deterministic.

        One observation gives an int (Discrete) or an array (Box); a batch gives an array of B.
        A recurrent agent keeps one state per batch row; a new batch size starts fresh states.
        """
        obs_t = torch.as_tensor(np.asarray(obs))
        single = len(self.model.obs_shape)  # dims of one observation: a batch has one more
        if obs_t.dim() not in (single, single + 1):
            raise UserError(
                f"observation of shape {tuple(obs_t.shape)} does not fit this agent: it takes one observation of "
                f"shape {self.model.obs_shape} or a batch of shape (B, {', '.join(map(str, self.model.obs_shape))})."
            )
        batched = obs_t.dim() == single + 1
        if not batched:
            obs_t = obs_t.unsqueeze(0)
        if obs_t.dtype == torch.float64:
            obs_t = obs_t.float()  # images stay uint8: the model scales them itself
        if self.state is not None and self.state[0].shape[0] != obs_t.shape[0]:
            self.reset(obs_t.shape[0])
        params, _, self.state = self.model(obs_t, self.state)
        action = (self.dist.mode(params) if deterministic else self.dist.sample(params)).numpy()
        action = to_env_actions(action, self.action_space, self.config.action_squash)
        if batched:
            return action
        return int(action[0]) if hasattr(self.action_space, "n") else action[0]
