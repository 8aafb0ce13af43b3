"""What differs between A3C and GA3C on Ray: the part of the driver that turns runners' job
results into updates. The RayEngine (engine.py) owns everything else: the runners, their jobs,
supervision, the cluster's health, and the weights it sends out.

    RayA3C   Mnih et al. 2016: each runner computes gradients on n-step rollouts from the weights
             it was sent; they are applied in arrival order through the learner (the
             shared-statistics optimizer), and that runner goes straight back out with the
             weights they produced.
    RayGA3C  GA3C across machines, IMPALA-style: runners act with their local policy copy and ship
             Rollout segments; the driver trains batches of them with V-trace (on the device when
             there is one) through GA3C's own BatchUpdate, then sends those runners back out. With
             an LSTM, every segment holds the state it began with (h0, c0), which the update
             backpropagates through the segment from, as local GA3C's trainer does.

Either part's learner is the run's one version counter: its version stamps the weights the
engine sends, every job result comes back with the version it was computed from, and the policy
lag of each applied update is counted by engines.lag from those two.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol

import torch

from a3c.distributions import distribution_for
from a3c.engines.base import EngineParts
from a3c.engines.lag import PolicyLag
from a3c.engines.learner import Learner
from a3c.engines.messages import Message, Report
from a3c.engines.ray.jobs import A3CResult, Gradient, JobResult, SegmentResult
from a3c.normalization import Statistics
from a3c.rollout import Rollout, take_batch


@dataclass
class Outcome:
    """What the engine does after a part took results: pass on messages, send runners out again."""

    messages: list[Message] = field(default_factory=list)
    send: list[int] = field(default_factory=list)  # ranks to give their next job now


class RayAlgorithm(Protocol):
    columns: tuple[str, ...]  # its metrics.csv columns, after the engine's own
    learner: Learner  # applies every update; its version is the one the weights carry
    # The run's normalization statistics: the runners write the return statistics (by rank), and
    # whichever role the part says the observations'.
    statistics: Statistics

    def submit(self, runner: Any, version: int, weights: Any) -> Any:
        """Start one job on runner (an actor handle) from these weights; its ObjectRef."""

    def received(self, rank: int, result: JobResult) -> Outcome:
        """Take one job's result from runner `rank`, in the order results arrive."""

    def after_drain(self) -> Outcome:
        """Act on everything one drain received (GA3C: train the full batches)."""

    def metrics(self) -> dict[str, float | None]:
        """The values of `columns` since the previous call."""


class RayA3C:
    columns: tuple[str, ...] = ("policy_lag",)

    def __init__(self, parts: EngineParts):
        runners = {"runner": parts.cfg.workers}  # each runner's moments go to its own rows, as a local worker's
        self.statistics = Statistics(parts.model, observations=runners, returns=runners)
        self.learner = Learner(parts.cfg, parts.model, parts.optimizer, parts.counters)
        self.lag = PolicyLag()

    def submit(self, runner: Any, version: int, weights: Any) -> Any:
        return runner.a3c_step.remote(version, weights)

    def received(self, rank: int, result: JobResult) -> Outcome:
        assert isinstance(result, A3CResult)
        # In the order the runner computed them; then it goes out with the weights they made.
        return Outcome([self._apply(rank, g, result.version) for g in result.gradients], send=[rank])

    def _apply(self, rank: int, gradient: Gradient, version: int) -> Report:
        learner = self.learner
        before = learner.version
        # A NaN/inf gradient would poison the weights for good: the learner skips it, and counts it.
        if not learner.apply(gradient.grads, env_steps=gradient.env_steps, episodes=len(gradient.returns)):
            return Report(rank, gradient.returns, gradient.lengths, nonfinite=1)
        obs = self.statistics.writer("runner", rank).obs
        if obs is not None and gradient.obs_moments is not None:
            obs.add(gradient.obs_moments)
            obs.publish()
        self.lag.record(before, version)
        metrics = dict(gradient.sums, lr_scale=learner.lr_scale)
        if "approx_kl" in metrics:
            learner.observe_kl(metrics["approx_kl"])
        return Report(rank, gradient.returns, gradient.lengths, metrics, count=1, counts=dict.fromkeys(metrics, 1))

    def after_drain(self) -> Outcome:
        return Outcome()

    def metrics(self) -> dict[str, float | None]:
        return dict(policy_lag=self.lag.take())


class RayGA3C:
    columns: tuple[str, ...] = ("policy_lag", "importance_ratio")

    def __init__(self, parts: EngineParts):
        from a3c.engines.ga3c.shared_model import SharedModel
        from a3c.engines.ga3c.stats import Stats
        from a3c.engines.ga3c.trainer import BatchUpdate

        self.cfg = cfg = parts.cfg
        model, self.counters = parts.model, parts.counters
        self.shared = SharedModel(cfg, model, parts.optimizer, parts.counters)
        self.learner = self.shared.learner
        # The driver's one trainer sees every runner's segments: it keeps the observation statistics.
        self.statistics = Statistics(model, observations={"trainer": 1}, returns={"runner": cfg.workers})
        self.stats = Stats()  # BatchUpdate records each applied update's lag (stats.lag) and ratio
        dist = distribution_for(parts.action_space, cfg.action_squash)
        # The GA3C trainer's own update, called in the driver's loop: no thread is started.
        device = next(model.parameters()).device
        self.update = BatchUpdate(self.statistics.writer("trainer", 0), cfg, self.shared, dist, self.stats, device)
        self.local = self.update.private_copy()
        self.pending: list[tuple[Rollout, torch.Tensor]] = []  # segments and their acting versions [T]
        self.waiting: list[int] = []  # ranks whose segment arrived, to be sent back out after training

    def submit(self, runner: Any, version: int, weights: Any) -> Any:
        return runner.ga3c_segment.remote(version, weights)

    def received(self, rank: int, result: JobResult) -> Outcome:
        assert isinstance(result, SegmentResult)
        self.pending.append(result.rollout())
        self.counters.add(env_steps=result.env_steps, episodes=len(result.returns))
        self.waiting.append(rank)
        return Outcome([Report(rank, result.returns, result.lengths)])

    def after_drain(self) -> Outcome:
        # Train first, then send the runners out with the weights that training produced.
        while len(self.pending) >= self.cfg.train_batch:
            batch, self.pending = take_batch(self.pending, self.cfg.max_train_batch)
            segments = Rollout.concat([segment for segment, _ in batch])
            self.update.train(self.local, segments, torch.stack([versions for _, versions in batch]))
        losses = self.stats.take_loss_report()
        send, self.waiting = self.waiting, []
        return Outcome([] if losses is None else [losses], send)

    def metrics(self) -> dict[str, float | None]:
        return self.stats.take_lag_and_ratio()
