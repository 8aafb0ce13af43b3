"""Run CleanRL's ppo_atari_envpool.py, unchanged, on the EnvPool that installs on Python 3.11.

CleanRL pins envpool 0.6 with gym 0.23, whose Atari pool returns `obs` from reset() and
`(obs, reward, done, info)` from step(); neither has a wheel for Python 3.11, where EnvPool 0.8
returns `(obs, info)` and `(obs, reward, terminated, truncated, info)`. This shim wraps
envpool.make to give the script the API it was written for, then runs it as __main__:

    python cleanrl_envpool.py PATH/TO/ppo_atari_envpool.py --env-id Pong-v5 ...
"""

import runpy
import sys

import envpool
import gym
import numpy as np

_make = envpool.make


class OldStepAPI(gym.Wrapper):
    def reset(self, **kwargs):
        obs, _info = self.env.reset(**kwargs)
        return obs

    def step(self, action):
        obs, reward, terminated, truncated, info = self.env.step(action)
        return obs, reward, np.logical_or(terminated, truncated), info


def make(*args, **kwargs):
    return OldStepAPI(_make(*args, **kwargs))


envpool.make = make
script, sys.argv = sys.argv[1], sys.argv[1:]
runpy.run_path(script, run_name="__main__")
