"""A trial's runs: each seed is an `a3c train` subprocess, watched through its metrics.csv, whose
objective is reported to the Optuna trial at fixed points of its budget, and which is stopped
(SIGTERM: a checkpoint and summary.json, as on Ctrl-C) when the trial is pruned or the study stops."""

from __future__ import annotations

import csv
import json
import signal
import subprocess
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import optuna

REPORTS_PER_SEED = 10  # points of each seed's budget at which a trial reports (and may be pruned)
POLL_S = 0.2  # how often a running trial's metrics.csv is read
STOP_WAIT_S = 30.0  # a stopped run gets this long to write its checkpoint and summary before a kill


@dataclass(frozen=True)
class Budget:
    """What each seed of a trial trains for: seconds of wall time or env steps."""

    kind: str  # "time" or "steps"
    amount: float

    @property
    def unit(self) -> str:
        return "s" if self.kind == "time" else "steps"

    def settings(self) -> dict[str, Any]:
        """The Config fields that stop a run at the end of the budget."""
        return {"time_limit": self.amount} if self.kind == "time" else {"total_steps": int(self.amount)}

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


class Stop(KeyboardInterrupt):
    """The study is stopping (Ctrl-C or SIGTERM): the running trials end their runs and fail."""


_NOT_YET = object()


@dataclass
class SeedRuns:
    """Runs the seeds of trials. objective: "return" (the mean return of the last 100 episodes at
    the end) or "time" (to the target; the budget for a run that does not reach it). Seed `index`
    reports at step index x REPORTS_PER_SEED + point, the mean over the seeds so far: finished
    seeds at their end (`finals`), the current one at the point."""

    budget: Budget
    objective: str
    stopping: threading.Event

    def run(
        self, trial: optuna.Trial, index: int, seed: int, command: list[str], run_dir: Path, finals: list[float]
    ) -> float:
        """The seed's objective at the end of its run; optuna.TrialPruned if the pruner stops it."""
        from optuna import TrialPruned

        log_path = run_dir.parent / f"seed-{seed}.log"
        points = self.budget.points()
        reported = 0
        with open(log_path, "w") as log:
            # A session of its own: Ctrl-C reaches this process alone, which then stops the run with
            # one SIGTERM (a second signal in the middle of the run's shutdown could cut its checkpoint short).
            proc = subprocess.Popen(
                command, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True
            )
            try:
                while True:
                    code = proc.poll()
                    if self.stopping.is_set():
                        raise Stop()
                    rows = _read_rows(run_dir / "metrics.csv")
                    summary = _read_summary(run_dir) if code is not None else None
                    while reported < len(points):
                        value = self._value_at(points[reported], rows, code, summary)
                        if value is _NOT_YET:
                            break
                        reported += 1
                        if value is None:  # no episode finished yet: nothing to compare
                            continue
                        trial.report(
                            (sum(finals) + float(value)) / (len(finals) + 1), index * REPORTS_PER_SEED + reported
                        )
                        # The same decision at each point whether the run has got further meanwhile or not.
                        if trial.should_prune():
                            where = f"{points[reported - 1]:g} {self.budget.unit}"
                            trial.set_user_attr("pruned_at", f"seed {seed}, {where}")
                            raise TrialPruned(f"pruned at {where} of seed {seed}")
                    if code is not None:
                        return self._final(code, run_dir, log_path, summary)
                    time.sleep(POLL_S)
            finally:
                _stop_process(proc)

    def _value_at(
        self, point: float, rows: list[dict[str, str]], code: int | None, summary: dict[str, Any] | None
    ) -> Any:
        """The seed's objective at `point` of its budget: _NOT_YET while the run has not got
        there, None where there is no value yet (no episode finished)."""
        row = next((r for r in rows if (self.budget.progress(r) or -1.0) >= point), None)
        if row is None and code is None:
            return _NOT_YET
        if self.objective == "return":
            if row is not None:
                text = row.get("mean_return_100") or ""
                return float(text) if text else None
            return None if summary is None else summary.get("mean_return_100")
        # time to target: the budget until the run has reached it
        reached = self._to_target(summary)
        return reached if reached is not None and reached <= point else self.budget.amount

    def _to_target(self, summary: dict[str, Any] | None) -> float | None:
        if not summary or not summary.get("solved"):
            return None
        value = summary.get("time_to_target_s" if self.budget.kind == "time" else "steps_to_target")
        return None if value is None else float(value)

    def _final(self, code: int, run_dir: Path, log_path: Path, summary: dict[str, Any] | None) -> float:
        if code == 130 or (summary and summary.get("stop_reason") == "interrupted"):
            if self.stopping.is_set():
                raise Stop()
            raise TrialFailed(f"the run was interrupted (exit {code}); log {log_path}")
        if code != 0 or summary is None:
            raise TrialFailed(f"the run failed (exit {code}): {_log_tail(log_path)} (log {log_path})")
        if self.objective == "return":
            value = summary.get("mean_return_100")
            if value is None:
                raise TrialFailed(f"no episode finished within {self.budget} (run {run_dir}); give a larger budget")
            return float(value)
        reached = self._to_target(summary)
        return self.budget.amount if reached is None else reached


def _read_rows(path: Path) -> list[dict[str, str]]:
    try:
        with open(path, newline="") as fh:
            return list(csv.DictReader(fh))
    except OSError:
        return []


def _read_summary(run_dir: Path) -> dict[str, Any] | None:
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


def stop_on_signals(stopping: threading.Event) -> list[tuple[int, Any]]:
    """Ctrl-C and SIGTERM set `stopping` (each trial's thread stops its run) and interrupt the main
    thread; returns the handlers they replaced, for restore_signals."""
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


def restore_signals(saved: list[tuple[int, Any]]) -> None:
    for sig, handler in saved:
        signal.signal(sig, handler)
