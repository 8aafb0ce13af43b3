"""The GA3C engine (Babaeizadeh et al. 2017; NVlabs GA3C's Server): starts, resizes,
supervises and stops the agents, predictors and trainers, and is training.py's view of them.

    agents (processes)     --obs via mailboxes-->     predictors (threads) --> SharedModel
        step envs          <--actions + log mu--                                  ^
        fill segments      --slot index via queue-->  trainers (threads) ---------+
                           <--freed slot index--

The main process holds the one network (on the device); agents never do. The dynamic
adjuster resizes each group while the run goes.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

from a3c.distributions import distribution_for
from a3c.engines.base import EngineParts, Incarnations
from a3c.engines.ga3c.adjust import DynamicAdjuster
from a3c.engines.ga3c.agent import agent_main
from a3c.engines.ga3c.buffers import Mailboxes, SegmentPool
from a3c.engines.ga3c.predictor import AgentLine, Predictor, RequestBoard
from a3c.engines.ga3c.shared_model import SharedModel
from a3c.engines.ga3c.stats import Stats, Totals
from a3c.engines.ga3c.trainer import Trainer
from a3c.engines.messages import Event, Message, ReportPipes
from a3c.engines.processes import RestartTracker, RoleFailed, stop_processes
from a3c.normalization import Statistics

SETTLE_TIMEOUT_S = 60.0  # longest the adjuster waits for a new agent to start before measuring


class GA3CEngine:
    columns: tuple[str, ...] = (
        "agents",
        "predictors",
        "trainers",
        "pps",
        "tps",
        "predict_batch_mean",
        "predict_queue",
        "train_queue",
        "policy_lag",
        "importance_ratio",
        "restarts",
    )
    # Batched prediction and training: their rates and the policy lag on the progress line too.
    progress_fields: tuple[str, ...] = ("pps={pps:,.0f}", "tps={tps:,.0f}", "lag={policy_lag:.2f}")

    def __init__(self, parts: EngineParts):
        cfg, model, ctx, spec = parts.cfg, parts.model, parts.ctx, parts.spec
        self.cfg, self.counters, self.ctx = cfg, parts.counters, ctx
        self.device = next(model.parameters()).device  # training.py put the model where it should run
        self.dist = distribution_for(parts.action_space, cfg.action_squash)
        obs_shape, obs_dtype = spec.shape, spec.torch_dtype  # uint8 frames stay uint8 in shared memory

        fixed = not cfg.dynamic_adjust
        self.limits = {
            "agents": cfg.workers if fixed else max(cfg.workers, cfg.max_agents),
            "predictors": cfg.predictors if fixed else max(cfg.predictors, cfg.max_predictors),
            "trainers": cfg.trainers if fixed else max(cfg.trainers, cfg.max_trainers),
        }
        envs = cfg.envs_per_worker
        lstm_size = cfg.lstm_size if cfg.recurrent else 0  # each env's (h, c) lives beside its mailbox row
        self.mail = Mailboxes.allocate(self.limits["agents"], envs, obs_shape, obs_dtype, self.dist, lstm_size)
        # One slot per agent being filled, plus a full batch waiting for every trainer: agents never
        # wait on a trainer that is itself waiting for segments, and the backlog (hence lag) is bounded.
        slots = self.limits["agents"] + cfg.train_batch * self.limits["trainers"]
        self.pool = SegmentPool.allocate(slots, cfg.t_max, envs, obs_shape, obs_dtype, self.dist, ctx, lstm_size)
        self.pool.mail = self.mail
        self.reports = ReportPipes(ctx)  # agents' episode reports and crash notes, a pipe each
        self.shared = SharedModel(cfg, model, parts.optimizer, parts.counters)
        # The agents write the return statistics, a row for each rank there may be; the trainers,
        # which see every agent's data, the observations', a row for each trainer index.
        self.statistics = Statistics(
            model, observations={"trainer": self.limits["trainers"]}, returns={"agent": self.limits["agents"]}
        )
        self.board = RequestBoard(self.mail, on_publish=self.pool.published)
        self.stats = Stats()

        self.agents: dict[int, Any] = {}  # rank -> process
        self.lines: dict[int, AgentLine] = {}  # rank -> the learner's end of that agent (its progress)
        self.incarnations = Incarnations(self.limits["agents"], parts.incarnation)
        self._tracker = RestartTracker(cfg.restart_limit)
        self.predictors: list[Predictor] = []
        self.trainers: list[Trainer] = []
        self.restarts = 0
        self._final_counts: dict[str, int] = {}  # the counts when close() began
        self._lock = threading.RLock()  # the sets of agents, predictors and trainers
        self._stopping = threading.Event()
        self._inbox: list[Message] = []  # events and crash notes from threads of this process
        self._inbox_lock = threading.Lock()
        self._last_metrics = (time.monotonic(), Totals())
        self.adjuster: DynamicAdjuster | None = None
        if cfg.dynamic_adjust:
            self.adjuster = DynamicAdjuster(self, cfg.adjust_interval_s, cfg.seed, self._event, self._post)

    # ----- the engine interface of training.py -----
    def start(self) -> None:
        with self._lock:
            for rank in range(self.cfg.workers):
                self._start_agent(rank)
            for _ in range(self.cfg.predictors):
                self._start_predictor()
            for _ in range(self.cfg.trainers):
                self._start_trainer()
        if self.adjuster is not None:
            self.adjuster.start()

    def drain(self, timeout: float) -> list[Message]:
        """Agents' reports, this process's events and crash notes, and the trainers' losses."""
        with self._inbox_lock:
            messages, self._inbox = self._inbox, []
        losses = self.stats.take_loss_report()
        if losses is not None:
            messages.append(losses)
        # Messages already in hand: no reason to wait for the agents' queue.
        return messages + self.reports.drain(0.0 if messages else timeout)

    def supervise(self) -> list[str]:
        """Restart any agent process or predictor/trainer thread that died; returns what happened.
        Raises RoleFailed when one keeps dying before it gets anything done."""
        events: list[str] = []
        if self._stopping.is_set():
            return events
        with self._lock:
            for rank, proc in list(self.agents.items()):
                if not proc.is_alive():
                    proc.join(0.1)
                    line = self.lines.get(rank)
                    self._forget_agent(rank)  # its slots are free again, its pipe closed
                    reason = self._tracker.died(f"agent {rank}", line is not None and line.published > 0)
                    if reason is not None:
                        raise RoleFailed(reason)
                    events.append(f"agent {rank} (pid {proc.pid}) died with exit code {proc.exitcode}; restarting it")
                    self.restarts += 1
                    self._start_agent(rank)
            events += self._restart_dead_threads("predictor", self.predictors, self._start_predictor)
            events += self._restart_dead_threads("trainer", self.trainers, self._start_trainer)
        return events

    def _restart_dead_threads(self, role: str, threads: list[Any], start: Callable[[], None]) -> list[str]:
        """Replace the predictor or trainer threads that died (each has .index and .progress)."""
        events = []
        for thread in [t for t in threads if not t.is_alive()]:
            threads.remove(thread)
            reason = self._tracker.died(f"{role} thread", thread.progress > 0)
            if reason is not None:
                raise RoleFailed(reason)
            events.append(f"{role} thread {thread.index} died; restarting it")
            self.restarts += 1
            start()
        return events

    def load_weights(self, model_tensors: dict, optim_tensors: dict) -> None:
        """Put a checkpoint's weights and optimizer statistics in place, between two updates."""
        self.shared.learner.load_weights(model_tensors, optim_tensors)

    def extra_metrics(self) -> dict[str, float | None]:
        now, totals = time.monotonic(), self.stats.totals()
        then, before = self._last_metrics
        self._last_metrics = (now, totals)
        elapsed = max(now - then, 1e-9)
        batches = totals.predict_batches - before.predict_batches
        with self._lock:
            counts = self.counts()
            waiting = int(sum(int(self.mail.waiting[rank]) for rank in self.agents))
        return dict(
            **counts,
            pps=(totals.predictions - before.predictions) / elapsed,
            tps=(totals.trained_samples - before.trained_samples) / elapsed,
            predict_batch_mean=(totals.predict_rows - before.predict_rows) / batches if batches else None,
            predict_queue=waiting,
            train_queue=_qsize(self.pool.full),
            **self.stats.take_lag_and_ratio(),
            restarts=self.restarts,
        )

    def close(self) -> list[Message]:
        """Stop every thread and process; return the reports still in flight."""
        with self._lock:  # what the adjuster had settled on when the run ended, for summary.json
            self._final_counts = self.counts()
        self._stopping.set()
        if self.adjuster is not None:
            self.adjuster.stop_event.set()
        with self._lock:
            self.mail.running.zero_()
            threads: list[Predictor | Trainer] = [*self.predictors, *self.trainers]
            for thread in threads:
                thread.stop_event.set()
        leftover: list[Message] = []
        deadline = time.monotonic() + 5.0
        # Keep draining while agents finish, so none blocks on a full report pipe.
        while any(p.is_alive() for p in self.agents.values()) and time.monotonic() < deadline:
            leftover.extend(self.drain(0.05))
        stop_processes(list(self.agents.values()), timeout=1.0)
        for thread in threads:
            thread.join(2.0)
        if self.adjuster is not None and self.adjuster.is_alive():
            self.adjuster.join(2.0)
        for rank in list(self.agents):
            self.board.disconnect(rank)
        leftover.extend(self.drain(0.0))
        self.reports.close()
        return leftover

    # ----- the controls the dynamic adjuster turns -----
    def summary_facts(self) -> dict[str, Any]:
        return dict(self._final_counts, restarts=self.restarts)

    def counts(self) -> dict[str, int]:
        return {"agents": len(self.agents), "predictors": len(self.predictors), "trainers": len(self.trainers)}

    def set_count(self, role: str, count: int) -> None:
        with self._lock:
            if self._stopping.is_set():
                return
            if role == "agents":
                while len(self.agents) < count:
                    self._start_agent(min(set(range(self.limits["agents"])) - set(self.agents)))
                while len(self.agents) > count:
                    self._stop_agent(max(self.agents))
                return
            threads, start = (
                (self.predictors, self._start_predictor)
                if role == "predictors"
                else (self.trainers, self._start_trainer)
            )
            while len(threads) < count:
                start()
            while len(threads) > count:
                thread = threads.pop()
                thread.stop_event.set()
                thread.join()

    def training_rate(self, seconds: float) -> float | None:
        settle_by = time.monotonic() + SETTLE_TIMEOUT_S
        while not all(self.board.heard_from(rank) for rank in list(self.agents)) and time.monotonic() < settle_by:
            if self._stopping.wait(0.05):
                return None
        start, before = time.monotonic(), self.stats.totals().trained_samples
        if self._stopping.wait(seconds):
            return None
        return (self.stats.totals().trained_samples - before) / (time.monotonic() - start)

    # ----- plumbing -----
    def _start_agent(self, rank: int) -> None:
        request_reader, request_writer = self.ctx.Pipe(duplex=False)
        reply = self.ctx.Semaphore(0)
        if rank in self.lines:
            # Every start after the first is a new incarnation: fresh seeds, never a replay of the
            # episodes of the agent that held this rank before (re-added by the adjuster or restarted).
            self.incarnations.bump(rank)
        self.mail.running[rank] = 1
        self.mail.waiting[rank] = 0
        self.mail.next_slot[rank] = -1
        self.mail.reset_state(rank)  # a new incarnation remembers nothing of the one before
        proc = self.reports.start_child(
            agent_main,
            f"ga3c-agent-{rank}",
            rank,
            self.incarnations[rank],
            self.cfg,
            self.mail,
            self.pool,
            request_writer,
            reply,
            self.counters.for_rank(rank),
            self.statistics.writer("agent", rank).returns,
        )
        request_writer.close()  # the agent holds the only writer, so its death reads as end-of-file
        line = AgentLine(rank, self.incarnations[rank], request_reader, reply)
        self.board.connect(line)
        self.lines[rank] = line
        self.agents[rank] = proc
        self.pool.offer(rank)  # its first segment slot

    def _stop_agent(self, rank: int) -> None:
        self.mail.running[rank] = 0
        stop_processes([self.agents[rank]], timeout=5.0)
        self._forget_agent(rank)

    def _forget_agent(self, rank: int) -> None:
        self.agents.pop(rank, None)
        # Disconnect first: a publish note still in its pipe is then never read, and reclaim frees
        # every slot it owned (one it was filling, one handed over for next), so none is ever lost.
        self.board.disconnect(rank)
        self.mail.waiting[rank] = 0
        self.pool.reclaim(rank)

    def _start_predictor(self) -> None:
        index = len(self.predictors)
        predictor = Predictor(
            index,
            self.board,
            self.shared,
            self.dist,
            self.stats,
            self.device,
            self.cfg.predict_batch,
            self.cfg.predict_timeout_ms / 1000.0,
            self._post,
        )
        predictor.start()
        self.predictors.append(predictor)

    def _start_trainer(self) -> None:
        # The lowest index no live trainer holds: a replacement for one that died in the middle
        # takes its index, and with it its row of the normalizer's table (one writer per row).
        index = min(set(range(len(self.trainers) + 1)) - {trainer.index for trainer in self.trainers})
        statistics = self.statistics.writer("trainer", index)
        trainer = Trainer(
            index, self.cfg, self.pool, self.shared, self.dist, self.stats, self.device, self._post, statistics
        )
        trainer.start()
        self.trainers.append(trainer)

    def _post(self, message: Message) -> None:
        with self._inbox_lock:
            self._inbox.append(message)

    def _event(self, text: str) -> None:
        self._post(Event(text))


def _qsize(q) -> int | None:
    try:
        return q.qsize()
    except NotImplementedError:  # macOS has no sem_getvalue
        return None
