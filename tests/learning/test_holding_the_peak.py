"""Learning that stays learned: a preset trained far past its peak must hold it (issue 37).

CartPole-v1's preset reaches 500 within ~0.1M steps. Without a bound on how far one update may
move the policy, its updates grew to a KL of 0.1-0.2 each and the mean of the last 100 episodes
fell and rose again and again (seed 1: 500 at 0.09M steps, 47 at 0.7M, 500, 67 at 1.8M, ... 220 at
the end of 150 s; benchmarks/results/stability.md). With the preset's target_kl the step size
shrinks as the policy sharpens and the curve stays at its peak (screens of 150 s, seeds 1 and 2: the
median of the second half went from 119 and 500 to 500 and 500).
"""

import csv
import statistics

import pytest

import a3c


def _curve(run_dir) -> list[tuple[int, float]]:
    with open(run_dir / "metrics.csv", newline="") as fh:
        return [(int(r["env_steps"]), float(r["mean_return_100"])) for r in csv.DictReader(fh) if r["mean_return_100"]]


@pytest.mark.slow
def test_the_cartpole_preset_holds_its_peak_long_past_the_target(tmp_path):
    steps = 1_500_000
    cfg = a3c.Config.for_env(
        "CartPole-v1", seed=1, workers=2, target_return="off", total_steps=steps, progress=False, tensorboard=False,
        run_dir=str(tmp_path / "run"),
    )
    result = a3c.train(cfg)
    assert result.stop_reason == "total_steps", result
    stability = result.stability
    assert stability is not None and stability["best_mean_return_100"] >= 475, stability
    # Past the peak the curve still has short dips that recover (a few in ten of the 2-s points of
    # one run can fall to 100-300), so the bounds are on the bulk of the curve, not on one point:
    # the median of its second half stays at the ceiling (the code before target_kl: 119 on this
    # seed) and its last quarter, where the run ends, averages far above the old fall (~220).
    curve = _curve(tmp_path / "run")
    second_half = [mean for at, mean in curve if at >= steps // 2]
    last_quarter = [mean for at, mean in curve if at >= steps * 3 // 4]
    assert second_half and statistics.median(second_half) >= 475, second_half
    assert last_quarter and statistics.fmean(last_quarter) >= 350, last_quarter
