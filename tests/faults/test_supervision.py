"""Roles that raise or keep dying: predictor and trainer threads that raise are restarted and
their in-flight work answered or freed; a role that keeps dying stops the run with exit 1, a
checkpoint, summary.json stop_reason "error" and the reason in events.log.
(The slot book when an agent dies: unit/test_ga3c_segments.py.)
"""

import json

import pytest

from a3c.checkpoint import load_checkpoint
from a3c.cli import main

QUIET = ["--set", "progress=false", "--set", "tensorboard=false", "--set", "log_interval_s=0.5"]


# 100,000 steps are ~195 segments of 512 (t_max 8 x 64 envs, CartPole's GA3C preset): with 3 segment
# slots an update takes 1 to 3 of them, so the run makes 60 updates at the very least, and as many
# forward passes as steps of 64 envs.
STEPS = 100_000


def ga3c_args(run_dir, *extra):
    return ["train", "CartPole-v1", "--algo", "ga3c", "--workers", "2", "--target-return", "1e9",
            "--total-steps", str(STEPS), "--run-dir", str(run_dir), "--set", "dynamic_adjust=false", *QUIET, *extra]


def fail_on_calls(cls, name, calls):
    """cls.name raises on the given call numbers (1-based); every other call runs as usual."""
    original, count = getattr(cls, name), [0]

    def wrapper(self, *args, **kwargs):
        count[0] += 1
        if calls == "all" or count[0] in calls:
            raise RuntimeError(f"injected fault in {cls.__name__}.{name}, call {count[0]}")
        return original(self, *args, **kwargs)

    return wrapper


@pytest.mark.slow
@pytest.mark.parametrize("role", ["predictor", "trainer"])
def test_a_thread_that_raises_is_restarted_and_nobody_hangs(role, tmp_path, monkeypatch, capsys):
    from a3c.engines.ga3c.predictor import Predictor
    from a3c.engines.ga3c.trainer import BatchUpdate

    cls, name = (Predictor, "predict") if role == "predictor" else (BatchUpdate, "train")
    monkeypatch.setattr(cls, name, fail_on_calls(cls, name, {20, 40}))
    assert main(ga3c_args(tmp_path / "run")) == 0, capsys.readouterr().err
    run = tmp_path / "run"
    events = (run / "events.log").read_text()
    assert events.count(f"{role} thread") == 2 and "injected fault" in events, events
    summary = json.loads((run / "summary.json").read_text())
    # The run went on past the second fault, to its budget.
    assert summary["stop_reason"] == "total_steps" and summary["updates"] > 40, summary
    rows = list(__import__("csv").DictReader(open(run / "metrics.csv")))
    assert int(rows[-1]["restarts"]) == 2


@pytest.mark.slow
def test_a_predictor_that_always_raises_stops_the_run_with_exit_1(tmp_path, monkeypatch, capsys):
    from a3c.engines.ga3c.predictor import Predictor

    monkeypatch.setattr(Predictor, "predict", fail_on_calls(Predictor, "predict", "all"))
    run = tmp_path / "run"
    assert main(ga3c_args(run)) == 1
    err = capsys.readouterr().err
    assert "predictor thread died 5 times in a row without making progress" in err and "Traceback" not in err, err
    assert json.loads((run / "summary.json").read_text())["stop_reason"] == "error"
    assert "run failed: predictor thread died 5 times" in (run / "events.log").read_text()
    load_checkpoint(run)  # the run left a checkpoint


@pytest.mark.slow
def test_a3c_workers_that_die_on_start_up_stop_the_run_with_exit_1(tmp_path, capsys):
    run = tmp_path / "run"
    # No step is ever taken, so no step budget can end this run: the time limit is only a net that
    # turns a regression (restarting the workers forever) into a failure instead of a hang. The five
    # deaths, with no pause between restarts, take a second or two; nothing here measures them.
    code = main(["train", "fakes:FailsInWorkersEnv", "--workers", "2", "--time-limit", "60",
                 "--run-dir", str(run), *QUIET])
    err = capsys.readouterr().err
    assert code == 1, err
    assert "died 5 times in a row without making progress" in err and "Traceback" not in err, err
    events = (run / "events.log").read_text()
    assert "cannot be built in a child process" in events and "run failed: worker" in events, events
    assert json.loads((run / "summary.json").read_text())["stop_reason"] == "error"
    load_checkpoint(run)
