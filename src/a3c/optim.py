"""Optimizers whose statistics live in shared memory, so every worker updates one set.

The state tensors are made once, up front, and moved to shared memory before the worker
processes start; each worker then builds the optimizer over the same shared parameters
and state (Mnih et al. 2016's "shared RMSProp"). The optimizers themselves take no lock: the
Hogwild workers step them one at a time (engines/update_lock.py), GA3C's trainers under the
shared model's lock.
"""

from __future__ import annotations

from collections.abc import Iterable

import torch


class SharedOptimizer(torch.optim.Optimizer):
    state_names: tuple[str, ...] = ()

    def __init__(self, params: Iterable[torch.nn.Parameter], defaults: dict):
        super().__init__(params, defaults)
        for group in self.param_groups:
            for p in group["params"]:
                state = self.state[p]
                state["step"] = torch.zeros(1)
                for name in self.state_names:
                    state[name] = torch.zeros_like(p.data)

    def share_memory(self) -> SharedOptimizer:
        for group in self.param_groups:
            for p in group["params"]:
                for tensor in self.state[p].values():
                    tensor.share_memory_()
        return self

    def set_lr(self, lr: float) -> None:
        for group in self.param_groups:
            group["lr"] = lr

    def state_tensors(self) -> dict[str, torch.Tensor]:
        """Flat name -> tensor view of all statistics, for checkpoints."""
        out = {}
        for i, p in enumerate(self._all_params()):
            for name, tensor in self.state[p].items():
                out[f"{i}.{name}"] = tensor
        return out

    def load_state_tensors(self, tensors: dict[str, torch.Tensor]) -> None:
        with torch.no_grad():
            for key, target in self.state_tensors().items():
                if key not in tensors or tensors[key].shape != target.shape:
                    raise KeyError(key)
                target.copy_(tensors[key])

    def adopt_state_tensors(self, tensors: dict[str, torch.Tensor]) -> None:
        """Use these (shared-memory) tensors as this optimizer's statistics, without copying:
        how a worker process joins the optimizer state the main process made."""
        for i, p in enumerate(self._all_params()):
            for name in self.state[p]:
                self.state[p][name] = tensors[f"{i}.{name}"]

    def _stepping(self):
        """(group, params, grads, states) for each group with gradients, their step counts already
        advanced: the parameters that have a gradient, their gradients and their state as lists for
        torch's foreach kernels (one call per operation over all parameters, where a loop over them
        cost the Ray learner a millisecond per update on CartPole's small net)."""
        for group in self.param_groups:
            params = [p for p in group["params"] if p.grad is not None]
            if not params:
                continue
            states = [self.state[p] for p in params]
            torch._foreach_add_([state["step"] for state in states], 1)
            yield group, params, [p.grad for p in params], states

    def _all_params(self) -> list[torch.nn.Parameter]:
        return [p for group in self.param_groups for p in group["params"]]


class SharedRMSprop(SharedOptimizer):
    """RMSProp as in Mnih et al. 2016: g = a g + (1 - a) grad^2; theta -= lr grad / sqrt(g + eps)."""

    state_names = ("square_avg",)

    def __init__(self, params, lr: float = 7e-4, alpha: float = 0.99, eps: float = 0.1):
        super().__init__(params, dict(lr=lr, alpha=alpha, eps=eps))

    @torch.no_grad()
    def step(self, closure=None):
        for group, params, grads, states in self._stepping():
            square_avgs = [state["square_avg"] for state in states]
            torch._foreach_mul_(square_avgs, group["alpha"])
            torch._foreach_addcmul_(square_avgs, grads, grads, value=1 - group["alpha"])
            denoms = torch._foreach_add(square_avgs, group["eps"])
            torch._foreach_sqrt_(denoms)
            torch._foreach_addcdiv_(params, grads, denoms, value=-group["lr"])


class SharedAdam(SharedOptimizer):
    """Adam (Kingma & Ba 2015) with moments and step count shared by all workers."""

    state_names = ("exp_avg", "exp_avg_sq")

    def __init__(self, params, lr: float = 1e-3, betas=(0.9, 0.999), eps: float = 1e-8):
        super().__init__(params, dict(lr=lr, betas=tuple(betas), eps=eps))

    @torch.no_grad()
    def step(self, closure=None):
        for group, params, grads, states in self._stepping():
            beta1, beta2 = group["betas"]
            counts = [float(state["step"].item()) for state in states]  # per parameter, as torch's Adam counts
            exp_avgs = [state["exp_avg"] for state in states]
            exp_avg_sqs = [state["exp_avg_sq"] for state in states]
            torch._foreach_mul_(exp_avgs, beta1)
            torch._foreach_add_(exp_avgs, grads, alpha=1 - beta1)
            torch._foreach_mul_(exp_avg_sqs, beta2)
            torch._foreach_addcmul_(exp_avg_sqs, grads, grads, value=1 - beta2)
            denoms = torch._foreach_div(exp_avg_sqs, [1 - beta2**n for n in counts])
            torch._foreach_sqrt_(denoms)
            torch._foreach_add_(denoms, group["eps"])
            torch._foreach_addcdiv_(params, exp_avgs, denoms, [-group["lr"] / (1 - beta1**n) for n in counts])


def build_optimizer(cfg, params) -> SharedOptimizer:
    if cfg.optimizer == "adam":
        return SharedAdam(params, lr=cfg.lr, betas=cfg.adam_betas, eps=cfg.adam_eps)
    return SharedRMSprop(params, lr=cfg.lr, alpha=cfg.rms_alpha, eps=cfg.rms_eps)


def scheduled_lr(cfg, env_steps: int, wall_seconds: float = 0.0) -> float:
    """The learning rate at env_steps and wall_seconds into the run: constant; linear, annealed to 0
    at total_steps; or linear_budget, annealed to 0 at the run's end, total_steps or time_limit,
    whichever comes first (a run that stops at its time limit still anneals to 0 by then)."""
    if cfg.lr_schedule == "constant":
        return cfg.lr
    progress = env_steps / cfg.total_steps
    if cfg.lr_schedule == "linear_budget" and cfg.time_limit is not None:
        progress = max(progress, wall_seconds / cfg.time_limit)
    return cfg.lr * max(0.0, 1.0 - progress)
