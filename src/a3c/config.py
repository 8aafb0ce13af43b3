"""Config: every knob of a run, its default and its validation, in one dataclass.

The CLI, TOML files and the Python API all build a Config. Precedence, lowest first:
the defaults below, the per-environment preset, a TOML file, then command-line flags.
"""

from __future__ import annotations

import dataclasses
import difflib
import json
import math
import os
import types
import typing
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

import tomli_w
import tomllib

from a3c.errors import ConfigError, UserError

ALGOS = ("a3c", "ga3c")
ADVANTAGES = ("gae", "nstep")
OPTIMIZERS = ("rmsprop", "adam")
LR_SCHEDULES = ("constant", "linear")
DEVICES = ("auto", "cpu", "cuda")
BACKENDS = ("local", "ray")
TORSOS = ("auto", "mlp", "a3c", "nature", "minatar")
OBS_LAYOUTS = ("auto", "chw", "hwc")
ENV_BACKENDS = ("auto", "ale_vector", "gymnasium")
SQUASHES = ("clip", "tanh")


@dataclass
class Config:
    # --- what to train and when to stop ---
    env_id: str = "CartPole-v1"
    algo: str = "a3c"
    total_steps: int = 1_000_000  # env steps over all workers, counted from the run's start
    time_limit: float | None = None  # seconds of wall time; None: no limit
    # None: the env's reward_threshold, if it has one; inf ("none" or "off" on the command line): no early stop
    target_return: float | None = None
    target_window: int = 100  # finished training episodes in the "solved" mean
    seed: int = 0

    # --- parallelism ---
    workers: int = field(default_factory=lambda: os.cpu_count() or 1)
    envs_per_worker: int = 1

    # --- the algorithm ---
    t_max: int = 5  # steps per rollout (n of the n-step return)
    gamma: float = 0.99
    reward_scale: float = 1.0  # rewards are multiplied by this for learning; returns are reported unscaled
    advantage: str = "gae"  # "nstep" (the paper) or "gae"; gae with gae_lambda=1 equals nstep
    gae_lambda: float = 1.0
    entropy_coef: float = 0.01
    value_coef: float = 0.5
    normalize_advantage: bool = False
    max_grad_norm: float = 40.0

    # --- optimizer ---
    optimizer: str = "rmsprop"
    lr: float = 7e-4
    lr_schedule: str = "constant"  # "linear" anneals to 0 at total_steps, as in the paper
    rms_alpha: float = 0.99
    rms_eps: float = 0.1
    adam_betas: tuple[float, ...] = (0.9, 0.999)
    adam_eps: float = 1e-8

    # --- the network ---
    hidden_sizes: tuple[int, ...] = (64, 64)
    activation: str = "tanh"
    recurrent: bool = False
    lstm_size: int = 64

    # --- continuous actions and normalization ---
    action_squash: str = "clip"  # Box actions: Gaussian samples clipped to the bounds, or tanh-squashed into them
    # With clipping, a weight on the squared distance of the Gaussian's mean beyond the bounds (in half-ranges):
    # out there every sample is clipped to the same action, nothing in the policy gradient pulls the mean back,
    # and the policy is stuck on full thrust. 0 turns it off; tanh squashing ignores it (its means are unbounded).
    action_bound_coef: float = 0.0
    log_std_init: float = 0.0  # the Gaussian's initial log standard deviation
    state_dependent_std: bool = False  # the log std comes from the state (a head) instead of one free parameter
    separate_critic: bool = False  # the value from an MLP of its own instead of the policy's torso (MLP, feed-forward)
    normalize_obs: bool = False  # running mean/variance of observations, shared by all workers, saved in checkpoints
    normalize_reward: bool = False  # rewards divided by the running std of the discounted return

    # --- observations and Atari ---
    torso: str = "auto"  # mlp for vectors; conv nets for images: a3c (Mnih 2016), nature (DQN), minatar
    obs_layout: str = "auto"  # images: channels-first or -last detected from the shape, or chw / hwc
    env_backend: str = "auto"  # Atari: ale_vector (ale-py's C++ vector env) unless gymnasium is asked for
    frame_skip: int = 4  # Atari: each action repeated this many frames, max over the last two
    frame_stack: int = 4
    screen_size: int = 84
    noop_max: int = 30  # Atari: up to this many no-op steps at the start of each game
    sticky_actions: bool = False  # Atari: repeat_action_probability 0.25 (the v5 protocol) instead of 0
    max_episode_frames: int = 108_000  # Atari: a game is cut (truncated) after this many frames
    clip_rewards: bool = False  # learning sees rewards clipped to [-1, 1]; on for Atari ids
    episodic_life: bool = False  # a lost life ends the bootstrap (not the episode); on for Atari ids
    fail_fast: bool = False  # an env that raises stops the run instead of being rebuilt

    # --- GA3C ---
    predictors: int = 1
    trainers: int = 1
    predict_batch: int = 64  # most observations in one forward pass
    predict_timeout_ms: float = 2.0  # longest a predictor waits to fill a batch
    train_batch: int = 4  # fewest rollout segments in one update
    # Most segments in one update: a backlog joins the batch up to this many; 0: all of it. On a
    # busy CPU the backlog grows the batches, and fewer, larger updates learn less per env step.
    max_train_batch: int = 0
    dynamic_adjust: bool = True
    adjust_interval_s: float = 5.0
    max_agents: int = 16
    max_predictors: int = 4
    max_trainers: int = 4
    # Local GA3C corrects no lag by default: its lag is ~1 update, and V-trace's truncated traces cost
    # more than they fix (MinAtar Breakout, 2 seeds at once for 300 s: 17.0 and 7.4 without against
    # 5.8 and 6.2 with; CartPole time to 475 the same). Ray's GA3C, whose lag is a round trip, always
    # uses it. benchmarks/results/correctness.md, 2026-12-02.
    vtrace: bool = False
    vtrace_rho_bar: float = 1.0
    vtrace_c_bar: float = 1.0

    # --- where it runs ---
    device: str = "auto"
    backend: str = "local"
    ray_address: str | None = None

    # --- reproducibility ---
    # One process steps every worker's envs in a fixed order with deterministic torch: the same
    # config and seed give the same metrics.csv (but its wall-clock columns) and weights. Slower.
    deterministic: bool = False
    log_interval_steps: int = 10_000  # with deterministic=true, a metrics row every this many env steps
    env_kwargs: dict[str, Any] = field(default_factory=dict)  # keyword arguments for gym.make(env_id) or the class

    # --- fault tolerance ---
    checkpoint_first_s: float = 5.0  # the first periodic checkpoint comes this soon (there is one at step 0 too)
    checkpoint_every_steps: int = 1_000_000  # also checkpoint after this many env steps; 0: by time only
    restart_limit: int = (
        5  # a worker/agent/predictor/trainer that dies this often in a row, doing nothing, stops the run
    )
    nonfinite_patience: int = 10  # NaN/inf updates in a row (each skipped) before the last good checkpoint is restored
    nonfinite_restores: int = 3  # restores without a good checkpoint in between before the run gives up

    # --- output ---
    run_dir: str | None = None  # None: runs/<env>-<algo>-<timestamp>
    log_interval_s: float = 2.0
    checkpoint_interval_s: float = 60.0
    tensorboard: bool = True
    progress: bool = True  # the progress bar; off when stdout is not a terminal and in tests

    def __post_init__(self) -> None:
        for name, cast in (("hidden_sizes", int), ("adam_betas", float)):
            value = getattr(self, name)
            try:  # a TOML file or a caller can hand over anything: fail by field name, not TypeError
                if isinstance(value, str):
                    raise TypeError
                setattr(self, name, tuple(cast(v) for v in value))
            except (TypeError, ValueError):
                raise ConfigError(name, value, _describe(_field_type(name))) from None
        if isinstance(self.target_return, str):  # Config(target_return="off") as on the command line
            self.target_return = coerce("target_return", self.target_return)
        _check_types(self)
        _validate(self)

    # ----- construction -----
    @classmethod
    def for_env(cls, env_id: str, **overrides: Any) -> Config:
        """The config for env_id: defaults, then that env's preset, then overrides. An env with
        no preset of its own whose observations are images gets the pixel defaults as its preset."""
        algo = overrides.get("algo", "a3c")
        preset = preset_for(env_id, algo)
        cfg = cls.from_dict({**preset, **overrides, "env_id": env_id})
        if not preset and _observes_images(cfg):
            cfg = cls.from_dict({**preset_for(env_id, algo, images=True), **overrides, "env_id": env_id})
        return cfg

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> Config:
        known = field_names()
        for name in values:
            if name not in known:
                raise unknown_field_error(name)
        return cls(**{k: coerce(k, v) for k, v in values.items()})

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def replace(self, **changes: Any) -> Config:
        return Config.from_dict({**self.to_dict(), **changes})

    # ----- TOML -----
    def save_toml(self, path: str | Path, meta: dict[str, Any] | None = None) -> None:
        # TOML has no null: fields left at None are written as comments so the file
        # still lists every knob and reads back to the same config. Tables (env_kwargs, and
        # [meta], which read_toml ignores) go last, as TOML requires.
        data = self.to_dict()
        present = {
            k: (list(v) if isinstance(v, tuple) else v)
            for k, v in data.items()
            if v is not None and not isinstance(v, dict)
        }
        text = tomli_w.dumps(present)
        unset = [k for k, v in data.items() if v is None]
        if unset:
            text += "".join(f"# {k} = (unset)\n" for k in unset)
        tables = {k: v for k, v in data.items() if isinstance(v, dict)}
        if meta:
            tables["meta"] = {k: v for k, v in meta.items() if v is not None}
        if tables:
            text += "\n" + tomli_w.dumps(tables)
        Path(path).write_text(text)

    def resolved_target(self, env_threshold: float | None) -> float | None:
        """The return that stops the run, or None for no early stop."""
        if self.target_return is None:
            return env_threshold
        return None if self.target_return == math.inf else self.target_return


