"""Agent: a trained policy loaded from a checkpoint, for evaluation and use in code."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import torch

from a3c.checkpoint import load_checkpoint
from a3c.config import Config
from a3c.distributions import distribution_for, to_env_actions
from a3c.envs import make_env, make_env_with_spec, user_observations
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
        # Observations as the user's own env gives them (e.g. MinAtar's [10, 10, C] bool grids),
        # and how to turn one into what the model takes ([C, 10, 10] bytes); None: no change needed.
        self.raw_shape: tuple[int, ...] = tuple(model.obs_shape)
        self._convert = None

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
        raw_shape, convert = user_observations(config)
        if raw_shape is not None and convert is not None:
            agent.raw_shape, agent._convert = raw_shape, convert
        agent.checkpoint = sidecar.get("path")
        agent.env_steps = int((sidecar.get("counters") or [0])[0])
        agent.skipped = list(sidecar.get("skipped") or [])
        agent.which = sidecar.get("which", "file")
        agent.note = sidecar.get("fallback")
        return agent

    def make_env(self, render_mode: str | None = None):
        """The env as training saw it (Atari: the papers' preprocessing and frame stack; images
        channels-first): its observations go to act() as they are."""
        return make_env(self.config, render_mode)

    def describe(self) -> str:
        """Which checkpoint this is, for messages: its path, kind and training steps."""
        return f"{self.checkpoint} ({self.which}, env_steps {self.env_steps:,})"

    def reset(self, batch: int = 1) -> None:
        """Forget the recurrent state: call at the start of each episode (batch: envs acted for)."""
        self.state = self.model.initial_state(batch)

    def _model_batch(self, obs: np.ndarray) -> tuple[torch.Tensor, bool]:
        """obs (one or a batch, as the model takes them or as the env gives them) -> ([B, *obs_shape],
        whether obs was a batch)."""
        model_shape, raw_shape = tuple(self.model.obs_shape), self.raw_shape
        for shape, convert in ((model_shape, None), (raw_shape, self._convert)):
            if obs.shape[-len(shape) :] == shape and obs.ndim in (len(shape), len(shape) + 1):
                batched = obs.ndim == len(shape) + 1
                rows = obs if batched else obs[None]
                if convert is not None and shape != model_shape:
                    rows = np.stack([convert(row) for row in rows])
                return torch.as_tensor(rows), batched
        shapes = f"{model_shape}" + (f" (or {raw_shape}, as the env gives them)" if raw_shape != model_shape else "")
        raise UserError(
            f"observation of shape {obs.shape} does not fit this agent: it takes one observation of shape "
            f"{shapes}, or a batch of them with a leading axis. Observations of another form (e.g. Atari's "
            "raw frames) go through the env training used: agent.make_env()."
        )

    @torch.no_grad()
    def act(self, obs: Any, deterministic: bool = True) -> Any:
        """The action for one observation, or actions for a batch [B, *obs_shape] (e.g. from
        gym.make_vec): the most likely ones, or samples when not deterministic.

        Observations may come as the model takes them (from `make_env()`) or straight from the
        env's own id (e.g. MinAtar's [10, 10, C] bool grids, turned channels-first here).
        One observation gives an int (Discrete) or an array (Box); a batch gives an array of B.
        A recurrent agent keeps one state per batch row; a new batch size starts fresh states.
        """
        obs_t, batched = self._model_batch(np.asarray(obs))
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
