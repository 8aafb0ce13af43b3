"""A recurrent policy must learn a partially observable task that a feed-forward one cannot.

a3c/MaskedCartPole-v1 hides the velocities: one frame says where the pole is, not where
it is going. On its preset the LSTM policy must get most of the way to solving it, and
the feed-forward policy, which can only react to positions, must stay far below.

Why the old bound had to come down to 120: the preset had neither reward scaling nor
normalized advantages, so the value error swamped the clipped gradient and the LSTM crept
up, reaching anywhere from 147 to ~250 in 1.2M steps depending on the seed stream. With
the CartPole preset's fixes (reward_scale 0.1, normalized advantages) and gamma 0.98 it
solves (475) in ~0.35-0.9M steps on every seed measured (benchmarks/results/recurrent.md),
so the bound is now 300 with the run stopping as soon as it solves. Feed-forward on the same
preset: best ~52 in 400k steps.
"""

import pytest

import a3c

LSTM_BUDGET = 1_000_000  # stops earlier, at the target of 475
FEED_FORWARD_BUDGET = 300_000  # enough to learn what positions alone allow


def _best_return(tmp_path, recurrent: bool, budget: int) -> float:
    cfg = a3c.Config.for_env(
        "a3c/MaskedCartPole-v1", recurrent=recurrent, seed=0, workers=2, total_steps=budget,
        progress=False, tensorboard=False, run_dir=str(tmp_path / f"rec-{recurrent}"),
    )
    result = a3c.train(cfg)
    assert result.stop_reason in ("total_steps", "target_reached")
    return result.best_mean_return_100


@pytest.mark.slow
def test_lstm_learns_what_feed_forward_cannot(tmp_path):
    lstm = _best_return(tmp_path, recurrent=True, budget=LSTM_BUDGET)
    feed_forward = _best_return(tmp_path, recurrent=False, budget=FEED_FORWARD_BUDGET)
    assert lstm >= 300, f"LSTM policy reached only {lstm:.1f}"
    assert feed_forward < 100, f"feed-forward policy reached {feed_forward:.1f}: the task is not partially observable"
    assert lstm > 3 * feed_forward
