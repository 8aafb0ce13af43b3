"""Agent: a trained policy loaded from a checkpoint, for evaluation and use in code."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import torch

from a3c.checkpoint import load_checkpoint
from a3c.config import Config
from a3c.distributions import distribution_for
from a3c.envs import make_env_with_spec
from a3c.errors import CheckpointError, UserError
from a3c.models import State, build_model


class Agent:
    def __init__(self, config: Config, model, dist, action_space):
        self.config, self.model, self.dist, self.action_space = config, model, dist, action_space
        self.model.eval()
        self.state: State = model.initial_state(1)

    @classmethod
    def load(cls, path: str | Path) -> "Agent":
        sidecar, model_tensors, _ = load_checkpoint(path)
        try:
            config = Config.from_dict(sidecar["config"])
        except (KeyError, TypeError, UserError) as exc:
            raise CheckpointError(f"checkpoint {sidecar.get('path')} has no valid config: {exc}") from None
        env, spec = make_env_with_spec(config)
        dist = distribution_for(env.action_space)
        model = build_model(config, spec, dist)
        try:
            model.load_state_dict(model_tensors)
        except RuntimeError as exc:
            raise CheckpointError(f"checkpoint {sidecar.get('path')} does not match its config: {exc}") from None
        action_space = env.action_space
        env.close()
        return cls(config, model, dist, action_space)

    def reset(self) -> None:
        """Forget the recurrent state: call at the start of each episode."""
        self.state = self.model.initial_state(1)

    @torch.no_grad()
    def act(self, obs: Any, deterministic: bool = True) -> Any:
        """The action for one observation: the most likely one, or a sample when not deterministic."""
        obs_t = torch.as_tensor(np.asarray(obs)).unsqueeze(0)
        if obs_t.dtype == torch.float64:
            obs_t = obs_t.float()
        params, _, self.state = self.model(obs_t, self.state)
        action = self.dist.mode(params) if deterministic else self.dist.sample(params)
        action = action[0].numpy()
        if hasattr(self.action_space, "n"):
            return int(action)
        return np.clip(action, self.action_space.low, self.action_space.high)
