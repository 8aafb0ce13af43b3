"""A recurrent policy must learn a partially observable task that a feed-forward one cannot.

a3c/MaskedCartPole-v1 hides the velocities: one frame says where the pole is, not where
it is going. With the same budget the LSTM policy must clearly beat the feed-forward one.
Measured on a 2-core machine: LSTM best mean return ~250 at 1.2M steps, feed-forward ~50;
since seeds come from SeedSequence (2026-11-25) the LSTM's best has been 147 to ~250 over
runs of this free-running, nondeterministic mode, hence the bound of 120.
"""

import pytest

import a3c

BUDGET = 1_200_000


def _best_return(tmp_path, recurrent: bool) -> float:
    cfg = a3c.Config.for_env(
        "a3c/MaskedCartPole-v1", recurrent=recurrent, seed=0, workers=2, total_steps=BUDGET,
        progress=False, tensorboard=False, run_dir=str(tmp_path / f"rec-{recurrent}"),
    )
    result = a3c.train(cfg)
    assert result.stop_reason in ("total_steps", "target_reached")
    return result.best_mean_return_100


@pytest.mark.slow
def test_lstm_learns_what_feed_forward_cannot(tmp_path):
    lstm = _best_return(tmp_path, recurrent=True)
    feed_forward = _best_return(tmp_path, recurrent=False)
    assert lstm >= 120, f"LSTM policy reached only {lstm:.1f}"
    assert feed_forward < 100, f"feed-forward policy reached {feed_forward:.1f}: the task is not partially observable"
    assert lstm > 2 * feed_forward
