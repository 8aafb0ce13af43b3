"""The documentation read, not run: every runnable block of docs/ and the README is either run by
the example tests or marked to skip with a reason; the figures agree with benchmarks/results; the
README stays short; every page is in the site's navigation. Nothing here trains or starts a
process. (The blocks run: run/test_docs_examples.py and run/test_readme_examples.py.)"""

from __future__ import annotations

import re
from pathlib import Path

from fakes import load_file

ROOT = Path(__file__).resolve().parents[2]
README = ROOT / "README.md"

examples = load_file(ROOT / "tests" / "run" / "test_docs_examples.py", "docs_examples_under_test")


def fenced_blocks(text: str) -> list[tuple[str, str, str]]:
    """(line before, language, body) of every fenced block, read line by line: a second reading,
    apart from the example test's regular expression, so that a block it would miss shows here."""
    blocks, lines, i = [], text.splitlines(), 0
    while i < len(lines):
        m = re.match(r"^```([\w-]*)\s*$", lines[i])
        if not m:
            i += 1
            continue
        start = i
        i += 1
        while i < len(lines) and lines[i].rstrip() != "```":
            i += 1
        blocks.append((lines[start - 1] if start else "", m[1], "\n".join(lines[start + 1 : i])))
        i += 1
    return blocks


def test_every_runnable_docs_block_is_run_or_skipped_with_a_reason():
    collected = {(b.page, b.body) for lang in examples.RUNNABLE for b in examples.runnable(lang)}
    pages = examples.doc_pages()
    assert pages, "docs/ has no pages"
    seen = 0
    for path in pages:
        page = path.relative_to(ROOT).as_posix()
        for before, lang, body in fenced_blocks(path.read_text()):
            allowed = ("", "text", "toml", *examples.RUNNABLE)
            assert lang in allowed, f"{page}: a ```{lang} block: run it, or make it text"
            if lang not in examples.RUNNABLE:
                continue
            seen += 1
            skip = examples.SKIP.match(before.strip())
            if skip:
                assert skip["reason"].strip(), f"{page}: a skip marker without a reason"
                assert (page, body) not in collected
            else:
                assert (page, body) in collected, f"{page}: a {lang} block the example test does not collect"
    assert seen == len([b for b in examples.doc_blocks() if b.lang in examples.RUNNABLE])


def test_the_readme_blocks_are_run_or_skipped_with_a_reason():
    readme_runnable = []
    for before, lang, body in fenced_blocks(README.read_text()):
        assert lang in ("", "python", "bash"), f"README: a ```{lang} block"
        if lang in examples.RUNNABLE:
            skip = examples.SKIP.match(before.strip())
            assert skip is None or skip["reason"].strip()
            if skip is None:
                readme_runnable.append(body)
    assert readme_runnable


def test_a_docs_block_skipped_as_the_readmes_is_the_readmes_word_for_word():
    readme = {body for _, _, body in fenced_blocks(README.read_text())}
    borrowed = [b for b in examples.doc_blocks() if b.skip and "README's" in b.skip]
    assert borrowed
    for block in borrowed:
        assert block.body in readme, f"{block.id} says it is the README's, and the README has no such block"


def test_the_docs_have_runnable_blocks_that_train_little():
    blocks = examples.runnable("bash") + examples.runnable("python")
    assert len(blocks) >= 5
    for block in blocks:
        # The suite runs each: budgets stay at the README's CartPole scale (long runs are skipped).
        for steps in re.findall(r"--total-steps (\d+)|total_steps=([\d_]+)", block.body):
            assert int("".join(steps).replace("_", "")) <= 50_000, block.id
        for seconds in re.findall(r"--time-limit (\d+)", block.body):
            assert int(seconds) <= 30, block.id


def test_the_figures_agree_with_the_results_data():
    figures = load_file(ROOT / "benchmarks" / "figures.py", "figures_under_test")
    assert figures.check() == [], "run `python benchmarks/figures.py`"


def test_the_figures_check_finds_one_changed_digit(tmp_path):
    """The check reads the numbers, not only the shape: the README's headline table with one digit
    of its first row's first figure changed (in a copy of the README, the only page of a tree of its own) fails
    it, and the same page unchanged passes."""
    figures = load_file(ROOT / "benchmarks" / "figures.py", "figures_under_test")
    text = README.read_text()
    block = next(figures.BLOCK.finditer(text))
    first_row = text.index("\n| ", text.index("| --- |", block.start("body")))
    second_cell = text.index(" | ", first_row + 3)  # past the task's name: a measured figure
    at = next(i for i in range(second_cell, block.end("body")) if text[i].isdigit())
    changed = text[:at] + str((int(text[at]) + 1) % 10) + text[at + 1 :]
    (tmp_path / "docs").mkdir()
    (tmp_path / "benchmarks" / "results").mkdir(parents=True)
    page = tmp_path / "README.md"
    page.write_text(text)
    assert figures.check(tmp_path) == []
    page.write_text(changed)
    assert figures.check(tmp_path) == [f"README.md: {block['name']}"]


def test_every_figure_block_names_a_figure_and_is_closed():
    figures = load_file(ROOT / "benchmarks" / "figures.py", "figures_under_test")
    for path in figures.pages():
        text = path.read_text()
        opened = re.findall(r"^<!-- figures:([\w-]+) -->$", text, re.M)
        assert len(opened) == len(re.findall(r"^<!-- /figures -->$", text, re.M)), path
        assert set(opened) <= set(figures.BLOCKS), path


def test_the_readme_is_short():
    assert len(README.read_text().splitlines()) <= 250


def test_every_docs_page_is_in_the_navigation():
    nav = (ROOT / "mkdocs.yml").read_text()
    listed = set(re.findall(r":\s*([\w./-]+\.md)\s*$", nav, re.M))
    pages = {p.relative_to(ROOT / "docs").as_posix() for p in examples.doc_pages()}
    assert pages == listed, f"not in mkdocs.yml's nav: {sorted(pages - listed)}; no such page: {sorted(listed - pages)}"
