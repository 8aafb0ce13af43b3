"""Whole GA3C runs: every child stops and the GA3C columns are logged, a killed agent is restarted,
a serial update at zero lag is on-policy, many fixed trainers each have a normalizer row, and
the trainers keep the observation statistics."""

import csv
import json
import multiprocessing
import re
import signal
import threading
import time
from multiprocessing import forkserver, resource_tracker

import psutil
import pytest

import a3c
from a3c.checkpoint import load_checkpoint

GA3C_COLUMNS = ("pps", "tps", "predict_batch_mean", "policy_lag", "agents", "predictors", "trainers")


# ----- whole runs -----

def descendants_alive() -> list[psutil.Process]:
    """This process's descendants that are still running, apart from multiprocessing's own
    long-lived helpers (the fork server the engines fork from, and the resource tracker)."""
    helpers = {fork_server_pid(), getattr(resource_tracker._resource_tracker, "_pid", None)}
    alive = []
    for proc in psutil.Process().children(recursive=True):
        try:
            if proc.pid not in helpers and proc.status() != psutil.STATUS_ZOMBIE:
                alive.append(proc)
        except psutil.NoSuchProcess:
            pass
    return alive


def fork_server_pid():
    """The fork server every engine process is forked from (so the agents are its children); None before it starts."""
    return getattr(forkserver._forkserver, "_forkserver_pid", None)


def read_metrics(run_dir) -> list[dict]:
    with open(run_dir / "metrics.csv", newline="") as fh:
        return list(csv.DictReader(fh))


def number(text: str):
    return float(text) if text not in ("", None) else None


def test_a_run_stops_every_child_and_logs_the_ga3c_columns(tmp_path):
    before = {p.pid for p in descendants_alive()}
    # The preset can solve CartPole in seconds: an unreachable target keeps the run to its step budget.
    cfg = a3c.Config.for_env("CartPole-v1", algo="ga3c", workers=2, total_steps=100_000,
                             target_return=1000.0, log_interval_s=0.5, progress=False, tensorboard=False,
                             run_dir=str(tmp_path / "run"))
    result = a3c.train(cfg)
    assert result.stop_reason == "total_steps"
    assert multiprocessing.active_children() == []
    assert [p for p in descendants_alive() if p.pid not in before] == []
    assert not [t for t in threading.enumerate() if t.name.startswith("ga3c-") and t.is_alive()]

    summary = json.loads((tmp_path / "run" / "summary.json").read_text())
    assert summary["stop_reason"] == result.stop_reason and summary["algo"] == "ga3c"
    assert summary["env_steps"] > 0 and summary["updates"] > 0
    # The counts the adjuster had settled on when the run ended, within their limits.
    facts = summary["engine"]
    assert 1 <= facts["agents"] <= cfg.max_agents and 1 <= facts["predictors"] <= cfg.max_predictors
    assert 1 <= facts["trainers"] <= cfg.max_trainers and facts["restarts"] == 0
    rows = read_metrics(tmp_path / "run")
    assert rows and set(GA3C_COLUMNS) <= set(rows[0])
    for row in rows:
        assert int(row["agents"]) >= 1 and int(row["predictors"]) >= 1 and int(row["trainers"]) >= 1
        assert number(row["pps"]) >= 0 and number(row["tps"]) >= 0
    working = [r for r in rows if number(r["tps"]) > 0]  # rows of an interval in which training happened
    assert working, rows
    assert max(number(r["pps"]) for r in rows) > 0
    assert all(number(r["predict_batch_mean"]) >= cfg.envs_per_worker for r in rows if r["predict_batch_mean"])
    assert all(number(r["policy_lag"]) >= 0 for r in working if r["policy_lag"])
    assert any(r["policy_lag"] for r in working)


