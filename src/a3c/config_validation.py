"""Config's validation: the allowed values of every field, checked in groups, and the rules
between fields that need only the config. The first bad value raises a ConfigError that names the
field, the value and what is allowed. A leaf: it imports only a3c.errors; a3c.config, which calls
validate() from Config.__post_init__, passes the Config in (typed Any: importing it would be a cycle).
"""

from __future__ import annotations

import functools
import math
import re
from typing import Any

from a3c.errors import ConfigError

ALGOS = ("a3c", "ga3c")
ADVANTAGES = ("gae", "nstep")
OPTIMIZERS = ("rmsprop", "adam")
LR_SCHEDULES = ("constant", "linear", "linear_budget")
DEVICES = ("auto", "cpu", "cuda")
BACKENDS = ("local", "ray")
TORSOS = ("auto", "mlp", "a3c", "nature", "minatar", "universe")
OBS_LAYOUTS = ("auto", "chw", "hwc")
ENV_BACKENDS = ("auto", "ale_vector", "gymnasium")
SQUASHES = ("clip", "tanh")
PRECISIONS = ("float32", "bfloat16", "auto")
_RAY_ADDRESS = re.compile(r"^(auto|local|ray://\S+|[A-Za-z0-9_.\-\[\]:]+:\d{1,5})$")


def _require(cfg: Any, name: str, ok: bool, allowed: str) -> None:
    if not ok:
        raise ConfigError(name, getattr(cfg, name), allowed)


def validate(cfg: Any) -> None:
    """Every field's allowed values, checked in groups; the first bad one raises ConfigError."""
    r = functools.partial(_require, cfg)
    r("env_id", bool(cfg.env_id.strip()), "a Gymnasium env id such as CartPole-v1, or module:Class")
    r("algo", cfg.algo in ALGOS, " or ".join(ALGOS))
    r("total_steps", cfg.total_steps > 0, "a whole number > 0")
    r("time_limit", cfg.time_limit is None or cfg.time_limit > 0, "a number of seconds > 0")
    r("target_window", cfg.target_window >= 1, "a whole number >= 1")
    r("seed", cfg.seed >= 0, "a whole number >= 0")
    r("workers", 1 <= cfg.workers <= 1024, "a whole number from 1 to 1024")
    for check in (_validate_learning, _validate_network, _validate_envs, _validate_ga3c, _validate_run):
        check(cfg)


def _validate_learning(cfg: Any) -> None:
    """The rollout, the loss and the optimizer."""
    r = functools.partial(_require, cfg)
    r("envs_per_worker", 1 <= cfg.envs_per_worker <= 4096, "a whole number from 1 to 4096")
    r("t_max", 1 <= cfg.t_max <= 10_000, "a whole number from 1 to 10000")
    r("gamma", 0.0 <= cfg.gamma <= 1.0, "a number in [0, 1]")
    r("reward_scale", cfg.reward_scale > 0, "a number > 0")
    r("advantage", cfg.advantage in ADVANTAGES, " or ".join(ADVANTAGES))
    r("gae_lambda", 0.0 <= cfg.gae_lambda <= 1.0, "a number in [0, 1]")
    r("entropy_coef", cfg.entropy_coef >= 0, "a number >= 0")
    r("value_coef", cfg.value_coef >= 0, "a number >= 0")
    r("max_grad_norm", cfg.max_grad_norm > 0, "a number > 0")
    r("target_kl", cfg.target_kl is None or 0 < cfg.target_kl < math.inf, "a number > 0, or none (off)")
    r("optimizer", cfg.optimizer in OPTIMIZERS, " or ".join(OPTIMIZERS))
    r("lr", 0 < cfg.lr < 1, "a number in (0, 1)")
    r("lr_schedule", cfg.lr_schedule in LR_SCHEDULES, " or ".join(LR_SCHEDULES))
    r("loss_precision", cfg.loss_precision in PRECISIONS, ", ".join(PRECISIONS))
    r("rms_alpha", 0 < cfg.rms_alpha < 1, "a number in (0, 1)")
    r("rms_eps", cfg.rms_eps > 0, "a number > 0")
    r(
        "adam_betas",
        len(cfg.adam_betas) == 2 and all(0 <= b < 1 for b in cfg.adam_betas),
        "two numbers in [0, 1), e.g. 0.9,0.999",
    )
    r("adam_eps", cfg.adam_eps > 0, "a number > 0")


