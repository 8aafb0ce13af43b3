"""The physics families: every continuous-control env builds and steps through the env layer,
and a missing physics extra names the pip command."""

import gymnasium as gym
import numpy as np
import pytest

import a3c
from a3c.envs import make_env_group
from a3c.errors import UserError
from fakes import require


@pytest.mark.parametrize("env_id, extra", [("HalfCheetah-v5", "mujoco"), ("LunarLanderContinuous-v3", "box2d")])
def test_a_missing_physics_extra_names_the_pip_command(env_id, extra, monkeypatch):
    from a3c.envs import families

    def missing(*args, **kwargs):
        raise gym.error.DependencyNotInstalled(f"{extra} is not installed")

    monkeypatch.setattr(families.gym, "make", missing)
    with pytest.raises(UserError, match=rf"needs a missing dependency.*pip install 'a3c\[{extra}\]'"):
        families.make_raw(env_id)


@pytest.mark.parametrize("env_id, module, obs_size, act_size", [
    ("MountainCarContinuous-v0", None, 2, 1), ("LunarLanderContinuous-v3", "Box2D", 8, 2),
    ("HalfCheetah-v5", "mujoco", 17, 6), ("Hopper-v5", "mujoco", 11, 3), ("Walker2d-v5", "mujoco", 17, 6),
])
def test_continuous_envs_build_and_step(env_id, module, obs_size, act_size):
    if module:
        require(module)
    cfg = a3c.Config.for_env(env_id, normalize_obs=True)
    group = make_env_group(cfg, 2, 0)
    obs = group.reset()
    assert obs.shape == (2, obs_size)
    step = group.step(np.zeros((2, act_size), dtype=np.float32))
    assert step.obs.shape == (2, obs_size) and step.rewards.shape == (2,)
    group.close()
