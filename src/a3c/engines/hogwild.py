"""The A3C engine (Mnih et al. 2016): worker processes, each with its own envs and a local
copy of the network, applying its gradients to one global network in shared memory (computed
in parallel, read lock-free, stepped one at a time: update_lock.py)."""

from __future__ import annotations

import time
from typing import Any

from a3c.distributions import distribution_for
from a3c.engines.a3c_step import a3c_worker_step, local_collector
from a3c.engines.base import EngineParts, Incarnations
from a3c.engines.learner import Learner
from a3c.engines.messages import Message, Report, Reporter, ReportPipes, report_crash
from a3c.engines.processes import (
    RestartTracker,
    RoleFailed,
    StopFlag,
    child_seed,
    parent_watch,
    prepare_child,
    stop_processes,
)
from a3c.engines.update_lock import UpdateLock
from a3c.envs import rank_env_group
from a3c.loss import LossSettings
from a3c.models import build_model
from a3c.normalization import Statistics, StatisticsWriter
from a3c.optim import build_optimizer


def worker_main(
    rank,
    incarnation,
    cfg,
    global_model,
    optim_state,
    update_lock,
    counters,
    statistics: StatisticsWriter,
    stop_event,
    queue,
) -> None:
    """Worker `rank`'s life. counters is its own row (SharedCounters.for_rank), statistics its rows
    of the normalization statistics, queue its own report pipe, stop_event a StopFlag: nothing it
    can be SIGKILLed inside is shared with another worker."""
    try:
        seed = child_seed(cfg.seed, rank, incarnation)
        prepare_child(seed)
        envs = rank_env_group(cfg, rank, incarnation, statistics.returns)
        dist = distribution_for(envs.action_space, cfg.action_squash)
        local = build_model(cfg, envs.spec, dist)
        # The global model's normalizer statistics: this worker's row, merged with the others'.
        collector = local_collector(envs, local, dist, cfg.t_max, observe=statistics.observe)
        reporter = Reporter(queue, rank)
        settings = LossSettings.from_config(cfg)
        learner = worker_learner(cfg, global_model, optim_state, update_lock, counters)
        run_alive = parent_watch()
        # A dead main process sets no stop event: without the parent check a worker outlives its run.
        while not stop_event.is_set() and run_alive():
            a3c_worker_step(local, global_model, learner, collector, dist, settings, reporter)
            reporter.env_errors(envs)
            reporter.maybe_send()
        reporter.maybe_send(force=True)
    except Exception:
        report_crash(queue, rank, "worker")
        raise


def worker_learner(cfg, global_model, optim_state, update_lock: UpdateLock, counters) -> Learner:
    """A worker's learner: it steps the one shared network through an optimizer over the shared
    statistics, one worker's step at a time (update_lock.py says why); the gradients before it
    and the weight reads are lock-free (Hogwild)."""
    optimizer = build_optimizer(cfg, global_model.parameters())
    optimizer.adopt_state_tensors(optim_state)
    return Learner(cfg, global_model, optimizer, counters, lock=update_lock)


class HogwildEngine:
    """Starts, supervises and stops the A3C workers. The main process never steps an env."""

    columns: tuple[str, ...] = ("workers_alive", "restarts")
    progress_fields: tuple[str, ...] = ()

    def __init__(self, parts: EngineParts):
        cfg = parts.cfg
        self.cfg, self.model, self.optimizer, self.counters, self.ctx = (
            cfg,
            parts.model,
            parts.optimizer,
            parts.counters,
            parts.ctx,
        )
        self.reports = ReportPipes(self.ctx)
        self.stop_event = StopFlag(self.ctx)
        self.update_lock = UpdateLock.create()
        # Each worker writes its own row of both the observation and the return statistics.
        self.statistics = Statistics(parts.model, observations={"worker": cfg.workers}, returns={"worker": cfg.workers})
        self.processes: list[Any] = [None] * cfg.workers
        self.incarnations = Incarnations(cfg.workers, parts.incarnation)
        self.restarts = 0
        self._reported = [False] * cfg.workers  # this incarnation of worker i has sent a report
        self._tracker = RestartTracker(cfg.restart_limit)

    def _spawn(self, rank: int) -> None:
        self.processes[rank] = self.reports.start_child(
            worker_main,
            f"a3c-worker-{rank}",
            rank,
            self.incarnations[rank],
            self.cfg,
            self.model,
            self.optimizer.state_tensors(),
            self.update_lock,
            self.counters.for_rank(rank),
            self.statistics.writer("worker", rank),
            self.stop_event,
        )

    def start(self) -> None:
        for rank in range(self.cfg.workers):
            self._spawn(rank)

    def drain(self, timeout: float) -> list[Message]:
        messages = self.reports.drain(timeout)
        for msg in messages:
            if isinstance(msg, Report) and 0 <= msg.rank < len(self._reported):
                self._reported[msg.rank] = True
        return messages

    def supervise(self) -> list[str]:
        """Restart any worker that died; returns what happened, for the event log. Raises RoleFailed
        when a worker keeps dying before it gets anything done."""
        events: list[str] = []
        if self.stop_event.is_set():
            return events
        for rank, proc in enumerate(self.processes):
            if proc is not None and not proc.is_alive():
                proc.join(0.1)
                reason = self._tracker.died(f"worker {rank}", self._reported[rank])
                if reason is not None:
                    self.processes[rank] = None
                    raise RoleFailed(reason)
                events.append(f"worker {rank} (pid {proc.pid}) died with exit code {proc.exitcode}; restarting it")
                self.incarnations.bump(rank)
                self.restarts += 1
                self._reported[rank] = False
                self._spawn(rank)
        return events

    def load_weights(self, model_tensors: dict, optim_tensors: dict) -> None:
        """Put a checkpoint's weights and optimizer statistics in place, in shared memory; workers
        pick them up at their next sync."""
        learner = Learner(self.cfg, self.model, self.optimizer, self.counters, lock=self.update_lock)
        learner.load_weights(model_tensors, optim_tensors)

    def extra_metrics(self) -> dict[str, float | None]:
        alive = sum(1 for p in self.processes if p is not None and p.is_alive())
        return {"workers_alive": alive, "restarts": self.restarts}

    def summary_facts(self) -> dict[str, Any]:
        return {"workers": self.cfg.workers, "restarts": self.restarts}

    def close(self) -> list[Message]:
        """Stop every worker and return the reports still in flight."""
        self.stop_event.set()
        deadline = time.monotonic() + 5.0
        leftover: list[Message] = []
        # Keep draining while workers finish, so none blocks on a full report pipe.
        while any(p is not None and p.is_alive() for p in self.processes) and time.monotonic() < deadline:
            leftover.extend(self.drain(0.05))
        stop_processes(self.processes, timeout=1.0)
        leftover.extend(self.drain(0.0))
        self.reports.close()
        self.update_lock.remove()
        return leftover
