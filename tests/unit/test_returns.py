"""returns.py pinned to numbers worked out by hand.

Shared example: T = 3 steps, gamma = 0.9, lambda = 0.5 (so gamma * lambda = 0.45), three envs:
  env 0: one episode through the whole rollout, bootstrap V(s_T) = 2
  env 1: the episode terminates after step 0 (no bootstrap there), bootstrap V(s_T) = 5
  env 2: a time limit truncates the episode after step 1; V(final obs) = 10, bootstrap V(s_T) = 4
"""

import pytest
import torch

from a3c import returns as R

GAMMA, LAM = 0.9, 0.5

# [T, N] = [3, 3]; column n is env n.
REWARDS = torch.tensor([[1.0, 1.0, 0.0],
                        [0.0, 1.0, 1.0],
                        [2.0, 1.0, 0.0]])
VALUES = torch.tensor([[0.5, 2.0, 1.0],
                       [1.0, 3.0, 2.0],
                       [1.5, 4.0, 3.0]])
BOOTSTRAP = torch.tensor([2.0, 5.0, 4.0])
TERMINATED = torch.tensor([[0.0, 1.0, 0.0],
                           [0.0, 0.0, 0.0],
                           [0.0, 0.0, 0.0]])
TRUNCATED = torch.tensor([[0.0, 0.0, 0.0],
                          [0.0, 0.0, 1.0],
                          [0.0, 0.0, 0.0]])
# Non-zero junk where nothing was truncated: it must be ignored.
TRUNCATION_VALUES = torch.tensor([[7.0, 7.0, 7.0],
                                  [7.0, 7.0, 10.0],
                                  [7.0, 7.0, 7.0]])
ENDS = torch.maximum(TERMINATED, TRUNCATED)
# V(s_{t+1}) by hand: the next row of VALUES, the bootstrap after the last step,
# 0 after termination (env 1, t=0) and V(final obs) after truncation (env 2, t=1).
NEXT_VALUES = torch.tensor([[1.0, 0.0, 2.0],
                            [1.5, 4.0, 10.0],
                            [2.0, 5.0, 4.0]])


def test_next_state_values_terminated_truncated_and_bootstrap():
    got = R.next_state_values(VALUES, BOOTSTRAP, TERMINATED, TRUNCATED, TRUNCATION_VALUES)
    torch.testing.assert_close(got, NEXT_VALUES)


def test_next_state_values_truncation_at_the_last_step_beats_the_bootstrap():
    # One env, T = 2: truncated after the last step, so V(final obs) = 3, not V(s_T) = 100.
    got = R.next_state_values(
        values=torch.tensor([[1.0], [2.0]]), bootstrap_value=torch.tensor([100.0]),
        terminated=torch.zeros(2, 1), truncated=torch.tensor([[0.0], [1.0]]),
        truncation_values=torch.tensor([[0.0], [3.0]]),
    )
    torch.testing.assert_close(got, torch.tensor([[2.0], [3.0]]))


def test_gae_by_hand():
    # deltas d_t = r_t + 0.9 V(s_{t+1}) - V(s_t):
    #   env 0: 1 + 0.9 - 0.5 = 1.4,  0 + 1.35 - 1 = 0.35,  2 + 1.8 - 1.5 = 2.3
    #   env 1: 1 + 0   - 2   = -1,   1 + 3.6  - 3 = 1.6,   1 + 4.5 - 4   = 1.5
    #   env 2: 0 + 1.8 - 1   = 0.8,  1 + 9    - 2 = 8,     0 + 3.6 - 3   = 0.6
    # A_t = d_t + 0.45 A_{t+1}, with no carry out of a step where the episode ended:
    #   env 0: A2 = 2.3, A1 = 0.35 + 0.45 * 2.3 = 1.385, A0 = 1.4 + 0.45 * 1.385 = 2.02325
    #   env 1: A2 = 1.5, A1 = 1.6 + 0.45 * 1.5 = 2.275,  A0 = -1 (terminated at 0)
    #   env 2: A2 = 0.6, A1 = 8 (truncated at 1),         A0 = 0.8 + 0.45 * 8 = 4.4
    expected = torch.tensor([[2.02325, -1.0, 4.4],
                             [1.385, 2.275, 8.0],
                             [2.3, 1.5, 0.6]])
    got = R.gae_advantages(REWARDS, VALUES, NEXT_VALUES, ENDS, GAMMA, LAM)
    torch.testing.assert_close(got, expected)


