"""Config: every knob of a run, its default and its help, in one frozen dataclass.

The CLI, TOML files and the Python API all build a Config. Precedence, lowest first:
the defaults below, the per-environment preset, a TOML file, then command-line flags.
Here too: what a field is (its type, help, whether it changes the env) and the merge of a
run's saved config with a resume's changes. A value's coercion into its field's type is
a3c.config_values'; the allowed values of every field, a3c.config_validation's; the TOML file,
a3c.config_toml's. A leaf, as they are: it imports no env, engine, model or run module (the
choice of an env's preset is a3c.defaults').
"""

from __future__ import annotations

import dataclasses
import difflib
import functools
import math
import os
import sys
import typing
from collections.abc import Callable
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

from a3c.config_toml import read_toml as read_toml  # where callers have always found it
from a3c.config_toml import write_toml
from a3c.config_validation import validate
from a3c.config_values import checked_value, coerce_value, describe, strip_optional
from a3c.errors import ConfigError, UserError


def knob(default: Any, help: str, *, env: bool = False, shown: str | None = None) -> Any:
    """A Config field and its help, which `a3c train --help` shows with the default (`shown` where
    the command line spells it otherwise). env=True marks a field that changes the env itself: its
    spaces, hence envs.probe's answer, which holds for any config that agrees on those fields."""
    return field(default=default, metadata={"help": help, "env": env, "shown": shown})


def made(factory: Callable[[], Any], help: str, *, env: bool = False, shown: str) -> Any:
    """knob for a default made afresh for each Config (a dict, the machine's CPU count)."""
    return field(default_factory=factory, metadata={"help": help, "env": env, "shown": shown})


