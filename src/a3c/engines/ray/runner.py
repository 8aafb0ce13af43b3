"""EnvRunner: the Ray actor that steps envs (named so that `ps` shows `ray::EnvRunner` to
operators). Each owns its envs and a CPU copy of the network, refreshed from flat, versioned
weight vectors the driver puts in the object store, and serves either engine:

    a3c_step(version, weights)     -> A3CResult: A3C gradients (flat float32), one per rollout,
                                      and their stats
    ga3c_segment(version, weights) -> SegmentResult: one t_max-step Rollout segment (numpy; uint8
                                      frames stay uint8), acted by the local policy copy (IMPALA's actor)

Either reply (jobs.py) carries env_errors: the tracebacks of envs that raised during it (each
already rebuilt by the env group), which the driver logs and counts as the local engines do.

Nothing here writes files or keeps state the driver needs: a dead runner is replaced by a new
one with a fresh random stream (rank, incarnation) and loses at most one rollout.
"""

from __future__ import annotations

import os
import random

import numpy as np
import torch

from a3c.distributions import distribution_for
from a3c.engines.a3c_step import A3CStep, a3c_gradients, local_collector
from a3c.engines.ray.jobs import A3CResult, Gradient, SegmentResult, Where
from a3c.engines.weights import grads_to_vector, vector_to_params
from a3c.envs import rank_env_group
from a3c.loss import LossSettings, measure_kl, policy_change
from a3c.models import build_model
from a3c.normalization import LocalReturnStats, Moments, batch_moments
from a3c.seeding import process_seed


class EnvRunner:
    def __init__(self, cfg):
        torch.set_num_threads(1)  # one core per runner, as for a local worker
        self.cfg = cfg
        self.version = -1  # of the weights in self.local; -1 before the first refresh

    def where(self) -> Where:
        """This runner's node and pid (also the 'ready' probe: answering means the imports are done)."""
        import ray

        return Where(ray.get_runtime_context().get_node_id(), os.getpid())

    def setup(self, rank: int, incarnation: int) -> Where:
        cfg = self.cfg
        seed = process_seed(cfg.seed, rank, incarnation)
        random.seed(seed)
        np.random.seed(seed % (2**32))
        torch.manual_seed(seed)
        self.rank = rank
        # With normalize_reward the driver keeps the run's return statistics: this runner scales by
        # the totals that came with its weights plus what it added since, and sends what it added.
        self.reward_stats = LocalReturnStats() if cfg.normalize_reward else None
        self.envs = rank_env_group(cfg, rank, incarnation, self.reward_stats)
        self.dist = distribution_for(self.envs.action_space, cfg.action_squash)
        self.local = build_model(cfg, self.envs.spec, self.dist)
        # With normalize_obs the driver keeps the statistics: each A3C step sends its rollout's moments.
        self.moments: Moments | None = None
        observe = self._observe if self.local.obs_norm is not None else None
        self.collector = local_collector(self.envs, self.local, self.dist, cfg.t_max, observe=observe)
        self.settings = LossSettings.from_config(cfg)
        self.last_step: A3CStep | None = None
        self.jobs = 0
        return self.where()

    def _refresh(self, version: int, weights: np.ndarray | None) -> None:
        if weights is not None and version != self.version:
            vector_to_params(weights, self.local)
            self.version = version
            if self.reward_stats is not None and self.local.reward_norm is not None:
                self.reward_stats.set_base(self.local.reward_norm.saved())

    def _observe(self, obs) -> None:
        self.moments = batch_moments(obs.numpy())

    def a3c_step(self, version: int, weights: np.ndarray | None) -> A3CResult:
        """`ray_rollouts_per_job` gradients, each on its own rollout from the weights sent: one
        round trip carries them all, and the driver applies them one by one, in order."""
        self._refresh(version, weights)
        # How far the weights just sent moved the policy on this runner's last rollout: the updates
        # the driver made since that rollout's gradient was computed (the driver adapts lr to it).
        kl = None
        if self.last_step is not None and measure_kl(self.cfg.target_kl, self.jobs):
            kl = policy_change(self.local, self.dist, self.last_step.rollout, self.last_step.params)
        self.jobs += 1
        gradients = []
        for _ in range(self.cfg.ray_rollouts_per_job):
            self.moments = None
            step = a3c_gradients(self.local, self.collector, self.dist, self.settings)
            metrics = dict(step.metrics)
            if kl is not None:
                metrics["approx_kl"], kl = kl, None
            gradients.append(
                Gradient(
                    grads=grads_to_vector(self.local),
                    env_steps=step.env_steps,
                    returns=[ep.ret for ep in step.finished],
                    lengths=[ep.length for ep in step.finished],
                    sums=metrics,
                    obs_moments=self.moments,
                )
            )
            self.last_step = step
        return A3CResult(self.version, gradients, self.envs.take_errors(), self._reward_moments())

    def _reward_moments(self) -> Moments | None:
        return None if self.reward_stats is None else self.reward_stats.take_own()

    def ga3c_segment(self, version: int, weights: np.ndarray | None) -> SegmentResult:
        self._refresh(version, weights)
        segment, finished = self.collector.collect()
        return SegmentResult(
            version=self.version,
            env_steps=segment.t_max * segment.n_envs,
            # .numpy() shares the collector's buffer; Ray copies it when it serializes the reply.
            segment={name: t.numpy() for name, t in segment.tensors().items()},
            returns=[ep.ret for ep in finished],
            lengths=[ep.length for ep in finished],
            env_errors=self.envs.take_errors(),
            reward_moments=self._reward_moments(),
        )

    def close(self) -> None:
        self.envs.close()
