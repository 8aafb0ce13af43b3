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

from a3c.engines.learner import Learner
from a3c.models import ActorCritic, State


class SharedModel:
    def __init__(self, cfg, model: ActorCritic, optimizer, counters):
        self.model, self.optimizer = model, optimizer
        self.lock = threading.Lock()
        # Trainers apply their gradients through it, under the lock; its version (updates applied)
        # is the policy version stamped on actions.
        self.learner = Learner(cfg, model, optimizer, counters, lock=self.lock)
        self._params = list(model.parameters())

    @property
    def version(self) -> int:
        return self.learner.version

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
            for dst, src in zip(local.parameters(), self._params, strict=True):
                dst.copy_(src)
            for buffer, shared in zip(local.buffers(), self.model.buffers(), strict=True):
                buffer.copy_(shared)
            return self.version
