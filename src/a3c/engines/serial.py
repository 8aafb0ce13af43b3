"""The deterministic engines (`deterministic=true`): Sample Factory's serial runner idea, the
same roles as the parallel engines called in one fixed order in the main process.

Nothing runs concurrently, every random stream is seeded from the run's seed (a3c.seeding),
and torch uses deterministic algorithms, so the same config and seed give the same
metrics.csv (all but its wall-clock columns, wall_s and fps) and the same weights. Each
`drain` call is one round:

    A3C   for each worker in rank order: copy the global parameters, roll out t_max steps in
          its envs, compute the loss, clip, apply the gradients to the global network
    GA3C  every agent's envs step together: one batched forward pass per step for all of
          them; then the finished segments train in batches of train_batch, oldest first,
          through the GA3C trainer's own update (the later batches with policy lag, as in GA3C)

It is much slower than the parallel engines (one core, no overlap); use it for tests,
debugging and results that must be reproduced exactly.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import numpy as np
import torch

from a3c.distributions import distribution_for
from a3c.engines.a3c_step import a3c_worker_step
from a3c.engines.counters import SharedCounters
from a3c.engines.learner import Learner
from a3c.engines.messages import Message, Reporter
from a3c.envs import EnvBatch, rank_env_group
from a3c.loss import loss_settings
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


@dataclass
class _Worker:
    envs: EnvBatch
    local: ActorCritic
    collector: RolloutCollector
    reporter: Reporter


class SerialA3CEngine:
    """A3C with its workers taking turns in the main process."""

    columns: tuple[str, ...] = ()

    def __init__(self, cfg, model, optimizer, counters: SharedCounters, ctx=None):
        self.cfg, self.model, self.optimizer, self.counters = cfg, model, optimizer, counters
        self.learner = Learner(cfg, model, optimizer, counters)
        self.incarnation = 0
        self.inbox = _Inbox()
        self.workers: list[_Worker] = []
        self._torch = _DeterministicTorch()

    def set_incarnation_base(self, base: int) -> None:
        self.incarnation = base

    def next_incarnation(self) -> int:
        return self.incarnation + 1

    def load_weights(self, model_tensors: dict, optim_tensors: dict) -> None:
        self.learner.load_weights(model_tensors, optim_tensors)

    def start(self) -> None:
        self._torch.enter()
        cfg = self.cfg
        # One generator serves every worker: they draw from it in rank order, always the same order.
        torch.manual_seed(process_seed(cfg.seed, 0, self.incarnation))
        for rank in range(cfg.workers):
            envs = rank_env_group(cfg, rank, self.incarnation, reward_stats_writer(self.model, rank))
            dist = distribution_for(envs.action_space, cfg.action_squash)
            local = build_model(cfg, envs.spec, dist)
            collector = RolloutCollector(envs, local, dist, cfg.t_max, observe=shared_stats_writer(self.model, rank))
            self.workers.append(_Worker(envs, local, collector, Reporter(self.inbox, rank, every_s=0.0)))
        self.dist = distribution_for(self.workers[0].envs.action_space, cfg.action_squash)
        self.settings = loss_settings(cfg)

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
        messages = list(self.inbox)
        self.inbox.clear()
        return messages

    def supervise(self) -> list[str]:
        return []  # nothing runs on its own; a failure raises in drain() and stops the run

    def extra_metrics(self) -> dict[str, float | None]:
        return {}

    def close(self) -> list[Message]:
        for worker in self.workers:
            worker.envs.close()
        self._torch.exit()
        messages = list(self.inbox)
        self.inbox.clear()
        return messages


@dataclass
class _Agent:
    envs: EnvBatch
    obs: np.ndarray  # [E, *obs_shape] the observations awaiting actions
    starts: np.ndarray  # [E] 1.0 where obs begins an episode
    reporter: Reporter
    state: State = None  # (h, c) [E, H] after the latest obs, not yet reset where obs starts an episode

    def state_in(self) -> State:
        """The state obs goes in with: zero where it starts an episode."""
        if self.state is None:
            return None
        keep = torch.as_tensor(1.0 - self.starts).unsqueeze(-1)
        return self.state[0] * keep, self.state[1] * keep


class SerialGA3CEngine:
    """GA3C with its agents, predictor and trainer taking turns in the main process."""

    columns: tuple[str, ...] = ("policy_lag", "importance_ratio")

    def __init__(self, cfg, model, optimizer, counters: SharedCounters, ctx=None):
        from a3c.engines.ga3c.shared_model import SharedModel
        from a3c.engines.ga3c.stats import Stats

        self.cfg, self.model, self.counters = cfg, model, counters
        self.device = next(model.parameters()).device
        self.shared = SharedModel(cfg, model, optimizer, counters)
        self.stats = Stats()
        self.incarnation = 0
        self.inbox = _Inbox()
        self.agents: list[_Agent] = []
        self.pending: list[tuple[Rollout, torch.Tensor]] = []  # full segments and their acting versions [T]
        self._last_totals = self.stats.totals()
        self._torch = _DeterministicTorch()

    def set_incarnation_base(self, base: int) -> None:
        self.incarnation = base

    def next_incarnation(self) -> int:
        return self.incarnation + 1

    def load_weights(self, model_tensors: dict, optim_tensors: dict) -> None:
        self.shared.learner.load_weights(model_tensors, optim_tensors)

    def start(self) -> None:
        from a3c.engines.ga3c.trainer import BatchUpdate

        self._torch.enter()
        cfg = self.cfg
        torch.manual_seed(process_seed(cfg.seed, 0, self.incarnation))
        for rank in range(cfg.workers):
            envs = rank_env_group(cfg, rank, self.incarnation, reward_stats_writer(self.model, rank))
            self.agents.append(
                _Agent(
                    envs,
                    envs.reset(),
                    np.ones(envs.n, dtype=np.float32),
                    Reporter(self.inbox, rank, every_s=0.0),
                    self.model.initial_state(envs.n),
                )
            )
        first = self.agents[0].envs
        self.dist = distribution_for(first.action_space, cfg.action_squash)
        self.obs_shape, self.obs_dtype = first.obs_shape, first.obs_dtype
        # The GA3C trainer's own update, called directly: no thread is started.
        self.update = BatchUpdate(0, cfg, self.shared, self.dist, self.stats, self.device)
        self.local = self.update.private_copy()

    def drain(self, timeout: float) -> list[Message]:
        self._act()
        while len(self.pending) >= self.cfg.train_batch:
            batch, self.pending = take_batch(self.pending, self.cfg.max_train_batch)
            self.update.train(
                self.local, Rollout.concat([seg for seg, _ in batch]), torch.stack([versions for _, versions in batch])
            )
        losses = self.stats.take_loss_report()
        if losses is not None:
            self.inbox.append(losses)
        messages = list(self.inbox)
        self.inbox.clear()
        return messages

    @torch.no_grad()
    def _act(self) -> None:
        """Every agent fills one t_max-step segment; each step is one forward pass for all of them."""
        cfg, dist, agents, E = self.cfg, self.dist, self.agents, self.cfg.envs_per_worker
        lstm_size = self.model.lstm_size if self.model.recurrent else 0
        segments = [Rollout.allocate(cfg.t_max, E, self.obs_shape, self.obs_dtype, dist, lstm_size) for _ in agents]
        versions = torch.full((cfg.t_max,), self.shared.version, dtype=torch.int64)
        finished = [0] * len(agents)
        for t in range(cfg.t_max):
            obs = torch.as_tensor(np.concatenate([a.obs for a in agents]))  # [A*E, *obs_shape]
            state = _joined([a.state_in() for a in agents])
            if t == 0 and state is not None:  # each segment starts from the state its obs[0] goes in with
                for i, seg in enumerate(segments):
                    seg.h0.copy_(state[0][i * E : (i + 1) * E])
                    seg.c0.copy_(state[1][i * E : (i + 1) * E])
            params, _, state, _ = self.shared.predict(obs.to(self.device), _to(state, self.device))
            state = _to(state, torch.device("cpu"))
            actions = dist.sample(params)
            log_probs = dist.log_prob(params, actions).cpu()
            actions = actions.cpu()
            steps = []
            for i, (agent, seg) in enumerate(zip(agents, segments, strict=True)):
                mine = actions[i * E : (i + 1) * E]
                seg.obs[t] = torch.as_tensor(agent.obs)
                seg.starts[t] = torch.as_tensor(agent.starts)
                seg.actions[t] = mine
                seg.behaviour_log_probs[t] = log_probs[i * E : (i + 1) * E]
                step = agent.envs.step(mine.numpy())
                seg.rewards[t] = torch.from_numpy(step.rewards)
                seg.terminated[t] = torch.from_numpy(step.terminated)
                seg.truncated[t] = torch.from_numpy(step.truncated)
                agent.obs, agent.starts = step.obs, step.starts
                if state is not None:  # reset where the next obs starts an episode, by state_in()
                    agent.state = (state[0][i * E : (i + 1) * E], state[1][i * E : (i + 1) * E])
                agent.reporter.episodes(step.episodes)
                finished[i] += len(step.episodes)
                steps.append(step)
            # A time limit is not the end of the task: the cut-off states are valued, in one pass.
            cut = [(i, env) for i, step in enumerate(steps) for env in sorted(step.final_obs)]
            if cut:
                final = torch.as_tensor(np.stack([steps[i].final_obs[env] for i, env in cut]))
                rows = [i * E + env for i, env in cut]  # each goes in with the state of the episode it ends
                ended = None if state is None else (state[0][rows], state[1][rows])
                _, values, _, _ = self.shared.predict(final.to(self.device), _to(ended, self.device))
                for (i, env), value in zip(cut, values.cpu(), strict=True):
                    segments[i].truncation_values[t, env] = value
        for i, (agent, seg) in enumerate(zip(agents, segments, strict=True)):
            seg.obs[cfg.t_max] = torch.as_tensor(agent.obs)
            seg.starts[cfg.t_max] = torch.as_tensor(agent.starts)
            self.counters.add(env_steps=cfg.t_max * E, episodes=finished[i])
            self.pending.append((seg, versions))
            agent.reporter.env_errors(agent.envs)
            agent.reporter.maybe_send(force=True)

    def supervise(self) -> list[str]:
        return []

    def extra_metrics(self) -> dict[str, float | None]:
        totals, before = self.stats.totals(), self._last_totals
        self._last_totals = totals
        updates = totals.train_batches - before.train_batches
        return dict(
            policy_lag=(totals.lag_sum - before.lag_sum) / updates if updates else None,
            importance_ratio=(totals.ratio_sum - before.ratio_sum) / updates if updates else None,
        )

    def close(self) -> list[Message]:
        for agent in self.agents:
            agent.envs.close()
        self._torch.exit()
        losses = self.stats.take_loss_report()
        messages = list(self.inbox) + ([losses] if losses is not None else [])
        self.inbox.clear()
        return messages


def _joined(states: list[State]) -> State:
    """Per-agent states [E, H] side by side: [A*E, H] (None for a feed-forward model)."""
    if states[0] is None:
        return None
    pairs = [state for state in states if state is not None]
    return torch.cat([h for h, _ in pairs]), torch.cat([c for _, c in pairs])


def _to(state: State, device: torch.device) -> State:
    return None if state is None else (state[0].to(device), state[1].to(device))
