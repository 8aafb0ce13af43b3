"""returns.vtrace pinned to numbers worked out by hand, and V-trace in rollout_loss.

Shared example: T = 3 steps, gamma = 0.9, two envs:
  env 0: the episode terminates after step 0 (V(s_1) is 0 there), then runs on; bootstrap V(s_T) = 2
  env 1: a time limit truncates the episode after step 1, V(final obs) = 10; bootstrap V(s_T) = 4
"""

import math

import pytest
import torch

from a3c import returns as R
from a3c.distributions import Categorical
from a3c.loss import rollout_loss
from a3c.models import ActorCritic
from fakes import filled_rollout, loss_settings

GAMMA = 0.9

# [T, N] = [3, 2]; column n is env n.
REWARDS = torch.tensor([[1.0, 0.0],
                        [0.0, 1.0],
                        [2.0, 0.0]])
VALUES = torch.tensor([[0.5, 1.0],
                       [1.0, 2.0],
                       [1.5, 3.0]])
# V(s_{t+1}): 0 after termination (env 0, t=0), V(final obs) = 10 after truncation (env 1, t=1),
# the bootstrap after the last step, the next row of VALUES elsewhere.
NEXT_VALUES = torch.tensor([[0.0, 2.0],
                            [1.5, 10.0],
                            [2.0, 4.0]])
ENDS = torch.tensor([[1.0, 0.0],
                     [0.0, 1.0],
                     [0.0, 0.0]])


def log(*ratios: float) -> list[float]:
    return [math.log(r) for r in ratios]


# ----- (a) on-policy: V-trace is the n-step return -----

def test_on_policy_vtrace_is_the_nstep_return_by_hand():
    vs, pg = R.vtrace(REWARDS, VALUES, NEXT_VALUES, ENDS, torch.zeros(3, 2), GAMMA)
    # n-step returns R_t = r_t + 0.9 R_{t+1}, restarting from V(s_{t+1}) at an episode's end or the last step:
    #   env 0: R_2 = 2 + 0.9 * 2 = 3.8;  R_1 = 0 + 0.9 * 3.8 = 3.42;  R_0 = 1 + 0.9 * 0 = 1 (terminated)
    #   env 1: R_2 = 0 + 0.9 * 4 = 3.6;  R_1 = 1 + 0.9 * 10 = 10 (truncated);  R_0 = 0 + 0.9 * 10 = 9
    expected_vs = torch.tensor([[1.0, 9.0],
                                [3.42, 10.0],
                                [3.8, 3.6]])
    torch.testing.assert_close(vs, expected_vs)
    torch.testing.assert_close(vs, R.nstep_returns(REWARDS, NEXT_VALUES, ENDS, GAMMA))
    # pg_t = r_t + 0.9 vs_{t+1} - V(s_t), vs_{t+1} being V(s_{t+1}) across a cut = R_t - V(s_t):
    #   env 0: 1 - 0.5 = 0.5;  3.42 - 1 = 2.42;  3.8 - 1.5 = 2.3
    #   env 1: 9 - 1 = 8;      10 - 2 = 8;       3.6 - 3 = 0.6
    expected_pg = torch.tensor([[0.5, 8.0],
                                [2.42, 8.0],
                                [2.3, 0.6]])
    torch.testing.assert_close(pg, expected_pg)
    torch.testing.assert_close(pg, expected_vs - VALUES)


def test_on_policy_vtrace_ignores_bars_above_one():
    # rho_bar, c_bar >= 1 leave on-policy ratios (all 1) alone, however large the bars.
    vs, pg = R.vtrace(REWARDS, VALUES, NEXT_VALUES, ENDS, torch.zeros(3, 2), GAMMA, rho_bar=5.0, c_bar=5.0)
    nstep = R.nstep_returns(REWARDS, NEXT_VALUES, ENDS, GAMMA)
    torch.testing.assert_close(vs, nstep)
    torch.testing.assert_close(pg, nstep - VALUES)


# ----- (b) off-policy, with the truncation of the ratios -----

