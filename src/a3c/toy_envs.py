"""Small environments that ship with a3c, registered under the "a3c/" namespace.

a3c/MaskedCartPole-v1 is CartPole-v1 with the two velocities hidden: the observation
is (cart position, pole angle) only. A feed-forward policy sees a single frame and
cannot tell which way the pole is moving; a recurrent policy can infer it from the
history. It is the quick check that `recurrent=true` really carries state.
"""

from __future__ import annotations

import gymnasium as gym
import numpy as np


class MaskVelocity(gym.ObservationWrapper):
    def __init__(self, env: gym.Env):
        super().__init__(env)
        high = np.array([4.8, 0.42], dtype=np.float32)
        self.observation_space = gym.spaces.Box(-high, high, dtype=np.float32)

    def observation(self, observation):
        return np.array([observation[0], observation[2]], dtype=np.float32)


def masked_cartpole(**kwargs) -> gym.Env:
    return MaskVelocity(gym.make("CartPole-v1", **kwargs))


def register() -> None:
    if "a3c/MaskedCartPole-v1" not in gym.registry:
        gym.register("a3c/MaskedCartPole-v1", entry_point=masked_cartpole, reward_threshold=475.0,
                     disable_env_checker=True, order_enforce=False)
