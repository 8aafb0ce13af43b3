"""The deterministic engines (`deterministic=true`): Sample Factory's serial runner idea, the
same roles as the parallel engines called in one fixed order in the main process.

Nothing runs concurrently, every random stream is seeded from the run's seed (a3c.seeding),
and torch uses deterministic algorithms, so the same config and seed give the same
metrics.csv (all but its wall-clock columns, wall_s and fps) and the same weights. Each
`drain` call is one round:

    A3C   for each worker in rank order: copy the global parameters, roll out t_max steps in
          its envs, compute the loss, clip, apply the gradients to the global network
    GA3C  each agent in rank order fills one t_max-step segment with the one rollout writer,
          acting through the learner's shared model (a local link); then the finished segments
          train in batches of train_batch, oldest first, through the GA3C trainer's own update
          (the later batches with policy lag, as in GA3C). A local link chooses each action when
          the writer reads it, so the first action of an agent's next segment is chosen after
          the training in between: with the weights and normalizer statistics it just produced
          (one agent, train_batch 1: no policy lag, as in A2C)

It is much slower than the parallel engines (one core, no overlap); use it for tests,
debugging and results that must be reproduced exactly.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

import torch

from a3c.acting import LocalModelLink
from a3c.distributions import distribution_for
from a3c.engines.a3c_step import a3c_worker_step, local_collector
from a3c.engines.base import EngineParts, Incarnations
from a3c.engines.learner import Learner
from a3c.engines.messages import Message, Reporter
from a3c.envs import EnvBatch, rank_env_group
from a3c.loss import LossSettings
from a3c.models import ActorCritic, build_model
from a3c.normalization import Statistics
from a3c.rollout import Rollout, RolloutCollector, RolloutWriter, take_batch
from a3c.seeding import process_seed


class _Inbox(list):
    """A list that Reporter can `put` to: reports go straight to the next drain()."""

    def put(self, message: Message) -> None:
        self.append(message)


class _DeterministicTorch:
    """torch.use_deterministic_algorithms(True) while the engine runs; the caller's setting after."""

    def __init__(self):
        self._before: bool | None = None

    def enter(self) -> None:
        # cuBLAS is only deterministic with a fixed workspace; it reads this when it first starts.
        os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
        self._before = torch.are_deterministic_algorithms_enabled()
        torch.use_deterministic_algorithms(True)

    def exit(self) -> None:
        if self._before is not None:
            torch.use_deterministic_algorithms(self._before)
            self._before = None


class _SerialEngine:
    """What both serial engines share: deterministic torch while they run, one random generator
    for every rank, reports straight into the next drain()."""

    columns: tuple[str, ...] = ()
    progress_fields: tuple[str, ...] = ()

    def __init__(self, parts: EngineParts, learner: Learner, statistics: Statistics):
        self.cfg, self.model, self.counters = parts.cfg, parts.model, parts.counters
        self.learner, self.statistics = learner, statistics
        self.dist = distribution_for(parts.action_space, self.cfg.action_squash)
        # One process, one incarnation for all ranks: a resumed run takes the next.
        self.incarnations = Incarnations(1, parts.incarnation)
        self.inbox = _Inbox()
        self._torch = _DeterministicTorch()

    def load_weights(self, model_tensors: dict, optim_tensors: dict) -> None:
        self.learner.load_weights(model_tensors, optim_tensors)

    def supervise(self) -> list[str]:
        return []  # nothing runs on its own; a failure raises in drain() and stops the run

    def summary_facts(self) -> dict[str, Any]:
        return {"workers": self.cfg.workers, "processes": 1}

    def _env_groups(self, role: str) -> list[EnvBatch]:
        """Deterministic torch on, the generator seeded, and the envs of each rank of `role` (which
        writes the return statistics), in rank order."""
        self._torch.enter()
        cfg, incarnation = self.cfg, self.incarnations[0]
        torch.manual_seed(process_seed(cfg.seed, 0, incarnation))
        return [
            rank_env_group(cfg, rank, incarnation, self.statistics.writer(role, rank).returns)
            for rank in range(cfg.workers)
        ]

    def _messages(self) -> list[Message]:
        messages = list(self.inbox)
        self.inbox.clear()
        return messages

    def _close(self, envs: list[EnvBatch]) -> None:
        for group in envs:
            group.close()
        self._torch.exit()


@dataclass
class _Worker:
    envs: EnvBatch
    local: ActorCritic
    collector: RolloutCollector
    reporter: Reporter


