"""The env layer: an env id plus a Config in, the training env group and the evaluation env out.

families.py  which package provides an id (Gymnasium, Atari, MinAtar, a3c/, module:Class)
atari.py     the papers' Atari protocol: ale-py's C++ vector env, or Gymnasium's wrappers
spaces.py    what the model sees: checked spaces, channels-first images, bytes kept as bytes
group.py     N envs stepped together, episode statistics, and the learning signal
"""

from __future__ import annotations

import json
from collections.abc import Sequence

import gymnasium as gym
import numpy as np

from a3c.config import ENV_FIELDS
from a3c.envs.atari import ale_kwargs, atari_env, atari_vector_env
from a3c.envs.families import atari_game, env_threshold, make_raw
from a3c.envs.group import AtariVectorGroup, EnvBatch, EnvGroup, EpisodeStats, LearningSignal, StepResult
from a3c.envs.spaces import ObsSpec, model_view, observation_converter
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


def make_env_with_spec(cfg, render_mode: str | None = None) -> tuple[gym.Env, ObsSpec]:
    """One env as the model sees it, for evaluation and probing; Atari ids get the papers' protocol."""
    atari = atari_game(cfg.env_id)
    if atari is not None:
        env = atari_env(cfg.env_id, atari[1], cfg, render_mode=render_mode)
        if render_mode:  # one rendered frame per agent step: play the video at the game's real speed
            env.metadata = {**env.metadata, "render_fps": 60 // cfg.frame_skip}
    else:
        env = make_raw(cfg.env_id, cfg.env_kwargs, render_mode=render_mode)
    return model_view(env, cfg.env_id, cfg.obs_layout)


def user_observations(cfg):
    """(shape, convert) of observations as the env gives them to a user who makes it by its id:
    convert turns one into the model's form (None: they need no change). Atari is not one of
    these: its raw frames need the papers' preprocessing and frame stack (make_env)."""
    if atari_game(cfg.env_id) is not None:
        return None, None
    env = make_raw(cfg.env_id, cfg.env_kwargs)
    space = env.observation_space
    env.close()
    if not isinstance(space, gym.spaces.Box):
        return None, None
    return tuple(space.shape), observation_converter(space, cfg.obs_layout)[0]


def make_env(cfg, render_mode: str | None = None) -> gym.Env:
    """make_env_with_spec without the spec."""
    return make_env_with_spec(cfg, render_mode)[0]


_last_probe: tuple[str, tuple[ObsSpec, gym.Space]] | None = None


def probe(cfg) -> tuple[ObsSpec, gym.Space]:
    """The observation spec and action space that training on cfg's env group will see (fails
    early, in the main process, on a bad id, space or missing extra). It builds one plain env,
    never a vector env: for ale-py's vector env the config implies the frames, and the game's
    own env gives the actions. The answer is kept, so the preset choice (Config.for_env) and the
    run that follows build one env between them."""
    global _last_probe
    # The fields marked env in Config shape the env's spaces: the answer holds for any config that agrees on them.
    key = json.dumps({name: getattr(cfg, name) for name in ENV_FIELDS}, sort_keys=True, default=str)
    if _last_probe is not None and _last_probe[0] == key:
        return _last_probe[1]
    if uses_ale_vector(cfg):
        raw = make_raw(cfg.env_id, {}, **ale_kwargs(cfg, cfg.frame_skip))
        answer = ale_vector_spec(cfg), raw.action_space
        raw.close()
    else:
        env, spec = make_env_with_spec(cfg)
        answer = spec, env.action_space
        env.close()
    _last_probe = key, answer
    return answer


def ale_vector_spec(cfg) -> ObsSpec:
    """What ale-py's vector env gives: frame_stack grey frames of screen_size squared, as uint8."""
    return ObsSpec((cfg.frame_stack, cfg.screen_size, cfg.screen_size), np.uint8, 1.0 / 255)


def uses_ale_vector(cfg) -> bool:
    atari = atari_game(cfg.env_id)
    vector_ok = atari is not None and atari[1] != "ram"
    if cfg.env_backend == "ale_vector" and not vector_ok:
        raise UserError(
            f"env_backend 'ale_vector' needs an Atari id with image observations, not '{cfg.env_id}'. "
            "Allowed: env_backend = auto or gymnasium."
        )
    # env_kwargs (a game mode, a difficulty) reach the game only through gym.make (with
    # env_backend=ale_vector, Config refuses them).
    return vector_ok and cfg.env_backend != "gymnasium" and not cfg.env_kwargs


def make_env_group(cfg, n: int, seed: int | Sequence[int], reward_stats=None) -> EnvGroup | AtariVectorGroup:
    """The n envs one worker or agent steps, seeded seed + i (or seed[i] for a list). With
    normalize_reward, reward_stats is this group's handle on the run's return statistics
    (its role's normalization.StatisticsRow, or a Ray runner's LocalReturnStats; None: statistics
    of this group alone)."""
    scaler = ReturnScaler(n, cfg.gamma, reward_stats) if cfg.normalize_reward else None
    signal = LearningSignal(n, cfg.clip_rewards, cfg.episodic_life, cfg.reward_scale, scaler)
    if uses_ale_vector(cfg):
        game = atari_game(cfg.env_id)[0]  # type: ignore[index]
        return AtariVectorGroup(
            lambda count: atari_vector_env(game, count, cfg), ale_vector_spec(cfg), n, seed, signal, cfg.fail_fast
        )
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
