"""Custom environments for the CLI tests, loaded as `envs_for_tests:ClassName` (tests/ on PYTHONPATH)."""

import gymnasium as gym
import numpy as np


class MultiDiscreteActionEnv(gym.Env):
    """A valid Gymnasium env whose action space a3c does not support (MultiDiscrete)."""

    observation_space = gym.spaces.Box(-1.0, 1.0, shape=(2,), dtype=np.float32)
    action_space = gym.spaces.MultiDiscrete([2, 3])

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        return np.zeros(2, dtype=np.float32), {}

    def step(self, action):
        return np.zeros(2, dtype=np.float32), 0.0, True, False, {}