def field_names() -> list[str]:
    return [f.name for f in fields(Config)]


def unknown_field_error(name: str) -> ConfigError:
    close = difflib.get_close_matches(name, field_names(), n=3)
    hint = f"did you mean {', '.join(close)}? " if close else ""
    return ConfigError(name, "(unknown field)", f"{hint}one of: {', '.join(field_names())}")


def read_toml(path: str | Path) -> dict[str, Any]:
    path = Path(path)
    if not path.is_file():
        raise UserError(f"config file not found: {path}")
    try:
        data = tomllib.loads(path.read_text())
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise UserError(f"config file {path} is not valid TOML: {exc}") from None
    # A nested table is accepted so a file may group knobs, e.g. [a3c] or [train]; env_kwargs is
    # itself a table, and [meta] (versions a run was made with) is a record, not config.
    flat: dict[str, Any] = {}
    for key, value in data.items():
        if key == "meta":
            continue
        if isinstance(value, dict) and key not in TABLE_FIELDS:
            flat.update(value)
        else:
            flat[key] = value
    return flat


TABLE_FIELDS = ("env_kwargs",)


# ----- per-environment presets -----
# What every continuous-control preset below shares: GAE over 16-step rollouts, Adam,
# normalized observations and advantages, no entropy bonus, the gradient norm clipped to 0.5.
_CONTINUOUS = dict(
    t_max=16,
    advantage="gae",
    gae_lambda=0.95,
    gamma=0.99,
    optimizer="adam",
    normalize_obs=True,
    normalize_advantage=True,
    entropy_coef=0.0,
    max_grad_norm=0.5,
    hidden_sizes=(64, 64),
)
# What the classic-control presets below share: GAE over 8-env rollouts, Adam, normalized
# advantages, a 64x64 net and the gradient norm clipped to 0.5.
_CLASSIC = dict(
    envs_per_worker=8,
    advantage="gae",
    gae_lambda=0.95,
    optimizer="adam",
    normalize_advantage=True,
    hidden_sizes=(64, 64),
    max_grad_norm=0.5,
)
# Returns of up to ~100 (gamma 0.99) make the value error dominate the clipped gradient;
# scaled rewards and normalized advantages let the policy term through. With them every
# seed solves in ~100k steps instead of ~550k.
_CARTPOLE = dict(
    _CLASSIC,
    t_max=8,
    lr=3e-3,
    reward_scale=0.1,
    entropy_coef=0.0,
    value_coef=0.5,
    total_steps=2_000_000,
)
# -1 per step until the goal: without reward scaling the value targets sit near -100 and
# the policy gradient drowns in value error; with it, every seed solves in ~40k steps.
_ACROBOT = dict(
    _CLASSIC,
    t_max=16,
    lr=1e-3,
    reward_scale=0.01,
    entropy_coef=0.01,
    total_steps=2_000_000,
    target_return=-100.0,
)
# Tuned on a 2-core machine; each applies unless the user sets the field.
PRESETS: dict[str, dict[str, Any]] = {
    "CartPole-v1": _CARTPOLE,
    "Acrobot-v1": _ACROBOT,
    # Continuous control. Pendulum pays -16..0 per step: without normalized observations and
    # scaled rewards the value error swamps the policy term. gamma 0.9 as in rl-zoo3 (a swing-up
    # pays off within ~20 steps). Tuned on 2 cores, steps until the mean of the last 100 returns
    # reached -250: defaults (gamma 0.99, RMSProp) 516k steps, 139 s; these 411k, 476k, 591k
    # (seeds 0-2). Seed 0 variants: without normalize_obs 408k (Pendulum's observations are
    # already bounded); tanh squash 422k; lr 2e-3 with t_max 8 295-357k but one seed of three
    # missed; normalize_reward in place of reward_scale 0.1 did not get there in 100 s.
    "Pendulum-v1": dict(
        _CONTINUOUS,
        envs_per_worker=8,
        gamma=0.9,
        lr=1e-3,
        reward_scale=0.1,
        total_steps=2_000_000,
    ),
    # MuJoCo: rewards of ~-1..+10 per step over 1000-step episodes, observations of mixed scale.
    # Tuned on 2 cores (machine loaded), mean return of the last 100 episodes at 400k steps,
    # seed 0: log_std_init -1 650, log_std_init 0 394, 256x256 ReLU -134. A smaller initial
    # spread keeps the early random torques from drowning the gradient.
    "HalfCheetah-v5": dict(
        _CONTINUOUS,
        envs_per_worker=4,
        lr=3e-4,
        normalize_reward=True,
        log_std_init=-1.0,
        total_steps=10_000_000,
    ),
    # Box2D lander: shaped rewards with +-100 at the end of an episode. Tuned on 2 cores: lr 1e-3
    # (3e-4 was at -103 after 970k steps), log std -1, 128x128, annealed linearly over 3M steps
    # (at a constant 1e-3 it rose to +131 and fell back to -113). Without action_bound_coef
    # three runs of four ended at -125, -111 and -11: their Gaussian means sat at up to +-11 on
    # [-1, 1] axes, every sample clipped, the engines stuck off or full on. With 1.0 the means
    # stay inside, and three seeds ended at 167, 204 and 205 (two reached 200 in ~100 s) beside
    # SB3 PPO's 11-38 after 300 s. gamma 0.999 with lambda 0.98 and a separate critic did worse.
    # (benchmarks/results/continuous.md, 2026-12-02)
    "LunarLanderContinuous-v3": dict(
        _CONTINUOUS,
        envs_per_worker=8,
        lr=1e-3,
        lr_schedule="linear",
        normalize_reward=True,
        log_std_init=-1.0,
        hidden_sizes=(128, 128),
        total_steps=3_000_000,
        action_bound_coef=1.0,
    ),
    # The partially observed toy envs (toy_envs.py): velocities hidden, so only a recurrent
    # policy can infer them. Each preset is recurrent and carries the reward scaling and
    # advantage normalization that make its full-observation twin robust; without them the
    # value error swamped the clipped gradient and MaskedCartPole's LSTM reached anywhere from
    # 147 to 250 in 1.2M steps, depending on the seed. Measured over 3 seeds in
    # benchmarks/results/recurrent.md.
    "a3c/MaskedCartPole-v1": dict(
        _CARTPOLE,
        recurrent=True,
        lstm_size=64,
        t_max=16,
        gamma=0.98,  # a shorter horizon, as rl-zoo3's RecurrentPPO uses on CartPoleNoVel
        gae_lambda=0.9,
        total_steps=3_000_000,
    ),
    # Acrobot's preset, with memory and half its step size: at lr 1e-3 the LSTM policy
    # collapsed to never reaching the goal (-500) on one seed of three.
    "a3c/MaskedAcrobot-v1": dict(_ACROBOT, recurrent=True, lstm_size=64, lr=5e-4),
    # Pendulum has no reward threshold; -300 is a pendulum swung up and held most episodes.
    "a3c/MaskedPendulum-v1": dict(
        _CLASSIC,
        recurrent=True,
        lstm_size=64,
        t_max=16,
        gamma=0.95,
        lr=1e-3,
        reward_scale=0.1,
        entropy_coef=0.0,
        total_steps=3_000_000,
        target_return=-300.0,
    ),
}