# env 0: ratios (2, 0.5, 1); env 1: ratios (2, 2, 0.5).
LOG_RATIOS = torch.tensor([log(2.0, 2.0),
                           log(0.5, 2.0),
                           log(1.0, 0.5)])
# TD errors td_t = r_t + 0.9 V(s_{t+1}) - V(s_t):
#   env 0: 1 + 0 - 0.5 = 0.5;  0 + 1.35 - 1 = 0.35;  2 + 1.8 - 1.5 = 2.3
#   env 1: 0 + 1.8 - 1 = 0.8;  1 + 9 - 2 = 8;        0 + 3.6 - 3 = 0.6


def test_vtrace_clips_ratios_at_one_by_hand():
    vs, pg = R.vtrace(REWARDS, VALUES, NEXT_VALUES, ENDS, LOG_RATIOS, GAMMA, rho_bar=1.0, c_bar=1.0)
    # rho = c = min(1, ratio): env 0 (1, 0.5, 1), env 1 (1, 1, 0.5); a ratio of 2 is clipped, 0.5 is not.
    # deltas = rho * td: env 0 (0.5, 0.175, 2.3), env 1 (0.8, 8, 0.3)
    # corrections vs_t - V(s_t) = delta_t + 0.9 c_t (vs_{t+1} - V(s_{t+1})), cut at an episode's end:
    #   env 0: t2 = 2.3;  t1 = 0.175 + 0.9 * 0.5 * 2.3 = 1.21;  t0 = 0.5 (terminated: nothing flows back)
    #   env 1: t2 = 0.3;  t1 = 8 (truncated: nothing flows back);  t0 = 0.8 + 0.9 * 1 * 8 = 8
    # vs = V + corrections:
    expected_vs = torch.tensor([[1.0, 9.0],
                                [2.21, 10.0],
                                [3.8, 3.3]])
    torch.testing.assert_close(vs, expected_vs)
    # pg_t = rho_t (r_t + 0.9 vs_{t+1} - V(s_t)), vs_{t+1} = V(s_{t+1}) after an end or the last step:
    #   env 0: t0 = 1 * (1 + 0 - 0.5) = 0.5;  t1 = 0.5 * (0 + 0.9 * 3.8 - 1) = 1.21;  t2 = 1 * (2 + 1.8 - 1.5) = 2.3
    #   env 1: t0 = 1 * (0 + 0.9 * 10 - 1) = 8;  t1 = 1 * (1 + 9 - 2) = 8;  t2 = 0.5 * (0 + 3.6 - 3) = 0.3
    expected_pg = torch.tensor([[0.5, 8.0],
                                [1.21, 8.0],
                                [2.3, 0.3]])
    torch.testing.assert_close(pg, expected_pg)
    # and it is not the on-policy answer: the ratio of 0.5 cut env 0's trace and env 1's last step
    nstep = R.nstep_returns(REWARDS, NEXT_VALUES, ENDS, GAMMA)
    assert not torch.allclose(vs, nstep)


def test_vtrace_without_clipping_uses_the_full_ratio_by_hand():
    # Bars of 10 clip nothing: rho = c = ratio, env 0 (2, 0.5, 1), env 1 (2, 2, 0.5).
    vs, pg = R.vtrace(REWARDS, VALUES, NEXT_VALUES, ENDS, LOG_RATIOS, GAMMA, rho_bar=10.0, c_bar=10.0)
    # deltas: env 0 (1.0, 0.175, 2.3), env 1 (1.6, 16, 0.3)
    # corrections: env 0: t2 = 2.3, t1 = 0.175 + 0.9 * 0.5 * 2.3 = 1.21, t0 = 1.0 (terminated)
    #              env 1: t2 = 0.3, t1 = 16 (truncated), t0 = 1.6 + 0.9 * 2 * 16 = 30.4
    expected_vs = torch.tensor([[1.5, 31.4],
                                [2.21, 18.0],
                                [3.8, 3.3]])
    torch.testing.assert_close(vs, expected_vs)
    # pg: env 0: t0 = 2 * 0.5 = 1.0, t1 = 1.21, t2 = 2.3
    #     env 1: t0 = 2 * (0 + 0.9 * 18 - 1) = 30.4, t1 = 2 * 8 = 16, t2 = 0.3
    expected_pg = torch.tensor([[1.0, 30.4],
                                [1.21, 16.0],
                                [2.3, 0.3]])
    torch.testing.assert_close(pg, expected_pg)


