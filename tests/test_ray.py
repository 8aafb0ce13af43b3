"""The Ray backend (--backend ray): CLI errors, local runs of both algorithms, a 2-node cluster on
127.0.0.1 with runners on both nodes, a runner killed mid-run, and resume.

tests/conftest.py sets the Ray environment (loopback, no auth, no telemetry, private RAY_TMPDIR)
before anything imports ray. Every Ray process here is ours: a child of this test process or of
the `a3c train` it runs. Nothing runs `ray stop`.
"""

from __future__ import annotations

import contextlib
import csv
import json
import os
import signal
import sys
import time
from pathlib import Path

import pytest

from a3c import cli
from memory_envs import GA3C_SETTINGS


def _summary(run: Path) -> dict:
    return json.loads((run / "summary.json").read_text())


def _metrics(run: Path) -> list[dict]:
    with open(run / "metrics.csv") as f:
        return list(csv.DictReader(f))


def _most(rows: list[dict], column: str) -> float:
    return max(float(r[column]) for r in rows if r[column] not in ("", None))


# ----- CLI errors (no cluster) -----

def test_missing_ray_exits_2_with_the_pip_command(tmp_path, monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "ray", None)  # `import ray` raises ImportError
    code = cli.main(["train", "CartPole-v1", "--backend", "ray", "--run-dir", str(tmp_path / "run"),
                     "--set", "progress=false"])
    assert code == 2
    err = capsys.readouterr().err
    assert "pip install 'a3c[ray]'" in err and "Traceback" not in err
    assert not (tmp_path / "run").exists()


