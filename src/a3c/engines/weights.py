"""Flat float32 vectors: how weights and gradients cross a process or machine boundary (Ray's
EnvRunners and driver). One array, no pickled modules."""

from __future__ import annotations

import numpy as np
import torch

# Receivers copy out of the vector and never keep a view of it:
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
    return (
        torch.cat([(p.grad if p.grad is not None else torch.zeros_like(p)).reshape(-1) for p in model.parameters()])
        .cpu()
        .numpy()
    )


@torch.no_grad()
def vector_to_params(vector: np.ndarray, model: torch.nn.Module) -> None:
    flat = torch.from_numpy(np.asarray(vector, dtype=np.float32).copy())
    offset = 0
    for tensor in _weight_tensors(model):  # copied in place: detached views share the parameters' memory
        n = tensor.numel()
        tensor.copy_(flat[offset : offset + n].view_as(tensor))
        offset += n


def vector_to_grads(vector: np.ndarray, model: torch.nn.Module) -> None:
    """Set each parameter's .grad from the flat vector (copied: the vector may be read-only)."""
    flat = torch.from_numpy(np.asarray(vector, dtype=np.float32).copy())
    offset = 0
    for p in model.parameters():
        n = p.numel()
        p.grad = flat[offset : offset + n].view_as(p).to(p.device)
        offset += n
