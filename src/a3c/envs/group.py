"""Env groups: the N envs one worker or agent steps together, with automatic reset,
per-episode statistics, and the learning signal.

Two kinds behind one interface (reset() -> obs [N, ...]; step(actions) -> StepResult):
`EnvGroup` steps N Gymnasium envs one by one; `AtariVectorGroup` steps N Atari games in
ale-py's C++ vector env. Both report each finished episode's real return and length,
and hand learning a signal shaped by the config:

- rewards clipped to [-1, 1] (clip_rewards), divided by the running standard deviation
  of the discounted return (normalize_reward) and multiplied by reward_scale;
- a lost life ends the bootstrap (episodic_life): `terminated` is 1 for learning while
  the game, and the episode whose score is reported, goes on.
"""

from __future__ import annotations

import traceback
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

import gymnasium as gym
import numpy as np

from a3c.distributions import to_env_actions
from a3c.envs.spaces import ObsSpec


class EnvBatch(Protocol):
    """What an engine steps: N envs together, reset once, then stepped with N actions at a time
    (EnvGroup for Gymnasium envs, AtariVectorGroup for ale-py's C++ vector env)."""

    n: int
    spec: ObsSpec
    obs_shape: tuple[int, ...]
    obs_dtype: Any  # the torch dtype of the observations

    @property
    def action_space(self) -> gym.Space: ...

    def reset(self) -> np.ndarray: ...

    def step(self, actions: np.ndarray) -> StepResult: ...

    def take_errors(self) -> list[str]: ...

    def close(self) -> None: ...


class NonFiniteObservation(ValueError):
    """An env handed over an observation or reward with NaN or inf."""


@dataclass
class EpisodeStats:
    ret: float  # the env's own return over the whole episode: unclipped, unscaled
    length: int


@dataclass
class StepResult:
    obs: np.ndarray  # [N, *obs_shape]; where an episode ended, the first obs of the next one
    rewards: np.ndarray  # [N] float32, as learning sees them (clipped and scaled)
    terminated: np.ndarray  # [N] float32 in {0, 1}: no bootstrap (episode over, or a life lost)
    truncated: np.ndarray  # [N] float32 in {0, 1}; 0 where terminated
    # [N] float32 in {0, 1}: 1 where obs begins a new episode (the game over or cut). A lost life
    # ends the bootstrap (terminated) but not the episode: recurrent memory carries over it, as
    # in evaluation, where nothing tells the policy of lives.
    starts: np.ndarray
    final_obs: dict[int, np.ndarray] = field(default_factory=dict)  # env index -> last obs, where truncated
    episodes: list[EpisodeStats] = field(default_factory=list)

    @classmethod
    def shaped(
        cls,
        obs: np.ndarray,
        rewards: np.ndarray,
        learn_terminated: np.ndarray,
        terminated: np.ndarray,
        truncated: np.ndarray,
        final_obs: dict[int, np.ndarray],
        episodes: list[EpisodeStats],
    ) -> StepResult:
        """A step of N envs from the learning signal and the env's own terminated and truncated [N] (bool)."""
        return cls(
            obs,
            rewards,
            learn_terminated,
            truncated.astype(np.float32),
            (terminated | truncated).astype(np.float32),
            final_obs,
            episodes,
        )


def per_env_seeds(seed: int | Sequence[int], n: int) -> list[int]:
    """One seed per env: a list as given, or seed + i for an int."""
    seeds = [seed + i for i in range(n)] if isinstance(seed, (int, np.integer)) else [int(s) for s in seed]
    if len(seeds) != n:
        raise ValueError(f"{len(seeds)} seeds for {n} envs")
    return seeds


