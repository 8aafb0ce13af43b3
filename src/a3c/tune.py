"""Hyperparameter tuning on Optuna: a study over Config fields whose trials are ordinary runs.

Each trial samples some Config fields, then trains one run per seed, one after another, each an
`a3c train` subprocess with its own run directory. While a run trains, its metrics.csv is read
and the trial reports the objective at fixed points of its budget, so Optuna's median pruner can
stop a bad trial early: a pruned trial is a run that was sent SIGTERM. The study lives in SQL
storage (SQLite in the study directory unless --storage names another), so an interrupted study
continues where it stopped and machines that share a database share the study.

The search space is data: SPACES below, one per family (as presets are chosen), in the format a
--space TOML file uses to change it:

    defaults = true        # start from the family's space (false: only the tables below)
    startup_trials = 5     # complete trials before the pruner may stop one
    warmup_reports = 3     # reports of a trial before it may be stopped
    [lr]
    low = 1e-4
    high = 3e-3
    log = true
    [t_max]
    choices = [5, 8, 16]
"""

from __future__ import annotations

import csv
import math
import os
import signal
import subprocess
import sys
import threading
import time
import typing
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import tomli_w
import tomllib

from a3c.config import Config, coerce, field_kind, field_names, unknown_field_error
from a3c.defaults import for_env
from a3c.errors import ConfigError, UserError
from a3c.presets import env_family

if TYPE_CHECKING:
    import optuna

PIP_HINT = "pip install 'a3c[tune]'"
REPORTS_PER_SEED = 10  # points of each seed's budget at which a trial reports (and may be pruned)
POLL_S = 0.2  # how often a running trial's metrics.csv is read
STOP_WAIT_S = 30.0  # a stopped run gets this long to write its checkpoint and summary before a kill
FAILURES_IN_A_ROW = 3  # trials that fail one after another before the study gives up

# Default search spaces: ranges around what the presets (config.py) settled on for each family.
# Categorical lists where zero is a sensible value (entropy) or a few values say all (t_max).
Spec = dict[str, Any]  # one field's table: low, high, log, step or choices
_VECTOR: dict[str, Spec] = {
    "lr": {"low": 1e-4, "high": 1e-2, "log": True},
    "entropy_coef": {"choices": [0.0, 0.001, 0.003, 0.01, 0.03]},
    "t_max": {"choices": [5, 8, 16, 32]},
    "gamma": {"choices": [0.95, 0.98, 0.99, 0.995, 0.999]},
    "gae_lambda": {"choices": [0.8, 0.9, 0.95, 0.98, 1.0]},
    "envs_per_worker": {"choices": [1, 4, 8, 16]},
    "value_coef": {"low": 0.25, "high": 1.0},
    "max_grad_norm": {"choices": [0.3, 0.5, 1.0, 5.0, 40.0]},
}
# Continuous control: Gaussian policies want smaller steps, longer rollouts and little or no entropy bonus.
_CONTINUOUS: dict[str, Spec] = dict(
    _VECTOR,
    lr={"low": 5e-5, "high": 3e-3, "log": True},
    entropy_coef={"choices": [0.0, 0.0001, 0.001, 0.01]},
    t_max={"choices": [8, 16, 32]},
    gamma={"choices": [0.9, 0.95, 0.98, 0.99, 0.995]},
    envs_per_worker={"choices": [4, 8, 16]},
    max_grad_norm={"choices": [0.3, 0.5, 1.0, 5.0]},
)
# Pixels: the A2C/A3C Atari settings give or take a factor; the conv torso learns from the value error.
_PIXELS: dict[str, Spec] = {
    "lr": {"low": 1e-4, "high": 2e-3, "log": True},
    "entropy_coef": {"choices": [0.003, 0.01, 0.02]},
    "t_max": {"choices": [5, 8, 16, 20]},
    "gamma": {"choices": [0.98, 0.99, 0.995]},
    "gae_lambda": {"choices": [0.9, 0.95, 1.0]},
    "envs_per_worker": {"choices": [4, 8, 16]},
    "value_coef": {"choices": [0.25, 0.5, 1.0]},
    "max_grad_norm": {"choices": [0.5, 1.0, 5.0, 40.0]},
}
_MINATAR: dict[str, Spec] = dict(
    _PIXELS, lr={"low": 1e-4, "high": 3e-3, "log": True}, envs_per_worker={"choices": [8, 16, 32]}
)
SPACES: dict[str, dict[str, Spec]] = {
    "discrete": _VECTOR,
    "continuous": _CONTINUOUS,
    "atari": _PIXELS,
    "minatar": _MINATAR,
    "image": _PIXELS,
}
SEARCH_SETTINGS = {  # top-level keys of a space file: name -> (default, what is allowed)
    "defaults": (True, "true or false"),
    "startup_trials": (5, "a whole number >= 0"),
    "warmup_reports": (3, "a whole number >= 0"),
}
SPEC_KEYS = ("low", "high", "log", "step", "choices")
OBJECTIVES = {
    "return": "mean return of the last 100 episodes at the end of the budget",
    "time": "time to the target return (the budget for a seed that does not reach it)",
}


