"""The learner role, written once: apply one gradient to the global network.

Every wiring calls it: the Hogwild worker (its own Learner on the shared network, stepping
under the update lock, one worker's step at a time, counting into its own counters row),
serial A3C, the Ray driver (a flat gradient vector from an EnvRunner) and GA3C's trainers
(under the shared model's lock). An update is: check that the gradient is finite (a NaN/inf
one is skipped, its env steps and episodes still counted), put it in the parameters' .grad,
count it, set the scheduled learning rate times the adaptive step size's share, take one
optimizer step and project the parameters back where they must stay (the log-std floor);
each applied update is a new version of the weights.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterable

import numpy as np
import torch

from a3c.engines.weights import vector_to_grads
from a3c.optim import scheduled_lr

LR_SCALE_MIN = 1e-3  # the adaptive step size never falls below this share of lr


class Learner:
    """Applies gradients to `model` through `optimizer` (whose statistics may be shared), counting
    each update into `counters`; `lock` serializes the step where several learners share a model.
    With target_kl it also adapts the step size to each update's measured policy change
    (observe_kl)."""

    def __init__(self, cfg, model: torch.nn.Module, optimizer, counters, lock=None):
        self.cfg, self.model, self.optimizer, self.counters = cfg, model, optimizer, counters
        self.lock = lock if lock is not None else contextlib.nullcontext()
        self.version = 0  # updates applied (and weight loads) through this learner
        self.lr_scale = 1.0  # with target_kl: the adaptive step size's share of the scheduled lr

    def apply(
        self,
        grads: Iterable[torch.Tensor | None] | np.ndarray,
        *,
        finite: bool | None = None,
        env_steps: int = 0,
        episodes: int = 0,
    ) -> bool:
        """Apply grads (one tensor per parameter, e.g. a local copy's .grad, or one flat float32
        vector) and count env_steps and episodes with the update. finite: the caller's own check
        (from the loss and the gradient norm); None checks the gradient here. Returns whether the
        update was applied (False: not finite, skipped, only the steps and episodes counted)."""
        if finite is None:
            finite = (
                bool(np.isfinite(grads).all())
                if isinstance(grads, np.ndarray)
                else all(g is None or bool(torch.isfinite(g).all()) for g in grads)
            )
        if not finite:
            self.counters.add(env_steps=env_steps, episodes=episodes)
            return False
        with self.lock:
            if isinstance(grads, np.ndarray):
                vector_to_grads(grads, self.model)
            else:
                for param, grad in zip(self.model.parameters(), grads, strict=True):
                    param.grad = grad
            total_steps = self.counters.add(env_steps=env_steps, updates=1, episodes=episodes)
            lr = scheduled_lr(self.cfg, total_steps, self.counters.wall_seconds)
            self.optimizer.set_lr(lr * self.lr_scale)
            self.optimizer.step()
            constrain = getattr(self.model, "constrain_", None)
            if constrain is not None:
                constrain()
            self.version += 1
        return True

    def observe_kl(self, kl: float) -> None:
        """Adapt the step size to the policy change one update made (loss.policy_change), as
        KL-adaptive PPO and rl_games do: above 2x target_kl the next steps are 1.5x smaller, below
        half of it 1.5x larger again, between LR_SCALE_MIN and the scheduled lr itself."""
        target = self.cfg.target_kl
        if target is None or not np.isfinite(kl):
            return
        if kl > 2.0 * target:
            self.lr_scale = max(self.lr_scale / 1.5, LR_SCALE_MIN)
        elif kl < 0.5 * target:
            self.lr_scale = min(self.lr_scale * 1.5, 1.0)

    def load_weights(self, model_tensors: dict, optim_tensors: dict) -> None:
        """Put a checkpoint's weights and optimizer statistics in place (after repeated NaN/inf
        updates), between two updates; they are a new version."""
        with self.lock, torch.no_grad():
            self.model.load_state_dict(model_tensors)
            self.optimizer.load_state_tensors(optim_tensors)
            self.version += 1


def update_is_finite(loss: torch.Tensor, grad_norm: torch.Tensor) -> bool:
    """Whether an update may be applied: a NaN or inf in the loss or anywhere in the gradient
    (clip_grad_norm_'s total norm is then NaN or inf) would poison the shared weights for good,
    so both engines skip such an update and count it instead."""
    return bool(torch.isfinite(loss.detach()) & torch.isfinite(grad_norm.detach()))
