"""NaN/inf updates are skipped, counted and logged; K in a row restore the last good
checkpoint; a run that cannot recover stops with a clear reason. An env that raises is
rebuilt, logged once per kind and counted (the env layer's take_errors contract)."""

import csv
import json

import pytest

from a3c.cli import main

QUIET = ["--set", "progress=false", "--set", "tensorboard=false", "--set", "log_interval_s=0.5"]
# The family defaults of an env without a preset normalize rewards, which keeps even 1e30 finite,
# and take 8 envs a worker, so every rollout would hold HugeRewardEnv's every-50th-step reward:
# the NaN/inf tests need raw rewards and one env a worker, as the plain defaults have.
RAW_REWARDS = ["--set", "normalize_reward=false", "--set", "envs_per_worker=1"]
# Budgets in env steps, not seconds: a fault comes every 50th (HugeRewardEnv) or 97th (FlakyStepEnv)
# step of a process, so 10,000 steps over two workers hold 50-100 of them each, whatever the speed.
STEPS = ["--total-steps", "10000"]


def rows(run):
    with open(run / "metrics.csv", newline="") as fh:
        return list(csv.DictReader(fh))


@pytest.mark.slow
@pytest.mark.parametrize("engine", [["--algo", "a3c"], ["--algo", "ga3c"], ["--set", "deterministic=true"]],
                         ids=["a3c", "ga3c", "serial"])
def test_an_occasional_inf_loss_is_skipped_counted_and_logged(engine, tmp_path, capsys):
    run = tmp_path / "run"
    code = main(["train", "fakes:HugeRewardEnv", *engine, "--workers", "2", *STEPS,
                 "--run-dir", str(run), "--set", "nonfinite_patience=1000", *RAW_REWARDS, *QUIET])
    assert code == 0, capsys.readouterr().err
    last = rows(run)[-1]
    assert int(last["nonfinite_updates"]) > 0 and int(last["updates"]) > 0, last
    assert "non-finite loss or gradient (NaN/inf)" in (run / "events.log").read_text()


@pytest.mark.slow
@pytest.mark.parametrize("engine", [[], ["--set", "deterministic=true"]], ids=["a3c", "serial"])
def test_updates_that_stay_inf_restore_the_last_good_checkpoint_then_stop(engine, tmp_path, capsys):
    run = tmp_path / "run"
    # 40 NaN/inf updates (3 restores of 10, then 10 more) take a few hundred steps; the budget only
    # bounds a run that would fail to stop. No checkpoint by time: one written between a restore and
    # the next NaN would count as good and start the count of restores again.
    code = main(["train", "fakes:AlwaysHugeRewardEnv", "--workers", "2", "--total-steps", "1000000",
                 "--run-dir", str(run), "--set", "checkpoint_first_s=1e9", "--set", "checkpoint_interval_s=1e9",
                 *engine, *RAW_REWARDS, *QUIET])
    err = capsys.readouterr().err
    assert code == 1, err
    assert "updates keep coming out NaN/inf" in err and "Traceback" not in err, err
    events = (run / "events.log").read_text()
    assert events.count("restored weights and optimizer state from") == 3, events
    assert json.loads((run / "summary.json").read_text())["stop_reason"] == "error"


@pytest.mark.slow
@pytest.mark.parametrize("engine", [[], ["--algo", "ga3c"], ["--set", "deterministic=true"]],
                         ids=["a3c", "ga3c", "serial"])
def test_an_env_that_raises_is_rebuilt_logged_once_and_counted(engine, tmp_path, capsys):
    run = tmp_path / "run"
    code = main(["train", "fakes:FlakyStepEnv", "--workers", "2", *STEPS,
                 "--run-dir", str(run), *engine, *QUIET])
    assert code == 0, capsys.readouterr().err
    events = (run / "events.log").read_text()
    # One event for the kind (its traceback shows the message twice: the raise line and the error).
    assert events.count("raised (rebuilt it;") == 1, events
    assert "ValueError: flaky env: lost its simulator connection" in events
    assert int(rows(run)[-1]["env_errors"]) > 1
    assert int(rows(run)[-1].get("restarts") or 0) == 0
