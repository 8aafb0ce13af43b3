"""One A3C step, transport-free: roll out t_max steps with a local model, compute the loss,
backward and clip. The gradients are left in `local`'s .grad; where they go (the shared
global network in Hogwild, a flat numpy vector to the Ray driver) is the caller's business,
and so is how `local` got its weights."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from a3c.engines.common import update_is_finite
from a3c.envs import EpisodeStats
from a3c.loss import rollout_loss
from a3c.rollout import RolloutCollector


@dataclass
class A3CStep:
    env_steps: int  # t_max * n_envs
    finished: list[EpisodeStats]  # episodes that ended during the rollout
    policy_loss: float
    value_loss: float
    entropy: float
    grad_norm: float  # before clipping
    finite: bool  # loss and gradient free of NaN/inf (update_is_finite): only then may the update be applied


def a3c_gradients(local: torch.nn.Module, collector: RolloutCollector, dist, settings: dict,
                  max_grad_norm: float) -> A3CStep:
    """Roll out, loss, backward, clip: local's .grad then holds the step's (clipped) gradients."""
    rollout, finished = collector.collect()
    terms = rollout_loss(local, dist, rollout, **settings)
    local.zero_grad(set_to_none=True)
    terms.total.backward()
    grad_norm = torch.nn.utils.clip_grad_norm_(list(local.parameters()), max_grad_norm)
    return A3CStep(rollout.t_max * rollout.n_envs, finished, terms.policy.item(), terms.value.item(),
                   terms.entropy.item(), grad_norm.item(), update_is_finite(terms.total, grad_norm))


# Flat float32 vectors: how weights and gradients cross a process or machine boundary (one
# array, no pickled modules). Receivers copy out of the vector and never keep a view of it:
# an array that came through Ray's object store is read-only shared memory.

# The weights a runner needs: the parameters, then the observation normalizer's mean and
# variance where the model has one (they change as the driver merges the runners' statistics),
# then the run's return statistics (count, mean, M2) where rewards are normalized.

def _weight_tensors(model: torch.nn.Module) -> list[torch.Tensor]:
    tensors = [p.detach() for p in model.parameters()]
    normalizer = getattr(model, "obs_norm", None)
    if normalizer is not None:
        tensors += [normalizer.mean, normalizer.var]
    returns = getattr(model, "reward_norm", None)
    if returns is not None:
        tensors += [returns.count, returns.mean, returns.m2]
    return tensors


def params_to_vector(model: torch.nn.Module) -> np.ndarray:
    # float32 throughout: the return statistics are float64 and would otherwise double the vector.
    return torch.cat([t.detach().reshape(-1).float().cpu() for t in _weight_tensors(model)]).numpy()


def grads_to_vector(model: torch.nn.Module) -> np.ndarray:
    return torch.cat([(p.grad if p.grad is not None else torch.zeros_like(p)).reshape(-1)
                      for p in model.parameters()]).cpu().numpy()


@torch.no_grad()
def vector_to_params(vector: np.ndarray, model: torch.nn.Module) -> None:
    flat = torch.from_numpy(np.asarray(vector, dtype=np.float32).copy())
    offset = 0
    for tensor in _weight_tensors(model):  # copied in place: detached views share the parameters' memory
        n = tensor.numel()
        tensor.copy_(flat[offset:offset + n].view_as(tensor))
        offset += n


def vector_to_grads(vector: np.ndarray, model: torch.nn.Module) -> None:
    """Set each parameter's .grad from the flat vector (copied: the vector may be read-only)."""
    flat = torch.from_numpy(np.asarray(vector, dtype=np.float32).copy())
    offset = 0
    for p in model.parameters():
        n = p.numel()
        p.grad = flat[offset:offset + n].view_as(p).to(p.device)
        offset += n