# Recurrent: the replacement starts from zero state in its row, whatever its predecessor left there.
@pytest.mark.parametrize("policy", [[], ["--set", "recurrent=true"]], ids=["feed-forward", "recurrent"])
def test_a_killed_agent_is_restarted_and_the_run_finishes(tmp_path, capsys, policy):
    from a3c.cli import main

    run_dir = tmp_path / "run"
    killed: dict = {}

    def kill_an_agent_once_training_is_under_way():
        # Agents are found through psutil as the fork server's children: multiprocessing.active_children()
        # would poll the agents' Popen objects from this thread while the engine polls them from its own.
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            rows = read_metrics(run_dir) if (run_dir / "metrics.csv").exists() else []
            steps = rows[-1]["env_steps"] if rows else ""
            if steps.isdigit() and int(steps) > 0 and fork_server_pid():
                agents = psutil.Process(fork_server_pid()).children()
                if agents:
                    killed.update(pid=agents[0].pid, env_steps=int(steps))
                    agents[0].send_signal(signal.SIGKILL)
                    return
            time.sleep(0.05)

    killer = threading.Thread(target=kill_an_agent_once_training_is_under_way, daemon=True)
    killer.start()
    # The kill comes at the first metrics row with steps (~0.5 s in: tens of thousands of steps); the
    # budget leaves the run hundreds of thousands more to notice the death and restart the agent.
    code = main(["train", "CartPole-v1", "--algo", "ga3c", "--workers", "2", "--total-steps", "400000",
                 "--target-return", "1000", "--run-dir", str(run_dir),
                 "--set", "progress=false", "--set", "tensorboard=false", "--set", "dynamic_adjust=false",
                 "--set", "log_interval_s=0.5", *policy])
    killer.join(1.0)
    out, err = capsys.readouterr()
    assert code == 0, err
    assert killed, "no agent was found to kill"
    stop_reason = json.loads(out.strip().splitlines()[-1])["stop_reason"]
    assert stop_reason == "total_steps"

    events = (run_dir / "events.log").read_text()
    assert re.search(rf"agent \d+ \(pid {killed['pid']}\) died with exit code -9; restarting it", events), events
    assert "crashed" not in events, events
    rows = read_metrics(run_dir)
    assert int(rows[-1]["restarts"]) == 1
    assert int(rows[-1]["env_steps"]) > killed["env_steps"]  # the run went on after the restart
    summary = json.loads((run_dir / "summary.json").read_text())
    assert summary["stop_reason"] == stop_reason and summary["env_steps"] == int(rows[-1]["env_steps"])
    assert multiprocessing.active_children() == []


# ----- GA3C acts and trains on the same normalizer statistics (issue 23) -----


def test_a_serial_ga3c_update_at_zero_lag_is_on_policy(tmp_path):
    cfg = a3c.Config.for_env(
        "Pendulum-v1", algo="ga3c", normalize_obs=True, workers=1, envs_per_worker=4, t_max=8, train_batch=1,
        deterministic=True, total_steps=2048, log_interval_steps=256, target_return="off", progress=False,
        tensorboard=False, run_dir=str(tmp_path / "run"))
    a3c.train(cfg)
    import csv

    rows = list(csv.DictReader(open(tmp_path / "run" / "metrics.csv")))
    lags = [float(r["policy_lag"]) for r in rows if r["policy_lag"]]
    ratios = [float(r["importance_ratio"]) for r in rows if r["importance_ratio"]]
    assert lags and all(lag == 0.0 for lag in lags)  # one agent, one segment per update: no lag
    assert ratios and all(ratio == pytest.approx(1.0, abs=1e-5) for ratio in ratios)  # so pi == mu


# ----- a normalizer row for every GA3C trainer, never shared (issue 23) -----


def test_many_fixed_trainers_each_have_a_normalizer_row(tmp_path):
    cfg = a3c.Config.for_env(
        "Pendulum-v1", algo="ga3c", normalize_obs=True, trainers=20, dynamic_adjust=False, workers=2,
        envs_per_worker=2, t_max=8, total_steps=4_000, target_return="off", progress=False, tensorboard=False,
        run_dir=str(tmp_path / "run"))
    result = a3c.train(cfg)
    assert result.stop_reason == "total_steps"


def test_ga3c_trainers_keep_the_observation_statistics(tmp_path):
    cfg = a3c.Config.for_env(
        "Pendulum-v1", algo="ga3c", normalize_obs=True, workers=2, envs_per_worker=4, t_max=8, total_steps=20_000,
        target_return="off", progress=False, tensorboard=False, run_dir=str(tmp_path / "run"))
    result = a3c.train(cfg)
    _, tensors, _ = load_checkpoint(tmp_path / "run")
    count = tensors["obs_norm.count"].item()
    # What the trainers trained on: whole segments, at most every step taken.
    assert 0 < count <= result.env_steps and count % (8 * 4) == 0
    assert tensors["obs_norm.var"].min().item() > 0