class LearningSignal:
    """Turns the env's rewards and lives into what learning sees, and totals the real returns."""

    def __init__(
        self,
        n: int,
        clip_rewards: bool,
        episodic_life: bool,
        reward_scale: float,
        return_scaler: Callable[[np.ndarray, np.ndarray], np.ndarray] | None = None,
    ):
        self.n, self.clip, self.episodic_life, self.scale = n, clip_rewards, episodic_life, reward_scale
        self.return_scaler = return_scaler  # normalize_reward: a normalization.ReturnScaler
        self.returns = np.zeros(n, dtype=np.float64)
        self.lengths = np.zeros(n, dtype=np.int64)
        self.lives: np.ndarray | None = None

    def start(self, lives: np.ndarray | None) -> None:
        self.returns[:] = 0
        self.lengths[:] = 0
        self.lives = None if lives is None else np.array(lives, dtype=np.int64)

    def shape(
        self, raw_rewards: np.ndarray, terminated: np.ndarray, truncated: np.ndarray, lives_after: np.ndarray | None
    ) -> tuple[np.ndarray, np.ndarray, list[EpisodeStats]]:
        """(learning rewards [N], learning terminated [N], finished episodes) for one step.

        lives_after are the lives each env reports after the step: where an episode ended,
        those of the new episode, so they restart the count rather than look like a loss.
        """
        self.returns += raw_rewards
        self.lengths += 1
        ended = np.logical_or(terminated, truncated)
        episodes = [EpisodeStats(float(self.returns[i]), int(self.lengths[i])) for i in np.flatnonzero(ended)]
        self.returns[ended] = 0
        self.lengths[ended] = 0
        learn_terminated = terminated.astype(np.float32)
        if lives_after is not None:
            lives_after = np.asarray(lives_after, dtype=np.int64)
            if self.episodic_life and self.lives is not None:
                lost = (lives_after < self.lives) & ~ended
                learn_terminated[lost] = 1.0
            self.lives = lives_after.copy()
        rewards = np.clip(raw_rewards, -1.0, 1.0) if self.clip else raw_rewards
        if self.return_scaler is not None:
            rewards = self.return_scaler(rewards, ended)
        rewards = rewards.astype(np.float32)
        if self.scale != 1.0:
            rewards *= self.scale
        return rewards, learn_terminated, episodes


class EnvGroup:
    """N Gymnasium envs stepped in lock-step. Env i is seeded seeds[i] on its first reset.

    An env that raises in step or reset is rebuilt with `make_one` (unless fail_fast): its
    episode is cut as if by a time limit, and the traceback is kept for take_errors().
    """

    def __init__(
        self,
        make_one: Callable[[], gym.Env],
        spec: ObsSpec,
        n: int,
        seed: int | Sequence[int],
        signal: LearningSignal,
        fail_fast: bool = False,
        action_squash: str = "clip",
    ):
        self.make_one, self.spec, self.n, self.signal, self.fail_fast = make_one, spec, n, signal, fail_fast
        self.action_squash = action_squash
        self.seeds = per_env_seeds(seed, n)
        self.envs = [make_one() for _ in range(n)]
        self.obs_shape, self.obs_dtype = spec.shape, spec.torch_dtype
        self._continuous = isinstance(self.envs[0].action_space, gym.spaces.Box)
        # A float observation with NaN/inf would poison every update it enters: such a step counts
        # as the env failing (rebuilt, logged, counted; fail_fast stops the run).
        self._check_finite = np.issubdtype(spec.dtype, np.floating)
        self._obs: np.ndarray = np.zeros((n, *spec.shape), dtype=spec.dtype)
        self._errors: list[str] = []
        self._rebuilds = 0

    @property
    def action_space(self) -> gym.Space:
        return self.envs[0].action_space

    def reset(self) -> np.ndarray:
        lives = []
        for i, env in enumerate(self.envs):
            self._obs[i], info = self._reset_one(i, seed=self.seeds[i])
            env.action_space.seed(self.seeds[i])
            lives.append(info.get("lives", 0))
        self.signal.start(np.array(lives) if self._has_lives() else None)
        return self._obs.copy()

    def _has_lives(self) -> bool:
        return self.signal.episodic_life

    def _reset_one(self, i: int, seed: int | None = None):
        try:
            obs, info = self.envs[i].reset(seed=seed)
            self._require_finite(obs, "reset")
            return obs, info
        except Exception:
            if self.fail_fast:
                raise
            self._rebuild(i)
            return self.envs[i].reset(seed=self.seeds[i] + 7919 * self._rebuilds)

    def _rebuild(self, i: int) -> None:
        self._errors.append(f"env {i} of {self.n} raised; rebuilt it:\n{traceback.format_exc(limit=6)}")
        self._rebuilds += 1
        try:
            self.envs[i].close()
        except Exception:
            pass
        self.envs[i] = self.make_one()

    def _require_finite(self, obs, where: str) -> None:
        if self._check_finite and not np.isfinite(obs).all():
            raise NonFiniteObservation(f"the env's {where}() returned an observation with NaN or inf: {obs!r}")

    def take_errors(self) -> list[str]:
        """Tracebacks of envs that raised (and were rebuilt) since the last call."""
        errors, self._errors = self._errors, []
        return errors

    def step(self, actions: np.ndarray) -> StepResult:
        raw = np.zeros(self.n, dtype=np.float64)
        terminated = np.zeros(self.n, dtype=bool)
        truncated = np.zeros(self.n, dtype=bool)
        lives = np.zeros(self.n, dtype=np.int64)
        final_obs: dict[int, np.ndarray] = {}
        broken: list[int] = []
        if self._continuous:
            actions = to_env_actions(actions, self.action_space, self.action_squash)
        for i, env in enumerate(self.envs):
            action = actions[i]
            if isinstance(action, np.integer):
                action = int(action)
            try:
                obs, reward, term, trunc, info = env.step(action)
                self._require_finite(obs, "step")
                if not np.isfinite(float(reward)):
                    raise NonFiniteObservation(f"the env's step() returned a reward of {reward}")
            except Exception:
                if self.fail_fast:
                    raise
                # The episode is cut as by a time limit, bootstrapping from the last good state.
                self._rebuild(i)
                final_obs[i] = self._obs[i].copy()
                obs, info = self._reset_one(i, seed=self.seeds[i] + 7919 * self._rebuilds)
                truncated[i] = True
                broken.append(i)
                reward, term, trunc = 0.0, False, False
            raw[i] = reward
            if term or trunc:
                terminated[i], truncated[i] = bool(term), not term
                if not term:
                    # A copy: envs may reuse their observation buffer, which reset() overwrites.
                    final_obs[i] = np.array(obs, dtype=self.spec.dtype)
                obs, info = self._reset_one(i)
            lives[i] = info.get("lives", 0)
            self._obs[i] = obs
        rewards, learn_terminated, episodes = self.signal.shape(
            raw, terminated, truncated, lives if self._has_lives() else None
        )
        if broken:  # a cut made by a fault is no episode to report
            ended = np.flatnonzero(terminated | truncated)
            episodes = [ep for j, ep in zip(ended, episodes, strict=True) if j not in broken]
        return StepResult.shaped(
            self._obs.copy(), rewards, learn_terminated, terminated, truncated, final_obs, episodes
        )

    def close(self) -> None:
        for env in self.envs:
            env.close()


