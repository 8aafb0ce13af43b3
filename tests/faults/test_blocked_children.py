"""Every child dies with a SIGKILLed main process even when it is blocked where it never checks
for a dead parent (a lock, a C call, a stopped process): only the parent-death signal can reach
it, through the fork server, which must therefore die with the main process."""

import os
import signal
import subprocess
import sys
import time

import psutil
import pytest
from helpers import alive

from fakes import TESTS_DIR

MAIN = """
import time
from helpers import prepared_child_that_blocks_forever
from a3c.engines.processes import context

if __name__ == "__main__":
    ctx = context()
    ready = [ctx.Event() for _ in range(2)]
    children = [ctx.Process(target=prepared_child_that_blocks_forever, args=(r,), daemon=True) for r in ready]
    for child in children:
        child.start()
    for r in ready:
        r.wait(60)
    print(*(child.pid for child in children), flush=True)
    time.sleep(600)
"""


@pytest.mark.slow
def test_children_blocked_forever_die_within_3_s_of_the_main_process(tmp_path):
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(TESTS_DIR / "faults"), env.get("PYTHONPATH")]))
    main = subprocess.Popen([sys.executable, "-c", MAIN], stdout=subprocess.PIPE, text=True, env=env, cwd=tmp_path)
    try:
        pids = [int(pid) for pid in main.stdout.readline().split()]
        assert len(pids) == 2
        tree = [psutil.Process(main.pid), *psutil.Process(main.pid).children(recursive=True)]
        assert all(p in [t.pid for t in tree] for p in pids)
        main.send_signal(signal.SIGKILL)
        main.wait()
        deadline = time.monotonic() + 3.0
        while alive(tree) and time.monotonic() < deadline:
            time.sleep(0.05)
        left = alive(tree)
        print(f"\n[blocked children] all {len(tree) - 1} processes of the main one gone "
              f"{3.0 - (deadline - time.monotonic()):.2f} s after its kill -9; left: {len(left)}")
        for survivor in left:
            survivor.kill()
        assert not left, f"alive 3 s after the main process was killed: {[p.cmdline()[-1][:60] for p in left]}"
    finally:
        if main.poll() is None:
            main.kill()
