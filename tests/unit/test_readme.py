"""The README read, not run: its fenced blocks and the set-up lines it marks, the cluster recipe's
steps, and the `if __name__ == "__main__":` check that the Python API example depends on.
(Its blocks run as written: run/test_readme_examples.py; the cluster recipe on two nodes:
engines/test_ray_readme_recipe.py.)"""

from __future__ import annotations

import re
from pathlib import Path

README = Path(__file__).resolve().parents[2] / "README.md"


FENCE = re.compile(r"(?P<before>[^\n]*)\n```(?P<lang>[a-z]*)\n(?P<body>.*?)\n```", re.S)


SKIP = "<!-- readme-test: skip"


def readme_blocks() -> list[tuple[str, str, bool]]:
    """(language, code, skipped) for every fenced block, in order."""
    return [(m["lang"], m["body"], m["before"].startswith(SKIP)) for m in FENCE.finditer(README.read_text())]


def runnable(lang: str) -> list[str]:
    return [body for block_lang, body, skipped in readme_blocks() if block_lang == lang and not skipped]


def test_the_readme_has_blocks_to_run_and_marks_only_the_set_up_lines():
    blocks = readme_blocks()
    skipped = [body for _, body, skip in blocks if skip]
    # The two set-up lines at the top, and the pixels section's install-and-train-for-hours lines.
    assert len(skipped) == 3 and all("pip install" in body for body in skipped)
    assert runnable("python") and runnable("bash")
    assert {lang for lang, _, _ in blocks} <= {"", "python", "bash"}


def test_guard_detection_reads_the_script():
    import ast

    from a3c.guard import _guarded

    source = "import a3c\nif __name__ == '__main__':\n    a3c.train(c)\nx = 1\nif '__main__' == __name__:\n    f()\n"
    tree = ast.parse(source)
    assert _guarded(tree, 3) and _guarded(tree, 6)
    assert not _guarded(tree, 1) and not _guarded(tree, 4)


def recipe_commands() -> list[str]:
    """The shell lines of the README block after its `<!-- cluster recipe -->` marker."""
    text = README.read_text()
    block = re.search(r"<!-- cluster recipe -->\s*```\n(.*?)```", text, re.S)
    assert block, "README.md has no cluster recipe block"
    return [line for line in block.group(1).splitlines() if line.strip() and not line.startswith("#")]


def test_the_recipe_has_every_step():
    commands = recipe_commands()
    assert [c.split()[:2] for c in commands] == [["ray", "start"], ["ray", "start"], ["a3c", "train"], ["ray", "stop"]]
    assert "--head" in commands[0] and "--address=HEAD_IP:6379" in commands[1]
    assert "--ray-address HEAD_IP:6379" in commands[2]
