"""Hyperparameter tuning on Optuna: a study over Config fields whose trials are ordinary runs.

Each trial samples some Config fields from the search space (tune_space.py), writes the config
its runs train as trial.toml in its directory (Config.save_toml), and trains one run per seed,
one after another, each `a3c train ENV --config trial.toml --seed S --run-dir DIR` in a
subprocess. While a run trains, its metrics.csv is read and the trial reports the objective at
fixed points of its budget, so Optuna's median pruner can stop a bad trial early: a pruned trial
is a run that was sent SIGTERM. The study lives in SQL storage (SQLite in the study directory
unless --storage names another), so an interrupted study continues where it stopped and
machines that share a database share the study. What it leaves behind: tune_results.py.
"""

from __future__ import annotations

import math
import os
import sys
import threading
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from a3c import tune_results
from a3c.config import Config, coerce
from a3c.defaults import for_env
from a3c.errors import ConfigError, UserError
from a3c.tune_runs import REPORTS_PER_SEED, Budget, SeedRuns, Stop, TrialFailed, restore_signals, stop_on_signals
from a3c.tune_space import build_space, describe, family_of, read_space, suggest

if TYPE_CHECKING:
    import optuna
    import pandas as pd

PIP_HINT = "pip install 'a3c[tune]'"
FAILURES_IN_A_ROW = 3  # trials that fail one after another before the study gives up
OBJECTIVES = {
    "return": "mean return of the last 100 episodes at the end of the budget",
    "time": "time to the target return (the budget for a seed that does not reach it)",
}


def _optuna():
    """Optuna (and pandas, for its trials_dataframe), or a clear exit 2 naming the extra."""
    try:
        import optuna
        import pandas  # noqa: F401
    except ImportError as exc:
        raise UserError(
            f"a3c tune needs Optuna and pandas, and {exc.name or 'one'} is not installed. Install them "
            f"with: {PIP_HINT} (or pip install -e '.[tune]' in a checkout)."
        ) from None
    return optuna


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


