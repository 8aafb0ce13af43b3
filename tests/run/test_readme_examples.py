"""Every `bash` and `python` block of the README runs as written, as a new user would run it:
each in an empty directory, python blocks as a saved script and piped on stdin, bash blocks
through bash with `a3c` on PATH. A block right after a `<!-- readme-test: skip (why) -->`
line is not run (the set-up lines, which make a virtual environment and install packages).
Blocks without a language are synopses, not commands.

Also: a script without the `if __name__ == "__main__":` guard gets one clear error, unless it
starts no process."""

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

README = Path(__file__).resolve().parents[2] / "README.md"


FENCE = re.compile(r"(?P<before>[^\n]*)\n```(?P<lang>[a-z]*)\n(?P<body>.*?)\n```", re.S)


SKIP = "<!-- readme-test: skip"


def readme_blocks() -> list[tuple[str, str, bool]]:
    """(language, code, skipped) for every fenced block, in order."""
    return [(m["lang"], m["body"], m["before"].startswith(SKIP)) for m in FENCE.finditer(README.read_text())]


def runnable(lang: str) -> list[str]:
    return [body for block_lang, body, skipped in readme_blocks() if block_lang == lang and not skipped]


def user_env() -> dict:
    env = dict(os.environ)
    # `a3c` is the console script next to this interpreter (the venv's bin), as after pip install.
    env["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), env.get("PATH", "")])
    return env


@pytest.mark.slow
@pytest.mark.parametrize("index", range(len(runnable("python"))))
def test_python_blocks_run_as_a_script_and_piped_on_stdin(index, tmp_path):
    code = runnable("python")[index]
    script = tmp_path / "example.py"
    script.write_text(code + "\n")
    as_script = subprocess.run([sys.executable, str(script)], cwd=tmp_path, env=user_env(),
                               capture_output=True, text=True, timeout=600)
    assert as_script.returncode == 0, as_script.stderr[-3000:]
    piped = tmp_path / "piped"
    piped.mkdir()
    on_stdin = subprocess.run([sys.executable, "-"], input=code + "\n", cwd=piped, env=user_env(),
                              capture_output=True, text=True, timeout=600)
    assert on_stdin.returncode == 0, on_stdin.stderr[-3000:]
    assert "died" not in as_script.stderr + on_stdin.stderr  # no worker re-ran the script


@pytest.mark.slow
@pytest.mark.parametrize("index", range(len(runnable("bash"))))
def test_bash_blocks_run_in_a_shell(index, tmp_path):
    proc = subprocess.run(["bash", "-e", "-o", "pipefail", "-c", runnable("bash")[index]], cwd=tmp_path,
                          env=user_env(), capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]


UNGUARDED = """\
import a3c

config = a3c.Config.for_env("CartPole-v1", total_steps=2000)
result = a3c.train(config)
"""

UNGUARDED_IN_A_FUNCTION = """\
import a3c

def main():
    a3c.train(a3c.Config.for_env("CartPole-v1", total_steps=2000))

main()
"""

DETERMINISTIC_UNGUARDED = """\
import a3c

result = a3c.train(a3c.Config.for_env("CartPole-v1", total_steps=500, deterministic=True, workers=1,
                                      run_dir="runs/det", progress=False, tensorboard=False))
print(result.stop_reason)
"""


@pytest.mark.parametrize("code, line", [(UNGUARDED, 4), (UNGUARDED_IN_A_FUNCTION, 6)],
                         ids=["top-level", "in-a-function"])
def test_a_script_without_the_main_guard_gets_one_clear_error_and_no_run_dir(code, line, tmp_path):
    script = tmp_path / "train_it.py"
    script.write_text(code)
    proc = subprocess.run([sys.executable, str(script)], cwd=tmp_path, env=user_env(), capture_output=True,
                          text=True, timeout=300)
    assert proc.returncode != 0
    assert f"train_it.py, line {line}" in proc.stderr and 'if __name__ == "__main__":' in proc.stderr
    assert "died" not in proc.stderr  # stopped before any worker started
    assert not (tmp_path / "runs").exists()


def test_the_guard_is_not_needed_when_no_process_is_started(tmp_path):
    script = tmp_path / "det.py"
    script.write_text(DETERMINISTIC_UNGUARDED)
    proc = subprocess.run([sys.executable, str(script)], cwd=tmp_path, env=user_env(), capture_output=True,
                          text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert proc.stdout.strip().splitlines()[-1] == "total_steps"
