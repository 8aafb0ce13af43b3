"""Environments: make_env() for Gymnasium ids and "module:Class" custom envs, and EnvGroup,
N envs stepped in lock-step with automatic reset and per-episode statistics."""

from __future__ import annotations

import difflib
import importlib
from dataclasses import dataclass, field
from typing import Any, Optional

import gymnasium as gym
import numpy as np

from a3c.errors import UserError


@dataclass
class EpisodeStats:
    ret: float
    length: int


@dataclass
class StepResult:
    obs: np.ndarray  # [N, *obs_shape]; where an episode ended, the first obs of the next one
    rewards: np.ndarray  # [N] float32
    terminated: np.ndarray  # [N] float32 in {0, 1}
    truncated: np.ndarray  # [N] float32 in {0, 1}; 0 where terminated
    final_obs: dict[int, np.ndarray] = field(default_factory=dict)  # env index -> last obs, where truncated
    episodes: list[EpisodeStats] = field(default_factory=list)


def _resolve_entry(env_id: str) -> Any:
    """A "module:Class" id names a custom env class (or factory); import it."""
    module_name, _, attr = env_id.partition(":")
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise UserError(f"cannot import module '{module_name}' for custom env '{env_id}': {exc}") from None
    if not hasattr(module, attr):
        raise UserError(f"module '{module_name}' has no attribute '{attr}' (custom env '{env_id}')")
    return getattr(module, attr)


def _import_env_family(env_id: str) -> None:
    # Atari ids live in ale_py, which registers them on import.
    if env_id.startswith("a3c/"):
        from a3c import toy_envs

        toy_envs.register()
    if env_id.startswith("ALE/"):
        try:
            import ale_py

            gym.register_envs(ale_py)
        except ImportError:
            raise UserError(f"'{env_id}' is an Atari env; install ale-py to use it: pip install ale-py") from None


def make_env(env_id: str, render_mode: Optional[str] = None) -> gym.Env:
    """One environment from a registered Gymnasium id or a "module:Class" path."""
    kwargs = {"render_mode": render_mode} if render_mode else {}
    if ":" in env_id and not env_id.startswith("ALE/"):
        entry = _resolve_entry(env_id)
        env = entry(**kwargs)
        if not isinstance(env, gym.Env):
            raise UserError(f"custom env '{env_id}' did not produce a gymnasium.Env (got {type(env).__name__})")
    else:
        _import_env_family(env_id)
        if env_id not in gym.registry:
            close = difflib.get_close_matches(env_id, list(gym.registry.keys()), n=3, cutoff=0.6)
            hint = f" Did you mean: {', '.join(close)}?" if close else ""
            raise UserError(
                f"unknown environment id '{env_id}'.{hint} Use a registered Gymnasium id "
                "(see gymnasium.pprint_registry()) or module:Class for a custom env."
            )
        try:
            env = gym.make(env_id, **kwargs)
        except gym.error.DependencyNotInstalled as exc:
            raise UserError(f"environment '{env_id}' needs a missing dependency: {exc}") from None
    check_spaces(env_id, env)
    return env


def check_spaces(env_id: str, env: gym.Env) -> None:
    obs_space = env.observation_space
    if not isinstance(obs_space, gym.spaces.Box):
        raise UserError(
            f"environment '{env_id}' has observation space {obs_space}, which is not supported. "
            "Allowed: a Box (vectors, or images as [C, H, W] or [H, W, C] uint8)."
        )
    act_space = env.action_space
    if not (isinstance(act_space, gym.spaces.Discrete) or (isinstance(act_space, gym.spaces.Box) and len(act_space.shape) == 1)):
        raise UserError(
            f"environment '{env_id}' has action space {act_space}, which is not supported. "
            "Allowed: Discrete(n), or a 1-D Box for continuous actions."
        )


def env_threshold(env_id: str) -> Optional[float]:
    """The env's registered reward_threshold (the 'solved' level), if any."""
    _import_env_family(env_id)
    try:
        spec = gym.spec(env_id) if ":" not in env_id else None
    except gym.error.Error:
        return None
    return None if spec is None or spec.reward_threshold is None else float(spec.reward_threshold)


class EnvGroup:
    """N copies of one env, stepped together. Env i is seeded seed + i on its first reset.

    Rewards handed to learning are multiplied by reward_scale (keeping value targets near
    unit scale helps on long -1-per-step tasks); episode returns stay in the env's units.
    """

    def __init__(self, env_id: str, n: int, seed: int | list[int], reward_scale: float = 1.0):
        self.envs = [make_env(env_id) for _ in range(n)]
        self.reward_scale = reward_scale
        self.n = n
        # An int seeds env i with seed + i; a list (a3c.seeding.env_seeds) gives each env its own.
        self.seeds = [seed + i for i in range(n)] if isinstance(seed, int) else [int(s) for s in seed]
        space = self.envs[0].observation_space
        self.obs_shape = space.shape
        self.obs_dtype = _torch_dtype(space.dtype)
        self._np_dtype = np.uint8 if space.dtype == np.uint8 else np.float32
        action_space = self.envs[0].action_space
        self._low = self._high = None
        if isinstance(action_space, gym.spaces.Box):
            self._low, self._high = action_space.low, action_space.high
        self._returns = np.zeros(n, dtype=np.float64)
        self._lengths = np.zeros(n, dtype=np.int64)
        self._obs = np.zeros((n, *self.obs_shape), dtype=self._np_dtype)

    def reset(self) -> np.ndarray:
        for i, env in enumerate(self.envs):
            self._obs[i], _ = env.reset(seed=self.seeds[i])
            env.action_space.seed(self.seeds[i])
        self._returns[:] = 0
        self._lengths[:] = 0
        return self._obs.copy()

    def step(self, actions: np.ndarray) -> StepResult:
        rewards = np.zeros(self.n, dtype=np.float32)
        terminated = np.zeros(self.n, dtype=np.float32)
        truncated = np.zeros(self.n, dtype=np.float32)
        result = StepResult(self._obs, rewards, terminated, truncated)
        for i, env in enumerate(self.envs):
            action = actions[i]
            if self._low is not None:
                action = np.clip(action, self._low, self._high)
            elif isinstance(action, np.integer):
                action = int(action)
            obs, reward, term, trunc, _ = env.step(action)
            rewards[i] = reward
            self._returns[i] += reward
            self._lengths[i] += 1
            if term or trunc:
                result.episodes.append(EpisodeStats(float(self._returns[i]), int(self._lengths[i])))
                self._returns[i] = 0
                self._lengths[i] = 0
                if term:
                    terminated[i] = 1.0
                else:
                    truncated[i] = 1.0
                    result.final_obs[i] = np.asarray(obs, dtype=self._np_dtype)
                obs, _ = env.reset()
            self._obs[i] = obs
        result.obs = self._obs.copy()
        if self.reward_scale != 1.0:
            rewards *= self.reward_scale
        return result

    def close(self) -> None:
        for env in self.envs:
            env.close()


def _torch_dtype(np_dtype):
    import torch

    return torch.uint8 if np_dtype == np.uint8 else torch.float32
