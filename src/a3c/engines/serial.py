"""The deterministic engines (`deterministic=true`): Sample Factory's serial runner idea, the
same roles as the parallel engines called in one fixed order in the main process.

Nothing runs concurrently, every random stream is seeded from the run's seed (a3c.seeding),
and torch uses deterministic algorithms, so the same config and seed give the same
metrics.csv (all but its wall-clock columns, wall_s and fps) and the same weights. Each
`drain` call is one round:

    A3C   for each worker in rank order: copy the global parameters, roll out t_max steps in
          its envs, compute the loss, clip, apply the gradients to the global network
    GA3C  each agent in rank order fills one t_max-step segment with the agents' own segment
          writer; then the finished segments train in batches of train_batch, oldest first,
          through the GA3C trainer's own update (the later batches with policy lag, as in GA3C)

It is much slower than the parallel engines (one core, no overlap); use it for tests,
debugging and results that must be reproduced exactly.
"""

from __future__ import annotations

import functools
import os
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from a3c.distributions import distribution_for
from a3c.engines.a3c_step import a3c_worker_step
from a3c.engines.base import EngineParts, Incarnations
from a3c.engines.ga3c.agent import SegmentWriter
from a3c.engines.learner import Learner
from a3c.engines.messages import Message, Reporter
from a3c.envs import EnvBatch, rank_env_group
from a3c.loss import LossSettings
from a3c.models import ActorCritic, State, build_model
from a3c.normalization import reward_stats_writer, shared_stats_writer
from a3c.rollout import Rollout, RolloutCollector, take_batch
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

    def __init__(self, parts: EngineParts, learner: Learner):
        self.cfg, self.model, self.counters = parts.cfg, parts.model, parts.counters
        self.learner = learner
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

    def _env_groups(self) -> list[EnvBatch]:
        """Deterministic torch on, the generator seeded, and each rank's envs, in rank order."""
        self._torch.enter()
        cfg, incarnation = self.cfg, self.incarnations[0]
        torch.manual_seed(process_seed(cfg.seed, 0, incarnation))
        return [
            rank_env_group(cfg, rank, incarnation, reward_stats_writer(self.model, rank)) for rank in range(cfg.workers)
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
        super().__init__(parts, Learner(parts.cfg, parts.model, parts.optimizer, parts.counters))
        self.workers: list[_Worker] = []

    def start(self) -> None:
        cfg = self.cfg
        # One generator serves every worker: they draw from it in rank order, always the same order.
        for rank, envs in enumerate(self._env_groups()):
            local = build_model(cfg, envs.spec, self.dist)
            collector = RolloutCollector(
                envs, local, self.dist, cfg.t_max, observe=shared_stats_writer(self.model, rank)
            )
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
                self.cfg.max_grad_norm,
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


class _DeferredActions:
    """A reply whose actions are chosen when first read. The segment writer asks for the next
    segment's first action with the current segment's last step; in one process the trainer runs
    in between, so choosing it when it is used acts with the weights and normalizer statistics
    the trainer just produced (one agent, train_batch 1: no policy lag, as in A2C)."""

    def __init__(self, choose, final_values: np.ndarray):
        self._choose, self.final_values = choose, final_values

    @functools.cached_property
    def _chosen(self) -> tuple[np.ndarray, np.ndarray, int]:
        return self._choose()

    @property
    def actions(self) -> np.ndarray:
        return self._chosen[0]

    @property
    def log_probs(self) -> np.ndarray:
        return self._chosen[1]

    @property
    def version(self) -> int:
        return self._chosen[2]


class LocalLink:
    """A GA3C agent's link to a predictor in its own process: the shared model called directly, and
    the recurrent state kept here, where the predictors keep it in a mailbox. It answers as the
    predictors do: V(final obs) from the state of the episode each ends, at once; actions for obs
    from the state each goes in with (zero where obs starts an episode), when they are read."""

    def __init__(self, shared, dist, device: torch.device, n_envs: int):
        self.shared, self.dist, self.device = shared, dist, device
        lstm_size = shared.model.lstm_size if shared.model.recurrent else 0
        # (h, c) [E, H] after the latest obs, not yet reset where the next obs starts an episode
        self.h = np.zeros((n_envs, lstm_size), dtype=np.float32)
        self.c = np.zeros((n_envs, lstm_size), dtype=np.float32)
        self._pending: _DeferredActions | None = None

    def initial_state(self, starts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        keep = (1.0 - starts)[:, None]
        return self.h * keep, self.c * keep

    def _state(self, h: np.ndarray, c: np.ndarray) -> State:
        if h.shape[1] == 0:  # feed-forward
            return None
        return torch.from_numpy(h).to(self.device), torch.from_numpy(c).to(self.device)

    @torch.no_grad()
    def _choose(self, obs: np.ndarray, starts: np.ndarray) -> tuple[np.ndarray, np.ndarray, int]:
        params, _, state, version = self.shared.predict(
            torch.as_tensor(obs).to(self.device), self._state(*self.initial_state(starts))
        )
        actions = self.dist.sample(params)
        log_probs = self.dist.log_prob(params, actions)
        if state is not None:
            self.h, self.c = state[0].cpu().numpy(), state[1].cpu().numpy()
        return actions.cpu().numpy(), log_probs.cpu().numpy(), version

    @torch.no_grad()
    def predict(self, obs: np.ndarray, starts: np.ndarray, final_obs: dict[int, np.ndarray]) -> _DeferredActions:
        if self._pending is not None:
            self._pending.actions  # noqa: B018 - the previous obs's state must be in place first
        final_values = np.zeros(len(final_obs), dtype=np.float32)
        if final_obs:
            ended = sorted(final_obs)
            final = torch.as_tensor(np.stack([final_obs[env] for env in ended])).to(self.device)
            _, values, _, _ = self.shared.predict(final, self._state(self.h[ended], self.c[ended]))
            final_values = values.cpu().numpy()
        obs, starts = obs.copy(), starts.copy()
        self._pending = _DeferredActions(lambda: self._choose(obs, starts), final_values)
        return self._pending


@dataclass
class _Agent:
    envs: EnvBatch
    writer: SegmentWriter
    reporter: Reporter


class SerialGA3CEngine(_SerialEngine):
    """GA3C with its agents, predictor and trainer taking turns in the main process."""

    columns: tuple[str, ...] = ("policy_lag", "importance_ratio")
    progress_fields: tuple[str, ...] = ("lag={policy_lag:.2f}",)

    def __init__(self, parts: EngineParts):
        from a3c.engines.ga3c.shared_model import SharedModel
        from a3c.engines.ga3c.stats import Stats

        self.shared = SharedModel(parts.cfg, parts.model, parts.optimizer, parts.counters)
        super().__init__(parts, self.shared.learner)
        self.device = next(self.model.parameters()).device
        self.stats = Stats()
        self.agents: list[_Agent] = []
        self.pending: list[tuple[Rollout, torch.Tensor]] = []  # full segments and their acting versions [T]
        self._last_totals = self.stats.totals()

    def start(self) -> None:
        from a3c.engines.ga3c.trainer import BatchUpdate

        for rank, envs in enumerate(self._env_groups()):
            reporter = Reporter(self.inbox, rank, every_s=0.0)
            link = LocalLink(self.shared, self.dist, self.device, envs.n)
            self.agents.append(_Agent(envs, SegmentWriter(envs, link, reporter), reporter))
        first = self.agents[0].envs
        self.obs_shape, self.obs_dtype = first.obs_shape, first.obs_dtype
        # The GA3C trainer's own update, called directly: no thread is started.
        self.update = BatchUpdate(0, self.cfg, self.shared, self.dist, self.stats, self.device)
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
        """Every agent, in rank order, fills one t_max-step segment with the agents' segment writer."""
        cfg, E = self.cfg, self.cfg.envs_per_worker
        lstm_size = self.model.lstm_size if self.model.recurrent else 0
        for agent in self.agents:
            seg = Rollout.allocate(cfg.t_max, E, self.obs_shape, self.obs_dtype, self.dist, lstm_size)
            versions = torch.zeros(cfg.t_max, dtype=torch.int64)
            views = {name: tensor.numpy() for name, tensor in seg.tensors().items()}
            episodes = agent.writer.fill({**views, "versions": versions.numpy()}, cfg.t_max)
            assert episodes is not None  # an in-process link is never told to stop
            self.counters.add(env_steps=cfg.t_max * E, episodes=episodes)
            self.pending.append((seg, versions))
            agent.reporter.env_errors(agent.envs)
            agent.reporter.maybe_send(force=True)

    def extra_metrics(self) -> dict[str, float | None]:
        totals, before = self.stats.totals(), self._last_totals
        self._last_totals = totals
        updates = totals.train_batches - before.train_batches
        return dict(
            policy_lag=self.stats.lag.take(),
            importance_ratio=(totals.ratio_sum - before.ratio_sum) / updates if updates else None,
        )

    def close(self) -> list[Message]:
        self._close([agent.envs for agent in self.agents])
        return self._messages_and_losses()
