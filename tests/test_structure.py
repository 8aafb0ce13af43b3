"""The shape of the code and of a run's start-up: no import cycle, no long function, and the env
built once in the main process (issue 22's done-when checks, each able to fail)."""

import ast
from pathlib import Path

import numpy as np
import pytest
from extras import require

import a3c
import a3c.envs

SRC = Path(a3c.__file__).resolve().parent
LONGEST_FUNCTION = 80  # lines, decorators and docstring included


def _module_name(path: Path) -> str:
    parts = path.relative_to(SRC.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imports(path: Path) -> set[str]:
    """The a3c modules a file imports anywhere in it (function-level imports count: they hide a
    cycle, they do not remove it)."""
    found: set[str] = set()
    modules = {_module_name(p) for p in SRC.rglob("*.py")}
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names if alias.name.startswith("a3c"))
        elif isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("a3c"):
            for alias in node.names:  # `from a3c.envs import group` names a module, not a symbol
                sub = f"{node.module}.{alias.name}"
                found.add(sub if sub in modules else node.module)
    return found


def import_graph() -> dict[str, set[str]]:
    return {_module_name(p): _imports(p) - {_module_name(p)} for p in SRC.rglob("*.py")}


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        for nxt in graph.get(node, ()):
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            component = []
            while True:
                top = stack.pop()
                component.append(top)
                if top == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def test_the_cycle_finder_finds_a_cycle():
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert cycles({"a": {"b"}, "b": set()}) == []


def test_no_module_of_a3c_imports_itself_round_a_circle():
    graph = import_graph()
    assert "a3c.presets" in graph["a3c.config"]  # the graph sees imports at all
    assert cycles(graph) == []


def test_no_function_is_longer_than_80_lines():
    long = []
    for path in sorted(SRC.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                start = min([node.lineno, *(d.lineno for d in node.decorator_list)])
                length = node.end_lineno - start + 1
                if length > LONGEST_FUNCTION:
                    long.append(f"{path.relative_to(SRC)}:{node.lineno} {node.name} ({length} lines)")
    assert long == []


@pytest.mark.parametrize("algo", ["a3c", "ga3c"])
def test_the_main_process_builds_the_env_once(algo, tmp_path, monkeypatch):
    """Config.for_env looks at the observations of an env without a preset, and the run needs its
    spaces: one env built in the main process serves both. The engines' envs are built in their
    own processes."""
    import envs_for_tests

    monkeypatch.setattr(a3c.envs, "_last_probe", None)  # an earlier test's probe of this env is kept
    envs_for_tests.CountsMainProcessBuildsEnv.main_process_builds = 0
    cfg = a3c.Config.for_env("envs_for_tests:CountsMainProcessBuildsEnv", algo=algo, workers=1,
                             envs_per_worker=2, total_steps=1000, target_return=1e9, time_limit=300,
                             progress=False, tensorboard=False, run_dir=str(tmp_path / "run"))
    assert a3c.train(cfg).env_steps >= 1000
    assert envs_for_tests.CountsMainProcessBuildsEnv.main_process_builds == 1


def test_probing_an_atari_id_builds_no_vector_env(monkeypatch):
    """The frames an ale-py vector env gives follow from the config; only the actions need the game."""
    require("ale_py")
    import a3c.envs

    def refuse(*args, **kwargs):
        raise AssertionError("probe built an AtariVectorEnv")

    monkeypatch.setattr(a3c.envs, "atari_vector_env", refuse)
    monkeypatch.setattr(a3c.envs, "_last_probe", None)
    cfg = a3c.Config.for_env("ALE/Breakout-v5", screen_size=42)
    spec, action_space = a3c.envs.probe(cfg)
    assert spec.shape == (4, 42, 42) and np.dtype(spec.dtype) == np.uint8
    assert action_space.n == 4  # Breakout's minimal action set: NOOP, FIRE, RIGHT, LEFT
