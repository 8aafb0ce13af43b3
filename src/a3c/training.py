"""The main process of a run: builds the global model, optimizer and counters, starts an
engine, and owns everything else: logging, checkpoints, stop rules, supervision and
summary.json. Engines differ only in how they move experience and gradients."""

from __future__ import annotations

import math
import signal
import time
import traceback
from pathlib import Path

import torch

from a3c.checkpoint import BEST, save_checkpoint
from a3c.config import Config
from a3c.device import loss_in_bfloat16, move_to_device, resolve_device
from a3c.distributions import distribution_for
from a3c.engines.base import Engine, EngineParts
from a3c.engines.counters import SharedCounters
from a3c.engines.factory import make_engine
from a3c.engines.processes import RoleFailed, context, run_pss_mb, warm_up_children
from a3c.envs import env_threshold, probe
from a3c.errors import RunFailed
from a3c.message_handling import MessageHandler, NonFiniteGuard
from a3c.models import build_model
from a3c.monitor import Monitor
from a3c.optim import build_optimizer, scheduled_lr
from a3c.provenance import versions
from a3c.rundir import (  # noqa: F401  # TrainResult and AlreadyFinished are this module's API too
    AlreadyFinished,
    RunLock,
    RunStart,
    TrainResult,
    fresh_start,
    resume_start,
    write_summary,
)

__all__ = ["AlreadyFinished", "RunFailed", "TrainResult", "train"]

# Columns every engine's metrics.csv gets from the main loop (engines add their own).
FAULT_COLUMNS = ("nonfinite_updates", "env_errors", "pss_mb")
PSS_EVERY_S = 10.0  # memory changes slowly; rows between measurements repeat the last one
# The best weights are copied in memory whenever the mean rises (so they are the weights of that
# moment) and written to checkpoints/best.* at most this often, and when the run ends.
BEST_WRITE_EVERY_S = 10.0


class _Interrupted(Exception):
    pass


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
        warm_up_children(cfg.algo)  # --device cuda without CUDA fails here, before a run directory exists
    spec, action_space = probe(cfg)  # the one probe of the run: fails early on a bad env id or space
    target = cfg.resolved_target(env_threshold(cfg.env_id))
    torch.manual_seed(cfg.seed)  # a fresh run's first weights; a resume loads its own
    model = build_model(cfg, spec, distribution_for(action_space, cfg.action_squash))
    optimizer = build_optimizer(cfg, model.parameters())
    start = resume_start(Path(resume), cfg, target, model, optimizer) if resume is not None else fresh_start(cfg)
    cfg = cfg.replace(run_dir=str(start.run_dir))
    parts = _engine_parts(cfg, model, optimizer, device, spec, action_space, start)
    # The engine may still refuse the config (a UserError): before anything is written, so a rejected
    # run leaves no directory behind and a rejected resume leaves the run's config.toml as it was.
    engine = make_engine(parts)
    start.run_dir.mkdir(parents=True, exist_ok=True)
    if lock is None:  # a new directory: lock it before writing into it
        lock = RunLock(start.run_dir)
        lock.acquire()
    made_with = versions()
    cfg.save_toml(start.run_dir / "config.toml", meta=made_with)
    monitor = Monitor.open(
        cfg,
        start.run_dir,
        target,
        engine_columns=tuple(engine.columns) + FAULT_COLUMNS,
        progress_fields=engine.progress_fields,
        restored=start.restored,
    )
    if cfg.loss_precision == "auto":  # what auto chose is the machine's, not the config's: say it
        chosen = loss_in_bfloat16("auto", device.type if cfg.algo == "ga3c" else "cpu")
        monitor.event(f"loss_precision=auto: the loss's network pass runs in {'bfloat16' if chosen else 'float32'}")
    run = _Run(parts, engine, monitor, start)
    summary = dict(run.go(), versions=made_with)
    write_summary(start.run_dir, summary)
    if run.error is not None:
        raise run.error
    return TrainResult(**summary, run_dir=str(start.run_dir))