@pytest.mark.parametrize("address, words", [
    ("not an address", ["is not a Ray address", "HOST:PORT"]),
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


# ----- env errors: a runner's reply carries them, the driver forwards them as the local engines do -----

@pytest.mark.parametrize("job", ["a3c_step", "ga3c_segment"])
def test_env_runner_replies_carry_the_errors_of_envs_that_raised(job, monkeypatch):
    """The EnvRunner class called directly (no Ray): FlakyStepEnv raises every 97th step."""
    from a3c.config import Config
    from a3c.engines.messages import EnvError
    from a3c.engines.ray.engine import env_error_messages
    from a3c.engines.ray.runner import EnvRunner

    monkeypatch.setattr(EnvRunner, "where", lambda self: {})  # setup's reply; needs no Ray here
    runner = EnvRunner(Config.for_env("envs_for_tests:FlakyStepEnv", workers=1, t_max=5))
    runner.setup(0, 0)
    messages = []
    for _ in range(30):  # 150 steps
        messages += env_error_messages(3, getattr(runner, job)(0, None))
    assert messages and all(isinstance(m, EnvError) and m.rank == 3 for m in messages)
    assert "ValueError: flaky env: lost its simulator connection" in messages[0].error
    runner.close()


@pytest.mark.slow
def test_local_ray_logs_and_counts_env_errors(run_cli, tmp_path):
    pytest.importorskip("ray")
    run = tmp_path / "run"
    result = run_cli("train", "envs_for_tests:FlakyStepEnv", "--backend", "ray", "--workers", "2",
                     "--time-limit", "5", "--run-dir", run, "--set", "progress=false", "--set", "log_interval_s=0.5",
                     timeout=180)
    assert result.returncode == 0, result.stderr
    events = (run / "events.log").read_text()
    assert events.count("raised (rebuilt it;") == 1, events  # one traceback for the kind
    assert "ValueError: flaky env: lost its simulator connection" in events
    rows = _metrics(run)
    assert int(rows[-1]["env_errors"]) > 1 and int(rows[-1]["restarts"]) == 0


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


# ----- a 2-node cluster on 127.0.0.1 -----

@contextlib.contextmanager
def _loopback_cluster(worker_nodes: int):
    """(cluster, its worker nodes): a head and `worker_nodes` nodes on 127.0.0.1, one CPU each."""
    pytest.importorskip("ray")
    from ray.cluster_utils import Cluster

    c = Cluster(initialize_head=True, head_node_args=dict(num_cpus=1, include_dashboard=False))
    try:
        workers = [c.add_node(num_cpus=1) for _ in range(worker_nodes)]
        c.wait_for_nodes()
        yield c, workers
    finally:
        if c.head_node is None:  # the test removed the head: what is left may not stop cleanly
            with contextlib.suppress(Exception):
                c.shutdown()
        else:
            c.shutdown()


@pytest.fixture(scope="module")
def cluster():
    with _loopback_cluster(worker_nodes=1) as (c, _):
        yield c


def _env_runner_pids() -> list[int]:
    """EnvRunner actor processes among this test process's descendants (never anyone else's)."""
    import psutil

    pids = []
    for proc in psutil.Process(os.getpid()).children(recursive=True):
        try:
            if any("ray::EnvRunner" in part for part in proc.cmdline()):
                pids.append(proc.pid)
        except psutil.Error:
            pass
    return pids


def _once_training_runs(proc, run: Path, act, within_s: float = 90):
    """Call act() as soon as the run's runners train (events.log says so) until it returns what it
    acted on; that, or None if the run ended or within_s passed first."""
    deadline = time.monotonic() + within_s
    while time.monotonic() < deadline and proc.poll() is None:
        events = run / "events.log"
        if events.exists() and "ray: 2 env runners" in events.read_text():
            done = act()
            if done is not None:
                return done
        time.sleep(0.1)
    return None


def _train_and_act(run_cli, cluster, run: Path, args: list[str], act, timeout: float):
    """Train CartPole with 2 runners on the cluster (plus args), call act() once training runs
    (_once_training_runs), and wait for the run to end; it is killed if the test fails first.
    Returns (what act returned, or None; the exit code; stderr)."""
    proc = run_cli._start(["train", "CartPole-v1", "--backend", "ray", "--ray-address", cluster.address,
                           "--workers", "2", "--run-dir", str(run), "--set", "progress=false", *args], cwd=None)
    err = ""
    try:
        acted = _once_training_runs(proc, run, act)
        if acted is not None:
            _, err = proc.communicate(timeout=timeout)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    return acted, proc.returncode, err


def _kill_a_runner() -> int | None:
    pids = _env_runner_pids()
    if len(pids) != 2:
        return None
    os.kill(pids[0], signal.SIGKILL)
    return pids[0]


@pytest.mark.slow
def test_two_nodes_solve_and_a_killed_runner_is_replaced(run_cli, tmp_path, cluster):
    """Runners on both nodes; one is SIGKILLed as soon as training runs; the run replaces it and solves."""
    run = tmp_path / "run"
    killed, returncode, err = _train_and_act(run_cli, cluster, run, ["--seed", "2", "--total-steps", "600000"],
                                             _kill_a_runner, timeout=150)
    assert killed is not None, "no env runner to kill"
    assert returncode == 0, err
    summary = _summary(run)
    assert summary["solved"], summary
    events = (run / "events.log").read_text()
    assert "ray: 2 env runners on 2 node(s)" in events
    assert "env runner" in events and "replaced it (incarnation 1)" in events
    rows = _metrics(run)
    assert _most(rows, "nodes") == 2 and _most(rows, "restarts") >= 1


@pytest.mark.slow
def test_resume_a_ray_run(run_cli, tmp_path, cluster):
    run = tmp_path / "run"
    base = ["--backend", "ray", "--ray-address", cluster.address, "--set", "progress=false"]
    first = run_cli("train", "CartPole-v1", "--workers", "2", "--total-steps", "12000", "--target-return", "off",
                    "--run-dir", run, *base, timeout=120)
    assert first.returncode == 0, first.stderr
    assert _summary(run)["stop_reason"] == "total_steps"
    second = run_cli("train", "--resume", run, "--total-steps", "24000", *base, timeout=120)
    assert second.returncode == 0, second.stderr
    summary = _summary(run)
    assert summary["stop_reason"] == "total_steps" and summary["env_steps"] >= 24000
    events = (run / "events.log").read_text()
    assert "resumed from" in events and events.count("ray: 2 env runners") == 2


@pytest.mark.slow
def test_ga3c_on_ray_solves_cartpole_with_vtrace(run_cli, tmp_path, cluster):
    run = tmp_path / "run"
    result = run_cli("train", "CartPole-v1", "--algo", "ga3c", "--backend", "ray", "--ray-address",
                     cluster.address, "--workers", "2", "--seed", "0", "--total-steps", "1000000",
                     "--run-dir", run, "--set", "progress=false", timeout=180)
    assert result.returncode == 0, result.stderr
    assert _summary(run)["solved"]
    assert "vtrace = true" in (run / "config.toml").read_text()
    rows = _metrics(run)
    assert _most(rows, "nodes") == 2 and _most(rows, "policy_lag") >= 0


@pytest.mark.slow
def test_recurrent_ga3c_on_ray_learns_a_cue_that_only_memory_holds(run_cli, tmp_path):
    """memory_envs:CueRecall pays +1 for recalling a cue seen 4 steps before the query, which looks
    the same whichever the cue was: a feed-forward policy earns 0 on average (test_ga3c_lstm.py
    pins that), and only state carried from step to step, and across the runners' segments
    (5-step episodes in 8-step segments), earns 0.9. A local Ray: its runners inherit tests/ on
    PYTHONPATH from the `a3c train` process that starts it."""
    pytest.importorskip("ray")
    run = tmp_path / "run"
    settings = [arg for key, value in GA3C_SETTINGS.items()
                for arg in ("--set", f"{key}={value if isinstance(value, str) else json.dumps(value)}")]
    result = run_cli("train", "memory_envs:CueRecall", "--algo", "ga3c", "--backend", "ray", "--seed", "0",
                     "--total-steps", "400000", "--time-limit", "90", "--run-dir", run, "--set", "progress=false",
                     "--set", "recurrent=true", *settings, timeout=240)
    assert result.returncode == 0, result.stderr
    summary = _summary(run)
    assert summary["stop_reason"] == "target_reached" and summary["best_mean_return_100"] >= 0.9, summary
    config = (run / "config.toml").read_text()
    assert "recurrent = true" in config and "vtrace = true" in config


@pytest.mark.slow
def test_ray_a3c_keeps_the_observation_statistics_of_every_runner(run_cli, tmp_path, cluster):
    """normalize_obs and normalize_reward on Ray: each runner's rollout moments merge in the driver
    (its row), the merged statistics travel with the weights, and the checkpoint holds them all."""
    from a3c.checkpoint import load_checkpoint

    run = tmp_path / "run"
    proc = run_cli("train", "Pendulum-v1", "--backend", "ray", "--ray-address", cluster.address, "--workers", "2",
                   "--total-steps", "6000", "--target-return", "off", "--set", "normalize_obs=true",
                   "--set", "normalize_reward=true", "--run-dir", run, "--set", "progress=false", timeout=120)
    assert proc.returncode == 0, proc.stderr
    sidecar, tensors, _ = load_checkpoint(run)
    assert tensors["obs_norm.count"].item() == sidecar["counters"][0] >= 6000
    assert 0.3 < tensors["obs_norm.var"][0].item() < 0.7  # cos(theta) of a pendulum that mostly swings
    # One set of return statistics for the run: every step of both runners, once.
    assert tensors["reward_norm.count"].item() == sidecar["counters"][0]
    assert tensors["reward_norm.m2"].item() > 0


# ----- a node lost mid-run (3 nodes on 127.0.0.1, one CPU each, two runners) -----

@pytest.fixture
def three_nodes():
    """A head and two worker nodes; the test removes one, so the cluster is its own."""
    with _loopback_cluster(worker_nodes=2) as (c, workers):
        yield c, workers


def _worker_node_holding_a_runner(nodes) -> object | None:
    """The worker node whose raylet started an EnvRunner process (actors are its raylet's children)."""
    import psutil

    runners = set(_env_runner_pids())
    for node in nodes:
        raylet = psutil.Process(node.all_processes["raylet"][0].process.pid)
        if runners & {p.pid for p in raylet.children(recursive=True)}:
            return node
    return None


@pytest.mark.slow
def test_a_lost_node_s_runner_is_replaced_on_the_others_and_the_run_solves(run_cli, tmp_path, three_nodes):
    cluster, workers = three_nodes
    run = tmp_path / "run"

    def remove_a_runner_s_node():
        node = _worker_node_holding_a_runner(workers)
        if node is not None:
            cluster.remove_node(node, allow_graceful=False)  # as a machine that drops off the network
        return node

    lost, returncode, err = _train_and_act(run_cli, cluster, run, ["--seed", "3", "--total-steps", "800000"],
                                           remove_a_runner_s_node, timeout=240)
    assert lost is not None, "no worker node held a runner"
    assert returncode == 0, err
    summary = _summary(run)
    assert summary["solved"], summary
    # Two runners at a time, on three nodes over the run: the lost one and the two that were left.
    facts = summary["engine"]
    assert facts["env_runners"] == 2 and facts["nodes"] == 3 and facts["nodes_lost"] == 1, facts
    assert facts["restarts"] >= 1
    events = (run / "events.log").read_text()
    assert "left the cluster" in events and "replaced" in events, events
    assert "(incarnation 1) runs on node" in events, events


# ----- the head node lost mid-run: it ends as a local crash does, and --resume continues -----

@pytest.fixture
def head_and_worker():
    """A head node and a worker node of one CPU each; the test removes the head."""
    with _loopback_cluster(worker_nodes=1) as (c, _):
        yield c


@pytest.mark.slow
def test_a_lost_head_node_ends_with_a_checkpoint_and_summary_and_resume_continues(run_cli, tmp_path, head_and_worker):
    cluster = head_and_worker
    run = tmp_path / "run"

    def remove_the_head_after_some_training():
        if not (run / "metrics.csv").exists() or len(_metrics(run)) < 2:
            return None
        cluster.remove_node(cluster.head_node, allow_graceful=False)
        return time.monotonic()

    args = ["--seed", "4", "--total-steps", "5000000", "--target-return", "off"]
    removed_at, returncode, err = _train_and_act(run_cli, cluster, run, args, remove_the_head_after_some_training,
                                                 timeout=120)
    assert removed_at is not None, "the run never trained"
    took = time.monotonic() - removed_at
    assert returncode == 1, err
    assert "lost the Ray cluster's head node" in err and "--resume" in err and "Traceback" not in err, err
    # Ray's own end of a driver without its GCS comes after 60 s, with nothing written.
    assert took < 45, f"the run took {took:.0f} s to stop"
    summary = _summary(run)
    assert summary["stop_reason"] == "error" and summary["env_steps"] > 0, summary
    assert "lost the Ray cluster's head node" in (run / "events.log").read_text()

    # A new Ray (local, on this machine) takes the run over where its checkpoint left it.
    stopped_at = summary["env_steps"]
    result = run_cli("train", "--resume", run, "--ray-address", "local",
                     "--total-steps", str(stopped_at + 30_000), timeout=180)
    assert result.returncode == 0, result.stderr
    resumed = _summary(run)
    assert resumed["stop_reason"] == "total_steps" and resumed["env_steps"] >= stopped_at + 30_000, resumed
    assert "resumed from" in (run / "events.log").read_text()
