"""The partially observed toy envs: the shapes they promise, and velocities really hidden.

For each env, two states that differ only in their velocities must give the same
observation, yet lead to different observations one step later: the velocity matters to
the dynamics but can only be inferred from the history.
"""

import gymnasium as gym
import numpy as np
import pytest

from a3c import toy_envs

toy_envs.register()

# id -> (observation shape, full-state observation of the base env, two states equal but for velocities)
CASES = {
    "a3c/MaskedCartPole-v1": ((2,), lambda u: np.array(u.state, dtype=np.float32),
                              ([0.1, -1.0, 0.05, -1.5], [0.1, 1.0, 0.05, 1.5])),
    "a3c/MaskedAcrobot-v1": ((4,), lambda u: u._get_ob(), ([0.3, -0.2, -2.0, 3.0], [0.3, -0.2, 2.0, -3.0])),
    "a3c/MaskedPendulum-v1": ((2,), lambda u: u._get_obs(), ([0.5, -4.0], [0.5, 4.0])),
}


@pytest.mark.parametrize("env_id", sorted(CASES))
def test_observation_is_the_base_observation_without_velocities(env_id):
    shape, _, _ = CASES[env_id]
    base_id, keep, threshold = toy_envs.MASKED[env_id]
    env, base = gym.make(env_id), gym.make(base_id)
    assert env.observation_space.shape == shape
    assert env.spec.reward_threshold == threshold
    obs, _ = env.reset(seed=3)
    base_obs, _ = base.reset(seed=3)
    for _ in range(20):
        assert obs.shape == shape and obs.dtype == np.float32
        assert env.observation_space.contains(obs)
        np.testing.assert_array_equal(obs, base_obs[list(keep)])
        action = base.action_space.sample()
        obs, _, terminated, truncated, _ = env.step(action)
        base_obs, _, base_terminated, base_truncated, _ = base.step(action)
        assert (terminated, truncated) == (base_terminated, base_truncated)
        if terminated or truncated:
            break


@pytest.mark.parametrize("env_id", sorted(CASES))
def test_velocities_are_hidden_but_matter(env_id):
    _, full_obs, (slow, fast) = CASES[env_id]
    env = gym.make(env_id)
    env.reset(seed=0)
    u = env.unwrapped
    action = 0 if isinstance(env.action_space, gym.spaces.Discrete) else np.zeros(1, dtype=np.float32)
    seen, after = [], []
    for state in (slow, fast):
        u.state = np.array(state, dtype=np.float64)
        seen.append(env.observation(full_obs(u)))
        after.append(env.step(action)[0])
    np.testing.assert_array_equal(seen[0], seen[1])  # the velocities are not in the observation...
    assert np.abs(after[0] - after[1]).max() > 1e-3  # ...but they change where the system goes next
