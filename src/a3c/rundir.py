"""The run directory: its lock, where a run starts (a fresh directory or a checkpoint to resume),
and summary.json. The layout is DESIGN.md's: config.toml, metrics.csv, episodes.csv, events.log,
checkpoints/, summary.json."""

from __future__ import annotations

import datetime as dt
import errno
import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from a3c.checkpoint import load_checkpoint, restore_rng
from a3c.errors import CheckpointError, UserError
from a3c.stop_rules import stop_rule


@dataclass
class TrainResult:
    """The fields of summary.json: what `a3c.train` returns.

    Attributes:
        env_id: the env trained on.
        algo: a3c or ga3c.
        seed: the run's seed.
        stop_reason: target_reached, total_steps, time_limit, interrupted or error.
        solved: whether the mean of the last target_window episodes reached target_return.
        target_return: the return that stops the run (None: no early stop).
        env_steps: env steps over all workers, from the run's start (resumes included).
        updates: gradient updates applied.
        episodes: finished training episodes.
        wall_seconds: training time, resumes included.
        steps_per_second: env_steps / wall_seconds.
        mean_return_100: the mean return of the last 100 (target_window) training episodes at the end;
            on target_reached, of the window that reached it.
        best_mean_return_100: the highest such mean during the run.
        time_to_target_s: seconds until the target was reached (None: not reached).
        steps_to_target: env steps until then (None: not reached).
        stability: did it hold its peak (a3c.stats): best_mean_return_100, final_mean_return_100,
            first_mean_return_100 (the untrained policy's first full window), drop = (best - final)
            / (best - first), best_at_s, best_at_steps, first_peak_at_s, mean_over_run,
            below_half_after_peak (the share of the time after the first peak spent below halfway
            from first to best: the plunges the final figure misses).
        run_dir: the run directory.
        versions: a3c, torch, gymnasium, numpy, python and git_commit that made the run.
        engine: how the engine ran it (workers; GA3C's agent, predictor and trainer counts; on Ray
            env_runners, nodes, nodes_lost; restarts).
    """

    env_id: str
    algo: str
    seed: int
    stop_reason: str
    solved: bool
    target_return: float | None
    env_steps: int
    updates: int
    episodes: int
    wall_seconds: float
    steps_per_second: float
    mean_return_100: float | None
    best_mean_return_100: float | None
    time_to_target_s: float | None
    steps_to_target: int | None
    # Did it hold its peak: best and final means, the drop between them, when the best came (stats.py).
    stability: dict | None = None
    run_dir: str = ""
    versions: dict = field(default_factory=dict)  # a3c, torch, gymnasium, numpy, python, git_commit
    # How the engine ran it: worker or agent/predictor/trainer counts at the end, restarts, and on
    # Ray the env runners and the nodes that held them (nodes_lost: those that left mid-run).
    engine: dict = field(default_factory=dict)


class AlreadyFinished(UserError):
    """A resumed run had already met its stop rule under the rules given: nothing was trained.
    The CLI prints the message and exits 0 (a finished run is a success); `result` holds the
    run's summary.json as it was, when there is one."""

    def __init__(self, message: str, result: TrainResult | None):
        super().__init__(message)
        self.result = result


