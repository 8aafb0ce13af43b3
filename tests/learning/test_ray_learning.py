"""The Ray backend learns on a local Ray (no address: a new Ray on this machine, started and shut
down by the run): A3C solves CartPole, and recurrent GA3C learns a cue only memory holds.
tests/conftest.py sets the Ray environment before anything imports ray."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest

from fakes import GA3C_SETTINGS


def _summary(run: Path) -> dict:
    return json.loads((run / "summary.json").read_text())


def _metrics(run: Path) -> list[dict]:
    with open(run / "metrics.csv") as f:
        return list(csv.DictReader(f))


def _most(rows: list[dict], column: str) -> float:
    return max(float(r[column]) for r in rows if r[column] not in ("", None))


# ----- local Ray (no address: a new Ray on this machine, started and shut down by the run) -----

@pytest.mark.slow
def test_local_ray_a3c_solves_cartpole(run_cli, tmp_path):
    """Solved within 1M steps. Asynchronous gradients make each run differ even on one seed, and the
    CartPole preset (lr 3e-3, no entropy bonus) sometimes collapses from ~400 to ~50 before it
    recovers. Measured on 2 cores (2026-12-04), this command: 89 runs solved at 70k-254k steps
    (median 88k), 4 of them after such a collapse; the local engine: 40 runs at 65k-242k. One CI
    run did not solve within the 400k steps this test once allowed."""
    pytest.importorskip("ray")
    run = tmp_path / "run"
    result = run_cli("train", "CartPole-v1", "--backend", "ray", "--workers", "2", "--seed", "1",
                     "--total-steps", "1000000", "--run-dir", run, "--set", "progress=false", timeout=300)
    assert result.returncode == 0, result.stderr
    summary = _summary(run)
    assert summary["solved"] and summary["stop_reason"] == "target_reached", summary
    assert summary["engine"] == dict(env_runners=2, nodes=1, nodes_lost=0, restarts=0), summary
    rows = _metrics(run)
    assert _most(rows, "env_runners") == 2 and _most(rows, "nodes") == 1
    assert _most(rows, "policy_lag") >= 0
    events = (run / "events.log").read_text()
    assert "ray: 2 env runners on 1 node(s)" in events and "start-up took" in events


@pytest.mark.slow
def test_recurrent_ga3c_on_ray_learns_a_cue_that_only_memory_holds(run_cli, tmp_path):
    """fakes:CueRecall pays +1 for recalling a cue seen 4 steps before the query, which looks
    the same whichever the cue was: a feed-forward policy earns 0 on average (learning/test_ga3c_recurrent_learning.py
    pins that), and only state carried from step to step, and across the runners' segments
    (5-step episodes in 8-step segments), earns 0.9, here within 400k env steps (it took ~12k when
    measured). A local Ray: its runners inherit tests/ on PYTHONPATH from the `a3c train` process
    that starts it."""
    pytest.importorskip("ray")
    run = tmp_path / "run"
    settings = [arg for key, value in GA3C_SETTINGS.items()
                for arg in ("--set", f"{key}={value if isinstance(value, str) else json.dumps(value)}")]
    result = run_cli("train", "fakes:CueRecall", "--algo", "ga3c", "--backend", "ray", "--seed", "0",
                     "--total-steps", "400000", "--run-dir", run, "--set", "progress=false",
                     "--set", "recurrent=true", *settings, timeout=240)
    assert result.returncode == 0, result.stderr
    summary = _summary(run)
    assert summary["stop_reason"] == "target_reached" and summary["best_mean_return_100"] >= 0.9, summary
    config = (run / "config.toml").read_text()
    assert "recurrent = true" in config and "vtrace = true" in config
