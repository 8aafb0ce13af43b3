"""The actor-critic loss: policy (advantage-weighted log-prob), value and entropy terms.

`actor_critic_loss` is the pure formula; `rollout_loss` runs a model over a Rollout and
feeds the chosen return estimator into it. Every engine trains through `rollout_loss`.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass

import torch

from a3c import returns as R
from a3c.device import loss_in_bfloat16
from a3c.distributions import DiagGaussian, Distribution
from a3c.models import ActorCritic
from a3c.rollout import Rollout

# What every learning step reports for metrics.csv, averaged over the updates of a row: the loss
# terms, the gradient's norm before clipping, the KL of the policy change (measured on every
# update with target_kl, on one in KL_EVERY otherwise) and the adaptive step size's share of lr.
LOSS_METRICS = ("policy_loss", "value_loss", "entropy", "grad_norm", "approx_kl", "lr_scale")
KL_EVERY = 8


@dataclass
class LossTerms:
    total: torch.Tensor  # the scalar to backpropagate
    policy: torch.Tensor
    value: torch.Tensor
    entropy: torch.Tensor
    log_ratio_mean: torch.Tensor  # mean log(pi/mu) over the batch: 0 when on-policy
    params: torch.Tensor  # [T, N, P] the policy's parameters on the trained steps, detached (see policy_change)

    def metrics(self) -> dict[str, float]:
        return dict(policy_loss=self.policy.item(), value_loss=self.value.item(), entropy=self.entropy.item())


def value_loss(values: torch.Tensor, value_targets: torch.Tensor) -> torch.Tensor:
    """0.5 * mean((target - V(s))^2), the targets carrying no gradient: the critic's term in
    actor_critic_loss, and the auxiliary value head's (models.ActorCritic.aux_value_head) on the
    critic's targets."""
    return 0.5 * (value_targets.detach() - values).pow(2).mean()


