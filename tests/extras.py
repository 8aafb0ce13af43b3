"""Optional extras in tests: CI installs every one (`.[all,test]`), so there a missing extra
is a failure; on a developer's machine without it, its tests skip."""

import importlib
import os

import pytest


def require(module: str):
    if os.environ.get("CI"):
        return importlib.import_module(module)
    return pytest.importorskip(module)
