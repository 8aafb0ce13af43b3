"""Learning that stays learned: a preset trained far past its peak must hold it (issue 37).

CartPole-v1's preset reaches 500 within ~0.1M steps. Without a bound on how far one update may
move the policy, its updates grew to a KL of 0.1-0.2 each and the mean of the last 100 episodes
fell and rose again and again (seed 1: 500 at 0.09M steps, 47 at 0.7M, 500, 67 at 1.8M, ... 220 at
the end of 150 s; benchmarks/results/stability.md). With the preset's target_kl the step size
shrinks as the policy sharpens and the curve stays at its peak (screens of 150 s, seeds 1 and 2: the
median of the second half went from 119 and 500 to 500 and 500).

The run is the deterministic one (one process steps both workers' envs in a fixed order and applies
the same losses, target_kl and preset as the Hogwild workers): the same code gives the same curve,
so the bounds hold or fail on the code and not on how two processes happened to interleave. The
Hogwild run still dips and recovers on some interleavings (one CI run of seed 1 had a last quarter
of 500, 500, 490, 96, 133, 349), which no bound on a single asynchronous run can tell from a fall;
benchmarks/stability.py measures those runs over seeds.
"""

import csv
import statistics

import pytest

import a3c

STEPS = 1_500_000


def _curve(run_dir) -> list[tuple[int, float]]:
    with open(run_dir / "metrics.csv", newline="") as fh:
        return [(int(r["env_steps"]), float(r["mean_return_100"])) for r in csv.DictReader(fh) if r["mean_return_100"]]


def _train_past_the_target(run_dir):
    cfg = a3c.Config.for_env(
        "CartPole-v1", seed=1, workers=2, deterministic=True, log_interval_steps=10_000, target_return="off",
        total_steps=STEPS, progress=False, tensorboard=False, run_dir=str(run_dir),
    )
    result = a3c.train(cfg)
    assert result.stop_reason == "total_steps", result
    return result, _curve(run_dir)


@pytest.mark.slow
def test_the_cartpole_preset_holds_its_peak_long_past_the_target(tmp_path):
    result, curve = _train_past_the_target(tmp_path / "run")
    stability = result.stability
    assert stability is not None and stability["best_mean_return_100"] >= 475, stability
    # The bounds are on the bulk of the curve and on where it ends: this seed's second half has a
    # median of 500, its last quarter a mean of 491 and a low of 457. With target_kl off, the same
    # seed and engine falls from 500 to 30 at 0.65M steps, and its second half has a median of 451
    # and its last quarter a low of 195.
    second_half = [mean for at, mean in curve if at >= STEPS // 2]
    last_quarter = [mean for at, mean in curve if at >= STEPS * 3 // 4]
    assert second_half and statistics.median(second_half) >= 475, second_half
    assert last_quarter and statistics.fmean(last_quarter) >= 400 and min(last_quarter) >= 250, last_quarter
    assert stability["drop"] <= 0.10, stability
