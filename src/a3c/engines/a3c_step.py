"""One A3C step, transport-free: roll out t_max steps with a local model, compute the loss,
backward and clip. The gradients are left in `local`'s .grad; where they go (the shared
global network in Hogwild, a flat numpy vector to the Ray driver) is the caller's business,
and so is how `local` got its weights."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch

from a3c.acting import LocalModelLink
from a3c.distributions import Distribution
from a3c.engines.learner import update_is_finite
from a3c.envs import EnvBatch, EpisodeStats
from a3c.loss import LossSettings, clip_gradients, measure_kl, policy_change, rollout_loss
from a3c.models import ActorCritic
from a3c.rollout import Rollout, RolloutCollector


@dataclass
class A3CStep:
    env_steps: int  # t_max * n_envs
    finished: list[EpisodeStats]  # episodes that ended during the rollout
    metrics: dict[str, float]  # loss.LOSS_METRICS: the loss terms and the gradient's norm before clipping
    finite: bool  # loss and gradient free of NaN/inf (update_is_finite): only then may the update be applied
    rollout: Rollout  # what it trained on (the collector's buffer: valid until its next collect)
    params: torch.Tensor  # the policy on the rollout's steps when the gradient was computed


def local_collector(
    envs: EnvBatch,
    local: ActorCritic,
    dist: Distribution,
    t_max: int,
    observe: Callable[[torch.Tensor], None] | None = None,
) -> RolloutCollector:
    """The rollouts of an actor with its own copy of the network (A3C workers, Ray's EnvRunners):
    the one writer, acting through a LocalModelLink to `local`."""
    return RolloutCollector(envs, LocalModelLink(local, dist, envs.n), dist, t_max, observe)


def a3c_worker_step(
    local: ActorCritic,
    global_model: ActorCritic,
    learner,
    collector: RolloutCollector,
    dist,
    settings: LossSettings,
    reporter,
) -> A3CStep:
    """The A3C worker's step where the global network lives in the worker's process (Hogwild's
    shared memory, the serial engine): sync from the global parameters, roll out, loss, backward,
    clip, and apply through the learner (engines.learner.Learner), or skip and count a NaN/inf one."""
    local.load_state_dict(global_model.state_dict())
    step = a3c_gradients(local, collector, dist, settings)
    reporter.episodes(step.finished)
    applied = learner.apply(
        [p.grad for p in local.parameters()], finite=step.finite, env_steps=step.env_steps, episodes=len(step.finished)
    )
    if applied:
        metrics = dict(step.metrics, lr_scale=learner.lr_scale)
        if measure_kl(learner.cfg.target_kl, learner.version):
            metrics["approx_kl"] = kl = policy_change(global_model, dist, step.rollout, step.params)
            learner.observe_kl(kl)
        reporter.update(metrics)
    else:  # the main process decides what a streak of them means
        reporter.skipped()
    return step


def a3c_gradients(local: ActorCritic, collector: RolloutCollector, dist, settings: LossSettings) -> A3CStep:
    """Roll out, loss, backward, clip (loss.clip_gradients): local's .grad then holds the step's
    (clipped) gradients."""
    rollout, finished = collector.collect()
    terms = rollout_loss(local, dist, rollout, settings)
    local.zero_grad(set_to_none=True)
    terms.total.backward()
    grad_norm = clip_gradients(local, settings.max_grad_norm, settings.critic_grad_norm)
    return A3CStep(
        rollout.t_max * rollout.n_envs,
        finished,
        dict(terms.metrics(), grad_norm=grad_norm.item()),
        update_is_finite(terms.total, grad_norm),
        rollout,
        terms.params,
    )