class SerialA3CEngine(_SerialEngine):
    """A3C with its workers taking turns in the main process."""

    def __init__(self, parts: EngineParts):
        workers = {"worker": parts.cfg.workers}  # each writes its own row of both statistics, as in Hogwild
        statistics = Statistics(parts.model, observations=workers, returns=workers)
        super().__init__(parts, Learner(parts.cfg, parts.model, parts.optimizer, parts.counters), statistics)
        self.workers: list[_Worker] = []

    def start(self) -> None:
        cfg = self.cfg
        # One generator serves every worker: they draw from it in rank order, always the same order.
        for rank, envs in enumerate(self._env_groups("worker")):
            local = build_model(cfg, envs.spec, self.dist)
            observe = self.statistics.writer("worker", rank).observe
            collector = local_collector(envs, local, self.dist, cfg.t_max, observe=observe)
            self.workers.append(_Worker(envs, local, collector, Reporter(self.inbox, rank, every_s=0.0)))
        self.settings = LossSettings.from_config(cfg)

    def drain(self, timeout: float) -> list[Message]:
        for worker in self.workers:  # one round, in rank order
            a3c_worker_step(
                worker.local,
                self.model,
                self.learner,
                worker.collector,
                self.dist,
                self.settings,
                worker.reporter,
            )
            worker.reporter.env_errors(worker.envs)
            worker.reporter.maybe_send(force=True)
        return self._messages()

    def extra_metrics(self) -> dict[str, float | None]:
        return {}

    def close(self) -> list[Message]:
        self._close([worker.envs for worker in self.workers])
        return self._messages()


@dataclass
class _Agent:
    envs: EnvBatch
    writer: RolloutWriter
    reporter: Reporter


class SerialGA3CEngine(_SerialEngine):
    """GA3C with its agents, predictor and trainer taking turns in the main process."""

    columns: tuple[str, ...] = ("policy_lag", "importance_ratio")
    progress_fields: tuple[str, ...] = ("lag={policy_lag:.2f}",)

    def __init__(self, parts: EngineParts):
        from a3c.engines.ga3c.shared_model import SharedModel
        from a3c.engines.ga3c.stats import Stats

        self.shared = SharedModel(parts.cfg, parts.model, parts.optimizer, parts.counters)
        # The agents write the return statistics; the one trainer, which sees every agent's data, the observations'.
        statistics = Statistics(parts.model, observations={"trainer": 1}, returns={"agent": parts.cfg.workers})
        super().__init__(parts, self.shared.learner, statistics)
        self.device = next(self.model.parameters()).device
        self.stats = Stats()
        self.agents: list[_Agent] = []
        self.pending: list[tuple[Rollout, torch.Tensor]] = []  # full segments and their acting versions [T]

    def start(self) -> None:
        from a3c.engines.ga3c.trainer import BatchUpdate

        for rank, envs in enumerate(self._env_groups("agent")):
            reporter = Reporter(self.inbox, rank, every_s=0.0)
            link = LocalModelLink(self.model, self.dist, envs.n, predict=self.shared.predict)
            self.agents.append(_Agent(envs, RolloutWriter(envs, link), reporter))
        first = self.agents[0].envs
        self.obs_shape, self.obs_dtype = first.obs_shape, first.obs_dtype
        # The GA3C trainer's own update, called directly: no thread is started.
        self.update = BatchUpdate(
            self.statistics.writer("trainer", 0), self.cfg, self.shared, self.dist, self.stats, self.device
        )
        self.local = self.update.private_copy()

    def drain(self, timeout: float) -> list[Message]:
        self._act()
        while len(self.pending) >= self.cfg.train_batch:
            batch, self.pending = take_batch(self.pending, self.cfg.max_train_batch)
            self.update.train(
                self.local, Rollout.concat([seg for seg, _ in batch]), torch.stack([versions for _, versions in batch])
            )
        return self._messages_and_losses()

    def _messages_and_losses(self) -> list[Message]:
        losses = self.stats.take_loss_report()
        if losses is not None:
            self.inbox.append(losses)
        return self._messages()

    @torch.no_grad()
    def _act(self) -> None:
        """Every agent, in rank order, fills one t_max-step segment with the one writer."""
        cfg, E = self.cfg, self.cfg.envs_per_worker
        lstm_size = self.model.lstm_size if self.model.recurrent else 0
        for agent in self.agents:
            seg = Rollout.allocate(cfg.t_max, E, self.obs_shape, self.obs_dtype, self.dist, lstm_size)
            versions = torch.zeros(cfg.t_max, dtype=torch.int64)
            finished = agent.writer.fill(seg.numpy(), versions.numpy())
            assert finished is not None  # an in-process link is never told to stop
            agent.reporter.episodes(finished)
            self.counters.add(env_steps=cfg.t_max * E, episodes=len(finished))
            self.pending.append((seg, versions))
            agent.reporter.env_errors(agent.envs)
            agent.reporter.maybe_send(force=True)

    def extra_metrics(self) -> dict[str, float | None]:
        return self.stats.take_lag_and_ratio()

    def close(self) -> list[Message]:
        self._close([agent.envs for agent in self.agents])
        return self._messages_and_losses()
