"""Return and advantage estimators: pure functions of [T, N] tensors (time, env).

Conventions shared by every function here, for step t of a rollout of T steps:
- `rewards[t]` is the reward received after acting at step t.
- `next_values[t]` is V(s_{t+1}), the value of the state the step led to: 0 when the
  episode *terminated* there, V(final observation) when it was *truncated* (a time
  limit is not the end of the task, so it bootstraps), and the bootstrap value V(s_T)
  after the last step of the rollout.
- `episode_ends[t]` is 1.0 where the episode ended at step t (terminated or truncated):
  nothing after it belongs to the same episode, so no credit flows back across it.
"""

from __future__ import annotations

import torch


def next_state_values(
    values: torch.Tensor,
    bootstrap_value: torch.Tensor,
    terminated: torch.Tensor,
    truncated: torch.Tensor,
    truncation_values: torch.Tensor,
) -> torch.Tensor:
    """Assemble V(s_{t+1}) for every step from the rollout's own values.

    values [T, N]: V(s_t); bootstrap_value [N]: V(s_T); terminated, truncated [T, N] in {0, 1};
    truncation_values [T, N]: V(final observation) where truncated (ignored elsewhere).
    """
    following = torch.cat([values[1:], bootstrap_value.unsqueeze(0)], dim=0)
    following = torch.where(truncated.bool(), truncation_values, following)
    return following * (1.0 - terminated)


def backward_sums(terms: torch.Tensor, carry: torch.Tensor) -> torch.Tensor:
    """S_t = terms_t + carry_t * S_{t+1}, with S_T = 0, [T, N] -> [T, N]: the one recursion behind
    n-step returns, GAE and V-trace (carry is 0 where nothing flows back across step t)."""
    sums = torch.empty_like(terms)
    running = torch.zeros_like(terms[0])
    for t in range(terms.shape[0] - 1, -1, -1):
        running = terms[t] + carry[t] * running
        sums[t] = running
    return sums


def gae_advantages(
    rewards: torch.Tensor,
    values: torch.Tensor,
    next_values: torch.Tensor,
    episode_ends: torch.Tensor,
    gamma: float,
    lam: float,
) -> torch.Tensor:
    """Generalised advantage estimation (Schulman et al. 2016), [T, N] -> [T, N].

    A_t = delta_t + gamma * lam * A_{t+1} within an episode, delta_t = r_t + gamma V(s_{t+1}) - V(s_t).
    lam = 1 gives the n-step advantage of A3C; lam = 0 the one-step TD error.
    """
    deltas = rewards + gamma * next_values - values
    return backward_sums(deltas, gamma * lam * (1.0 - episode_ends))


def nstep_returns(
    rewards: torch.Tensor,
    next_values: torch.Tensor,
    episode_ends: torch.Tensor,
    gamma: float,
) -> torch.Tensor:
    """The n-step return of Mnih et al. 2016: R_t = r_t + gamma R_{t+1}, R after the last step = V(s_T).

    Each step looks ahead to the end of the rollout or of its episode, whichever comes first.
    """
    # Where the episode ended at t, or at the last step, the sum restarts from V(s_{t+1}).
    restart = episode_ends.clone()
    restart[-1] = 1.0
    return backward_sums(rewards + gamma * restart * next_values, gamma * (1.0 - restart))


def vtrace(
    rewards: torch.Tensor,
    values: torch.Tensor,
    next_values: torch.Tensor,
    episode_ends: torch.Tensor,
    log_ratios: torch.Tensor,
    gamma: float,
    rho_bar: float = 1.0,
    c_bar: float = 1.0,
) -> tuple[torch.Tensor, torch.Tensor]:
    """V-trace off-policy targets (Espeholt et al. 2018) for experience from an older policy.

    log_ratios [T, N] = log pi(a_t|s_t) - log mu(a_t|s_t), target over behaviour policy.
    Returns (vs, pg_advantages):
      vs_t = V(s_t) + delta_t + gamma c_t (vs_{t+1} - V(s_{t+1})), delta_t = rho_t (r_t + gamma V(s_{t+1}) - V(s_t)),
      pg_advantages_t = rho_t (r_t + gamma vs_{t+1} - V(s_t)),
    with rho_t = min(rho_bar, ratio), c_t = min(c_bar, ratio). vs_{t+1} after an episode's
    end or the rollout's last step is next_values[t] itself. With all ratios 1, vs is the
    n-step return and pg_advantages the n-step advantage.
    """
    ratios = log_ratios.exp()
    rhos = ratios.clamp(max=rho_bar)
    cs = ratios.clamp(max=c_bar)
    deltas = rhos * (rewards + gamma * next_values - values)
    corrections = backward_sums(deltas, gamma * cs * (1.0 - episode_ends))  # vs_t - V(s_t)
    vs = values + corrections
    # vs_{t+1}: the next step's target inside the episode, the plain next value across a cut.
    vs_next = torch.cat([vs[1:], next_values[-1:]], dim=0)
    vs_next = torch.where(episode_ends.bool(), next_values, vs_next)
    pg_advantages = rhos * (rewards + gamma * vs_next - values)
    return vs, pg_advantages
