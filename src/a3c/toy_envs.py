"""Small environments that ship with a3c, registered under the "a3c/" namespace.

Partially observed versions of classic-control tasks: the velocities are hidden, so one
observation says where the system is, not where it is going. A feed-forward policy sees a
single frame and cannot tell; a recurrent policy can infer the velocities from the history.
They are the check that `recurrent=true` really carries state.

| id | base task | observation kept (indices of the base observation) |
| --- | --- | --- |
| a3c/MaskedCartPole-v1 | CartPole-v1 | cart position, pole angle (0, 2) |
| a3c/MaskedAcrobot-v1 | Acrobot-v1 | cos/sin of both joint angles (0-3); both angular velocities hidden |
| a3c/MaskedPendulum-v1 | Pendulum-v1 | cos/sin of the angle (0, 1); the angular velocity hidden |
"""

from __future__ import annotations

from collections.abc import Sequence

import gymnasium as gym
import numpy as np

# id -> (base id, indices of the base observation that stay visible, reward threshold)
MASKED: dict[str, tuple[str, tuple[int, ...], float | None]] = {
    "a3c/MaskedCartPole-v1": ("CartPole-v1", (0, 2), 475.0),
    "a3c/MaskedAcrobot-v1": ("Acrobot-v1", (0, 1, 2, 3), -100.0),
    "a3c/MaskedPendulum-v1": ("Pendulum-v1", (0, 1), None),
}


class KeepIndices(gym.ObservationWrapper):
    """Keep only the given entries of a flat Box observation (and of its bounds)."""

    def __init__(self, env: gym.Env, keep: Sequence[int]):
        super().__init__(env)
        self.keep = np.asarray(keep, dtype=np.intp)
        space = env.observation_space
        assert isinstance(space, gym.spaces.Box), space
        self.observation_space = gym.spaces.Box(space.low[self.keep], space.high[self.keep], dtype=np.float32)

    def observation(self, observation):
        return np.asarray(observation, dtype=np.float32)[self.keep]


def make_masked(base_id: str, keep: Sequence[int], **kwargs) -> gym.Env:
    return KeepIndices(gym.make(base_id, **kwargs), keep)


def register() -> None:
    for env_id, (base_id, keep, threshold) in MASKED.items():
        if env_id not in gym.registry:
            gym.register(
                env_id,
                entry_point=make_masked,  # type: ignore[arg-type]  # gym's EnvCreator omits keyword arguments
                kwargs=dict(base_id=base_id, keep=keep),
                reward_threshold=threshold,
                disable_env_checker=True,
                order_enforce=False,
            )