@dataclass(frozen=True)
class Config:
    """Frozen: a change is a new, validated Config (cfg.replace(lr=1e-3)). Not hashable: env_kwargs
    is a dict."""

    # --- what to train and when to stop ---
    env_id: str = knob("CartPole-v1", "Gymnasium id (e.g. CartPole-v1) or module:Class", env=True)
    algo: str = knob("a3c", "a3c (Hogwild workers) or ga3c (agents that only act; batched predictors and trainers)")
    total_steps: int = knob(1_000_000, "stop after this many env steps over all workers, counted from the run's start")
    time_limit: float | None = knob(None, "stop after this many seconds of wall time; none: no limit")
    target_return: float | None = knob(
        None,
        "stop when the mean return of the last target_window training episodes reaches this; "
        "auto: the env's reward threshold, if it has one; none or off: no early stop",
        shown="auto",
    )
    target_window: int = knob(100, "finished training episodes (all workers together) in the 'solved' mean")
    seed: int = knob(0, "base random seed; every worker, agent and env gets its own seed derived from it")

    # --- parallelism ---
    workers: int = made(
        lambda: os.cpu_count() or 1,
        "worker processes (A3C), agent processes (GA3C) or Ray env runners (--backend ray)",
        shown="the CPU count",
    )
    envs_per_worker: int = knob(1, "envs each worker or agent steps side by side")

    # --- the algorithm ---
    t_max: int = knob(5, "steps per rollout (n of the n-step return)")
    gamma: float = knob(0.99, "discount factor")
    reward_scale: float = knob(1.0, "rewards are multiplied by this for learning; returns are reported unscaled")
    advantage: str = knob("gae", "nstep (the paper's n-step returns) or gae; gae with gae_lambda=1 equals nstep")
    gae_lambda: float = knob(1.0, "GAE's lambda: 1 is the n-step return; less trades variance for bias")
    entropy_coef: float = knob(0.01, "weight of the entropy bonus in the loss")
    value_coef: float = knob(0.5, "weight of the value loss")
    normalize_advantage: bool = knob(False, "each batch's advantages scaled to mean 0 and standard deviation 1")
    max_grad_norm: float = knob(40.0, "gradients are clipped to this global norm")
    # A cheap trust region for one-step updates.
    # On by default: without it a policy that sharpens takes ever larger steps in KL (to 1-4 a step on
    # InvertedDoublePendulum, 0.1-0.2 on CartPole) and falls from its peak (benchmarks/results/stability.md).
    target_kl: float | None = knob(
        0.002,
        "adaptive step size: after each update, the KL between the policy before and after it on the batch it "
        "trained on; above 2x target_kl the step size shrinks 1.5x, below half of it it grows back 1.5x, never "
        "past lr (the schedule's); none: off",
    )

    # --- optimizer ---
    optimizer: str = knob("rmsprop", "rmsprop or adam, with statistics shared by all workers")
    lr: float = knob(7e-4, "learning rate")
    lr_schedule: str = knob(
        "constant",
        "constant; linear: annealed to 0 at total_steps, as in the paper; linear_budget: annealed to 0 at the "
        "run's end, total_steps or time_limit, whichever comes first",
    )
    rms_alpha: float = knob(0.99, "RMSProp's smoothing constant")
    rms_eps: float = knob(0.1, "RMSProp's epsilon")
    adam_betas: tuple[float, ...] = knob((0.9, 0.999), "Adam's two betas")
    adam_eps: float = knob(1e-8, "Adam's epsilon")

    # bfloat16 takes a third or more off the loss pass's time on Pong's network where the CPU has the
    # units for it (AMX: 64 -> 39 ms per 160-step rollout, gradients at cosine 1.000 to float32's;
    # benchmarks/results/bf16-pong-step.json), and about as much with the LSTM's recurrence kept in
    # float32 (AVX-512 BF16: speed.md); the small MLPs of the vector envs gain nothing.
    loss_precision: str = knob(
        "float32",
        "the network's pass in the loss (forward and backward): float32; bfloat16 (torch.autocast on the torso "
        "and heads; an LSTM's recurrence and the loss itself stay float32; on a CPU without bfloat16 units it is "
        "emulated and slower); auto: bfloat16 when "
        "training on a CPU with AVX-512 BF16 or AMX, else float32",
    )

    # --- the network ---
    hidden_sizes: tuple[int, ...] = knob((64, 64), "widths of the MLP's hidden layers")
    activation: str = knob("tanh", "tanh or relu, between the MLP's layers")
    recurrent: bool = knob(False, "an LSTM after the torso, for envs whose observations hide part of the state")
    lstm_size: int = knob(64, "the LSTM's hidden units")

    # --- continuous actions and normalization ---
    action_squash: str = knob(
        "clip", "Box actions: Gaussian samples clipped to the bounds (clip), or squashed into them (tanh)"
    )
    # With clipping, a mean beyond the bounds has every sample clipped to the same action, nothing in
    # the policy gradient pulls it back, and the policy is stuck on full thrust.
    action_bound_coef: float = knob(
        0.0,
        "with action_squash=clip, a weight on the squared distance of the Gaussian's mean beyond the bounds "
        "(in half-ranges), which pulls it back inside; 0: off (tanh squashing ignores it)",
    )
    log_std_init: float = knob(0.0, "the Gaussian's initial log standard deviation")
    # Without an entropy bonus the spread shrinks without pause, and one update's step in the mean
    # grows in KL as 1/std^2.
    log_std_min: float | None = knob(None, "a floor on the Gaussian's log standard deviation; none: no floor")
    state_dependent_std: bool = knob(
        False, "the Gaussian's log std comes from the state (a head) instead of one free parameter"
    )
    separate_critic: bool = knob(
        False, "the value from an MLP of its own instead of the policy's torso (feed-forward MLP policies)"
    )
    critic_grad_norm: float | None = knob(
        None,
        "with separate_critic: the value network's gradients clipped to this norm on their own and the "
        "policy's to max_grad_norm, so a large value gradient no longer shrinks the policy's step; "
        "none: one clip over both",
    )
    aux_value_coef: float = knob(
        0.0,
        "with separate_critic: the weight of a second value head on the policy's own features, trained to the "
        "same targets and never used for the advantages (Phasic Policy Gradient's auxiliary value), so the value "
        "loss still shapes the policy's features as a shared torso's does; 0: none",
    )
    normalize_obs: bool = knob(
        False, "observations scaled by a running mean and variance, shared by all workers, saved in checkpoints"
    )
    normalize_reward: bool = knob(False, "rewards divided by the running standard deviation of the discounted return")

    # --- observations and Atari ---
    torso: str = knob(
        "auto",
        "auto (mlp for vectors, a conv net for images), mlp, or a conv net: a3c (Mnih 2016), nature (DQN), "
        "minatar, universe (42x42 frames)",
    )
    obs_layout: str = knob(
        "auto", "images: channels-first or -last detected from the shape (auto), or chw or hwc", env=True
    )
    env_backend: str = knob(
        "auto",
        "Atari: ale-py's C++ vector env (ale_vector) or Gymnasium's wrappers (gymnasium); auto: the vector env "
        "for image observations without env_kwargs",
        env=True,
    )
    frame_skip: int = knob(4, "Atari: each action repeated this many frames, max over the last two", env=True)
    frame_stack: int = knob(4, "Atari: frames stacked into one observation", env=True)
    screen_size: int = knob(84, "Atari: frames resized to this many pixels square", env=True)
    noop_max: int = knob(30, "Atari: up to this many no-op steps at the start of each game", env=True)
    sticky_actions: bool = knob(False, "Atari: repeat_action_probability 0.25 (the v5 protocol) instead of 0", env=True)
    max_episode_frames: int = knob(108_000, "Atari: a game is cut (truncated) after this many frames", env=True)
    clip_rewards: bool = knob(False, "learning sees rewards clipped to [-1, 1]; on for Atari ids")
    episodic_life: bool = knob(False, "a lost life ends the bootstrap (not the episode); on for Atari ids")
    fail_fast: bool = knob(False, "an env that raises stops the run instead of being rebuilt")

    # --- GA3C ---
    predictors: int = knob(1, "GA3C: predictors at the start (each batches observations into one forward pass)")
    trainers: int = knob(1, "GA3C: trainers at the start (each batches rollout segments into one update)")
    predict_batch: int = knob(64, "GA3C: most observations in one forward pass")
    predict_timeout_ms: float = knob(2.0, "GA3C: longest a predictor waits to fill a batch, in milliseconds")
    train_batch: int = knob(4, "GA3C: fewest rollout segments in one update")
    # On a busy CPU the backlog grows the batches, and fewer, larger updates learn less per env step.
    max_train_batch: int = knob(
        0, "GA3C: most segments in one update (a backlog joins the batch up to this many); 0: all of it"
    )
    dynamic_adjust: bool = knob(
        True, "GA3C: a random walk over the numbers of agents, predictors and trainers, keeping what trains faster"
    )
    adjust_interval_s: float = knob(5.0, "GA3C: seconds between adjustments")
    max_agents: int = knob(16, "GA3C: most agents the adjustment may run")
    max_predictors: int = knob(4, "GA3C: most predictors the adjustment may run")
    max_trainers: int = knob(4, "GA3C: most trainers the adjustment may run")
    # Local GA3C corrects no lag by default: its lag is ~1 update, and V-trace's truncated traces cost
    # more than they fix (MinAtar Breakout, 2 seeds at once for 300 s: 17.0 and 7.4 without against
    # 5.8 and 6.2 with; CartPole time to 475 the same). Ray's GA3C, whose lag is a round trip, always
    # uses it. benchmarks/results/correctness.md, 2026-12-02.
    vtrace: bool = knob(False, "GA3C: correct the policy lag with V-trace (always on with --backend ray)")
    vtrace_rho_bar: float = knob(1.0, "V-trace: the clip of the importance weights in the value targets")
    vtrace_c_bar: float = knob(1.0, "V-trace: the clip of the importance weights in the traces")

    # --- where it runs ---
    device: str = knob("auto", "auto (CUDA when PyTorch sees a GPU), cpu or cuda (GA3C only)")
    backend: str = knob("local", "local (processes on this machine) or ray (actors on a Ray cluster)")
    ray_address: str | None = knob(
        None,
        "the Ray cluster --backend ray joins: auto, HOST:PORT of a head node, or ray://HOST:PORT; "
        "none: RAY_ADDRESS, or a new local Ray",
    )
    ray_jobs_per_runner: int = knob(
        2,
        "--backend ray: jobs (A3C gradients, GA3C segments) queued on each env runner; with 2 a runner starts "
        "its next rollout while the last one crosses to the driver, at about one more update of policy lag",
    )
    # 2 halves the round trips (CartPole: 0.79x local steps/s against 0.48x) but doubled the steps
    # to 475 with its lag (benchmarks/results/ray.md).
    ray_rollouts_per_job: int = knob(
        1,
        "--backend ray, A3C: gradients a runner computes per job, each on its own rollout from the weights "
        "it was sent, applied one by one by the learner",
    )

    # --- reproducibility ---
    deterministic: bool = knob(
        False,
        "one process steps every worker's envs in a fixed order with deterministic torch: the same config and "
        "seed give the same metrics.csv (but its wall-clock columns) and weights; slower",
    )
    log_interval_steps: int = knob(10_000, "with deterministic=true, a metrics row every this many env steps")
    env_kwargs: dict[str, Any] = made(
        dict,
        "keyword arguments for gym.make(env_id) or the env class, as JSON: '{\"key\": 1}' (a table in a TOML file)",
        env=True,
        shown="{}",
    )

    # --- fault tolerance ---
    checkpoint_first_s: float = knob(5.0, "seconds to the first periodic checkpoint (there is one at step 0 too)")
    checkpoint_every_steps: int = knob(1_000_000, "also checkpoint after this many env steps; 0: by time only")
    restart_limit: int = knob(
        5, "a worker, agent, predictor or trainer that dies this often in a row, doing nothing, stops the run"
    )
    nonfinite_patience: int = knob(
        10, "NaN or inf updates in a row (each skipped) before the last good checkpoint is restored"
    )
    nonfinite_restores: int = knob(3, "restores without a good checkpoint in between before the run gives up")

    # --- output ---
    run_dir: str | None = knob(None, "the run directory, created if missing", shown="runs/<env>-<algo>-<timestamp>")
    log_interval_s: float = knob(2.0, "seconds between metrics rows")
    checkpoint_interval_s: float = knob(60.0, "seconds between periodic checkpoints")
    tensorboard: bool = knob(True, "TensorBoard events in the run's tb/")
    progress: bool = knob(True, "the progress bar; off when stdout is not a terminal and in tests")

    def __post_init__(self) -> None:
        for name, cast in (("hidden_sizes", int), ("adam_betas", float)):
            value = getattr(self, name)
            try:  # a TOML file or a caller can hand over anything: fail by field name, not TypeError
                if isinstance(value, str):
                    raise TypeError
                object.__setattr__(self, name, tuple(cast(v) for v in value))
            except (TypeError, ValueError):
                raise ConfigError(name, value, describe(_field_type(name))) from None
        if isinstance(self.target_return, str):  # Config(target_return="off") as on the command line
            object.__setattr__(self, "target_return", coerce("target_return", self.target_return))
        for f in fields(self):
            object.__setattr__(self, f.name, checked_value(f.name, _field_type(f.name), getattr(self, f.name)))
        # GA3C on Ray always corrects its policy lag, a network round trip or more, with V-trace:
        # forced, not merely defaulted, so that config.toml says what trained.
        if self.algo == "ga3c" and self.backend == "ray" and not self.vtrace:
            object.__setattr__(self, "vtrace", True)
        validate(self)

    # ----- construction -----
    @classmethod
    def for_env(cls, env_id: str, **overrides: Any) -> Config:
        """The config for env_id: defaults, then that env's preset, then overrides. An env with
        no preset of its own gets its family's defaults, chosen from its spaces.

        a3c.defaults.for_env does the work: choosing a family builds the env, and this module is
        a leaf that imports no env code. The a3c package imports a3c.defaults, and Python runs
        the package's import before any of its modules', so it is always loaded by now."""
        return sys.modules["a3c.defaults"].for_env(env_id, **overrides)

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
        write_toml(self.to_dict(), path, meta)

    def resolved_target(self, env_threshold: float | None) -> float | None:
        """The return that stops the run, or None for no early stop."""
        if self.target_return is None:
            return env_threshold
        return None if self.target_return == math.inf else self.target_return