def _validate_network(cfg: Any) -> None:
    """The network and continuous actions."""
    r = functools.partial(_require, cfg)
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
    r(
        "log_std_min",
        cfg.log_std_min is None or -10.0 <= cfg.log_std_min <= cfg.log_std_init,
        f"a number from -10 to log_std_init ({cfg.log_std_init:g}), or none (no floor)",
    )
    r("torso", cfg.torso in TORSOS, " | ".join(TORSOS))
    r(
        "separate_critic",
        not (cfg.separate_critic and cfg.recurrent),
        "false with recurrent=true (the separate critic is a feed-forward MLP)",
    )
    r(
        "critic_grad_norm",
        cfg.critic_grad_norm is None or (cfg.separate_critic and 0 < cfg.critic_grad_norm < math.inf),
        "a number > 0 with separate_critic=true (the value network it clips on its own), or none"
        if cfg.separate_critic
        else "none unless separate_critic=true (it clips the separate value network's gradients)",
    )
    r(
        "aux_value_coef",
        0 <= cfg.aux_value_coef < math.inf and (cfg.separate_critic or cfg.aux_value_coef == 0),
        "a number >= 0 with separate_critic=true (a head beside the value network of its own)"
        if cfg.separate_critic
        else "0 unless separate_critic=true (with a shared torso the value head already trains it)",
    )
    # torso=auto picks a conv net for images only once the env is probed: models.py refuses that case.
    r(
        "separate_critic",
        not (cfg.separate_critic and cfg.torso not in ("auto", "mlp")),
        f"false with torso={cfg.torso} (the separate critic is an MLP, for vector observations)",
    )


def _validate_envs(cfg: Any) -> None:
    """Observations and the Atari protocol."""
    r = functools.partial(_require, cfg)
    r("obs_layout", cfg.obs_layout in OBS_LAYOUTS, " | ".join(OBS_LAYOUTS))
    r("env_backend", cfg.env_backend in ENV_BACKENDS, " | ".join(ENV_BACKENDS))
    r(
        "env_backend",
        not (cfg.env_backend == "ale_vector" and cfg.env_kwargs),
        "auto or gymnasium with env_kwargs (ale-py's vector env cannot take them; gym.make passes them on)",
    )
    r("frame_skip", 1 <= cfg.frame_skip <= 64, "a whole number from 1 to 64")
    r("frame_stack", 1 <= cfg.frame_stack <= 64, "a whole number from 1 to 64")
    r("screen_size", 8 <= cfg.screen_size <= 1024, "a whole number of pixels from 8 to 1024")
    r("noop_max", 0 <= cfg.noop_max <= 10_000, "a whole number from 0 to 10000")
    r("max_episode_frames", cfg.max_episode_frames >= 1, "a whole number of frames >= 1")


def _validate_ga3c(cfg: Any) -> None:
    """GA3C's roles."""
    r = functools.partial(_require, cfg)
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


def _validate_run(cfg: Any) -> None:
    """Where it runs, logging, checkpoints and fault tolerance."""
    r = functools.partial(_require, cfg)
    r("device", cfg.device in DEVICES, " or ".join(DEVICES))
    # A3C's workers each hold a CPU copy of the network by design; only GA3C batches onto a GPU.
    r(
        "device",
        not (cfg.algo == "a3c" and cfg.device == "cuda"),
        "cpu or auto with --algo a3c (its workers run on the CPU); --device cuda needs --algo ga3c",
    )
    r("backend", cfg.backend in BACKENDS, " or ".join(BACKENDS))
    r(
        "ray_address",
        cfg.ray_address is None or _RAY_ADDRESS.match(cfg.ray_address) is not None,
        "auto (the cluster this machine belongs to), HOST:PORT of a head node (e.g. 10.0.0.1:6379), "
        "ray://HOST:PORT, or unset for a new local Ray on this machine",
    )
    r(
        "ray_address",
        cfg.ray_address is None or cfg.backend == "ray",
        "unset with --backend local (it names the Ray cluster that --backend ray joins)",
    )
    r("ray_jobs_per_runner", 1 <= cfg.ray_jobs_per_runner <= 16, "a whole number from 1 to 16")
    r("ray_rollouts_per_job", 1 <= cfg.ray_rollouts_per_job <= 64, "a whole number from 1 to 64")
    r(
        "deterministic",
        not (cfg.deterministic and cfg.backend == "ray"),
        "false with --backend ray (deterministic=true runs in one process; it needs --backend local)",
    )
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