# ----- (c) rho_bar and c_bar each do their own job -----

def test_rho_bar_and_c_bar_act_separately_by_hand():
    # One env of the shared example without episode ends: rewards (1, 0, 2), V (0.5, 1, 1.5),
    # V(s_{t+1}) (1, 1.5, 2), ratios (2, 0.5, 1); td = (1 + 0.9 - 0.5, 0 + 1.35 - 1, 2 + 1.8 - 1.5) = (1.4, 0.35, 2.3).
    rewards, values = torch.tensor([[1.0], [0.0], [2.0]]), torch.tensor([[0.5], [1.0], [1.5]])
    next_values, ends = torch.tensor([[1.0], [1.5], [2.0]]), torch.zeros(3, 1)
    log_ratios = torch.tensor([log(2.0), log(0.5), log(1.0)])

    def run(rho_bar, c_bar):
        return R.vtrace(rewards, values, next_values, ends, log_ratios, GAMMA, rho_bar=rho_bar, c_bar=c_bar)

    # rho_bar = c_bar = 1: rho = c = (1, 0.5, 1); deltas (1.4, 0.175, 2.3)
    #   corrections: 2.3;  0.175 + 0.9 * 0.5 * 2.3 = 1.21;  1.4 + 0.9 * 1 * 1.21 = 2.489
    #   pg: 1 * (1 + 0.9 * 2.21 - 0.5) = 2.489;  0.5 * (0.9 * 3.8 - 1) = 1.21;  2 + 1.8 - 1.5 = 2.3
    vs, pg = run(1.0, 1.0)
    torch.testing.assert_close(vs, torch.tensor([[2.989], [2.21], [3.8]]))
    torch.testing.assert_close(pg, torch.tensor([[2.489], [1.21], [2.3]]))

    # rho_bar = 2 lets the ratio of 2 through in the deltas and pg, c_bar = 1 still clips the trace:
    #   rho = (2, 0.5, 1), c = (1, 0.5, 1); deltas (2.8, 0.175, 2.3)
    #   corrections: 2.3;  1.21;  2.8 + 0.9 * 1 * 1.21 = 3.889
    #   pg: t0 = 2 * (1 + 0.9 * 2.21 - 0.5) = 4.978; t1, t2 as before (vs_2, vs_3 unchanged)
    vs, pg = run(2.0, 1.0)
    torch.testing.assert_close(vs, torch.tensor([[4.389], [2.21], [3.8]]))
    torch.testing.assert_close(pg, torch.tensor([[4.978], [1.21], [2.3]]))

    # c_bar = 0.25 shortens the trace (c = 0.25 everywhere) but not the deltas (rho = (1, 0.5, 1)):
    #   corrections: 2.3;  0.175 + 0.9 * 0.25 * 2.3 = 0.6925;  1.4 + 0.9 * 0.25 * 0.6925 = 1.5558125
    #   pg: t0 = 1 + 0.9 * 1.6925 - 0.5 = 2.02325;  t1 = 0.5 * (0.9 * 3.8 - 1) = 1.21;  t2 = 2.3
    vs, pg = run(1.0, 0.25)
    torch.testing.assert_close(vs, torch.tensor([[2.0558125], [1.6925], [3.8]]))
    torch.testing.assert_close(pg, torch.tensor([[2.02325], [1.21], [2.3]]))


