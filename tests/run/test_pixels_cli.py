"""Pixels end to end through the command line: Pong on both engines with checkpoint, resume
and `eval --video`. (That pixel games learn: learning/test_pixel_learning.py.)"""

import json

import numpy as np
import pytest

from fakes import require

require("ale_py")


require("minatar")


@pytest.mark.slow
def test_pong_trains_resumes_and_evaluates_with_video_on_both_engines(run_cli, tmp_path):
    runs = {algo: tmp_path / f"pong-{algo}" for algo in ("a3c", "ga3c")}
    common = ["--workers", "2", "--set", "progress=false", "--set", "tensorboard=false"]
    first = run_cli.many(*[["train", "ALE/Pong-v5", "--algo", algo, "--total-steps", "2000", "--run-dir", run, *common]
                           for algo, run in runs.items()], timeout=240)
    for result in first:
        assert result.returncode == 0, result.stderr
    resumed = run_cli.many(*[["train", "--resume", run, "--total-steps", "4000", *common] for run in runs.values()],
                           timeout=240)
    for (algo, run), result in zip(runs.items(), resumed, strict=True):
        assert result.returncode == 0, result.stderr
        summary = json.loads((run / "summary.json").read_text())
        assert summary["env_id"] == "ALE/Pong-v5" and summary["algo"] == algo
        assert summary["stop_reason"] == "total_steps" and summary["env_steps"] >= 4000
        assert "resumed from" in (run / "events.log").read_text()
        config = (run / "config.toml").read_text()
        # The protocol is the same for both engines, and both Pong presets see single 42x42 frames
        # through an LSTM (the universe recipe).
        for line in ("clip_rewards = true", "episodic_life = true", "frame_skip = 4", "noop_max = 30",
                     "sticky_actions = false", "frame_stack = 1", "screen_size = 42", "recurrent = true"):
            assert line in config, line

    video = tmp_path / "video"
    result = run_cli("eval", runs["a3c"], "--episodes", "1", "--video", video, "--json", timeout=240)
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout.strip().splitlines()[-1])
    # The real score of one whole game, not a clipped or per-life one: the game ends when a side
    # has 21 points, so an agent trained 4,000 steps (random play scores about -20.7) loses it by
    # a whole number of points, over hundreds of steps (a clipped score per life would be -1, and a
    # per-life episode a few dozen steps).
    (score,) = report["returns"]
    assert score == int(score) and -21 <= score <= -5, score
    assert report["mean_length"] >= 500, report
    movies = list(video.glob("*.mp4"))
    assert len(movies) == 1
    import imageio.v3 as iio

    frame = iio.imread(movies[0], index=0)
    assert frame.ndim == 3 and frame.shape[0] >= 210 and frame.shape[1] >= 160  # the full-size RGB game
    assert np.ptp(frame) > 0
