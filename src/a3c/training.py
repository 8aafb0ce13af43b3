"""The main process of a run: builds the global model, optimizer and counters, starts an
engine, and owns everything else: logging, checkpoints, stop rules, supervision and
summary.json. Engines differ only in how they move experience and gradients."""

from __future__ import annotations

import datetime as dt
import errno
import json
import os
import signal
import time
import traceback
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import torch

from a3c.checkpoint import load_checkpoint, restore_rng, save_checkpoint
from a3c.config import Config
from a3c.device import move_to_device, resolve_device
from a3c.distributions import distribution_for
from a3c.engines.base import Engine
from a3c.engines.counters import SharedCounters
from a3c.engines.messages import Crash, EnvError, Event, Message, Report
from a3c.engines.processes import RoleFailed, context, run_pss_mb, warm_up_children
from a3c.envs import env_threshold, probe
from a3c.errors import CheckpointError, UserError
from a3c.models import build_model
from a3c.monitor import Monitor, rule_met, versions
from a3c.optim import build_optimizer, scheduled_lr


@dataclass
class TrainResult:
    """The fields of summary.json."""

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
    run_dir: str = ""
    versions: dict = field(default_factory=dict)  # a3c, torch, gymnasium, numpy, python, git_commit


class AlreadyFinished(UserError):
    """A resumed run had already met its stop rule under the rules given: nothing was trained.
    The CLI prints the message and exits 0 (a finished run is a success); `result` holds the
    run's summary.json as it was, when there is one."""

    def __init__(self, message: str, result: TrainResult | None):
        super().__init__(message)
        self.result = result


def default_run_dir(cfg: Config) -> Path:
    stamp = dt.datetime.now().strftime("%Y%m%d-%H%M%S")
    name = cfg.env_id.replace("/", "_").replace(":", "_")
    return Path("runs") / f"{name}-{cfg.algo}-{stamp}"


def _make_engine(cfg: Config, model, optimizer, counters, ctx, probed) -> Engine:
    """The engine cfg asks for. probed: (ObsSpec, action space) from envs.probe, made once per run
    (for Atari it builds a vector env); the engines that need them take them from here."""
    if cfg.backend == "ray":
        if cfg.deterministic:
            raise UserError(
                "deterministic=true runs in one process and cannot use --backend ray. "
                "Allowed: --backend local with deterministic=true, or deterministic=false."
            )
        from a3c.engines.ray import RayA3CEngine, RayGA3CEngine

        if cfg.algo == "ga3c":
            return RayGA3CEngine(cfg, model, optimizer, counters, ctx, probed=probed)
        return RayA3CEngine(cfg, model, optimizer, counters, ctx)
    if cfg.deterministic:
        from a3c.engines.serial import SerialA3CEngine, SerialGA3CEngine

        return (SerialGA3CEngine if cfg.algo == "ga3c" else SerialA3CEngine)(cfg, model, optimizer, counters, ctx)
    if cfg.algo == "ga3c":
        from a3c.engines.ga3c import GA3CEngine

        return GA3CEngine(cfg, model, optimizer, counters, ctx, probed=probed)
    from a3c.engines.hogwild import HogwildEngine

    return HogwildEngine(cfg, model, optimizer, counters, ctx)


class _Interrupted(Exception):
    pass


class RunFailed(Exception):
    """The run stopped itself for a reason it wrote to events.log (a role that keeps dying, updates
    that stay NaN): summary.json and a checkpoint are written; the CLI exits 1 with the reason."""


# Columns every engine's metrics.csv gets from the main loop (engines add their own).
FAULT_COLUMNS = ("nonfinite_updates", "env_errors", "pss_mb")


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


class NonFiniteGuard:
    """The main process's view of skipped NaN/inf updates. Engines skip such an update and
    report it; `patience` of them in a row restore the last good checkpoint's weights and
    optimizer state, and `max_restores` restores with no good checkpoint in between stop the run."""

    def __init__(self, patience: int, max_restores: int):
        self.patience, self.max_restores = patience, max_restores
        self.total = 0
        self.streak = 0  # skipped updates since the last applied one
        self.restores = 0  # restores since the last good checkpoint
        self.last_good: str | None = None  # a checkpoint written while updates were finite

    def record(self, applied: int, skipped: int) -> bool:
        """Count one report's updates; True when the streak calls for a restore."""
        self.total += skipped
        if skipped:
            self.streak = skipped if applied else self.streak + skipped
        elif applied:
            self.streak = 0
        return self.streak >= self.patience

    def saved(self, path: str) -> None:
        if self.streak == 0:
            self.last_good = path
            self.restores = 0


