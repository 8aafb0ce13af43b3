"""kill -9 of a run's main process at random moments: no process of the run outlives it by
more than 3 s, and `--resume` carries on from the newest intact checkpoint, counters intact.

Each kill is of a fresh or resumed run, so one chain of runs serves all kills of an engine;
the last resume runs to its step budget and finishes normally."""

import random
import re
import signal
import time

import pytest
from helpers import alive, children_of_fork_server, run_tree

from a3c.checkpoint import load_checkpoint
from fakes import output, read_metrics, start_train, summary, wait_for

KILLS_PER_ENGINE = 5  # x 2 engines: the 10 kills of the main process
ORPHAN_GRACE_S = 3.0


@pytest.mark.slow
@pytest.mark.parametrize("algo", ["a3c", "ga3c"])
def test_kill_9_of_the_main_process_leaves_nothing_and_resume_carries_on(algo, tmp_path):
    rng = random.Random(f"kill-main-{algo}")
    run = tmp_path / "run"
    # An unreachable target and a huge budget: only the kill ends these runs. Checkpoints come
    # often so that kills land before, during and after checkpoint writes.
    first = ["CartPole-v1", "--algo", algo, "--workers", 2, "--target-return", 1e9, "--total-steps", 10**9,
             "--run-dir", run, "--set", "checkpoint_first_s=0.5", "--set", "checkpoint_interval_s=1.5",
             "--set", "log_interval_s=0.5"]
    orphans, resumed_at = [], []
    for kill in range(KILLS_PER_ENGINE):
        log = tmp_path / f"run{kill}"
        proc = start_train(*(first if kill == 0 else ["--resume", run]), log=log)
        # Once its workers run, a random moment: starting up, stepping, checkpointing.
        wait_for(lambda proc=proc: len(children_of_fork_server(proc.pid)) >= 2 or proc.poll() is not None, 90)
        assert proc.poll() is None, output(log)
        time.sleep(rng.uniform(0.0, 3.0))
        tree = run_tree(proc.pid)  # main, fork server, resource tracker, workers/agents
        names = {}
        for member in tree:
            try:
                names[member.pid] = " ".join(member.cmdline())[-60:]
            except Exception:
                names[member.pid] = "?"
        assert len(tree) >= 4, tree
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        deadline = time.monotonic() + ORPHAN_GRACE_S
        while alive(tree) and time.monotonic() < deadline:
            time.sleep(0.05)
        left = alive(tree)
        orphans += [(p.pid, names.get(p.pid)) for p in left]
        for survivor in left:  # do not leave them to spoil the other tests
            survivor.kill()
        # What --resume will find: the newest intact checkpoint, never older than the one before.
        sidecar, _, _ = load_checkpoint(run)
        steps = sidecar["counters"][0]
        assert not resumed_at or steps >= resumed_at[-1][1]
        resumed_at.append((sidecar["path"], steps))

    # The last resume finishes on a budget just past where it starts.
    log = tmp_path / "final"
    proc = start_train("--resume", run, "--total-steps", resumed_at[-1][1] + 2000, log=log)
    assert proc.wait(timeout=180) == 0, output(log)
    assert orphans == [], f"processes of a killed run still alive after {ORPHAN_GRACE_S} s: {orphans}"

    events = (run / "events.log").read_text()
    for path, steps in resumed_at:  # every resume started from the checkpoint load_checkpoint chose, counters intact
        assert f"resumed from {path} at env_steps={steps}" in events, events
    assert len(re.findall(r"\] resumed from \S+ at env_steps=", events)) == KILLS_PER_ENGINE
    done = summary(run)
    assert done["stop_reason"] == "total_steps" and done["env_steps"] >= resumed_at[-1][1] + 2000
    assert int(read_metrics(run)[-1]["env_steps"]) == done["env_steps"]
    print(f"\n[kill main, {algo}] kills={KILLS_PER_ENGINE} orphans={len(orphans)} runs completed=1 "
          f"resumed at env_steps={[s for _, s in resumed_at]}")
