"""The main process of a run: builds the global model, optimizer and counters, starts an
engine, and owns everything else: logging, checkpoints, stop rules, supervision and
summary.json. Engines differ only in how they move experience and gradients."""

from __future__ import annotations

import datetime as dt
import json
import os
import signal
import time
import traceback
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional

import torch

from a3c.checkpoint import load_checkpoint, restore_rng, save_checkpoint
from a3c.config import Config
from a3c.device import move_to_device, resolve_device
from a3c.distributions import distribution_for
from a3c.engines.base import Engine
from a3c.engines.common import SharedCounters, context, warm_up_children
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
    target_return: Optional[float]
    env_steps: int
    updates: int
    episodes: int
    wall_seconds: float
    steps_per_second: float
    mean_return_100: Optional[float]
    best_mean_return_100: Optional[float]
    time_to_target_s: Optional[float]
    steps_to_target: Optional[int]
    run_dir: str = ""
    versions: dict = field(default_factory=dict)  # a3c, torch, gymnasium, numpy, python, git_commit


class AlreadyFinished(UserError):
    """A resumed run had already met its stop rule under the rules given: nothing was trained.
    The CLI prints the message and exits 0 (a finished run is a success); `result` holds the
    run's summary.json as it was, when there is one."""

    def __init__(self, message: str, result: Optional[TrainResult]):
        super().__init__(message)
        self.result = result


def default_run_dir(cfg: Config) -> Path:
    stamp = dt.datetime.now().strftime("%Y%m%d-%H%M%S")
    name = cfg.env_id.replace("/", "_").replace(":", "_")
    return Path("runs") / f"{name}-{cfg.algo}-{stamp}"


def _make_engine(cfg: Config, model, optimizer, counters, ctx) -> Engine:
    if cfg.backend == "ray":
        if cfg.deterministic:
            raise UserError("deterministic=true runs in one process and cannot use --backend ray. "
                            "Allowed: --backend local with deterministic=true, or deterministic=false.")
        from a3c.engines.ray import RayA3CEngine, RayGA3CEngine

        return (RayGA3CEngine if cfg.algo == "ga3c" else RayA3CEngine)(cfg, model, optimizer, counters, ctx)
    if cfg.deterministic:
        from a3c.engines.serial import SerialA3CEngine, SerialGA3CEngine

        return (SerialGA3CEngine if cfg.algo == "ga3c" else SerialA3CEngine)(cfg, model, optimizer, counters, ctx)
    if cfg.algo == "ga3c":
        from a3c.engines.ga3c import GA3CEngine

        return GA3CEngine(cfg, model, optimizer, counters, ctx)
    from a3c.engines.hogwild import HogwildEngine

    return HogwildEngine(cfg, model, optimizer, counters, ctx)


class _Interrupted(Exception):
    pass