def train(cfg: Config, resume: str | Path | None = None) -> TrainResult:
    """Train until a stop rule fires; write the run directory; return the summary.

    With `resume`, cfg is the run's saved config with the caller's changes applied, and
    counters, optimizer, schedules and summary carry on from the newest checkpoint.
    """
    torch.set_num_threads(1)
    lock: RunLock | None = None
    early_dir = Path(resume) if resume is not None else (Path(cfg.run_dir) if cfg.run_dir else None)
    if early_dir is not None and early_dir.is_dir():  # a live run there: say so before anything else
        lock = RunLock(early_dir)
        lock.acquire()
    try:
        return _train(cfg, resume, lock)
    finally:
        if lock is not None:
            lock.release()


def _train(cfg: Config, resume: str | Path | None, lock: RunLock | None) -> TrainResult:
    device = resolve_device(cfg)
    if not cfg.deterministic:  # the deterministic engines start no processes
        warm_up_children()  # --device cuda without CUDA fails here, before a run directory exists
    spec, action_space = probe(cfg)  # fails early, in the main process, on a bad env id or space
    dist = distribution_for(action_space, cfg.action_squash)
    target = cfg.resolved_target(env_threshold(cfg.env_id))

    restored: dict[str, Any] = {}
    model = build_model(cfg, spec, dist)
    optimizer = build_optimizer(cfg, model.parameters())
    counts = (0, 0, 0)
    incarnation = 0
    resumes = 0
    if resume is not None:
        run_dir = Path(resume)
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
        counts = tuple(sidecar["counters"])  # type: ignore[assignment]
        resumes = int(sidecar.get("resumes", 0)) + 1
        # Children of a resumed run take incarnations no child of the run has had: fresh seeds, no replays.
        incarnation = max(resumes, int(sidecar.get("next_incarnation", 0)))
        met = rule_met(cfg, target, restored, counts[0])
        if met is not None:  # before anything is written: the run directory stays as it was
            raise AlreadyFinished(
                f"run {run_dir} already met its stop rule: {met}. Nothing to train. To train on, "
                "give a rule it has not met, e.g. a larger --total-steps, --target-return off "
                "(or a higher one), or a longer --time-limit.",
                _saved_result(run_dir),
            )
    else:
        run_dir = Path(cfg.run_dir) if cfg.run_dir else default_run_dir(cfg)
        if (run_dir / "checkpoints").is_dir() and any((run_dir / "checkpoints").glob("ckpt-*.json")):
            raise UserError(
                f"run directory {run_dir} already holds a run. Use --resume {run_dir} to continue it, "
                "or choose another --run-dir."
            )
        torch.manual_seed(cfg.seed)
        model = build_model(cfg, spec, dist)
        optimizer = build_optimizer(cfg, model.parameters())
    cfg = cfg.replace(run_dir=str(run_dir))
    if cfg.backend == "ray":  # settings the Ray backend decides, recorded in config.toml
        from a3c.engines.ray import resolve_config

        cfg = resolve_config(cfg)

    # A row for every process or thread that may write statistics: observations are merged by A3C
    # workers, Ray runners (by rank) or GA3C trainers (by index); returns by workers, agents or runners.
    if model.obs_norm is not None:
        model.obs_norm.attach_writers(max(cfg.workers, cfg.max_agents, cfg.trainers, cfg.max_trainers))
    if model.reward_norm is not None:
        model.reward_norm.attach_writers(max(cfg.workers, cfg.max_agents))
    model.share_memory()
    optimizer.share_memory()
    if cfg.algo == "ga3c":  # GA3C's predictors and trainers run on the device; A3C workers stay on the CPU
        move_to_device(model, optimizer, device)
    ctx = context()
    # A row for each worker or agent rank there can ever be (GA3C's adjuster adds agents up to max_agents).
    counters = SharedCounters(ctx, counts, ranks=max(cfg.workers, cfg.max_agents))  # type: ignore[arg-type]
    # The engine may still refuse the config (a UserError): before anything is written, so a rejected
    # run leaves no directory behind and a rejected resume leaves the run's config.toml as it was.
    engine = _make_engine(cfg, model, optimizer, counters, ctx, (spec, action_space))
    run_dir.mkdir(parents=True, exist_ok=True)
    if lock is None:  # a new directory: lock it before writing into it
        lock = RunLock(run_dir)
        lock.acquire()
    made_with = versions()
    cfg.save_toml(run_dir / "config.toml", meta=made_with)
    monitor = Monitor(cfg, run_dir, target, engine_columns=tuple(engine.columns) + FAULT_COLUMNS, restored=restored)
    engine.set_incarnation_base(incarnation)
    guard = NonFiniteGuard(cfg.nonfinite_patience, cfg.nonfinite_restores)
    env_error_kinds: set[str] = set()
    env_errors = 0
    if resume is not None:
        guard.last_good = sidecar["path"]
        monitor.event(
            f"resumed from {sidecar['path']} at env_steps={counts[0]}"
            + (f" (skipped corrupt: {sidecar['skipped']})" if sidecar.get("skipped") else "")
        )

    def handle_message(msg: Message) -> None:
        nonlocal env_errors
        match msg:
            case Report():
                monitor.record_episodes(msg.returns, counters.env_steps, msg.lengths, msg.rank)
                if msg.count:
                    monitor.record_losses(msg.sums, msg.count)
                if msg.nonfinite and guard.streak == 0:  # once per streak, not once per update
                    who = "the trainers" if msg.rank < 0 else f"worker {msg.rank}"
                    monitor.event(
                        f"non-finite loss or gradient (NaN/inf) from {who}: update skipped "
                        f"({guard.total + msg.nonfinite} skipped so far)"
                    )
                if guard.record(msg.count, msg.nonfinite):
                    recover_from_nonfinite()
            case Crash():
                monitor.event(f"{msg.role} {msg.rank} crashed:\n{msg.error.rstrip()}")
            case EnvError():
                # Each env that raised was rebuilt where it ran; one traceback per kind of failure is enough.
                env_errors += 1
                lines = msg.error.rstrip().splitlines()
                kind = lines[-1] if lines else "?"
                if kind not in env_error_kinds:
                    env_error_kinds.add(kind)
                    monitor.event(
                        f"env of worker {msg.rank} raised (rebuilt it; further errors of this kind "
                        f"are only counted in metrics.csv env_errors):\n{msg.error.rstrip()}"
                    )
            case Event():
                monitor.event(msg.text)

    def recover_from_nonfinite() -> None:
        if guard.last_good is None or guard.restores >= guard.max_restores:
            raise RunFailed(
                f"updates keep coming out NaN/inf ({guard.streak} in a row, {guard.total} in all) and "
                + (
                    "there is no good checkpoint to go back to"
                    if guard.last_good is None
                    else f"restoring the last good checkpoint {guard.restores} times did not help"
                )
                + "; stopping. Check the env's rewards and observations for NaN/inf or huge values, "
                "or lower lr or reward_scale."
            )
        sidecar_good, model_tensors, optim_tensors = load_checkpoint(guard.last_good)
        engine.load_weights(model_tensors, optim_tensors)
        guard.restores += 1
        monitor.event(
            f"{guard.streak} NaN/inf updates in a row: restored weights and optimizer state from "
            f"{sidecar_good['path']} (restore {guard.restores} of at most {guard.max_restores})"
        )
        guard.streak = 0

    def save(reason: str) -> None:
        env_steps, updates, episodes = counters.read()
        meta = dict(
            config=cfg.to_dict(),
            counters=[env_steps, updates, episodes],
            resumes=resumes,
            next_incarnation=engine.next_incarnation(),
            monitor=monitor.state(env_steps),
            reason=reason,
            obs_shape=list(spec.shape),
        )
        if model.reward_norm is not None:  # the workers' return statistics into the buffers saved
            model.reward_norm.publish()
        try:
            path = save_checkpoint(run_dir, model, optimizer.state_tensors(), meta, env_steps)
        except OSError as exc:
            # Disk full (or the like): training goes on; what was saved before stays whole and loadable.
            previous = guard.last_good or "none yet"
            monitor.event(
                f"checkpoint at env_steps={env_steps} failed ({exc.strerror or exc}); the previous "
                f"checkpoint is still valid ({previous}); training goes on"
            )
            return
        guard.saved(str(path))

    def metrics_row(env_steps: int, updates: int, episodes: int) -> None:
        extra = dict(engine.extra_metrics(), nonfinite_updates=guard.total, env_errors=env_errors, pss_mb=run_pss_mb())
        monitor.log(env_steps, updates, episodes, scheduled_lr(cfg, env_steps), extra)

    previous_sigterm = signal.getsignal(signal.SIGTERM)

    def on_sigterm(signum, frame):
        raise _Interrupted()

    signal.signal(signal.SIGTERM, on_sigterm)
    stop_reason = "error"
    error: BaseException | None = None
    if resume is None:
        save("start")  # --resume works from the first second of a run
    last_checkpoint, last_checkpoint_steps = time.monotonic(), counters.env_steps
    next_interval = min(cfg.checkpoint_first_s, cfg.checkpoint_interval_s)
    try:
        engine.start()
        while True:
            for msg in engine.drain(timeout=0.05):
                handle_message(msg)
            for event in engine.supervise():
                monitor.event(event)
            env_steps, updates, episodes = counters.read()
            if monitor.solved():
                stop_reason = "target_reached"
            elif env_steps >= cfg.total_steps:
                stop_reason = "total_steps"
            elif cfg.time_limit is not None and monitor.wall_seconds() >= cfg.time_limit:
                stop_reason = "time_limit"
            if stop_reason != "error":
                break
            if monitor.due(env_steps):
                metrics_row(env_steps, updates, episodes)
            # By time and by progress: a kill -9 loses at most checkpoint_interval_s of training.
            if time.monotonic() - last_checkpoint >= next_interval or (
                cfg.checkpoint_every_steps and env_steps - last_checkpoint_steps >= cfg.checkpoint_every_steps
            ):
                save("periodic")
                last_checkpoint, last_checkpoint_steps = time.monotonic(), env_steps
                next_interval = cfg.checkpoint_interval_s
    except (KeyboardInterrupt, _Interrupted):
        stop_reason = "interrupted"
    except (RoleFailed, RunFailed) as exc:  # the run gave up on purpose: the reason, not a traceback
        stop_reason, error = "error", RunFailed(f"{exc} (run directory {run_dir})")
        monitor.event(f"run failed: {exc}")
    except Exception as exc:  # an unexpected failure: still write what we have
        stop_reason, error = "error", exc
        monitor.event("run failed:\n" + traceback.format_exc())
    finally:
        signal.signal(signal.SIGTERM, previous_sigterm)
        try:
            for msg in engine.close():
                try:
                    handle_message(msg)
                except RunFailed:  # already stopping
                    pass
        except (KeyboardInterrupt, _Interrupted):
            stop_reason = "interrupted"
        env_steps, updates, episodes = counters.read()
        metrics_row(env_steps, updates, episodes)
        save(stop_reason)
        summary = dict(monitor.summary(stop_reason, env_steps, updates, episodes), versions=made_with)
        monitor.event(f"stopped: {stop_reason}; env_steps={env_steps} mean_return_100={summary['mean_return_100']}")
        monitor.close()
        _write_json(run_dir / "summary.json", summary)
    if error is not None:
        raise error
    return TrainResult(**summary, run_dir=str(run_dir))


def _saved_result(run_dir: Path) -> TrainResult | None:
    try:
        saved = json.loads((run_dir / "summary.json").read_text())
        return TrainResult(**{**saved, "run_dir": str(run_dir)})
    except (OSError, ValueError, TypeError):
        return None


def _write_json(path: Path, data: dict) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(data, indent=2) + "\n")
    os.replace(tmp, path)
