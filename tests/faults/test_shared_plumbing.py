"""A child killed (or stopped) inside plumbing it shares with the run blocks nobody.

What a worker or agent shares with the other processes of a run: the step counters, the
channel its reports travel on, and (A3C) the stop signal. Each test makes one child die inside
one of them the first time it gets there (fakes.DiesInsideSharedPlumbingEnv: SIGKILL
inside the counters' add() or the stop check, SIGKILL half-way through writing a report, SIGSTOP
as it starts writing one), then checks that the run goes on to its step budget (a budget, not a
time limit: a loaded machine slows the run, it does not fail it), that the other children's reports
keep arriving until the end, that the counters keep counting, and that the child is gone afterwards.

With a lock shared by every child (a multiprocessing Array's or Event's, or the write lock of one
multiprocessing.Queue for all reports) each of these wedges the run: the lock stays taken for good.
"""

import subprocess
import time

import psutil
import pytest
from helpers import alive, run_tree

from fakes import output, read_metrics, start_train, summary

STEPS = 5000


def episodes(run):
    import csv

    with open(run / "episodes.csv", newline="") as fh:
        return list(csv.DictReader(fh))


@pytest.mark.slow
@pytest.mark.parametrize("algo,fault", [
    ("a3c", "counters"), ("a3c", "stop_check"), ("a3c", "report"), ("a3c", "report_stopped"),
    ("ga3c", "counters"), ("ga3c", "report"),
])
def test_a_child_that_dies_inside_shared_plumbing_blocks_nobody(algo, fault, tmp_path):
    run, marker, log = tmp_path / "run", tmp_path / "injected", tmp_path / "log"
    proc = start_train("fakes:DiesInsideSharedPlumbingEnv", "--algo", algo, "--workers", 2,
                       "--total-steps", STEPS, "--target-return", 1e9, "--run-dir", run,
                       "--set", "log_interval_s=0.5", "--set", "dynamic_adjust=false",
                       # rollouts of t_max 5 steps of one env, counted whole (the check below)
                       "--set", "envs_per_worker=1", "--set", "t_max=5",
                       log=log, env_vars={"A3C_TEST_FAULT": f"{fault}:{marker}"})
    try:
        code = proc.wait(timeout=180)
    except subprocess.TimeoutExpired:
        proc.kill()  # its children die with it (parent-death signal)
        proc.wait()
        pytest.fail(f"the run hung after a child died inside the {fault} plumbing:\n{output(log)}")
    assert code == 0, output(log)
    victim = int(marker.read_text())  # the fault was injected, in this child

    assert summary(run)["stop_reason"] == "total_steps"
    # The other children's reports arrived until the end, not just until the fault.
    late = [e for e in episodes(run) if int(e["env_steps"]) >= 0.75 * STEPS]
    assert late, f"no episode reported in the last quarter of the run:\n{output(log)}"
    rows = read_metrics(run)
    if fault != "report_stopped":  # a SIGKILLed child is restarted, and the counters go on
        restarted = [i for i, row in enumerate(rows) if int(row["restarts"]) >= 1]
        assert restarted, rows
        first = rows[restarted[0]]
        assert int(rows[-1]["env_steps"]) > int(first["env_steps"]) and int(rows[-1]["updates"]) > int(first["updates"])
        assert "died with exit code -9; restarting it" in (run / "events.log").read_text()
    steps = [int(row["env_steps"]) for row in rows]
    assert steps == sorted(steps) and steps[-1] == summary(run)["env_steps"]
    # Whole rollouts (t_max=5 steps of one env) are counted, or none of one: a kill inside add()
    # may lose part of one rollout's count, nothing more.
    assert summary(run)["env_steps"] % 5 == 0
    assert not psutil.pid_exists(victim) or psutil.Process(victim).status() == psutil.STATUS_ZOMBIE


@pytest.mark.slow
@pytest.mark.parametrize("algo", ["a3c", "ga3c"])
def test_a_main_process_killed_inside_the_counters_leaves_no_process_behind(algo, tmp_path):
    """The main process reads the counters many times a second: a kill -9 that lands inside a read
    must not leave the children waiting on anything it held (the flaky "agent alive 3 s after
    kill -9 of the main process" of the kill-main test)."""
    marker, log = tmp_path / "injected", tmp_path / "log"
    # The main process kills itself at its 40th read of the counters, which it reads on every pass
    # of its loop: a budget of 1M steps keeps the run going far past that on any machine.
    proc = start_train("fakes:DiesInsideSharedPlumbingEnv", "--algo", algo, "--workers", 2,
                       "--total-steps", 1_000_000, "--target-return", 1e9, "--run-dir", tmp_path / "run",
                       "--set", "dynamic_adjust=false", log=log, env_vars={"A3C_TEST_FAULT": f"main_counters:{marker}"})
    seen: dict[int, psutil.Process] = {}
    while proc.poll() is None:  # every process of the run, until the main process kills itself
        try:
            for member in run_tree(proc.pid):
                seen.setdefault(member.pid, member)
        except psutil.Error:
            pass
        time.sleep(0.05)
    assert proc.returncode == -9 and int(marker.read_text()) == proc.pid, output(log)
    assert len(others := [p for p in seen.values() if p.pid != proc.pid]) >= 3, seen
    deadline = time.monotonic() + 3.0
    while alive(others) and time.monotonic() < deadline:
        time.sleep(0.05)
    left = alive(others)
    for survivor in left:
        survivor.kill()
    assert not left, f"alive 3 s after the main process died inside a counters read: {left}"