def actor_critic_loss(
    log_probs: torch.Tensor,
    entropy: torch.Tensor,
    values: torch.Tensor,
    advantages: torch.Tensor,
    value_targets: torch.Tensor,
    value_coef: float,
    entropy_coef: float,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """(total, policy, value, entropy), each a mean over all steps.

    policy = -mean(A * log pi(a|s))         advantages carry no gradient
    value  = 0.5 * mean((target - V(s))^2)  targets carry no gradient
    total  = policy + value_coef * value - entropy_coef * mean(entropy)
    """
    policy = -(advantages.detach() * log_probs).mean()
    value = value_loss(values, value_targets)
    mean_entropy = entropy.mean()
    total = policy + value_coef * value - entropy_coef * mean_entropy
    return total, policy, value, mean_entropy


@dataclass(frozen=True)
class LossSettings:
    """What rollout_loss and the gradient clip after it (clip_gradients) take from a Config, built
    once per role (from_config): no second set of defaults lives here."""

    gamma: float
    advantage: str  # gae or nstep
    gae_lambda: float
    value_coef: float
    entropy_coef: float
    normalize_advantage: bool
    vtrace: bool
    rho_bar: float
    c_bar: float
    action_bound_coef: float
    max_grad_norm: float
    critic_grad_norm: float | None  # with a separate critic: its own clip (clip_gradients)
    aux_value_coef: float  # with a separate critic: the auxiliary value head's weight (0: none)
    bfloat16: bool = False  # the model's pass under bfloat16 autocast (Config.loss_precision)

    @classmethod
    def from_config(cls, cfg, device_type: str = "cpu") -> LossSettings:
        """device_type: where the loss runs (a GA3C trainer's device), which loss_precision=auto
        needs."""
        return cls(
            gamma=cfg.gamma,
            advantage=cfg.advantage,
            gae_lambda=cfg.gae_lambda,
            value_coef=cfg.value_coef,
            entropy_coef=cfg.entropy_coef,
            normalize_advantage=cfg.normalize_advantage,
            vtrace=cfg.vtrace,
            rho_bar=cfg.vtrace_rho_bar,
            c_bar=cfg.vtrace_c_bar,
            action_bound_coef=cfg.action_bound_coef,
            max_grad_norm=cfg.max_grad_norm,
            critic_grad_norm=cfg.critic_grad_norm,
            aux_value_coef=cfg.aux_value_coef,
            bfloat16=loss_in_bfloat16(cfg.loss_precision, device_type),
        )


def network_precision(bfloat16: bool, device_type: str):
    """The context the loss's network pass runs in: bfloat16 autocast (matrix products and
    convolutions in bfloat16, an LSTM's recurrence kept in float32 by `lstm_over_episodes`,
    gradients back in each parameter's float32) or float32 as it is."""
    return torch.autocast(device_type, dtype=torch.bfloat16) if bfloat16 else contextlib.nullcontext()


def rollout_loss(model: ActorCritic, dist: Distribution, rollout: Rollout, settings: LossSettings) -> LossTerms:
    """The loss of one rollout (or a batch of segments side by side): one pass of the model over
    its T + 1 observations, the chosen return estimator, then actor_critic_loss."""
    s = settings
    steps = rollout.t_max
    # One pass over all T + 1 observations: rows 0..T-1 are trained, row T is the bootstrap.
    with network_precision(s.bfloat16, rollout.obs.device.type):
        params, values_ext, aux_ext = model.forward_sequence_aux(rollout.obs, rollout.initial_state(), rollout.starts)
    # The returns, log-probs and losses stay in float32 whatever the network ran in.
    params, values_ext = params.float(), values_ext.float()
    aux_ext = aux_ext.float() if aux_ext is not None else None
    params, values = params[:steps], values_ext[:steps]
    log_probs = dist.log_prob(params, rollout.actions)
    entropy = dist.entropy(params)
    with torch.no_grad():
        baseline = values.detach()
        next_values = R.next_state_values(
            baseline, values_ext[steps].detach(), rollout.terminated, rollout.truncated, rollout.truncation_values
        )
        ends = rollout.episode_ends
        log_ratios = log_probs.detach() - rollout.behaviour_log_probs
        if s.vtrace:
            targets, advantages = R.vtrace(
                rollout.rewards, baseline, next_values, ends, log_ratios, s.gamma, s.rho_bar, s.c_bar
            )
        elif s.advantage == "nstep":
            targets = R.nstep_returns(rollout.rewards, next_values, ends, s.gamma)
            advantages = targets - baseline
        else:
            advantages = R.gae_advantages(rollout.rewards, baseline, next_values, ends, s.gamma, s.gae_lambda)
            targets = advantages + baseline
        if s.normalize_advantage and advantages.numel() > 1:
            advantages = (advantages - advantages.mean()) / (advantages.std() + 1e-8)
    total, policy, value, mean_entropy = actor_critic_loss(
        log_probs, entropy, values, advantages, targets, s.value_coef, s.entropy_coef
    )
    if s.aux_value_coef and aux_ext is not None:
        total = total + s.aux_value_coef * value_loss(aux_ext[:steps], targets)
    if s.action_bound_coef and isinstance(dist, DiagGaussian):
        total = total + s.action_bound_coef * dist.mean_bound_excess(params).mean()
    return LossTerms(total, policy, value, mean_entropy, log_ratios.mean(), params.detach())


def clip_gradients(model: ActorCritic, max_grad_norm: float, critic_grad_norm: float | None = None) -> torch.Tensor:
    """Clip model's gradients and return their global norm before clipping. One clip over every
    parameter, or with critic_grad_norm (a separate critic) two: the value network's to
    critic_grad_norm, the policy's to max_grad_norm, so the value gradient's size no longer sets
    the policy's step."""
    if critic_grad_norm is None:
        return torch.nn.utils.clip_grad_norm_(list(model.parameters()), max_grad_norm)
    critic = model.critic_parameters()
    if not critic:
        raise ValueError("critic_grad_norm needs a model with a separate critic")
    critic_ids = {id(p) for p in critic}
    policy = [p for p in model.parameters() if id(p) not in critic_ids]
    norms = torch.stack(
        [
            torch.nn.utils.clip_grad_norm_(policy, max_grad_norm),
            torch.nn.utils.clip_grad_norm_(critic, critic_grad_norm),
        ]
    )
    return torch.linalg.vector_norm(norms)


@torch.no_grad()  # a number for the step size, not a term to train on: no graph to build
def policy_change(model: ActorCritic, dist: Distribution, rollout: Rollout, params_before: torch.Tensor) -> float:
    """The mean KL(before || after) over a rollout's trained steps between the policy that computed
    an update (params_before, from LossTerms.params) and `model` as it is now: how far one update
    (and, in Hogwild, the other workers' updates since the sync) moved the policy."""
    steps = rollout.t_max
    params_after, _ = model.forward_sequence(rollout.obs[:steps], rollout.initial_state(), rollout.starts[:steps])
    return float(dist.kl(params_before, params_after).mean())


def measure_kl(target_kl: float | None, updates: int) -> bool:
    """Whether to measure the policy change of update number `updates`: every one when the step
    size adapts to it, one in KL_EVERY for metrics.csv otherwise (it costs a forward pass)."""
    return target_kl is not None or updates % KL_EVERY == 0