def resumed_config(
    saved: dict[str, Any], changes: dict[str, Any], run_dir: str | Path, env_id: str | None = None
) -> Config:
    """The config a resume trains: the run's saved config (its checkpoint's), the caller's changes on
    top (a TOML file, --set and flags, merged as for a new run) and run_dir the run's own, wherever
    it was first written. env_id, if given (ENV_ID on the command line), must be the run's."""
    if env_id and env_id != saved["env_id"]:
        raise UserError(f"run {run_dir} trains {saved['env_id']}, not {env_id}; drop ENV_ID or match it")
    return Config.from_dict({**saved, **changes, "run_dir": str(run_dir)})


def field_names() -> list[str]:
    return [f.name for f in fields(Config)]


# The fields marked env=True, which change the env itself: envs.probe keys its answer by them.
ENV_FIELDS = tuple(f.name for f in fields(Config) if f.metadata["env"])


def field_help(name: str) -> str:
    """A field's help and its default as the command line spells it (`a3c train --help`)."""
    f = next(f for f in fields(Config) if f.name == name)
    shown = f.metadata["shown"]
    if shown is None:
        shown = "none" if f.default is None else _spelled(f.default)
    return f"{f.metadata['help']} (default: {shown})"


def _spelled(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, tuple):
        return ",".join(str(v) for v in value)
    return str(value)


def unknown_field_error(name: str) -> ConfigError:
    close = difflib.get_close_matches(name, field_names(), n=3)
    hint = f"did you mean {', '.join(close)}? " if close else ""
    return ConfigError(name, "(unknown field)", f"{hint}one of: {', '.join(field_names())}")


# ----- a field's type -----
def _field_type(name: str) -> Any:
    return _type_hints()[name]


@functools.cache
def _type_hints() -> dict[str, Any]:
    # Evaluating the annotations costs ~1.5 ms, and every field of every Config asked for them
    # (150 ms a Config.replace); they never change.
    return typing.get_type_hints(Config)


def field_kind(name: str) -> Any:
    """A field's type without its None: float for `float | None`."""
    return strip_optional(_field_type(name))[0]


def coerce(name: str, value: Any) -> Any:
    """Turn a value from the CLI (a string) or TOML into the field's type, or raise ConfigError."""
    return coerce_value(name, _field_type(name), value)