class Tuner:
    """A study and its objective, which trains one run per seed (tune_runs.SeedRuns). Every trial
    runs the same seeds in the same order, so the pruner compares like with like."""

    def __init__(self, tuning: Tuning):
        self.t = tuning
        self.optuna = _optuna()
        _check(tuning)
        fixed = {k.strip().replace("-", "_"): str(v) for k, v in tuning.fixed.items()}
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

            if self.base.resolved_target(env_threshold(tuning.env_id)) is None:
                raise UserError(
                    f"--objective time needs a target return, and {tuning.env_id} has none (or it is "
                    "off). Give one with --set target_return=R, or use --objective return."
                )
        # The family (which may build the env) matters only when the default space is used.
        family = family_of(self.base) if (tuning.space or {}).get("defaults", True) is not False else None
        self.space = build_space(family, self.base, tuning.space, tuning.space_source, fixed=list(fixed))
        for name, settings in tuning.candidates.items():
            try:
                self.base.replace(**settings)
            except ConfigError as exc:
                raise UserError(f"candidate {name}: {exc}") from None
        self.study_dir = Path(tuning.study_dir or "tune-" + tuning.env_id.replace("/", "_").replace(":", "_"))
        self.study_name = tuning.study_name or tuning.env_id
        self.stopping = threading.Event()
        self.runs = SeedRuns(tuning.budget, tuning.objective, self.stopping)
        self._failures_in_a_row = 0
        self.gave_up: str | None = None
        self._lock = threading.Lock()
        self._candidates: list[str] = []

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
    def trial_config(self, settings: dict[str, Any]) -> Config:
        """What each seed of a trial trains: the base config, the trial's settings, and what a run
        in a study needs unless the settings say otherwise. The budget always wins."""
        run: dict[str, Any] = {"progress": False, "tensorboard": False, "seed": self.seeds[0]}
        run["workers"] = max(1, (os.cpu_count() or 1) // self.t.jobs)  # J trials side by side share the cores
        if self.t.objective == "return":
            run["target_return"] = "off"  # every trial trains its whole budget: returns at the same point
        if self.t.budget.kind == "time":
            run["log_interval_s"] = min(2.0, max(0.25, self.t.budget.amount / (2 * REPORTS_PER_SEED)))
        else:  # deterministic runs log by steps
            run["log_interval_s"] = 0.5
            run["log_interval_steps"] = max(1, int(self.t.budget.amount) // REPORTS_PER_SEED)
        try:
            return self.base.replace(**{**run, **settings, **self.t.budget.settings()})
        except ConfigError as exc:
            raise TrialFailed(f"the trial's settings are not a valid config: {exc}") from None

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
            raise Stop()
        with self._lock:  # Optuna's own queue (enqueue_trial) can hand one trial to two threads on SQLite
            candidate = self._candidates.pop(0) if self._candidates else None
        if candidate is not None:
            trial.set_user_attr("candidate", candidate)
            trial.set_user_attr("settings", dict(self.t.candidates[candidate]))
        settings: dict[str, Any] = {**self.fixed, **trial.user_attrs.get("settings", {})}
        sampled = {
            name: suggest(trial, name, dist) for name, dist in self.space.distributions.items() if name not in settings
        }
        trial_dir = self.study_dir / "trials" / (candidate or f"trial-{trial.number:04d}")
        trial_dir.mkdir(parents=True, exist_ok=True)
        config = trial_dir / "trial.toml"
        meta = {"study": self.study_name, "trial": trial.number, "sampled": list(sampled)}
        self.trial_config({**settings, **sampled}).save_toml(config, meta=meta)
        finals: list[float] = []
        run_dirs: list[str] = []
        for index, seed in enumerate(self.seeds):
            run_dir = trial_dir / f"seed-{seed}"
            run_dirs.append(str(run_dir))
            trial.set_user_attr("run_dirs", run_dirs)
            command = [sys.executable, "-m", "a3c", "train", self.t.env_id, "--config", str(config)]
            command += ["--seed", str(seed), "--run-dir", str(run_dir)]
            finals.append(self.runs.run(trial, index, seed, command, run_dir, finals))
        return sum(finals) / len(finals)

    # ----- the study -----
    def run(self) -> optuna.Study:
        """Run trials until the study holds `trials` finished (complete or pruned) trials; Ctrl-C stops
        the running trials (their runs stop with a checkpoint) and raises KeyboardInterrupt."""
        optuna = self.optuna
        optuna.logging.set_verbosity(optuna.logging.ERROR)  # each trial gets a line of ours instead
        study = self.open_study()
        self._candidates = list(self.t.candidates)
        done = sum(t.state.name in ("COMPLETE", "PRUNED") for t in study.get_trials(deepcopy=False))
        remaining = self.t.trials - done
        searched = "; ".join(describe(n, d) for n, d in self.space.distributions.items())
        self._say(
            f"study {self.study_name} in {self.shown_url()}: {done} finished trials of {self.t.trials}; "
            f"running {max(0, remaining)} more, {self.t.jobs} at a time\n"
            f"objective: {OBJECTIVES[self.t.objective]}, {self.t.budget} per seed, {_seeds_text(self.seeds)}\n"
            f"searching: {searched or 'nothing (fixed settings only)'}"
            + "".join(f"\nnote: {n}" for n in self.space.notes)
        )
        if remaining <= 0:
            return study
        states = (optuna.trial.TrialState.COMPLETE, optuna.trial.TrialState.PRUNED)
        # The count is of the whole study: trials that other machines finish count too.
        callbacks = [optuna.study.MaxTrialsCallback(self.t.trials, states=states), self._after_trial]
        handlers = stop_on_signals(self.stopping)
        try:
            study.optimize(
                self.objective, n_trials=remaining, n_jobs=self.t.jobs, callbacks=callbacks, catch=(TrialFailed,)
            )
        finally:
            restore_signals(handlers)
        if self.stopping.is_set():
            raise KeyboardInterrupt
        return study

    def _after_trial(self, study: optuna.Study, trial: optuna.trial.FrozenTrial) -> None:
        line = tune_results.trial_line(trial, why=not self.stopping.is_set())
        with self._lock:
            failed = trial.state == self.optuna.trial.TrialState.FAIL and not self.stopping.is_set()
            self._failures_in_a_row = self._failures_in_a_row + 1 if failed else 0
            if self._failures_in_a_row >= FAILURES_IN_A_ROW and self.gave_up is None:
                self.gave_up = f"{FAILURES_IN_A_ROW} trials in a row failed; the last: {trial.user_attrs.get('error')}"
                study.stop()
        self._say(line + tune_results.best_so_far(study) + tune_results.params_text(trial))

    def _say(self, text: str) -> None:
        if not self.t.quiet:
            print(text, file=sys.stderr, flush=True)

    # ----- what the study leaves -----
    def best_header(self, study: optuna.Study, finished: int) -> list[str]:
        """best.toml's comment lines: where it came from and how to train it."""
        best = study.best_trial
        fixed = " ".join(f"--set {k}={v}" for k, v in self.fixed.items())
        return [
            f"a3c tune: the best of {finished} finished trials of study {self.study_name} ({self.shown_url()})",
            f"trial {best.number}: {OBJECTIVES[self.t.objective]}, {self.t.budget} per seed, "
            f"{_seeds_text(self.seeds)}: {best.value:.6g}",
            *([f"tuned with {fixed} (not written below)"] if fixed else []),
            f"a3c train {self.t.env_id} --config {self.study_dir / 'best.toml'}",
        ]


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


def _seeds_text(seeds: tuple[int, ...]) -> str:
    return f"seed {seeds[0]}" if len(seeds) == 1 else "mean over seeds " + ", ".join(map(str, seeds))


def write_outputs(tuner: Tuner, study: optuna.Study, table: pd.DataFrame | None = None) -> list[str]:
    """trials.csv, best.toml and the two plots in the study directory (tune_results.write_outputs)."""
    if table is None:
        table = tune_results.trials_table(study, order=list(tuner.space.distributions))
    finished = int(table["state"].isin(["complete", "pruned"]).sum())
    header = tuner.best_header(study, finished) if (table["state"] == "complete").any() else None
    return tune_results.write_outputs(study, table, tuner.study_dir, header)


def tune_command(args: Any) -> int:
    """`a3c tune`: run the study, then write its outputs (also after Ctrl-C: exit 130, and the same
    command continues the study)."""
    from a3c.errors import EXIT_ERROR, EXIT_INTERRUPTED, EXIT_OK

    trial_time = args.trial_time if args.trial_time is not None else 60.0
    budget = Budget("steps", args.trial_steps) if args.trial_steps is not None else Budget("time", trial_time)
    fixed: dict[str, str] = {}
    for item in args.set:
        key, sep, value = item.partition("=")
        if not sep:
            raise UserError(f"--set expects key=value, got '{item}'")
        fixed[key.strip().replace("-", "_")] = value
    if args.seeds < 1:
        raise UserError(f"--seeds must be a whole number >= 1, not {args.seeds}")
    tuner = Tuner(
        Tuning(
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
    )
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
    table = tune_results.trials_table(study, order=list(tuner.space.distributions))
    written = write_outputs(tuner, study, table)
    print(
        tune_results.closing(study, table, written, tuner.study_name, tuner.shown_url(), tuner.study_dir, args.env_id)
    )
    if interrupted:
        print("interrupted: run the same command again to continue the study", file=sys.stderr)
        return EXIT_INTERRUPTED
    if tuner.gave_up:
        print(f"a3c tune: stopped: {tuner.gave_up}", file=sys.stderr)
        return EXIT_ERROR
    return EXIT_OK


__all__ = ["Budget", "TrialFailed", "Tuner", "Tuning", "tune_command", "write_outputs"]
