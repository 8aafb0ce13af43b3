"""kill -9 of random workers (A3C) and agents (GA3C), 20 times during a CartPole run: each is
restarted, the restarts are counted, and the run still reaches the target."""

import random
import re
import signal
import time

import pytest
from fault_helpers import age_s, children_of_fork_server, output, read_metrics, start_train, summary, wait_for

KILLS = 20


@pytest.mark.slow
@pytest.mark.parametrize("algo", ["a3c", "ga3c"])
def test_20_kills_of_workers_or_agents_and_the_run_still_solves_cartpole(algo, tmp_path):
    rng = random.Random(f"kill-children-{algo}")
    run, log = tmp_path / "run", tmp_path / "train"
    proc = start_train("CartPole-v1", "--algo", algo, "--workers", 2, "--time-limit", 300, "--run-dir", run,
                       "--set", "log_interval_s=0.5",
                       # a 200-episode solved window: the run outlasts the 20 kills on a fast machine too
                       "--set", "target_window=200", *(["--set", "dynamic_adjust=false"] if algo == "ga3c" else []),
                       log=log)
    killed = []
    try:
        wait_for(lambda: len(children_of_fork_server(proc.pid)) >= 2 or proc.poll() is not None, 90)
        while len(killed) < KILLS and proc.poll() is None:
            # A child that has been at work a while (one killed on start-up, every time, is a crash
            # loop, which stops the run by design: test_supervision covers that).
            victims = [p for p in children_of_fork_server(proc.pid) if age_s(p) > 0.8]
            if victims:
                victim = rng.choice(victims)
                victim.send_signal(signal.SIGKILL)
                killed.append(victim.pid)
            time.sleep(rng.uniform(0.05, 0.3))
        assert proc.wait(timeout=320) == 0, output(log)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert len(killed) == KILLS, f"the run ended after {len(killed)} kills: {summary(run)}"
    done = summary(run)
    assert done["stop_reason"] == "target_reached" and done["solved"], done
    events = (run / "events.log").read_text()
    role = "worker" if algo == "a3c" else "agent"
    for pid in killed:
        assert re.search(rf"{role} \d+ \(pid {pid}\) died with exit code -9; restarting it", events), (pid, events)
    assert int(read_metrics(run)[-1]["restarts"]) == KILLS
    assert "crashed" not in events and "run failed" not in events, events
    print(f"\n[kill {role}s, {algo}] kills={len(killed)} survived={len(killed)} restarts counted="
          f"{read_metrics(run)[-1]['restarts']} solved in {done['time_to_target_s']} s")