# Changes to an env's preset for one engine. GA3C's agents run many envs each, since its
# predictors gain from big batches; its policy lag wants a smaller step size than A3C's.
ALGO_PRESETS: dict[tuple[str, str], dict[str, Any]] = {
    ("CartPole-v1", "ga3c"): dict(envs_per_worker=64, lr=1e-3, train_batch=1),
    # Recurrent GA3C (the env's preset has recurrent=true). Tuned here, 2 cores shared with other
    # jobs: with the A3C preset's lr 2e-3 and raw rewards it stayed at ~30 after 1M steps; scaled
    # rewards and normalized advantages (as for CartPole-v1) made it learn, and lr 5e-4 instead of
    # 1e-3 kept it from collapsing (1e-3 missed 475 within 3M steps on seed 2). 5/5 seeds then solved
    # in 28-57 s (1-2.2M steps; benchmarks/results/ga3c-lstm.md). total_steps leaves room for a slow
    # machine: the 3M of the A3C preset is ~1 minute here.
    # Measured with gamma 0.99 and lambda 0.95 (the A3C preset's values then), kept here as measured.
    ("a3c/MaskedCartPole-v1", "ga3c"): dict(
        envs_per_worker=32,
        t_max=16,
        lr=5e-4,
        train_batch=1,
        gamma=0.99,
        gae_lambda=0.95,
        reward_scale=0.1,
        normalize_advantage=True,
        total_steps=30_000_000,
    ),
}


