"""Atari with the protocol of the A3C and GA3C papers (Mnih et al. 2016; Machado et al. 2018
for sticky actions): frame skip 4 with a max over the last two frames, 84x84 grayscale,
a stack of 4, up to 30 no-op starts, FIRE on reset where the game needs it, and at most
108k frames per episode.

Two builds of the same protocol:
- `atari_vector_env`: ale-py's AtariVectorEnv, which steps a batch of games and does all
  of the above in C++ (no OpenCV). It is what training uses: one C++ thread per worker or
  agent process steps its envs ~1.3x faster than the same envs one by one in Python.
- `atari_env`: one Gymnasium env with Gymnasium's own AtariPreprocessing and
  FrameStackObservation, for evaluation and video (it renders the full-size RGB game)
  and for RAM observations, which the vector env does not offer.

Reward clipping and life loss are *not* applied here: they shape only what learning
sees (envs/group.py), so the returns reported stay the game's real score.
"""

from __future__ import annotations

import re

import gymnasium as gym

from a3c.errors import UserError

FIRE = 1  # ALE's action index for FIRE whenever the minimal action set has it


def rom_name(game: str) -> str:
    """ale-py's ROM names are snake_case ("ms_pacman"); Gymnasium spec kwargs already are."""
    return re.sub(r"(?<!^)(?=[A-Z])", "_", game).lower() if any(c.isupper() for c in game) else game


class FireOnReset(gym.Wrapper):
    """Press FIRE after each reset in games that wait for it (Breakout, ...), as ale-py's
    vector env does, so the eval env starts games the way training did."""

    def __init__(self, env: gym.Env):
        super().__init__(env)
        meanings = env.unwrapped.get_action_meanings()  # type: ignore[attr-defined]  # ALE envs have it
        self.needs_fire = len(meanings) > FIRE and meanings[FIRE] == "FIRE"

    def reset(self, **kwargs):
        obs, info = self.env.reset(**kwargs)
        if self.needs_fire:
            obs, _, terminated, truncated, info = self.env.step(FIRE)
            if terminated or truncated:
                obs, info = self.env.reset(**kwargs)
        return obs, info


class NoopReset(gym.Wrapper):
    """Up to noop_max no-op steps after reset, for RAM ids (AtariPreprocessing does it for frames)."""

    def __init__(self, env: gym.Env, noop_max: int):
        super().__init__(env)
        self.noop_max = noop_max

    def reset(self, **kwargs):
        obs, info = self.env.reset(**kwargs)
        for _ in range(int(self.np_random.integers(0, self.noop_max + 1)) if self.noop_max else 0):
            obs, _, terminated, truncated, info = self.env.step(0)
            if terminated or truncated:
                obs, info = self.env.reset()
        return obs, info


def ale_kwargs(cfg, frameskip: int) -> dict:
    return dict(
        frameskip=frameskip,
        repeat_action_probability=0.25 if cfg.sticky_actions else 0.0,
        full_action_space=False,
        max_num_frames_per_episode=cfg.max_episode_frames,
    )


def atari_env(env_id: str, obs_type: str, cfg, render_mode: str | None = None) -> gym.Env:
    """One Atari env with the papers' preprocessing, built from Gymnasium's wrappers."""
    from a3c.envs.families import make_raw

    if obs_type == "ram":
        env = make_raw(env_id, cfg.env_kwargs, **ale_kwargs(cfg, cfg.frame_skip), render_mode=render_mode)
        env = FireOnReset(NoopReset(env, cfg.noop_max))
    else:
        try:
            import cv2  # noqa: F401  (AtariPreprocessing resizes with OpenCV)
        except ImportError:
            raise UserError(
                "evaluating Atari needs OpenCV for Gymnasium's AtariPreprocessing. Install it with: "
                "pip install 'a3c[atari]' (or pip install opencv-python-headless)"
            ) from None
        env = make_raw(env_id, cfg.env_kwargs, **ale_kwargs(cfg, 1), render_mode=render_mode)
        env = gym.wrappers.AtariPreprocessing(
            env,
            noop_max=cfg.noop_max,
            frame_skip=cfg.frame_skip,
            screen_size=cfg.screen_size,
            terminal_on_life_loss=False,
            grayscale_obs=True,
            scale_obs=False,
        )
        env = FireOnReset(env)
    if cfg.frame_stack > 1:
        # Zero padding at reset, as the C++ vector env pads: eval sees the frames training saw.
        env = gym.wrappers.FrameStackObservation(env, cfg.frame_stack, padding_type="zero")
    return env


def atari_vector_env(game: str, n: int, cfg):
    """n games stepped in C++ by one thread, returning [n, stack, size, size] uint8 frames.

    SameStep autoreset: where an episode ends, the returned obs is the next episode's
    first, and the last one is in info["final_obs"], which is the layout Rollout uses.
    Clipping and episodic life stay off: group.py applies them to the learning signal only.
    """
    from ale_py.vector_env import AtariVectorEnv

    return AtariVectorEnv(
        rom_name(game),
        n,
        num_threads=1,
        autoreset_mode="SameStep",
        max_num_frames_per_episode=cfg.max_episode_frames,
        repeat_action_probability=0.25 if cfg.sticky_actions else 0.0,
        full_action_space=False,
        img_height=cfg.screen_size,
        img_width=cfg.screen_size,
        grayscale=True,
        stack_num=cfg.frame_stack,
        frameskip=cfg.frame_skip,
        maxpool=True,
        noop_max=cfg.noop_max,
        episodic_life=False,
        reward_clipping=False,
        use_fire_reset=True,
    )
