"""Every `bash` and `python` block of the documentation site (docs/**/*.md) runs as written, as
the README's blocks do (run/test_readme_examples.py): each in an empty directory, python blocks as
a saved script and piped on stdin, bash blocks through bash with `a3c` on PATH. A block right
after a `<!-- readme-test: skip (why) -->` line is not run. Blocks in another language (`text`,
`toml`) or none are synopses and files, not commands.

(That each block is collected here or marked with a reason, without running any:
unit/test_docs_blocks.py.)"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
DOCS = ROOT / "docs"

# As in run/test_readme_examples.py: the line before the fence, the language, the body.
FENCE = re.compile(r"(?P<before>[^\n]*)\n```(?P<lang>[a-z]*)\n(?P<body>.*?)\n```", re.S)
SKIP = re.compile(r"<!-- readme-test: skip \((?P<reason>.+)\) -->")
RUNNABLE = ("bash", "python")


@dataclass(frozen=True)
class Block:
    page: str  # relative to the repository root
    index: int  # its place among the page's fenced blocks
    lang: str
    body: str
    skip: str | None  # the reason given in the skip marker, or None: the block runs

    @property
    def id(self) -> str:
        return f"{self.page}:{self.index}"


def doc_pages() -> list[Path]:
    return sorted(p for p in DOCS.rglob("*.md") if "hooks" not in p.relative_to(DOCS).parts)


def page_blocks(path: Path) -> list[Block]:
    page = path.relative_to(ROOT).as_posix()
    blocks = []
    for i, m in enumerate(FENCE.finditer(path.read_text())):
        skip = SKIP.match(m["before"].strip())
        blocks.append(Block(page, i, m["lang"], m["body"], skip["reason"] if skip else None))
    return blocks


def doc_blocks() -> list[Block]:
    return [block for path in doc_pages() for block in page_blocks(path)]


def runnable(lang: str) -> list[Block]:
    return [b for b in doc_blocks() if b.lang == lang and b.skip is None]


def user_env() -> dict:
    env = dict(os.environ)
    # `a3c` is the console script next to this interpreter (the venv's bin), as after pip install.
    env["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), env.get("PATH", "")])
    return env


@pytest.mark.slow
@pytest.mark.parametrize("block", runnable("python"), ids=lambda b: b.id)
def test_python_blocks_run_as_a_script_and_piped_on_stdin(block, tmp_path):
    script = tmp_path / "example.py"
    script.write_text(block.body + "\n")
    as_script = subprocess.run([sys.executable, str(script)], cwd=tmp_path, env=user_env(),
                               capture_output=True, text=True, timeout=600)
    assert as_script.returncode == 0, as_script.stderr[-3000:]
    piped = tmp_path / "piped"
    piped.mkdir()
    on_stdin = subprocess.run([sys.executable, "-"], input=block.body + "\n", cwd=piped, env=user_env(),
                              capture_output=True, text=True, timeout=600)
    assert on_stdin.returncode == 0, on_stdin.stderr[-3000:]
    assert "died" not in as_script.stderr + on_stdin.stderr  # no worker re-ran the script


@pytest.mark.slow
@pytest.mark.parametrize("block", runnable("bash"), ids=lambda b: b.id)
def test_bash_blocks_run_in_a_shell(block, tmp_path):
    proc = subprocess.run(["bash", "-e", "-o", "pipefail", "-c", block.body], cwd=tmp_path,
                          env=user_env(), capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
