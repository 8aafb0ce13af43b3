"""The `if __name__ == "__main__":` check of `a3c.train`.

Worker and agent processes start from a fork server (or spawn), and each one first imports
the caller's main script again, as `__mp_main__`, to find the functions it may need. A
script that calls a3c.train() in its top-level code, unguarded, would start one more
training run in every child: workers die, the run dies, and a half-made run directory
stays behind. So the main process reads the calling script before it starts anything and
refuses, with one message that names the fix.
"""

from __future__ import annotations

import ast
import multiprocessing
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from types import FrameType

from a3c.errors import UserError


def check_main_guard() -> None:
    """Raise UserError if a3c.train() was reached from a script's unguarded top-level code."""
    frame = sys._getframe(1)
    if multiprocessing.parent_process() is not None and _frame_of_module("__mp_main__", frame) is not None:
        # We are a child importing the caller's script: the main process missed it (no source?).
        raise UserError(_message(getattr(sys.modules.get("__mp_main__"), "__file__", "your script"), None))
    main = sys.modules.get("__main__")
    path = getattr(main, "__file__", None)
    if main is None or not path or not Path(path).is_file():
        return  # stdin, python -c, a REPL or a notebook: children have no script to import again
    top = _frame_of_module(main.__name__, frame, globals_dict=vars(main))
    if top is None:
        return
    try:
        tree = ast.parse(Path(path).read_text(), filename=path)
    except (OSError, SyntaxError, ValueError, UnicodeDecodeError):
        return
    if not _guarded(tree, top.f_lineno):
        raise UserError(_message(path, top.f_lineno))


def _frame_of_module(name: str, frame: FrameType | None, globals_dict: dict | None = None):
    """The frame running the top-level code of module `name`, if it is on the stack."""
    while frame is not None:
        if (
            frame.f_code.co_name == "<module>"
            and frame.f_globals.get("__name__") == name
            and (globals_dict is None or frame.f_globals is globals_dict)
        ):
            return frame
        frame = frame.f_back
    return None


def _guarded(tree: ast.Module, line: int) -> bool:
    """True if `line` is inside an `if` whose test reads __name__ (any spelling of the guard)."""
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and node.lineno <= line <= (node.end_lineno or node.lineno):
            if any(isinstance(n, ast.Name) and n.id == "__name__" for n in ast.walk(node.test)):
                return True
    return False


def _message(path: str, line: int | None) -> str:
    where = f"{path}, line {line}" if line else str(path)
    return (
        f"a3c.train() was called from the top-level code of {where}, which has no "
        "'if __name__ == \"__main__\":' guard. Training starts worker processes that import your script "
        "again, and without the guard each of them would start a training run of its own. Put the code "
        "that trains under 'if __name__ == \"__main__\":' (as in the README's Python API example), or use "
        "deterministic=True, which starts no processes."
    )


@contextmanager
def unreadable_main_hidden() -> Iterator[None]:
    """Children started meanwhile do not try to import a main script that is not a file.

    A script piped on stdin (`python - < train.py`) has __file__ '<stdin>': multiprocessing
    would have every child run '<stdin>' as a path and die. Nothing of the run lives there,
    so the children are told there is no main script, as for `python -c`.
    """
    main = sys.modules.get("__main__")
    path = getattr(main, "__file__", None)
    if main is None or path is None or Path(path).is_file():
        yield
        return
    del main.__file__
    try:
        yield
    finally:
        main.__file__ = path
