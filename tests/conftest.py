"""The one conftest of the suite, for every directory under tests/ (unit, envs, engines, run, faults,
learning): the Ray environment, tests/ on sys.path (so that `import fakes` works from any of them),
and running the `a3c` command line in a subprocess."""

import atexit
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

# Ray (engines/test_ray_*.py, learning/test_ray_learning.py), before anything imports it, inherited
# by every Ray process the tests start: nodes on 127.0.0.1 only, no token auth (head and joining
# nodes would disagree), no telemetry, and a private, short temp dir (its ray_current_cluster and
# socket paths are ours alone, so `auto` never finds another session's cluster).
os.environ["RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER"] = "0"
os.environ["RAY_AUTH_MODE"] = "disabled"
os.environ["RAY_USAGE_STATS_ENABLED"] = "0"
os.environ.pop("RAY_ADDRESS", None)
os.environ["RAY_TMPDIR"] = tempfile.mkdtemp(prefix="ray", dir="/tmp" if os.path.isdir("/tmp") else None)
atexit.register(shutil.rmtree, os.environ["RAY_TMPDIR"], ignore_errors=True)

import pytest  # noqa: E402 (after the Ray environment above, which must come before anything imports ray)

TESTS_DIR = Path(__file__).resolve().parent
# tests/fakes.py is imported as `fakes` from every directory of the suite, whatever pytest's import mode.
if str(TESTS_DIR) not in sys.path:
    sys.path.insert(0, str(TESTS_DIR))


class Cli:
    """Runs `python -m a3c ARGS...` as a user would. tests/ is on PYTHONPATH so custom envs
    such as `fakes:MultiDiscreteActionEnv` (tests/fakes.py) import in the child."""

    def __init__(self):
        self.env = dict(os.environ)
        self.env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(TESTS_DIR), self.env.get("PYTHONPATH")]))
        self.env.setdefault("SDL_VIDEODRIVER", "dummy")  # pygame renders off-screen for --video

    def _start(self, args, cwd) -> subprocess.Popen:
        return subprocess.Popen(
            [sys.executable, "-m", "a3c", *map(str, args)], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
            text=True, env=self.env, cwd=cwd,
        )

    def __call__(self, *args, timeout: float = 120, cwd=None) -> subprocess.CompletedProcess:
        return self.many(args, timeout=timeout, cwd=cwd)[0]

    def many(self, *commands, timeout: float = 120, cwd=None) -> list[subprocess.CompletedProcess]:
        """Run several independent commands at once (each pays the torch import; the cores
        can pay it together); returns their results in order."""
        procs = [self._start(args, cwd) for args in commands]
        results = []
        try:
            for proc in procs:
                out, err = proc.communicate(timeout=timeout)
                results.append(subprocess.CompletedProcess(proc.args, proc.returncode, out, err))
        finally:
            for proc in procs:
                if proc.poll() is None:
                    proc.kill()
                    proc.wait()
        return results


@pytest.fixture(scope="session")
def run_cli() -> Cli:
    return Cli()
