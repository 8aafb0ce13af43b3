"""Shared test helpers: running the `a3c` command line in a subprocess."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

TESTS_DIR = Path(__file__).resolve().parent


class Cli:
    """Runs `python -m a3c ARGS...` as a user would. tests/ is on PYTHONPATH so custom envs
    such as `envs_for_tests:MultiDiscreteActionEnv` import in the child."""

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
            for args, proc in zip(commands, procs):
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