# Defaults for every id of a family, beneath any per-env preset above.
# Atari: the A3C paper's protocol and settings (shared RMSProp, lr 7e-4 annealed to 0,
# entropy 0.01, t_max 5, grad norm 40, clipped rewards, a lost life ends the bootstrap).
# One change: the paper's RMSProp eps of 0.1 went with a loss summed over each thread's
# steps; our loss is a mean over t_max x envs samples, whose gradients are ~40x smaller,
# and eps 0.1 under the square root turned RMSProp into slow SGD (MinAtar Breakout stayed
# at random play for 1.7M steps). 1e-5 is what A2C ports use with mean losses. For the
# same reason the paper's gradient-norm clip of 40 is far too loose on a mean loss: clip 0.5
# is rl-zoo3's A2C Atari setting, and on MinAtar, where we could measure it, clipping at 0.5
# instead of 40 was the difference between ~6 and ~23 after 120 s. The value weight: our value
# term is 0.5 * MSE, so value_coef 1.0 is OpenAI baselines' A2C (0.5 * MSE); rl-zoo3's 0.25
# has no 1/2 in front. On Pong (seed 0, alone on 2 cores) 0.25 here was at -18.4 after 2.7M
# steps and 1.0 at -13.4: the shared conv torso learns its features from the value error.
# Each worker batches its envs into one conv forward pass: 8 envs cost ~3x one, not 8x.
# The learning settings of both pixel families below (Atari, and images without a preset).
_PIXEL_LEARNING = dict(
    optimizer="rmsprop",
    lr=7e-4,
    rms_alpha=0.99,
    rms_eps=1e-5,
    entropy_coef=0.01,
    value_coef=1.0,
    max_grad_norm=0.5,
    t_max=5,
    advantage="nstep",
    gamma=0.99,
    envs_per_worker=8,
)
_ATARI = dict(
    _PIXEL_LEARNING,
    clip_rewards=True,
    episodic_life=True,
    lr_schedule="linear",
    total_steps=10_000_000,
    lstm_size=256,
)
# MinAtar: 10x10 grids. Tuned here on Breakout, 2 cores, mean return of the last 100
# episodes after 120 s: the paper's RMSProp (eps 1e-5, clip 40) ~6; SB3 A2C's settings
# (RMSProp, value 0.25, clip 0.5) 5.5; Adam lr 1e-3 with clip 40 ~6.6; Adam lr 1e-3 with
# value 0.25 and the gradient norm clipped to 0.5: 23.3.
_MINATAR = dict(
    optimizer="adam",
    lr=1e-3,
    entropy_coef=0.01,
    value_coef=0.25,
    max_grad_norm=0.5,
    t_max=5,
    advantage="nstep",
    gamma=0.99,
    envs_per_worker=16,
    total_steps=10_000_000,
)
# Any other env whose observations are images (a custom pixel game, CarRacing): the Atari settings
# without Atari's protocol (no reward clipping, no lives, lr constant as the length is unknown).
# The plain defaults (the paper's RMSProp eps 0.1 and clip 40 on our mean loss) did not learn at
# all: on a pixel Catch game (tests/pixel_envs.py) they stayed at random play (-0.8) on 10x10 grids
# and on 40x40 frames, where these settings reached +1.0 (perfect) by 0.23M steps and +0.1 / -0.5
# by 0.3M steps (2 seeds each; benchmarks/results/pixels.md).
_IMAGE = dict(_PIXEL_LEARNING)
FAMILY_PRESETS: dict[str, dict[str, Any]] = {"atari": _ATARI, "minatar": _MINATAR, "image": _IMAGE}
# GA3C's learner trains every agent's segments. On Pong (seed 0, alone on 2 cores) lr 3e-4 and then
# 7e-4 with the whole backlog in each update (~2.5 segments on a busy CPU) stayed at random play
# (-20.0 after 3.5M steps); one segment per update at 7e-4, A2C's 16 envs x 5 steps, left the
# plateau: -18.4 at 3.36M steps, at the same ~1,650 steps/s. On Breakout (seed 0, alone, 30 min)
# 16 envs per agent stayed near random play (2.3 after 2.4M steps; random 1.0) where A3C reached
# 10.0: per env step it made half of A3C's updates. 8 envs per agent, A3C's 40-sample updates, made
# GA3C track A3C step for step (8.1 at 2.1M; A3C 8.1 at 2.1M), and on Pong 8 reached -17.9 after
# 1.87M steps (25 min) where 16 was at -20.1 at 1.69M: the family default is 8.
FAMILY_ALGO_PRESETS: dict[tuple[str, str], dict[str, Any]] = {
    ("atari", "ga3c"): dict(envs_per_worker=8, train_batch=1, max_train_batch=1, lr=7e-4),
    ("minatar", "ga3c"): dict(envs_per_worker=32, train_batch=1),
    ("image", "ga3c"): dict(envs_per_worker=16, train_batch=1),
}
# Per-game presets hold only what differs from their family's defaults.
PRESETS.update(
    {
        "ALE/Pong-v5": dict(target_return=18.0),  # 21 is a perfect game; papers call 18+ solved
        "ALE/Breakout-v5": dict(),
        "MinAtar/Breakout-v1": dict(),
        "MinAtar/SpaceInvaders-v1": dict(),
    }
)


