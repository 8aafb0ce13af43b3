"""The env layer: an env id plus a Config in, the training env group and the evaluation env out.

families.py  which package provides an id (Gymnasium, Atari, MinAtar, a3c/, module:Class)
atari.py     the papers' Atari protocol: ale-py's C++ vector env, or Gymnasium's wrappers
spaces.py    what the model sees: checked spaces, channels-first images, bytes kept as bytes
group.py     N envs stepped together, episode statistics, and the learning signal
"""

from __future__ import annotations

from collections.abc import Sequence

import gymnasium as gym
import numpy as np

from a3c.envs.atari import atari_env, atari_vector_env
from a3c.envs.families import atari_game, env_threshold, make_raw
from a3c.envs.group import AtariVectorGroup, EnvBatch, EnvGroup, EpisodeStats, LearningSignal, StepResult
from a3c.envs.spaces import ObsSpec, model_view
from a3c.errors import UserError
from a3c.normalization import ReturnScaler

__all__ = [
    "AtariVectorGroup",
    "EnvBatch",
    "EnvGroup",
    "EpisodeStats",
    "ObsSpec",
    "StepResult",
    "env_threshold",
    "make_env",
    "make_env_group",
    "make_env_with_spec",
    "probe",
    "rank_env_group",
]


def _config(cfg_or_id):
    if isinstance(cfg_or_id, str):
        from a3c.config import Config

        return Config.for_env(cfg_or_id)
    return cfg_or_id


def make_env_with_spec(cfg, render_mode: str | None = None) -> tuple[gym.Env, ObsSpec]:
    """One env as the model sees it, for evaluation and probing; Atari ids get the papers' protocol."""
    cfg = _config(cfg)
    atari = atari_game(cfg.env_id)
    if atari is not None:
        env = atari_env(cfg.env_id, atari[1], cfg, render_mode=render_mode)
        if render_mode:  # one rendered frame per agent step: play the video at the game's real speed
            env.metadata = {**env.metadata, "render_fps": 60 // cfg.frame_skip}
    else:
        env = make_raw(cfg.env_id, cfg.env_kwargs, render_mode=render_mode)
    return model_view(env, cfg.env_id, cfg.obs_layout)


def make_env(cfg, render_mode: str | None = None) -> gym.Env:
    """make_env_with_spec without the spec. cfg may be a Config or just an env id (its defaults)."""
    return make_env_with_spec(cfg, render_mode)[0]


def probe(cfg) -> tuple[ObsSpec, gym.Space]:
    """The observation spec and action space that training on cfg's env group will see
    (fails early, in the main process, on a bad id, space or missing extra)."""
    if uses_ale_vector(cfg):
        group = make_env_group(cfg, 1, cfg.seed)
        spec, action_space = group.spec, group.action_space
        group.close()
        return spec, action_space
    env, spec = make_env_with_spec(cfg)
    action_space = env.action_space
    env.close()
    return spec, action_space


def uses_ale_vector(cfg) -> bool:
    atari = atari_game(cfg.env_id)
    vector_ok = atari is not None and atari[1] != "ram"
    if cfg.env_backend == "ale_vector" and not vector_ok:
        raise UserError(
            f"env_backend 'ale_vector' needs an Atari id with image observations, not '{cfg.env_id}'. "
            "Allowed: env_backend = auto or gymnasium."
        )
    if cfg.env_backend == "ale_vector" and cfg.env_kwargs:
        raise UserError(
            "env_kwargs cannot be passed to ale-py's vector env (env_backend 'ale_vector'). "
            "Allowed: env_backend = auto or gymnasium, which pass them to gym.make."
        )
    # env_kwargs (a game mode, a difficulty) reach the game only through gym.make.
    return vector_ok and cfg.env_backend != "gymnasium" and not cfg.env_kwargs


def make_env_group(cfg, n: int, seed: int | Sequence[int], reward_stats=None) -> EnvGroup | AtariVectorGroup:
    """The n envs one worker or agent steps, seeded seed + i (or seed[i] for a list). With
    normalize_reward, reward_stats is this group's handle on the run's return statistics
    (normalization.SharedReturnStats or LocalReturnStats; None: statistics of this group alone)."""
    scaler = ReturnScaler(n, cfg.gamma, reward_stats) if cfg.normalize_reward else None
    signal = LearningSignal(n, cfg.clip_rewards, cfg.episodic_life, cfg.reward_scale, scaler)
    if uses_ale_vector(cfg):
        game = atari_game(cfg.env_id)[0]  # type: ignore[index]
        spec = ObsSpec((cfg.frame_stack, cfg.screen_size, cfg.screen_size), np.uint8, 1.0 / 255)
        return AtariVectorGroup(lambda count: atari_vector_env(game, count, cfg), spec, n, seed, signal, cfg.fail_fast)
    first, spec = make_env_with_spec(cfg)
    spare = [first]

    def make_one() -> gym.Env:
        return spare.pop() if spare else make_env(cfg)

    return EnvGroup(make_one, spec, n, seed, signal, cfg.fail_fast, cfg.action_squash)


def rank_env_group(cfg, rank: int, incarnation: int, reward_stats=None) -> EnvGroup | AtariVectorGroup:
    """The envs_per_worker envs of worker or agent `rank` in its `incarnation`-th life, each on
    its own SeedSequence seed (seeding.env_seeds): every engine builds its envs through this."""
    from a3c.seeding import env_seeds

    return make_env_group(
        cfg, cfg.envs_per_worker, env_seeds(cfg.seed, rank, incarnation, cfg.envs_per_worker), reward_stats
    )