def _optuna():
    """Optuna, or a clear exit 2 naming the extra."""
    try:
        import optuna
    except ImportError:
        raise UserError(
            f"a3c tune needs Optuna, which is not installed. Install it with: {PIP_HINT} "
            "(or pip install -e '.[tune]' in a checkout)."
        ) from None
    return optuna


# ----- the search space -----
@dataclass(frozen=True)
class Param:
    """One searched Config field: a range from low to high (log-uniform with log, on a grid with
    step), or a list of choices."""

    name: str
    low: float | None = None
    high: float | None = None
    log: bool = False
    step: float | None = None
    choices: tuple = ()
    integer: bool = False

    def suggest(self, trial: optuna.Trial) -> Any:
        if self.choices:
            return trial.suggest_categorical(self.name, list(self.choices))
        assert self.low is not None and self.high is not None
        if self.integer:
            return trial.suggest_int(self.name, int(self.low), int(self.high), step=int(self.step or 1), log=self.log)
        return trial.suggest_float(self.name, self.low, self.high, step=self.step, log=self.log)

    def describe(self) -> str:
        if self.choices:
            return f"{self.name} in {list(self.choices)}"
        how = " (log)" if self.log else f" (step {self.step})" if self.step else ""
        return f"{self.name} {self.low:g}..{self.high:g}{how}"


def _as_choice(name: str, value: Any) -> Any:
    """A TOML value as an Optuna choice (None, bool, int, float or str): a list (hidden_sizes) is
    written as "64,64", which the Config reads back."""
    if isinstance(value, list) and typing.get_origin(field_kind(name)) is tuple:
        return ",".join(str(v) for v in value)
    return value


def parse_param(name: str, spec: Any, source: str, base: Config) -> Param:
    """A Param from its table, checked against the Config: each choice and each end of a range
    must be a valid value of the field (in the base config)."""
    if name not in field_names():
        err = unknown_field_error(name)
        raise UserError(f"search space {source}: [{name}] is not a Config field. Allowed: {err.allowed}.")
    where = f"search space {source}: [{name}]"
    if not isinstance(spec, dict):
        raise UserError(
            f"{where} must be a table, e.g. [{name}] with low = ..., high = ... or choices = [...]; got {spec!r}"
        )
    unknown = [k for k in spec if k not in SPEC_KEYS]
    if unknown:
        raise UserError(
            f"{where}: unknown key {', '.join(unknown)}. Allowed: {', '.join(SPEC_KEYS)} "
            "(low and high, with log = true or a step; or choices = [...])."
        )
    kind = field_kind(name)
    if "choices" in spec:
        choices = spec["choices"]
        if set(spec) != {"choices"}:
            raise UserError(f"{where}: choices goes alone, without {', '.join(k for k in spec if k != 'choices')}.")
        if not isinstance(choices, list) or not choices:
            raise UserError(f"{where}: choices must be a non-empty list, e.g. choices = [5, 8, 16]; got {choices!r}")
        if typing.get_origin(kind) is dict:
            raise UserError(f"{where}: {name} is a table and cannot be searched.")
        param = Param(name, choices=tuple(_as_choice(name, c) for c in choices))
        values = list(param.choices)
    else:
        if "low" not in spec or "high" not in spec:
            raise UserError(f"{where}: give low and high (a range) or choices = [...] (a list).")
        if kind not in (int, float):
            raise UserError(f"{where}: {name} is not a number; search it with choices = [...].")
        low, high, log, step = spec["low"], spec["high"], spec.get("log", False), spec.get("step")
        numbers = [v for v in (low, high, step) if v is not None]
        if not all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in numbers):
            raise UserError(
                f"{where}: low, high and step must be numbers; got low={low!r}, high={high!r}, step={step!r}"
            )
        if kind is int and not all(float(v).is_integer() for v in numbers):
            raise UserError(f"{where}: {name} is a whole number, so low, high and step must be whole numbers too.")
        if not isinstance(log, bool):
            raise UserError(f"{where}: log must be true or false; got {log!r}")
        if not low < high:
            raise UserError(f"{where}: low ({low}) must be less than high ({high}).")
        if log and low <= 0:
            raise UserError(f"{where}: a log range needs low > 0; got low={low}.")
        if log and step is not None:
            raise UserError(f"{where}: give log = true or a step, not both.")
        if step is not None and not 0 < step <= high - low:
            raise UserError(f"{where}: step must be > 0 and at most high - low; got {step}.")
        param = Param(name, low=low, high=high, log=log, step=step, integer=kind is int)
        values = [low, high]
    for value in values:
        try:
            base.replace(**{name: coerce(name, value)})
        except ConfigError as exc:
            raise UserError(f"{where}: {exc}") from None
    return param


@dataclass
class Space:
    params: dict[str, Param]
    startup_trials: int = 5
    warmup_reports: int = 3
    notes: list[str] = field(default_factory=list)


