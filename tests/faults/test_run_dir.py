"""The run directory is the user's data: a live run locks it; disk full while checkpointing
keeps the previous checkpoint."""

import errno
import signal

import pytest
from helpers import children_of_fork_server

import a3c
from a3c import checkpoint
from a3c.checkpoint import load_checkpoint
from a3c.cli import main
from fakes import start_train, wait_for

QUIET = ["--set", "progress=false", "--set", "tensorboard=false"]


@pytest.mark.slow
def test_a_live_run_locks_its_directory_and_a_dead_one_does_not(tmp_path, capsys):
    run = tmp_path / "run"
    proc = start_train("CartPole-v1", "--workers", 1, "--target-return", 1e9, "--run-dir", run, log=tmp_path / "live")
    try:
        wait_for(lambda: children_of_fork_server(proc.pid) and list(run.glob("checkpoints/*.json")), 90)
        assert main(["train", "CartPole-v1", "--run-dir", str(run), *QUIET]) == 2
        assert main(["train", "--resume", str(run), *QUIET]) == 2
        err = capsys.readouterr().err
        assert err.count("is in use by a live run") == 2 and "Traceback" not in err, err
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    # kill -9 leaves no stale lock behind: the resume takes the directory and trains a little.
    sidecar, _, _ = load_checkpoint(run)
    assert main(["train", "--resume", str(run), "--total-steps", str(sidecar["counters"][0] + 2000), *QUIET]) == 0


def test_disk_full_while_checkpointing_keeps_the_previous_checkpoint(tmp_path, monkeypatch):
    run = tmp_path / "run"
    real_save = checkpoint.save_file
    calls = []

    def full_disk(tensors, path):
        calls.append(path)
        if len(calls) > 1:  # the first (step 0) fits; every later one hits a full disk half-way
            real_save(dict(list(tensors.items())[:1]), path)
            raise OSError(errno.ENOSPC, "No space left on device")
        real_save(tensors, path)

    monkeypatch.setattr(checkpoint, "save_file", full_disk)
    # The one test of a run ended by time_limit (the rule itself: unit/test_stop_rules.py). Its
    # budget of 2M steps is out of reach in 2 s, and the run saves at its start and at its stop
    # whatever it did in between: at least two calls on any machine (and one at 0.5 s if it gets there).
    cfg = a3c.Config.for_env("CartPole-v1", workers=1, time_limit=2, target_return=1e9, progress=False,
                             tensorboard=False, checkpoint_first_s=0.5, run_dir=str(run))
    result = a3c.train(cfg)
    assert result.stop_reason == "time_limit" and len(calls) >= 2
    sidecar, _, _ = load_checkpoint(run)
    assert sidecar["counters"][0] == 0 and not sidecar["skipped"]
    events = (run / "events.log").read_text()
    assert "failed (No space left on device); the previous checkpoint is still valid" in events, events
    assert not list((run / "checkpoints").glob("*.tmp"))