def _observes_images(cfg: Config) -> bool:
    from a3c.envs import probe  # the env layer imports this module

    try:
        spec, _ = probe(cfg)
    except Exception:  # a bad id or a broken env: training probes it again and reports what is wrong
        return False
    return spec.is_image


def env_family(env_id: str) -> str | None:
    if env_id.startswith("ALE/") or env_id.endswith("NoFrameskip-v4"):
        return "atari"
    if env_id.startswith("MinAtar/"):
        return "minatar"
    return None


def preset_for(env_id: str, algo: str = "a3c", images: bool = False) -> dict[str, Any]:
    """The preset of env_id under algo: its family's defaults, then its own. images: the env's
    observations are images, so an id of no family gets the pixel defaults."""
    family = env_family(env_id) or ("image" if images else None)
    return {
        **FAMILY_PRESETS.get(family or "", {}),
        **FAMILY_ALGO_PRESETS.get((family or "", algo), {}),
        **PRESETS.get(env_id, {}),
        **ALGO_PRESETS.get((env_id, algo), {}),
    }


# ----- parsing and validation -----
def _field_type(name: str) -> Any:
    hints = typing.get_type_hints(Config)
    return hints[name]


def _strip_optional(tp: Any) -> tuple[Any, bool]:
    origin = typing.get_origin(tp)
    if origin in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(tp) if a is not type(None)]
        return args[0], True
    return tp, False


