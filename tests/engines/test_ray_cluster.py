"""The Ray backend on clusters of nodes on 127.0.0.1: runners on both nodes of a 2-node cluster,
a runner killed mid-run, resume, GA3C with V-trace, the observation statistics of every runner,
a lost worker node and a lost head node.

tests/conftest.py sets the Ray environment (loopback, no auth, no telemetry, private RAY_TMPDIR)
before anything imports ray. Every Ray process here is ours: a child of this test process or of
the `a3c train` it runs. Nothing runs `ray stop`."""

from __future__ import annotations

import contextlib
import csv
import json
import os
import signal
import time
from pathlib import Path

import pytest


def _summary(run: Path) -> dict:
    return json.loads((run / "summary.json").read_text())


def _metrics(run: Path) -> list[dict]:
    with open(run / "metrics.csv") as f:
        return list(csv.DictReader(f))


def _most(rows: list[dict], column: str) -> float:
    return max(float(r[column]) for r in rows if r[column] not in ("", None))


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
        return True

    args = ["--seed", "4", "--total-steps", "5000000", "--target-return", "off"]
    removed, returncode, err = _train_and_act(run_cli, cluster, run, args, remove_the_head_after_some_training,
                                              timeout=120)
    assert removed, "the run never trained"
    assert returncode == 1, err
    # The run ended itself, not Ray: Ray's own end of a driver without its GCS (after 60 s) writes
    # none of this, so the message, summary.json and the event say the run noticed the loss first.
    assert "lost the Ray cluster's head node" in err and "--resume" in err and "Traceback" not in err, err
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
