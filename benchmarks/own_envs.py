"""Home-made envs for benchmarks/own_env_defaults.py: what a user's own env looks like to a3c,
a `module:Class` id that no preset names. Both hide the velocities of a classic-control task, so
only a policy with memory can tell where the system is going.

    a3c train own_envs:NoVelocityCartPole --set recurrent=true      (from benchmarks/)
"""

from __future__ import annotations

import gymnasium as gym
import numpy as np


class _HideVelocities(gym.Wrapper):
    """The base env with only the observation entries at `keep` left."""

    base_id = ""
    keep: tuple[int, ...] = ()

    def __init__(self, **kwargs):
        super().__init__(gym.make(self.base_id, **kwargs))
        space = self.env.observation_space
        assert isinstance(space, gym.spaces.Box)
        index = np.asarray(self.keep)
        self.observation_space = gym.spaces.Box(space.low[index], space.high[index], dtype=np.float32)

    def _keep(self, obs: np.ndarray) -> np.ndarray:
        return np.asarray(obs, dtype=np.float32)[list(self.keep)]

    def reset(self, **kwargs):
        obs, info = self.env.reset(**kwargs)
        return self._keep(obs), info

    def step(self, action):
        obs, reward, terminated, truncated, info = self.env.step(action)
        return self._keep(obs), reward, terminated, truncated, info


class NoVelocityCartPole(_HideVelocities):
    """CartPole-v1 showing the cart's position and the pole's angle (discrete actions, 500 max)."""

    base_id, keep = "CartPole-v1", (0, 2)


class NoVelocityPendulum(_HideVelocities):
    """Pendulum-v1 showing cos and sin of the angle, not the angular velocity (continuous actions)."""

    base_id, keep = "Pendulum-v1", (0, 1)


class PlainCartPole(_HideVelocities):
    """CartPole-v1 as a user's own class: all four entries, no preset (the speed check's twin)."""

    base_id, keep = "CartPole-v1", (0, 1, 2, 3)