def coerce(name: str, value: Any) -> Any:
    """Turn a value from the CLI (a string) or TOML into the field's type, or raise ConfigError."""
    tp, optional = _strip_optional(_field_type(name))
    if name == "target_return" and isinstance(value, str):
        # An explicit none/off disables the early stop; auto (or nothing) is the env's threshold.
        text = value.strip().lower()
        if text in ("none", "off", "null"):
            return math.inf
        if text in ("auto", ""):
            return None
    if isinstance(value, str):
        text = value.strip()
        if typing.get_origin(tp) is dict:
            try:
                parsed = json.loads(text)
            except ValueError as exc:
                raise ConfigError(name, value, f"{_describe(tp)} (not valid JSON: {exc})") from None
            if not isinstance(parsed, dict):
                raise ConfigError(name, value, _describe(tp))
            return parsed
        if optional and text.lower() in ("none", "null", ""):
            return None
        try:
            if tp is bool:
                lowered = text.lower()
                if lowered in ("true", "1", "yes", "on"):
                    return True
                if lowered in ("false", "0", "no", "off"):
                    return False
                raise ValueError
            if tp is int:
                number = float(text.replace("_", ""))
                if number != int(number):
                    raise ValueError
                return int(number)
            if tp is float:
                return float(text.replace("_", ""))
            if typing.get_origin(tp) is tuple:
                inner = typing.get_args(tp)[0]
                parts = [p for p in text.strip("[]() ").replace(" ", "").split(",") if p]
                return tuple(inner(p) for p in parts)
        except (ValueError, OverflowError):  # OverflowError: int("inf")
            raise ConfigError(name, value, _describe(tp)) from None
        return text
    if value is None:
        if optional:
            return None
        raise ConfigError(name, value, _describe(tp))
    if tp is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if tp is int and isinstance(value, float) and value.is_integer():  # False for inf and nan
        return int(value)
    if typing.get_origin(tp) is tuple and isinstance(value, (list, tuple)):
        return tuple(value)
    return value