class RunLock:
    """An exclusive lock on a run directory (flock on RUN/.lock) for the life of a run, so a second
    `a3c train` or `--resume` on it stops at once instead of interleaving checkpoints. The kernel
    drops the lock with the process however it dies: a dead run leaves nothing stuck."""

    def __init__(self, run_dir: Path):
        self.path = Path(run_dir) / ".lock"
        self._fh: IO[str] | None = None

    def acquire(self) -> None:
        try:
            import fcntl
        except ImportError:  # Windows: no advisory locks here; nothing to hold
            return
        fh = open(self.path, "a+")
        try:
            fcntl.flock(fh.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as exc:
            fh.seek(0)
            holder = fh.read().strip()
            fh.close()
            if exc.errno not in (errno.EAGAIN, errno.EACCES, errno.EWOULDBLOCK):
                raise
            raise UserError(
                f"run directory {self.path.parent} is in use by a live run{f' (pid {holder})' if holder else ''}. "
                "Wait for it to finish or stop it, or choose another --run-dir."
            ) from None
        fh.seek(0)
        fh.truncate()
        fh.write(f"{os.getpid()}\n")
        fh.flush()
        self._fh = fh

    def release(self) -> None:
        if self._fh is not None:
            self._fh.close()  # closing the file drops the flock
            self._fh = None


@dataclass
class RunStart:
    """Where a run begins. A fresh run: its directory and zeros. A resume: what the newest
    checkpoint holds (its weights are already loaded into the model and optimizer)."""

    run_dir: Path
    counts: tuple[int, int, int] = (0, 0, 0)  # env steps, updates, episodes
    resumes: int = 0
    incarnation: int = 0  # the children's first incarnation (engines.base.Incarnations)
    restored: dict[str, Any] = field(default_factory=dict)  # the monitor's saved state
    checkpoint: dict[str, Any] | None = None  # the sidecar of the checkpoint resumed from

    @property
    def resumed(self) -> bool:
        return self.checkpoint is not None


def default_run_dir(cfg) -> Path:
    stamp = dt.datetime.now().strftime("%Y%m%d-%H%M%S")
    name = cfg.env_id.replace("/", "_").replace(":", "_")
    return Path("runs") / f"{name}-{cfg.algo}-{stamp}"


def fresh_start(cfg) -> RunStart:
    """A new run in cfg.run_dir (or a new dated directory under runs/), which must not hold a run."""
    run_dir = Path(cfg.run_dir) if cfg.run_dir else default_run_dir(cfg)
    if (run_dir / "checkpoints").is_dir() and any((run_dir / "checkpoints").glob("ckpt-*.json")):
        raise UserError(
            f"run directory {run_dir} already holds a run. Use --resume {run_dir} to continue it, "
            "or choose another --run-dir."
        )
    return RunStart(run_dir)


def resume_start(run_dir: Path, cfg, target: float | None, model, optimizer) -> RunStart:
    """Load the newest checkpoint of run_dir into model and optimizer and restore the random
    generators. Raises AlreadyFinished, before anything is written, if the run already met a
    stop rule under cfg's rules."""
    sidecar, model_tensors, optim_tensors = load_checkpoint(run_dir)
    try:
        model.load_state_dict(model_tensors)
        optimizer.load_state_tensors(optim_tensors)
    except (RuntimeError, KeyError) as exc:
        raise CheckpointError(
            f"checkpoint {sidecar['path']} does not fit this config (network or optimizer changed?): {exc}"
        ) from None
    restore_rng(sidecar.get("rng", {}))
    restored = sidecar.get("monitor", {})
    env_steps, updates, episodes = (int(n) for n in sidecar["counters"])
    resumes = int(sidecar.get("resumes", 0)) + 1
    met = stop_rule(
        cfg, target, restored.get("recent_returns", []), env_steps, float(restored.get("wall_seconds", 0.0))
    )
    if met is not None:
        raise AlreadyFinished(
            f"run {run_dir} already met its stop rule: {met}. Nothing to train. To train on, "
            "give a rule it has not met, e.g. a larger --total-steps, --target-return off "
            "(or a higher one), or a longer --time-limit.",
            saved_result(run_dir),
        )
    return RunStart(
        run_dir,
        (env_steps, updates, episodes),
        resumes,
        # Children of a resumed run take incarnations no child of the run has had: fresh seeds, no replays.
        max(resumes, int(sidecar.get("next_incarnation", 0))),
        restored,
        sidecar,
    )


def saved_result(run_dir: Path) -> TrainResult | None:
    try:
        saved = json.loads((run_dir / "summary.json").read_text())
        return TrainResult(**{**saved, "run_dir": str(run_dir)})
    except (OSError, ValueError, TypeError):
        return None


def write_summary(run_dir: Path, summary: dict) -> None:
    """summary.json, whole or not at all: written aside and renamed into place."""
    path = run_dir / "summary.json"
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(summary, indent=2) + "\n")
    os.replace(tmp, path)