def _engine_parts(cfg: Config, model, optimizer, device, spec, action_space, start: RunStart) -> EngineParts:
    """The model and optimizer in shared memory (GA3C's on its device) and the counters. The
    normalization statistics are the engine's to lay out (normalization.Statistics): it makes
    their owner from the model's buffers, which resume_start has already restored."""
    model.share_memory()
    optimizer.share_memory()
    if cfg.algo == "ga3c":  # GA3C's predictors and trainers run on the device; A3C workers stay on the CPU
        move_to_device(model, optimizer, device)
    ctx = context(cfg.algo)
    # A row for each worker or agent rank there can ever be (GA3C's adjuster adds agents up to max_agents).
    counters = SharedCounters(ctx, start.counts, ranks=max(cfg.workers, cfg.max_agents))
    return EngineParts(cfg, model, optimizer, counters, ctx, spec, action_space, start.incarnation)


class _Run:
    """One run's main loop: drain the engine's messages, supervise, log, checkpoint, stop."""

    def __init__(self, parts: EngineParts, engine: Engine, monitor: Monitor, start: RunStart):
        cfg = self.cfg = parts.cfg
        self.parts, self.engine, self.monitor, self.start = parts, engine, monitor, start
        self.counters = parts.counters
        self.guard = NonFiniteGuard(cfg.nonfinite_patience, cfg.nonfinite_restores)
        self.messages = MessageHandler(engine, monitor, self.counters, self.guard)
        self.error: BaseException | None = None
        self._pss: tuple[float, float | None] = (-math.inf, None)  # (when, MB) of the last measurement
        self._best: tuple[dict, dict] | None = None  # (weights, sidecar) of a best not yet written
        self._best_written = -math.inf
        if start.checkpoint is not None:
            self.guard.last_good = start.checkpoint["path"]
            skipped = start.checkpoint.get("skipped")
            monitor.event(
                f"resumed from {start.checkpoint['path']} at env_steps={start.counts[0]}"
                + (f" (skipped corrupt: {skipped})" if skipped else "")
            )

    def go(self) -> dict:
        """Train until a stop rule fires, the run is interrupted or fails; then stop the engine,
        write the last metrics row and checkpoint. Returns summary.json's fields; a failure is
        left in self.error."""
        previous_sigterm = signal.getsignal(signal.SIGTERM)
        signal.signal(signal.SIGTERM, _raise_interrupted)
        stop_reason = "error"
        if not self.start.resumed:
            self.save("start")  # --resume works from the first second of a run
        try:
            stop_reason = self._loop()
        except (KeyboardInterrupt, _Interrupted):
            stop_reason = "interrupted"
        except (RoleFailed, RunFailed) as exc:  # the run gave up on purpose: the reason, not a traceback
            self.error = RunFailed(f"{exc} (run directory {self.start.run_dir})")
            self.monitor.event(f"run failed: {exc}")
        except Exception as exc:  # an unexpected failure: still write what we have
            self.error = exc
            self.monitor.event("run failed:\n" + traceback.format_exc())
        finally:
            signal.signal(signal.SIGTERM, previous_sigterm)
            stop_reason = self._close(stop_reason)
        env_steps, updates, episodes = self.counters.read()
        summary = dict(self.monitor.summary(stop_reason, env_steps, updates, episodes), engine=self._engine_facts())
        self.monitor.event(
            f"stopped: {stop_reason}; env_steps={env_steps} mean_return_100={summary['mean_return_100']}"
        )
        self.monitor.close()
        return summary

    def _loop(self) -> str:
        engine, monitor, cfg = self.engine, self.monitor, self.cfg
        last_checkpoint, last_checkpoint_steps = time.monotonic(), self.counters.env_steps
        next_interval = min(cfg.checkpoint_first_s, cfg.checkpoint_interval_s)
        self.counters.set_wall_seconds(monitor.wall_seconds())
        engine.start()
        while True:
            self.counters.set_wall_seconds(monitor.wall_seconds())
            for msg in engine.drain(timeout=0.05):
                self.messages.handle(msg)
            for event in engine.supervise():
                monitor.event(event)
            env_steps, updates, episodes = self.counters.read()
            self.keep_best()
            rule = monitor.stop_rule(env_steps)
            if rule is not None:
                return rule.reason
            if monitor.due(env_steps):
                self.metrics_row(env_steps, updates, episodes)
            # By time and by progress: a kill -9 loses at most checkpoint_interval_s of training.
            if time.monotonic() - last_checkpoint >= next_interval or (
                cfg.checkpoint_every_steps and env_steps - last_checkpoint_steps >= cfg.checkpoint_every_steps
            ):
                self.save("periodic")
                last_checkpoint, last_checkpoint_steps = time.monotonic(), env_steps
                next_interval = cfg.checkpoint_interval_s

    def _engine_facts(self) -> dict:
        try:
            return self.engine.summary_facts()
        except Exception as exc:  # a summary without them beats none
            self.monitor.event(f"could not read the engine's facts for summary.json: {exc!r}")
            return {}

    def _close(self, stop_reason: str) -> str:
        """Stop the engine, take in what it still had in flight, write the last row and checkpoint."""
        if stop_reason == "target_reached":  # summary.json reports the window that reached it
            self.monitor.stop_counting()
        try:
            for msg in self.engine.close():
                try:
                    self.messages.handle(msg)
                except RunFailed:  # already stopping
                    pass
        except (KeyboardInterrupt, _Interrupted):
            stop_reason = "interrupted"
        self.metrics_row(*self.counters.read())
        self.save(stop_reason)
        self.keep_best(final=True)
        return stop_reason

    def metrics_row(self, env_steps: int, updates: int, episodes: int) -> None:
        extra = dict(
            self.engine.extra_metrics(),
            nonfinite_updates=self.guard.total,
            env_errors=self.messages.env_errors,
            pss_mb=self._pss_mb(),
        )
        self.monitor.log(
            env_steps, updates, episodes, scheduled_lr(self.cfg, env_steps, self.monitor.wall_seconds()), extra
        )

    def _pss_mb(self) -> float | None:
        """The run's memory, measured at most every PSS_EVERY_S: reading every process's smaps costs
        tens of ms where a Ray node's processes map its whole object store."""
        when, mb = self._pss
        if time.monotonic() - when >= PSS_EVERY_S:
            self._pss = (time.monotonic(), run_pss_mb())
        return self._pss[1]

    def _meta(self, reason: str) -> dict:
        env_steps, updates, episodes = self.counters.read()
        return dict(
            config=self.cfg.to_dict(),
            counters=[env_steps, updates, episodes],
            resumes=self.start.resumes,
            next_incarnation=self.engine.incarnations.next(),
            monitor=self.monitor.state(env_steps),
            reason=reason,
            obs_shape=list(self.parts.spec.shape),
        )

    def save(self, reason: str) -> None:
        parts, monitor = self.parts, self.monitor
        meta = self._meta(reason)
        self.engine.statistics.publish()  # every writer's normalization statistics into the buffers saved
        try:
            path = save_checkpoint(
                self.start.run_dir, parts.model, parts.optimizer.state_tensors(), meta, meta["counters"][0]
            )
        except OSError as exc:
            # Disk full (or the like): training goes on; what was saved before stays whole and loadable.
            previous = self.guard.last_good or "none yet"
            monitor.event(
                f"checkpoint at env_steps={meta['counters'][0]} failed ({exc.strerror or exc}); the previous "
                f"checkpoint is still valid ({previous}); training goes on"
            )
            return
        self.guard.saved(str(path))

    def keep_best(self, final: bool = False) -> None:
        """The safety net against a policy that falls from its peak: when the mean of the window
        reaches a new best, copy the weights of that moment; write the copy to checkpoints/best.*
        at most every BEST_WRITE_EVERY_S and when the run ends. eval, export and load take it."""
        if self.monitor.stats.take_improvement():
            weights = {k: v.detach().to("cpu", copy=True) for k, v in self.parts.model.state_dict().items()}
            self._best = (weights, self._meta("best"))
        if self._best is None or not (final or time.monotonic() - self._best_written >= BEST_WRITE_EVERY_S):
            return
        weights, meta = self._best
        self._best, self._best_written = None, time.monotonic()
        try:
            save_checkpoint(self.start.run_dir, weights, {}, meta, meta["counters"][0], name=BEST)
        except OSError as exc:
            self.monitor.event(f"best checkpoint failed ({exc.strerror or exc}); training goes on")


def _raise_interrupted(signum, frame):
    raise _Interrupted()