def _describe(tp: Any) -> str:
    if tp is bool:
        return "true or false"
    if tp is int:
        return "a whole number"
    if tp is float:
        return "a number"
    if typing.get_origin(tp) is tuple:
        return "a comma-separated list of numbers, e.g. 64,64"
    if typing.get_origin(tp) is dict:
        return "a JSON object such as '{\"key\": 1}' (a TOML table in a file)"
    return "a string"


def _check_types(cfg: Config) -> None:
    for f in fields(cfg):
        value = getattr(cfg, f.name)
        tp, optional = _strip_optional(_field_type(f.name))
        if value is None:
            if not optional:
                raise ConfigError(f.name, value, _describe(tp))
            continue
        ok = {
            bool: lambda v: isinstance(v, bool),
            int: lambda v: isinstance(v, int) and not isinstance(v, bool),
            float: lambda v: isinstance(v, (int, float)) and not isinstance(v, bool),
            str: lambda v: isinstance(v, str),
        }.get(tp, lambda v, tp=tp: isinstance(v, dict if typing.get_origin(tp) is dict else tuple))(value)
        if not ok:
            raise ConfigError(f.name, value, _describe(tp))
        if tp is float:
            setattr(cfg, f.name, float(value))


def _require(cfg: Config, name: str, ok: bool, allowed: str) -> None:
    if not ok:
        raise ConfigError(name, getattr(cfg, name), allowed)