class AtariVectorGroup:
    """N Atari games stepped by ale-py's AtariVectorEnv, with the same interface as EnvGroup."""

    def __init__(
        self,
        make_vector: Callable[[int], Any],
        spec: ObsSpec,
        n: int,
        seed: int | Sequence[int],
        signal: LearningSignal,
        fail_fast: bool = False,
    ):
        self.make_vector, self.spec, self.n, self.signal, self.fail_fast = make_vector, spec, n, signal, fail_fast
        # The vector env takes one 32-bit seed and seeds game i with seed + i.
        self.seed = per_env_seeds(seed, n)[0] % 2**31
        self.vec = make_vector(n)
        self.obs_shape, self.obs_dtype = spec.shape, spec.torch_dtype
        self._obs: np.ndarray | None = None
        self._errors: list[str] = []
        self._rebuilds = 0

    @property
    def action_space(self) -> gym.Space:
        return self.vec.single_action_space

    def reset(self) -> np.ndarray:
        obs, info = self.vec.reset(seed=self.seed)
        self._obs = obs
        self.signal.start(info["lives"])
        return obs.copy()

    def take_errors(self) -> list[str]:
        errors, self._errors = self._errors, []
        return errors

    def step(self, actions: np.ndarray) -> StepResult:
        try:
            obs, raw, terminated, truncated, info = self.vec.step(np.asarray(actions, dtype=np.int64))
        except Exception:
            if self.fail_fast:
                raise
            # Every game is cut as by a time limit; reported episodes are dropped with them.
            self._errors.append(f"Atari vector env raised; rebuilt it:\n{traceback.format_exc(limit=6)}")
            self._rebuilds += 1
            last = self._obs
            assert last is not None  # a step comes after reset()
            try:
                self.vec.close()
            except Exception:
                pass
            self.vec = self.make_vector(self.n)
            self.seed += 7919
            fresh = self.reset()
            cut = np.ones(self.n, dtype=np.float32)
            return StepResult(
                fresh,
                np.zeros(self.n, np.float32),
                np.zeros(self.n, np.float32),
                cut,
                cut.copy(),
                {i: last[i].copy() for i in range(self.n)},
                [],
            )
        terminated = terminated.astype(bool)
        truncated = truncated.astype(bool) & ~terminated
        final_obs = {}
        if truncated.any():
            finals = info["final_obs"]
            final_obs = {int(i): np.array(finals[i]) for i in np.flatnonzero(truncated)}
        rewards, learn_terminated, episodes = self.signal.shape(
            raw.astype(np.float64), terminated, truncated, info["lives"]
        )
        self._obs = obs
        return StepResult.shaped(obs.copy(), rewards, learn_terminated, terminated, truncated, final_obs, episodes)

    def close(self) -> None:
        self.vec.close()