def test_nstep_returns_by_hand():
    # R_t = r_t + 0.9 R_{t+1}; after the last step or an episode's end R = V(s_{t+1}):
    #   env 0: R2 = 2 + 0.9 * 2 = 3.8, R1 = 0 + 0.9 * 3.8 = 3.42, R0 = 1 + 0.9 * 3.42 = 4.078
    #   env 1: R2 = 1 + 0.9 * 5 = 5.5, R1 = 1 + 0.9 * 5.5 = 5.95, R0 = 1 + 0.9 * 0 = 1 (terminated)
    #   env 2: R2 = 0 + 0.9 * 4 = 3.6, R1 = 1 + 0.9 * 10 = 10 (truncated), R0 = 0 + 0.9 * 10 = 9
    expected = torch.tensor([[4.078, 1.0, 9.0],
                             [3.42, 5.95, 10.0],
                             [3.8, 5.5, 3.6]])
    got = R.nstep_returns(REWARDS, NEXT_VALUES, ENDS, GAMMA)
    torch.testing.assert_close(got, expected)


def test_nstep_returns_do_not_leak_the_next_episode_into_a_terminated_one():
    # One env, T = 2: terminated after step 0 (reward 1). Whatever follows (reward 50,
    # bootstrap 100) belongs to the next episode, so R0 = 1 exactly.
    got = R.nstep_returns(
        rewards=torch.tensor([[1.0], [50.0]]), next_values=torch.tensor([[0.0], [100.0]]),
        episode_ends=torch.tensor([[1.0], [0.0]]), gamma=0.5,
    )
    # R1 = 50 + 0.5 * 100 = 100
    torch.testing.assert_close(got, torch.tensor([[1.0], [100.0]]))


def _random_rollout(seed: int, steps: int = 7, envs: int = 4):
    """Random rewards and values with terminations and truncations; next values consistent
    with the values (V(s_{t+1}) is the next row inside an episode), as in a real rollout."""
    gen = torch.Generator().manual_seed(seed)
    rewards = torch.randn(steps, envs, generator=gen)
    values = torch.randn(steps, envs, generator=gen)
    bootstrap = torch.randn(envs, generator=gen)
    ended = torch.rand(steps, envs, generator=gen) < 0.3
    truncated_ = torch.rand(steps, envs, generator=gen) < 0.5
    terminated = (ended & ~truncated_).float()
    truncated = (ended & truncated_).float()
    truncation_values = torch.randn(steps, envs, generator=gen) * truncated
    next_values = R.next_state_values(values, bootstrap, terminated, truncated, truncation_values)
    return rewards, values, next_values, torch.maximum(terminated, truncated)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_gae_lambda_one_is_the_nstep_advantage(seed):
    rewards, values, next_values, ends = _random_rollout(seed)
    assert ends.sum() > 0  # the example does cross episode boundaries
    gae = R.gae_advantages(rewards, values, next_values, ends, gamma=0.95, lam=1.0)
    nstep = R.nstep_returns(rewards, next_values, ends, gamma=0.95)
    torch.testing.assert_close(gae, nstep - values)


@pytest.mark.parametrize("seed", [0, 1])
def test_gae_lambda_zero_is_the_one_step_td_error(seed):
    rewards, values, next_values, ends = _random_rollout(seed)
    gae = R.gae_advantages(rewards, values, next_values, ends, gamma=0.95, lam=0.0)
    torch.testing.assert_close(gae, rewards + 0.95 * next_values - values)