def build_space(
    family: str | None, base: Config, given: dict[str, Any] | None, source: str, fixed: Sequence[str] = ()
) -> Space:
    """The family's default space changed by `given` (a --space file's contents), less the fields
    fixed with --set. gae_lambda only counts with GAE, so it is left out when the run uses n-step returns."""
    given = dict(given or {})
    settings = {}
    for key, (default, allowed) in SEARCH_SETTINGS.items():
        value = given.pop(key, default)
        ok = (
            isinstance(value, bool)
            if isinstance(default, bool)
            else (isinstance(value, int) and not isinstance(value, bool) and value >= 0)
        )
        if not ok:
            raise UserError(f"search space {source}: invalid value for '{key}': {value!r}. Allowed: {allowed}.")
        settings[key] = value
    for key, value in given.items():
        if not isinstance(value, dict):
            raise UserError(
                f"search space {source}: '{key}' is neither a search setting ({', '.join(SEARCH_SETTINGS)}) "
                f"nor a table of a Config field such as [lr] with low = ..., high = ..."
            )
    specs: dict[str, Any] = dict(SPACES[family or "discrete"]) if settings["defaults"] else {}
    notes = []
    if settings["defaults"] and base.advantage != "gae" and "gae_lambda" not in given:
        specs.pop("gae_lambda", None)
        notes.append("gae_lambda is not searched: this run uses n-step returns (advantage=nstep)")
    specs.update(given)
    params = {name: parse_param(name, spec, source, base) for name, spec in specs.items()}
    for name in fixed:
        if name in params:
            del params[name]
            notes.append(f"{name} is not searched: --set fixes it")
    return Space(params, settings["startup_trials"], settings["warmup_reports"], notes)


def read_space(path: str | Path) -> dict[str, Any]:
    path = Path(path)
    if not path.is_file():
        raise UserError(f"search space file not found: {path}")
    try:
        return tomllib.loads(path.read_text())
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise UserError(f"search space file {path} is not valid TOML: {exc}") from None


def family_of(base: Config) -> str:
    """The family whose default space applies, chosen as presets are: Atari and MinAtar by id,
    other image envs by their observations, vector envs by their actions."""
    import gymnasium as gym

    from a3c.envs import probe

    family = env_family(base.env_id)
    if family:
        return family
    spec, action_space = probe(base)  # a bad id or a missing extra fails here, before any trial
    if spec.is_image:
        return "image"
    return "continuous" if isinstance(action_space, gym.spaces.Box) else "discrete"


# ----- the budget and the objective -----
@dataclass(frozen=True)
class Budget:
    """What each seed of a trial trains for: seconds of wall time or env steps."""

    kind: str  # "time" or "steps"
    amount: float

    @property
    def unit(self) -> str:
        return "s" if self.kind == "time" else "steps"

    def flags(self) -> list[str]:
        if self.kind == "time":
            return ["--time-limit", f"{self.amount:g}"]
        return ["--total-steps", str(int(self.amount))]

    def progress(self, row: dict[str, str]) -> float | None:
        try:
            return float(row["wall_s" if self.kind == "time" else "env_steps"])
        except (KeyError, TypeError, ValueError):  # a row being written
            return None

    def points(self) -> list[float]:
        return [self.amount * (i + 1) / REPORTS_PER_SEED for i in range(REPORTS_PER_SEED)]

    def __str__(self) -> str:
        return f"{self.amount:g} s" if self.kind == "time" else f"{int(self.amount):,} steps"


class TrialFailed(Exception):
    """A run of a trial failed (exit code 1 or 2, or no summary): the trial is marked failed."""


class _Stop(KeyboardInterrupt):
    """The study is stopping (Ctrl-C or SIGTERM): the running trials end their runs and fail."""


@dataclass
class Tuning:
    """Everything a study needs. `space` is a --space file's contents (None: the family's default
    space); `fixed` are --set pairs, as strings, for every run; `candidates` are named sets of such
    pairs, each run as a trial of its own before any is sampled (the sweep's use)."""

    env_id: str
    trials: int
    budget: Budget
    seeds: tuple[int, ...] = (0,)
    objective: str = "return"
    jobs: int = 1
    study_name: str | None = None
    storage: str | None = None
    study_dir: str | Path | None = None
    fixed: dict[str, str] = field(default_factory=dict)
    space: dict[str, Any] | None = None
    space_source: str = "(default)"
    prune: bool = True
    sampler_seed: int = 0
    candidates: dict[str, dict[str, str]] = field(default_factory=dict)
    quiet: bool = False


def default_study_dir(env_id: str) -> Path:
    return Path("tune-" + env_id.replace("/", "_").replace(":", "_"))


def _cli_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (tuple, list)):
        return ",".join(str(v) for v in value)
    return str(value)


def _read_rows(path: Path) -> list[dict[str, str]]:
    try:
        with open(path, newline="") as fh:
            return list(csv.DictReader(fh))
    except OSError:
        return []


def _read_summary(run_dir: Path) -> dict[str, Any] | None:
    import json

    try:
        return json.loads((run_dir / "summary.json").read_text())
    except (OSError, ValueError):
        return None


def _log_tail(path: Path, lines: int = 3) -> str:
    try:
        text = path.read_text(errors="replace").strip().splitlines()
    except OSError:
        return "(no log)"
    return " / ".join(line.strip() for line in text[-lines:]) or "(empty log)"


