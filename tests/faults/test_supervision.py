"""Roles that raise or keep dying: predictor and trainer threads that raise are restarted and
their in-flight work answered or freed; a role that keeps dying stops the run with exit 1, a
checkpoint, summary.json stop_reason "error" and the reason in events.log."""

import json

import pytest
import torch

from a3c.checkpoint import load_checkpoint
from a3c.cli import main
from a3c.distributions import Categorical
from a3c.engines.ga3c.buffers import FREE, FULL, Mailboxes, SegmentPool

QUIET = ["--set", "progress=false", "--set", "tensorboard=false", "--set", "log_interval_s=0.5"]


def ga3c_args(run_dir, *extra):
    return ["train", "CartPole-v1", "--algo", "ga3c", "--workers", "2", "--target-return", "1e9",
            "--time-limit", "6", "--run-dir", str(run_dir), "--set", "dynamic_adjust=false", *QUIET, *extra]


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
    assert summary["stop_reason"] == "time_limit" and summary["updates"] > 40, summary
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
    code = main(["train", "envs_for_tests:FailsInWorkersEnv", "--workers", "2", "--time-limit", "60",
                 "--run-dir", str(run), *QUIET])
    err = capsys.readouterr().err
    assert code == 1, err
    assert "died 5 times in a row without making progress" in err and "Traceback" not in err, err
    events = (run / "events.log").read_text()
    assert "cannot be built in a child process" in events and "run failed: worker" in events, events
    assert json.loads((run / "summary.json").read_text())["stop_reason"] == "error"
    load_checkpoint(run)


def test_no_slot_is_lost_whenever_an_agent_dies():
    """The learner's slot book: an agent killed with a slot in hand, one handed over for next,
    or between filling one and publishing it, leaves every slot free or full, never stranded."""
    mail = Mailboxes.allocate(3, 2, (4,), torch.float32, Categorical(2))
    pool = SegmentPool.allocate(5, 3, 2, (4,), torch.float32, Categorical(2), ctx=None)
    pool.mail = mail
    for rank in range(3):
        pool.offer(rank)
    assert [int(s) for s in mail.next_slot] == [0, 1, 2]
    # Agent 0 takes its slot (next_slot back to -1) and dies before publishing: reclaimed.
    mail.next_slot[0] = -1
    pool.reclaim(0)
    # Agent 1 takes slot 1, publishes it (it gets slot 3 next), then dies holding slot 3.
    mail.next_slot[1] = -1
    pool.published(1, 1)
    assert int(mail.next_slot[1]) == 3
    pool.reclaim(1)
    # A stale publish of a slot the agent no longer owns is ignored.
    pool.published(1, 3)
    assert pool.full.qsize() == 1
    batch, versions = pool.take([pool.full.get()])
    assert pool.count(FULL) == 0 and pool.count(FREE) == 4  # slot 2 is agent 2's, the rest free
    # Slots run out: an agent that asks then waits, and gets the next slot a trainer releases.
    small = SegmentPool.allocate(2, 3, 2, (4,), torch.float32, Categorical(2), ctx=None)
    small.mail = Mailboxes.allocate(2, 2, (4,), torch.float32, Categorical(2))
    small.offer(0)
    small.offer(1)
    small.mail.next_slot[0] = -1  # agent 0 takes slot 0, fills it and publishes it
    small.published(0, 0)
    assert int(small.mail.next_slot[0]) == -1  # nothing free: it waits
    small.take([small.full.get()])
    assert int(small.mail.next_slot[0]) == 0  # served as soon as the slot is released
