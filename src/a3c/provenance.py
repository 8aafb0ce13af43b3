"""What produced a run: library versions, and the git commit when a3c runs from a checkout.
Written into config.toml's [meta] and summary.json's `versions`."""

from __future__ import annotations

import platform
import subprocess
from pathlib import Path

from a3c._version import __version__


def versions() -> dict[str, str | None]:
    """Library versions, and the git commit when a3c runs from a checkout (with "-dirty" when its
    tracked files have changes)."""
    import gymnasium
    import numpy
    import torch

    return dict(
        a3c=__version__,
        torch=torch.__version__,
        gymnasium=gymnasium.__version__,
        numpy=numpy.__version__,
        python=platform.python_version(),
        git_commit=git_commit(),
    )


def git_commit() -> str | None:
    """HEAD of the checkout a3c runs from, "-dirty" when tracked files changed; None when a3c was
    installed from a wheel or sdist (its version says it all) or git cannot tell."""
    root = Path(__file__).resolve().parents[2]  # src/a3c/provenance.py -> the checkout
    if not (root / ".git").exists() or not (root / "pyproject.toml").is_file():
        return None
    try:

        def git(*args: str) -> str:
            return subprocess.run(
                ["git", *args], cwd=root, capture_output=True, text=True, timeout=5, check=True
            ).stdout

        commit = git("rev-parse", "HEAD").strip()
        dirty = git("status", "--porcelain", "--untracked-files=no")
    except (OSError, subprocess.SubprocessError):
        return None
    return commit + ("-dirty" if dirty.strip() else "")