def train(cfg: Config, resume: Optional[str | Path] = None) -> TrainResult:
    """Train until a stop rule fires; write the run directory; return the summary.

    With `resume`, cfg is the run's saved config with the caller's changes applied, and
    counters, optimizer, schedules and summary carry on from the newest checkpoint.
    """
    torch.set_num_threads(1)
    device = resolve_device(cfg)
    if not cfg.deterministic:  # the deterministic engines start no processes
        warm_up_children()  # --device cuda without CUDA fails here, before a run directory exists
    spec, action_space = probe(cfg)  # fails early, in the main process, on a bad env id or space
    dist = distribution_for(action_space)
    target = cfg.resolved_target(env_threshold(cfg.env_id))

    restored: dict[str, Any] = {}
    model = build_model(cfg, spec, dist)
    optimizer = build_optimizer(cfg, model.parameters())
    counts = (0, 0, 0)
    incarnation = 0
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
        incarnation = int(sidecar.get("resumes", 0)) + 1
        met = rule_met(cfg, target, restored, counts[0])
        if met is not None:  # before anything is written: the run directory stays as it was
            raise AlreadyFinished(
                f"run {run_dir} already met its stop rule: {met}. Nothing to train. To train on, "
                "give a rule it has not met, e.g. a larger --total-steps, --target-return off "
                "(or a higher one), or a longer --time-limit.", _saved_result(run_dir))
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

    model.share_memory()
    optimizer.share_memory()
    if cfg.algo == "ga3c":  # GA3C's predictors and trainers run on the device; A3C workers stay on the CPU
        move_to_device(model, optimizer, device)
    ctx = context()
    counters = SharedCounters(ctx, counts)  # type: ignore[arg-type]
    # The engine may still refuse the config (a UserError): before anything is written, so a rejected
    # run leaves no directory behind and a rejected resume leaves the run's config.toml as it was.
    engine = _make_engine(cfg, model, optimizer, counters, ctx)
    run_dir.mkdir(parents=True, exist_ok=True)
    made_with = versions()
    cfg.save_toml(run_dir / "config.toml", meta=made_with)
    monitor = Monitor(cfg, run_dir, target, engine_columns=engine.columns, restored=restored)
    engine.set_incarnation_base(incarnation)
    if resume is not None:
        monitor.event(f"resumed from {sidecar['path']} at env_steps={counts[0]}"
                      + (f" (skipped corrupt: {sidecar['skipped']})" if sidecar.get("skipped") else ""))

    def handle_message(msg: dict) -> None:
        if msg["kind"] == "report":
            monitor.record_episodes(msg["returns"], counters.env_steps, msg.get("lengths", ()), msg.get("rank"))
            if msg["count"]:
                monitor.record_losses(msg["sums"], msg["count"])
        elif msg["kind"] == "crash":
            monitor.event(f"{msg['role']} {msg['rank']} crashed:\n{msg['error'].rstrip()}")
        elif msg["kind"] == "event":
            monitor.event(msg["text"])

    def save(reason: str) -> None:
        env_steps, updates, episodes = counters.read()
        meta = dict(
            config=cfg.to_dict(), counters=[env_steps, updates, episodes], resumes=incarnation,
            monitor=monitor.state(env_steps), reason=reason, obs_shape=list(spec.shape),
        )
        save_checkpoint(run_dir, model, optimizer.state_tensors(), meta, env_steps)

    previous_sigterm = signal.getsignal(signal.SIGTERM)

    def on_sigterm(signum, frame):
        raise _Interrupted()

    signal.signal(signal.SIGTERM, on_sigterm)
    stop_reason = "error"
    error: Optional[BaseException] = None
    last_checkpoint = time.monotonic()
    restart_times: list[float] = []
    try:
        engine.start()
        while True:
            for msg in engine.drain(timeout=0.05):
                handle_message(msg)
            for event in engine.supervise():
                monitor.event(event)
                restart_times.append(time.monotonic())
            recent = [t for t in restart_times if time.monotonic() - t < 60]
            if len(recent) > 5 * max(1, cfg.workers):
                raise RuntimeError("processes keep dying (see events.log); stopping the run")
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
                monitor.log(env_steps, updates, episodes, scheduled_lr(cfg, env_steps), engine.extra_metrics())
            if time.monotonic() - last_checkpoint >= cfg.checkpoint_interval_s:
                save("periodic")
                last_checkpoint = time.monotonic()
    except (KeyboardInterrupt, _Interrupted):
        stop_reason = "interrupted"
    except Exception as exc:  # an unexpected failure: still write what we have
        stop_reason, error = "error", exc
        monitor.event("run failed:\n" + traceback.format_exc())
    finally:
        signal.signal(signal.SIGTERM, previous_sigterm)
        try:
            for msg in engine.close():
                handle_message(msg)
        except (KeyboardInterrupt, _Interrupted):
            stop_reason = "interrupted"
        env_steps, updates, episodes = counters.read()
        monitor.log(env_steps, updates, episodes, scheduled_lr(cfg, env_steps), engine.extra_metrics())
        save(stop_reason)
        summary = dict(monitor.summary(stop_reason, env_steps, updates, episodes), versions=made_with)
        monitor.event(f"stopped: {stop_reason}; env_steps={env_steps} mean_return_100={summary['mean_return_100']}")
        monitor.close()
        _write_json(run_dir / "summary.json", summary)
    if error is not None:
        raise error
    return TrainResult(**summary, run_dir=str(run_dir))


def _saved_result(run_dir: Path) -> Optional[TrainResult]:
    try:
        saved = json.loads((run_dir / "summary.json").read_text())
        return TrainResult(**{**saved, "run_dir": str(run_dir)})
    except (OSError, ValueError, TypeError):
        return None


def _write_json(path: Path, data: dict) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(data, indent=2) + "\n")
    os.replace(tmp, path)
