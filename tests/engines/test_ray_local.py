"""The Ray backend on a local Ray: addresses it cannot join exit 2, and env errors are logged and
counted. tests/conftest.py sets the Ray environment (loopback, no auth, no telemetry, private
RAY_TMPDIR) before anything imports ray. Nothing runs `ray stop`."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest

from a3c import cli


def _metrics(run: Path) -> list[dict]:
    with open(run / "metrics.csv") as f:
        return list(csv.DictReader(f))


@pytest.mark.parametrize("address, words", [
    ("not an address", ["invalid value for 'ray_address'", "HOST:PORT"]),  # Config's check, before Ray starts
    # Nothing of ours is running: `auto` finds no cluster in this session's private RAY_TMPDIR.
    ("auto", ["could not join the Ray cluster", "ray start --head"]),
    # Port 1 on loopback: refused at once (Ray itself would retry for minutes).
    ("127.0.0.1:1", ["could not join the Ray cluster at ray_address '127.0.0.1:1'", "nothing answers"]),
])
def test_bad_ray_address_exits_2(tmp_path, capsys, address, words):
    pytest.importorskip("ray")
    code = cli.main(["train", "CartPole-v1", "--backend", "ray", "--ray-address", address,
                     "--run-dir", str(tmp_path / "run"), "--set", "progress=false"])
    assert code == 2
    err = capsys.readouterr().err
    assert all(w in err for w in words), err
    assert "Traceback" not in err
    assert not (tmp_path / "run").exists()


@pytest.mark.slow
def test_local_ray_logs_and_counts_env_errors(run_cli, tmp_path):
    pytest.importorskip("ray")
    run = tmp_path / "run"
    # FlakyStepEnv raises on every 97th step of a process: 20,000 steps over two runners are ~200 errors.
    result = run_cli("train", "fakes:FlakyStepEnv", "--backend", "ray", "--workers", "2", "--total-steps", "20000",
                     "--run-dir", run, "--set", "progress=false", "--set", "log_interval_s=0.5", timeout=180)
    assert result.returncode == 0, result.stderr
    events = (run / "events.log").read_text()
    assert events.count("raised (rebuilt it;") == 1, events  # one traceback for the kind
    assert "ValueError: flaky env: lost its simulator connection" in events
    rows = _metrics(run)
    assert int(rows[-1]["env_errors"]) > 1 and int(rows[-1]["restarts"]) == 0