def test_on_policy_c_bar_is_the_gae_lambda_and_rho_bar_scales_the_targets():
    zeros = torch.zeros(3, 2)
    # With every ratio 1, c_t = c_bar < 1 decays the trace by gamma * c_bar per step: GAE with lambda = c_bar.
    vs, _ = R.vtrace(REWARDS, VALUES, NEXT_VALUES, ENDS, zeros, GAMMA, rho_bar=1.0, c_bar=0.5)
    gae = R.gae_advantages(REWARDS, VALUES, NEXT_VALUES, ENDS, GAMMA, lam=0.5)
    torch.testing.assert_close(vs, VALUES + gae)
    # rho_bar = 0.5 halves every delta and every pg term: vs moves half way from V to the n-step return.
    vs, pg = R.vtrace(REWARDS, VALUES, NEXT_VALUES, ENDS, zeros, GAMMA, rho_bar=0.5, c_bar=1.0)
    nstep = R.nstep_returns(REWARDS, NEXT_VALUES, ENDS, GAMMA)
    torch.testing.assert_close(vs, VALUES + 0.5 * (nstep - VALUES))
    vs_next = torch.where(ENDS.bool(), NEXT_VALUES, torch.cat([vs[1:], NEXT_VALUES[-1:]]))
    torch.testing.assert_close(pg, 0.5 * (REWARDS + GAMMA * vs_next - VALUES))


# ----- (d) V-trace inside rollout_loss -----

def _model_and_rollout():
    torch.manual_seed(0)
    dist = Categorical(2)
    model = ActorCritic((3,), dist, hidden_sizes=(8,))
    # 6 steps x 2 envs: a termination in env 0 and a truncation (V(final obs) = 0.7) in env 1
    rollout = filled_rollout(dist, lstm_size=0)
    with torch.no_grad():  # on-policy: the behaviour log-probs are the model's own
        params, _ = model.forward_sequence(rollout.obs, rollout.initial_state(), rollout.starts)
        rollout.behaviour_log_probs.copy_(dist.log_prob(params[:-1], rollout.actions))
    return model, dist, rollout


def test_vtrace_loss_on_policy_equals_the_nstep_loss():
    model, dist, rollout = _model_and_rollout()
    nstep = rollout_loss(model, dist, rollout, loss_settings(gamma=0.9, advantage="nstep"))
    vtrace = rollout_loss(model, dist, rollout, loss_settings(gamma=0.9, advantage="nstep", vtrace=True))
    assert vtrace.log_ratio_mean.abs().item() < 1e-6
    for a, b in ((vtrace.total, nstep.total), (vtrace.policy, nstep.policy), (vtrace.value, nstep.value)):
        torch.testing.assert_close(a, b)
    # vtrace=True overrides the advantage setting: against GAE(0.5) it differs
    gae = rollout_loss(model, dist, rollout, loss_settings(gamma=0.9, advantage="gae", gae_lambda=0.5))
    vtrace_gae = rollout_loss(
        model, dist, rollout, loss_settings(gamma=0.9, advantage="gae", gae_lambda=0.5, vtrace=True)
    )
    torch.testing.assert_close(vtrace_gae.total, nstep.total)
    assert not torch.allclose(gae.policy, vtrace_gae.policy)


def test_vtrace_loss_off_policy_corrects_and_differs_from_nstep():
    model, dist, rollout = _model_and_rollout()
    nstep = rollout_loss(model, dist, rollout, loss_settings(gamma=0.9, advantage="nstep"))
    # The behaviour policy was twice as likely to take each action: ratio pi/mu = 0.5 everywhere.
    rollout.behaviour_log_probs.add_(math.log(2.0))
    vtrace = rollout_loss(model, dist, rollout, loss_settings(gamma=0.9, vtrace=True))
    assert vtrace.log_ratio_mean.item() == pytest.approx(-math.log(2.0), abs=1e-5)
    assert not torch.allclose(vtrace.policy, nstep.policy)
    assert not torch.allclose(vtrace.value, nstep.value)
    # the plain n-step loss ignores the behaviour policy altogether
    again = rollout_loss(model, dist, rollout, loss_settings(gamma=0.9, advantage="nstep"))
    torch.testing.assert_close(again.total, nstep.total)