class Tuner:
    """A study and its objective. The objective trains one run per seed, in order, and reports
    the objective at REPORTS_PER_SEED points of each seed's budget (step = seed index x points +
    point), each the mean over the seeds so far: finished seeds at their end, the current one at
    the point. Every trial runs the same seeds in the same order, so the pruner compares like with like."""

    def __init__(self, tuning: Tuning):
        self.t = tuning
        self.optuna = _optuna()
        self._check(tuning)
        fixed = {k.strip().replace("-", "_"): str(v) for k, v in tuning.fixed.items()}
        for key in fixed:
            if key not in field_names():
                raise unknown_field_error(key)
        for key in ("env_id", "run_dir"):
            if key in fixed:
                raise UserError(
                    f"--set {key}=... cannot be used with a3c tune: each trial's runs get their own "
                    f"{'env (ENV_ID)' if key == 'env_id' else 'run directory in the study directory'}."
                )
        base_seed = int(coerce("seed", fixed.pop("seed"))) if "seed" in fixed else 0
        self.seeds = tuple(base_seed + s for s in tuning.seeds)
        self.base = for_env(tuning.env_id, **fixed)  # every --set value checked here, exit 2 if bad
        self.fixed = fixed
        if tuning.objective == "time":
            from a3c.envs import env_threshold

            target = self.base.resolved_target(env_threshold(tuning.env_id))
            if target is None:
                raise UserError(
                    f"--objective time needs a target return, and {tuning.env_id} has none (or it is "
                    "off). Give one with --set target_return=R, or use --objective return."
                )
            self.target = target
        # The family (which may probe the env) matters only when the default space is used.
        self.family = family_of(self.base) if (tuning.space or {}).get("defaults", True) is not False else None
        self.space = build_space(self.family, self.base, tuning.space, tuning.space_source, fixed=list(fixed))
        for name, settings in tuning.candidates.items():
            try:
                self.base.replace(**settings)
            except ConfigError as exc:
                raise UserError(f"candidate {name}: {exc}") from None
        self.study_dir = Path(tuning.study_dir) if tuning.study_dir else default_study_dir(tuning.env_id)
        self.study_name = tuning.study_name or tuning.env_id
        self.stopping = threading.Event()
        self._failures_in_a_row = 0
        self.gave_up: str | None = None
        self._lock = threading.Lock()
        self._candidates: list[str] = []

    @staticmethod
    def _check(t: Tuning) -> None:
        if t.trials < 1:
            raise UserError(f"--trials must be a whole number >= 1, not {t.trials}")
        if t.jobs < 1:
            raise UserError(f"--jobs must be a whole number >= 1, not {t.jobs}")
        if not t.seeds:
            raise UserError("--seeds must be a whole number >= 1")
        if t.objective not in OBJECTIVES:
            raise UserError(f"--objective must be one of {', '.join(OBJECTIVES)}, not {t.objective!r}")
        if not (t.budget.amount > 0 and math.isfinite(t.budget.amount)):
            what = "--trial-time (seconds)" if t.budget.kind == "time" else "--trial-steps"
            raise UserError(f"{what} must be a number > 0, not {t.budget.amount:g}")

    # ----- storage and study -----
    @property
    def storage_url(self) -> str:
        return self.t.storage or f"sqlite:///{self.study_dir / 'study.db'}"

    def shown_url(self) -> str:
        """The storage URL without its password."""
        from sqlalchemy.engine import make_url
        from sqlalchemy.exc import SQLAlchemyError

        try:
            return make_url(self.storage_url).render_as_string(hide_password=True)
        except (SQLAlchemyError, ValueError):
            return self.storage_url

    def open_study(self) -> optuna.Study:
        from sqlalchemy.exc import SQLAlchemyError

        optuna = self.optuna
        self.study_dir.mkdir(parents=True, exist_ok=True)
        try:
            # Heartbeats: a trial whose process was killed (kill -9, a lost machine) is marked failed
            # by the next run of the study instead of staying RUNNING for ever.
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
                storage = optuna.storages.RDBStorage(self.storage_url, heartbeat_interval=30, grace_period=120)
        except (SQLAlchemyError, ImportError, ValueError, OSError) as exc:  # ImportError: no driver for it
            raise UserError(
                f"cannot open the study storage {self.shown_url()}: {type(exc).__name__}: "
                f"{str(exc).splitlines()[0] if str(exc) else ''}. --storage takes an SQLAlchemy URL "
                "such as sqlite:///study.db, postgresql://user@host/db or mysql://user@host/db "
                "(the database's driver installed)."
            ) from None
        direction = "maximize" if self.t.objective == "return" else "minimize"
        pruner: Any = (
            optuna.pruners.MedianPruner(
                n_startup_trials=self.space.startup_trials, n_warmup_steps=self.space.warmup_reports
            )
            if self.t.prune
            else optuna.pruners.NopPruner()
        )
        study = optuna.create_study(
            study_name=self.study_name, storage=storage, direction=direction, pruner=pruner, load_if_exists=True
        )
        if study.direction.name.lower() != direction:
            raise UserError(
                f"study {self.study_name} in {self.shown_url()} was made to {study.direction.name.lower()} "
                f"(another --objective); give another --study name or the objective it was made with."
            )
        made = {
            "env_id": self.t.env_id,
            "objective": self.t.objective,
            "budget": [self.t.budget.kind, self.t.budget.amount],
            "seeds": list(self.seeds),
        }
        before = study.user_attrs.get("a3c")
        if before is None:
            study.set_user_attr("a3c", made)
        elif before != made:
            diff = ", ".join(f"{k} {before.get(k)} (now {v})" for k, v in made.items() if before.get(k) != v)
            raise UserError(
                f"study {self.study_name} in {self.shown_url()} was made with {diff}; its trials would not "
                "compare with these. Give another --study name (or --study-dir), or the same options."
            )
        # Seeded, and seeded apart on each continuation: a resumed study samples new points, not its first ones again.
        study.sampler = optuna.samplers.TPESampler(seed=self.t.sampler_seed + len(study.trials), n_startup_trials=5)
        return study

    # ----- a trial -----
    def command(self, seed: int, run_dir: Path, settings: dict[str, str]) -> list[str]:
        cmd = [
            sys.executable,
            "-m",
            "a3c",
            "train",
            self.t.env_id,
            "--run-dir",
            str(run_dir),
            "--seed",
            str(seed),
            *self.t.budget.flags(),
            "--set",
            "progress=false",
            "--set",
            "tensorboard=false",
        ]
        if "workers" not in settings:  # J trials side by side share the cores
            cmd += ["--workers", str(max(1, (os.cpu_count() or 1) // self.t.jobs))]
        if self.t.objective == "return" and "target_return" not in settings:
            cmd += ["--target-return", "off"]  # every trial trains its whole budget: returns at the same point
        if "log_interval_s" not in settings:
            interval = (
                min(2.0, max(0.25, self.t.budget.amount / (2 * REPORTS_PER_SEED)))
                if self.t.budget.kind == "time"
                else 0.5
            )
            cmd += ["--set", f"log_interval_s={interval:g}"]
        if "log_interval_steps" not in settings and self.t.budget.kind == "steps":  # deterministic runs log by steps
            cmd += ["--set", f"log_interval_steps={max(1, int(self.t.budget.amount) // REPORTS_PER_SEED)}"]
        for key, value in settings.items():
            cmd += ["--set", f"{key}={value}"]
        return cmd

    def objective(self, trial: optuna.Trial) -> float:
        try:
            return self._trial(trial)
        except TrialFailed as exc:  # why, for the progress line and trials.csv
            trial.set_user_attr("error", str(exc))
            raise
        except KeyboardInterrupt:
            trial.set_user_attr("error", "interrupted")
            raise

    def _trial(self, trial: optuna.Trial) -> float:
        if self.stopping.is_set():
            raise _Stop()
        with self._lock:  # Optuna's own queue (enqueue_trial) can hand one trial to two threads on SQLite
            candidate = self._candidates.pop(0) if self._candidates else None
        if candidate is not None:
            trial.set_user_attr("candidate", candidate)
            trial.set_user_attr("settings", dict(self.t.candidates[candidate]))
        settings = {**self.fixed, **trial.user_attrs.get("settings", {})}
        params = {name: p.suggest(trial) for name, p in self.space.params.items() if name not in settings}
        settings.update({name: _cli_value(value) for name, value in params.items()})
        label = trial.user_attrs.get("candidate") or f"trial-{trial.number:04d}"
        trial_dir = self.study_dir / "trials" / label
        finals: list[float] = []
        run_dirs: list[str] = []
        for index, seed in enumerate(self.seeds):
            run_dir = trial_dir / f"seed-{seed}"
            run_dirs.append(str(run_dir))
            trial.set_user_attr("run_dirs", run_dirs)
            finals.append(self._run_seed(trial, index, seed, run_dir, settings, finals))
        return sum(finals) / len(finals)

    def _run_seed(
        self, trial: optuna.Trial, index: int, seed: int, run_dir: Path, settings: dict[str, str], finals: list[float]
    ) -> float:
        run_dir.parent.mkdir(parents=True, exist_ok=True)
        log_path = run_dir.parent / f"seed-{seed}.log"
        points = self.t.budget.points()
        reported = 0
        with open(log_path, "w") as log:
            # A session of its own: Ctrl-C reaches this process alone, which then stops the run with
            # one SIGTERM (a second signal in the middle of the run's shutdown could cut its checkpoint short).
            proc = subprocess.Popen(
                self.command(seed, run_dir, settings),
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
            )
            try:
                while True:
                    code = proc.poll()
                    if self.stopping.is_set():
                        raise _Stop()
                    rows = _read_rows(run_dir / "metrics.csv")
                    summary = _read_summary(run_dir) if code is not None else None
                    while reported < len(points):
                        value = self._seed_value(points[reported], rows, code, summary)
                        if value is _NOT_YET:
                            break
                        reported += 1
                        if value is None:  # no episode finished yet: nothing to compare
                            continue
                        step = index * REPORTS_PER_SEED + reported
                        trial.report((sum(finals) + float(value)) / (len(finals) + 1), step)
                        # The same decision at each point whether the run has got further meanwhile or not.
                        if trial.should_prune():
                            trial.set_user_attr(
                                "pruned_at", f"seed {seed}, {points[reported - 1]:g} {self.t.budget.unit}"
                            )
                            raise self.optuna.TrialPruned(
                                f"pruned at {points[reported - 1]:g} {self.t.budget.unit} of seed {seed}"
                            )
                    if code is not None:
                        return self._final(code, run_dir, log_path, summary)
                    time.sleep(POLL_S)
            finally:
                _stop_process(proc)

    def _seed_value(
        self, point: float, rows: list[dict[str, str]], code: int | None, summary: dict[str, Any] | None
    ) -> Any:
        """The current seed's objective at `point` of its budget: _NOT_YET while the run has not got
        there, None where there is no value yet (no episode finished)."""
        row = next((r for r in rows if (self.t.budget.progress(r) or -1.0) >= point), None)
        if row is None and code is None:
            return _NOT_YET
        if self.t.objective == "return":
            if row is not None:
                text = row.get("mean_return_100") or ""
                return float(text) if text else None
            return None if summary is None else summary.get("mean_return_100")
        # time to target: the budget until the run has reached it
        reached = self._to_target(summary)
        return reached if reached is not None and reached <= point else self.t.budget.amount

    def _to_target(self, summary: dict[str, Any] | None) -> float | None:
        if not summary or not summary.get("solved"):
            return None
        value = summary.get("time_to_target_s" if self.t.budget.kind == "time" else "steps_to_target")
        return None if value is None else float(value)

    def _final(self, code: int, run_dir: Path, log_path: Path, summary: dict[str, Any] | None) -> float:
        if code == 130 or (summary and summary.get("stop_reason") == "interrupted"):
            if self.stopping.is_set():
                raise _Stop()
            raise TrialFailed(f"the run was interrupted (exit {code}); log {log_path}")
        if code != 0 or summary is None:
            raise TrialFailed(f"the run failed (exit {code}): {_log_tail(log_path)} (log {log_path})")
        if self.t.objective == "return":
            value = summary.get("mean_return_100")
            if value is None:
                raise TrialFailed(f"no episode finished within {self.t.budget} (run {run_dir}); give a larger budget")
            return float(value)
        reached = self._to_target(summary)
        return self.t.budget.amount if reached is None else reached

    # ----- the study -----
    def run(self) -> optuna.Study:
        """Run trials until the study holds `trials` finished (complete or pruned) trials; Ctrl-C stops
        the running trials (their runs stop with a checkpoint) and raises KeyboardInterrupt."""
        optuna = self.optuna
        optuna.logging.set_verbosity(optuna.logging.ERROR)  # each trial gets a line of ours instead
        study = self.open_study()
        self._candidates = list(self.t.candidates)
        done = _finished(study)
        remaining = self.t.trials - done
        self._say(self._opening(done, remaining))
        if remaining <= 0:
            return study
        states = (optuna.trial.TrialState.COMPLETE, optuna.trial.TrialState.PRUNED)
        # The count is of the whole study: trials that other machines finish count too.
        callbacks = [optuna.study.MaxTrialsCallback(self.t.trials, states=states), self._after_trial]
        handlers = _stop_on_signals(self.stopping)
        try:
            study.optimize(
                self.objective, n_trials=remaining, n_jobs=self.t.jobs, callbacks=callbacks, catch=(TrialFailed,)
            )
        finally:
            _restore(handlers)
        if self.stopping.is_set():
            raise KeyboardInterrupt
        return study

    def _opening(self, done: int, remaining: int) -> str:
        seeds = _seeds_text(self.seeds)
        searched = "; ".join(p.describe() for p in self.space.params.values()) or "nothing (fixed settings only)"
        lines = [
            (
                f"study {self.study_name} in {self.shown_url()}: {done} finished trials of {self.t.trials}; "
                f"running {max(0, remaining)} more, {self.t.jobs} at a time"
            ),
            f"objective: {OBJECTIVES[self.t.objective]}, {self.t.budget} per seed, {seeds}",
            f"searching: {searched}",
        ]
        lines += [f"note: {n}" for n in self.space.notes]
        return "\n".join(lines)

    def _after_trial(self, study: optuna.Study, trial: optuna.trial.FrozenTrial) -> None:
        state = trial.state.name.lower()
        params = ", ".join(f"{k}={_short(v)}" for k, v in trial.params.items())
        name = trial.user_attrs.get("candidate")
        who = f"trial {trial.number}" + (f" ({name})" if name else "")
        if state == "complete":
            line = f"{who}: {_short(trial.value)}"
        elif state == "pruned":
            last = trial.intermediate_values[trial.last_step] if trial.last_step is not None else None
            line = f"{who}: pruned at {trial.user_attrs.get('pruned_at', '?')} ({_short(last)})"
        else:
            line = f"{who}: {state}" + ("" if self.stopping.is_set() else f": {trial.user_attrs.get('error', '')}")
        with self._lock:
            failed = trial.state == self.optuna.trial.TrialState.FAIL and not self.stopping.is_set()
            self._failures_in_a_row = self._failures_in_a_row + 1 if failed else 0
            if self._failures_in_a_row >= FAILURES_IN_A_ROW and self.gave_up is None:
                self.gave_up = f"{FAILURES_IN_A_ROW} trials in a row failed; the last: {trial.user_attrs.get('error')}"
                study.stop()
        try:
            best = study.best_trial
            line += f"   [best: trial {best.number}, {_short(best.value)}]"
        except ValueError:
            pass
        self._say(f"{line}   ({params})" if params else line)

    def _say(self, text: str) -> None:
        if not self.t.quiet:
            print(text, file=sys.stderr, flush=True)


_NOT_YET = object()


def _finished(study: optuna.Study) -> int:
    return sum(t.state.name in ("COMPLETE", "PRUNED") for t in study.get_trials(deepcopy=False))


def _seeds_text(seeds: tuple[int, ...]) -> str:
    return f"seed {seeds[0]}" if len(seeds) == 1 else "mean over seeds " + ", ".join(map(str, seeds))


def _short(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)


def _stop_process(proc: subprocess.Popen) -> None:
    """SIGTERM: the run stops as on Ctrl-C, with a checkpoint and summary.json; a kill if it hangs."""
    if proc.poll() is not None:
        return
    proc.terminate()
    try:
        proc.wait(timeout=STOP_WAIT_S)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def _stop_on_signals(stopping: threading.Event) -> list[tuple[int, Any]]:
    """Ctrl-C and SIGTERM set `stopping` (each trial's thread stops its run) and interrupt the main thread."""
    if threading.current_thread() is not threading.main_thread():
        return []

    def handler(signum, frame):
        stopping.set()
        raise KeyboardInterrupt

    saved: list[tuple[int, Any]] = []
    for sig in (signal.SIGINT, signal.SIGTERM):
        saved.append((sig, signal.getsignal(sig)))
        signal.signal(sig, handler)
    return saved


def _restore(saved: list[tuple[int, Any]]) -> None:
    for sig, handler in saved:
        signal.signal(sig, handler)


# ----- what a study leaves in its directory -----
def write_outputs(tuner: Tuner, study: optuna.Study) -> list[str]:
    """trials.csv, best.toml and the two plots in the study directory; returns the names written,
    and a note in parentheses for a plot that was not."""
    out = tuner.study_dir
    out.mkdir(parents=True, exist_ok=True)
    written = [_write_trials_csv(study, out / "trials.csv")]
    complete = [t for t in study.get_trials(deepcopy=False) if t.state.name == "COMPLETE"]
    if complete:
        written.append(_write_best(tuner, study, out / "best.toml"))
    written += _write_plots(study, out, len(complete))
    return written


def _write_trials_csv(study: optuna.Study, path: Path) -> str:
    trials = study.get_trials(deepcopy=False)
    names: list[str] = []
    for t in trials:
        names += [n for n in t.params if n not in names]
    has_candidates = any("candidate" in t.user_attrs for t in trials)
    with open(path, "w", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(
            [
                "number",
                "state",
                "value",
                "reports",
                "duration_s",
                *(["candidate", "settings"] if has_candidates else []),
                *names,
                "note",
            ]
        )
        for t in trials:
            duration = (
                round((t.datetime_complete - t.datetime_start).total_seconds(), 1)
                if t.datetime_complete and t.datetime_start
                else ""
            )
            extra = [
                t.user_attrs.get("candidate", ""),
                " ".join(f"{k}={v}" for k, v in t.user_attrs.get("settings", {}).items()),
            ]
            note = t.user_attrs.get("error") or (
                f"pruned at {t.user_attrs['pruned_at']}" if "pruned_at" in t.user_attrs else ""
            )
            writer.writerow(
                [
                    t.number,
                    t.state.name.lower(),
                    "" if t.value is None else t.value,
                    len(t.intermediate_values),
                    duration,
                    *(extra if has_candidates else []),
                    *(t.params.get(n, "") for n in names),
                    note,
                ]
            )
    return path.name


def best_settings(trial: optuna.trial.FrozenTrial) -> dict[str, Any]:
    """The trial's sampled fields (and a candidate's settings) as Config values."""
    raw = {**trial.user_attrs.get("settings", {}), **trial.params}
    return {name: coerce(name, value) for name, value in raw.items()}


def _write_best(tuner: Tuner, study: optuna.Study, path: Path) -> str:
    best = study.best_trial
    values = {k: (list(v) if isinstance(v, tuple) else v) for k, v in best_settings(best).items()}
    seeds = _seeds_text(tuner.seeds)
    fixed = " ".join(f"--set {k}={v}" for k, v in tuner.fixed.items())
    header = [
        (
            f"# a3c tune: the best of {_finished(study)} finished trials of study {tuner.study_name} "
            f"({tuner.shown_url()})"
        ),
        (
            f"# trial {best.number}: {OBJECTIVES[tuner.t.objective]}, {tuner.t.budget} per seed, {seeds}: "
            f"{best.value:.6g}"
        ),
        *([f"# tuned with {fixed} (not written below)"] if fixed else []),
        f"# a3c train {tuner.t.env_id} --config {path}",
    ]
    text = "\n".join(header) + "\n" + (tomli_w.dumps(values) if values else "# (no searched fields)\n")
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text)
    os.replace(tmp, path)
    return path.name


def _write_plots(study: optuna.Study, out: Path, complete: int) -> list[str]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from optuna.importance import PedAnovaImportanceEvaluator
    from optuna.visualization.matplotlib import (
        plot_optimization_history,
        plot_param_importances,
    )

    written = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # Optuna's matplotlib plots are marked experimental
        if complete:
            plot_optimization_history(study)
            plt.savefig(out / "history.png", dpi=100, bbox_inches="tight")
            plt.close("all")
            written.append("history.png")
        searched = {n for t in study.get_trials(deepcopy=False) if t.state.name == "COMPLETE" for n in t.params}
        if complete < 2 or not searched:
            written.append(
                f"(no importance.png: it needs 2 complete trials with searched fields; there are {complete})"
            )
            return written
        try:
            # PED-ANOVA needs no scikit-learn (Optuna's default evaluator may).
            plot_param_importances(study, evaluator=PedAnovaImportanceEvaluator())
            plt.savefig(out / "importance.png", dpi=100, bbox_inches="tight")
            written.append("importance.png")
        except (ValueError, RuntimeError, ZeroDivisionError) as exc:  # too few distinct trials for the estimator
            written.append(f"(no importance.png: {type(exc).__name__}: {exc})")
        finally:
            plt.close("all")
    return written


def summary_table(tuner: Tuner, study: optuna.Study, top: int = 5) -> str:
    trials = [t for t in study.get_trials(deepcopy=False) if t.state.name == "COMPLETE"]
    trials.sort(key=lambda t: t.value if t.value is not None else math.nan, reverse=study.direction.name == "MAXIMIZE")
    names: list[str] = []
    for t in trials[:top]:
        names += [n for n in t.params if n not in names]
    lines = [
        "| trial | value | " + " | ".join(names) + " |",
        "| --- | --- | " + " | ".join("---" for _ in names) + " |",
    ]
    for t in trials[:top]:
        lines.append(
            f"| {t.number} | {_short(t.value)} | " + " | ".join(_short(t.params.get(n, "")) for n in names) + " |"
        )
    return "\n".join(lines)


def counts(study: optuna.Study) -> str:
    states = [t.state.name.lower() for t in study.get_trials(deepcopy=False)]
    return ", ".join(f"{states.count(s)} {s}" for s in ("complete", "pruned", "fail", "running") if states.count(s))


# ----- the command -----
def tune_command(args: Any) -> int:
    """`a3c tune`: run the study, then write its outputs (also after Ctrl-C: exit 130, and the same
    command continues the study)."""
    from a3c.errors import EXIT_ERROR, EXIT_INTERRUPTED, EXIT_OK

    budget = (
        Budget("steps", args.trial_steps)
        if args.trial_steps is not None
        else Budget("time", args.trial_time if args.trial_time is not None else 60.0)
    )
    fixed: dict[str, str] = {}
    for item in args.set:
        key, sep, value = item.partition("=")
        if not sep:
            raise UserError(f"--set expects key=value, got '{item}'")
        fixed[key.strip().replace("-", "_")] = value
    if args.seeds < 1:
        raise UserError(f"--seeds must be a whole number >= 1, not {args.seeds}")
    tuning = Tuning(
        env_id=args.env_id,
        trials=args.trials,
        budget=budget,
        seeds=tuple(range(args.seeds)),
        objective=args.objective,
        jobs=args.jobs,
        study_name=args.study,
        storage=args.storage,
        study_dir=args.study_dir,
        fixed=fixed,
        space=read_space(args.space) if args.space else None,
        space_source=args.space or "(default)",
    )
    tuner = Tuner(tuning)
    interrupted = False
    study = None
    try:
        study = tuner.run()
    except KeyboardInterrupt:
        interrupted = True
    if study is None:  # interrupted before the study was open, or while it ran: read it back
        from sqlalchemy.exc import SQLAlchemyError

        try:
            study = tuner.optuna.load_study(study_name=tuner.study_name, storage=tuner.storage_url)
        except (KeyError, SQLAlchemyError):  # no study yet, or no database
            print("interrupted", file=sys.stderr)
            return EXIT_INTERRUPTED
    written = write_outputs(tuner, study)
    print(f"study {tuner.study_name}: {counts(study)} ({tuner.shown_url()})")
    if any(t.state.name == "COMPLETE" for t in study.get_trials(deepcopy=False)):
        print(summary_table(tuner, study))
        best = study.best_trial
        print(
            f"best: trial {best.number}, {_short(best.value)}; "
            f"a3c train {tuner.t.env_id} --config {tuner.study_dir / 'best.toml'}"
        )
    print(f"wrote in {tuner.study_dir}: " + ", ".join(w for w in written if not w.startswith("(")))
    for note in (w for w in written if w.startswith("(")):
        print(note.strip("()"))
    if interrupted:
        print("interrupted: run the same command again to continue the study", file=sys.stderr)
        return EXIT_INTERRUPTED
    if tuner.gave_up:
        print(f"a3c tune: stopped: {tuner.gave_up}", file=sys.stderr)
        return EXIT_ERROR
    return EXIT_OK


__all__ = ["SPACES", "Budget", "Param", "Tuner", "Tuning", "build_space", "tune_command", "write_outputs"]