def _validate(cfg: Config) -> None:
    r = lambda name, ok, allowed: _require(cfg, name, ok, allowed)  # noqa: E731
    r("env_id", bool(cfg.env_id.strip()), "a Gymnasium env id such as CartPole-v1, or module:Class")
    r("algo", cfg.algo in ALGOS, " or ".join(ALGOS))
    r("total_steps", cfg.total_steps > 0, "a whole number > 0")
    r("time_limit", cfg.time_limit is None or cfg.time_limit > 0, "a number of seconds > 0")
    r("target_window", cfg.target_window >= 1, "a whole number >= 1")
    r("seed", cfg.seed >= 0, "a whole number >= 0")
    r("workers", 1 <= cfg.workers <= 1024, "a whole number from 1 to 1024")
    r("envs_per_worker", 1 <= cfg.envs_per_worker <= 4096, "a whole number from 1 to 4096")
    r("t_max", 1 <= cfg.t_max <= 10_000, "a whole number from 1 to 10000")
    r("gamma", 0.0 <= cfg.gamma <= 1.0, "a number in [0, 1]")
    r("reward_scale", cfg.reward_scale > 0, "a number > 0")
    r("advantage", cfg.advantage in ADVANTAGES, " or ".join(ADVANTAGES))
    r("gae_lambda", 0.0 <= cfg.gae_lambda <= 1.0, "a number in [0, 1]")
    r("entropy_coef", cfg.entropy_coef >= 0, "a number >= 0")
    r("value_coef", cfg.value_coef >= 0, "a number >= 0")
    r("max_grad_norm", cfg.max_grad_norm > 0, "a number > 0")
    r("optimizer", cfg.optimizer in OPTIMIZERS, " or ".join(OPTIMIZERS))
    r("lr", 0 < cfg.lr < 1, "a number in (0, 1)")
    r("lr_schedule", cfg.lr_schedule in LR_SCHEDULES, " or ".join(LR_SCHEDULES))
    r("rms_alpha", 0 < cfg.rms_alpha < 1, "a number in (0, 1)")
    r("rms_eps", cfg.rms_eps > 0, "a number > 0")
    r(
        "adam_betas",
        len(cfg.adam_betas) == 2 and all(0 <= b < 1 for b in cfg.adam_betas),
        "two numbers in [0, 1), e.g. 0.9,0.999",
    )
    r("adam_eps", cfg.adam_eps > 0, "a number > 0")
    r(
        "hidden_sizes",
        len(cfg.hidden_sizes) >= 1 and all(h >= 1 for h in cfg.hidden_sizes),
        "one or more layer widths >= 1, e.g. 64,64",
    )
    r("activation", cfg.activation in ("tanh", "relu"), "tanh or relu")
    r("lstm_size", cfg.lstm_size >= 1, "a whole number >= 1")
    r("action_squash", cfg.action_squash in SQUASHES, " | ".join(SQUASHES))
    r("action_bound_coef", 0 <= cfg.action_bound_coef < math.inf, "a number >= 0")
    r("log_std_init", -10.0 <= cfg.log_std_init <= 5.0, "a number from -10 to 5")
    r("torso", cfg.torso in TORSOS, " | ".join(TORSOS))
    r(
        "separate_critic",
        not (cfg.separate_critic and cfg.recurrent),
        "false with recurrent=true (the separate critic is a feed-forward MLP)",
    )
    r("obs_layout", cfg.obs_layout in OBS_LAYOUTS, " | ".join(OBS_LAYOUTS))
    r("env_backend", cfg.env_backend in ENV_BACKENDS, " | ".join(ENV_BACKENDS))
    r("frame_skip", 1 <= cfg.frame_skip <= 64, "a whole number from 1 to 64")
    r("frame_stack", 1 <= cfg.frame_stack <= 64, "a whole number from 1 to 64")
    r("screen_size", 8 <= cfg.screen_size <= 1024, "a whole number of pixels from 8 to 1024")
    r("noop_max", 0 <= cfg.noop_max <= 10_000, "a whole number from 0 to 10000")
    r("max_episode_frames", cfg.max_episode_frames >= 1, "a whole number of frames >= 1")
    r("predictors", cfg.predictors >= 1, "a whole number >= 1")
    r("trainers", cfg.trainers >= 1, "a whole number >= 1")
    r("predict_batch", cfg.predict_batch >= 1, "a whole number >= 1")
    r("predict_timeout_ms", cfg.predict_timeout_ms >= 0, "a number of milliseconds >= 0")
    r("train_batch", cfg.train_batch >= 1, "a whole number >= 1")
    r(
        "max_train_batch",
        cfg.max_train_batch == 0 or cfg.max_train_batch >= cfg.train_batch,
        f"0 (no cap) or a whole number >= train_batch ({cfg.train_batch})",
    )
    r("adjust_interval_s", cfg.adjust_interval_s > 0, "a number of seconds > 0")
    r("max_agents", cfg.max_agents >= 1, "a whole number >= 1")
    r("max_predictors", cfg.max_predictors >= 1, "a whole number >= 1")
    r("max_trainers", cfg.max_trainers >= 1, "a whole number >= 1")
    r("vtrace_rho_bar", cfg.vtrace_rho_bar > 0, "a number > 0")
    r("vtrace_c_bar", cfg.vtrace_c_bar > 0, "a number > 0")
    r("device", cfg.device in DEVICES, " or ".join(DEVICES))
    # A3C's workers each hold a CPU copy of the network by design; only GA3C batches onto a GPU.
    r(
        "device",
        not (cfg.algo == "a3c" and cfg.device == "cuda"),
        "cpu or auto with --algo a3c (its workers run on the CPU); --device cuda needs --algo ga3c",
    )
    r("backend", cfg.backend in BACKENDS, " or ".join(BACKENDS))
    r("log_interval_s", cfg.log_interval_s > 0, "a number of seconds > 0")
    r("checkpoint_interval_s", cfg.checkpoint_interval_s > 0, "a number of seconds > 0")
    r(
        "target_return",
        cfg.target_return is None or not math.isnan(cfg.target_return),
        "a number, none or off (no early stop), or auto (the env's reward threshold)",
    )
    r("log_interval_steps", cfg.log_interval_steps >= 1, "a whole number >= 1")
    r(
        "env_kwargs",
        all(isinstance(k, str) for k in cfg.env_kwargs) and _toml_value(cfg.env_kwargs),
        "a table of names to strings, numbers, booleans, lists or tables (TOML has no null)",
    )

    r("checkpoint_first_s", cfg.checkpoint_first_s > 0, "a number of seconds > 0")
    r("checkpoint_every_steps", cfg.checkpoint_every_steps >= 0, "a whole number >= 0 (0: by time only)")
    r("restart_limit", cfg.restart_limit >= 1, "a whole number >= 1")
    r("nonfinite_patience", cfg.nonfinite_patience >= 1, "a whole number >= 1")
    r("nonfinite_restores", cfg.nonfinite_restores >= 0, "a whole number >= 0")


def _toml_value(value: Any) -> bool:
    """True if value can be written to config.toml and to a checkpoint's JSON as it is."""
    if isinstance(value, dict):
        return all(isinstance(k, str) and _toml_value(v) for k, v in value.items())
    if isinstance(value, (list, tuple)):
        return all(_toml_value(v) for v in value)
    return isinstance(value, (str, int, float, bool))
