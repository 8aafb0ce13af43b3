"""The learner's one network, shared by the predictor and trainer threads under one lock.

Predictors run forward passes on it; trainers compute gradients on a private copy and
apply them here. The copy is what makes several trainers safe: an optimizer step changes
parameters in place, which would invalidate the autograd graph of another trainer's
backward pass if that pass had run on the shared parameters themselves. The lock makes
every read see a whole update, never half of one.
"""

from __future__ import annotations

import threading

import torch

from a3c.models import ActorCritic, State


class SharedModel:
    def __init__(self, model: ActorCritic, optimizer):
        self.model, self.optimizer = model, optimizer
        self.lock = threading.Lock()
        self.version = 0  # updates applied through this engine: the policy version stamped on actions
        self._params = list(model.parameters())

    @torch.no_grad()
    def predict(self, obs: torch.Tensor, state: State = None) -> tuple[torch.Tensor, torch.Tensor, State, int]:
        """obs [B, *obs_shape] and the recurrent state they go in with (None: feed-forward) -> policy
        params [B, P], values [B], the state after them, and the version that produced them."""
        with self.lock:
            params, values, state = self.model(obs, state)
            return params, values, state, self.version

    @torch.no_grad()
    def copy_to(self, local: ActorCritic) -> int:
        """Load the current parameters (and buffers: normalizer statistics) into a trainer's private
        copy; returns their version."""
        with self.lock:
            for dst, src in zip(local.parameters(), self._params):
                dst.copy_(src)
            for dst, src in zip(local.buffers(), self.model.buffers()):
                dst.copy_(src)
            return self.version

    def apply(self, local: ActorCritic, lr: float) -> int:
        """One optimizer step on the shared parameters with the gradients in local; returns the new version."""
        with self.lock:
            for shared, mine in zip(self._params, local.parameters()):
                shared.grad = mine.grad
            self.optimizer.set_lr(lr)
            self.optimizer.step()
            self.version += 1
            return self.version
