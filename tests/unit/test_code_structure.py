"""The shape of the code: no import cycle and no long function (issue 22's done-when checks,
each able to fail). That the main process builds the env once: engines/test_env_built_once.py."""

import ast
from pathlib import Path

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
    assert "a3c.presets" in graph["a3c.defaults"]  # the graph sees imports at all
    assert cycles(graph) == []


def reachable(graph: dict[str, set[str]], start: str) -> set[str]:
    seen, todo = set(), [start]
    while todo:
        for nxt in graph.get(todo.pop(), ()):
            if nxt not in seen:
                seen.add(nxt)
                todo.append(nxt)
    return seen


def test_config_is_a_leaf():
    """config.py imports no env, engine, model or run module, directly or through another, at any
    level (issue 38): Config.for_env's choice of presets lives in a3c.defaults, above it."""
    graph = import_graph()
    below = reachable(graph, "a3c.config")
    assert "a3c.errors" in below  # the graph sees config.py's imports at all
    # and the modules split out of it, which must be leaves too
    assert {"a3c.config_values", "a3c.config_validation", "a3c.config_toml"} <= below
    above = ("a3c.envs", "a3c.engines", "a3c.models", "a3c.training", "a3c.defaults")
    assert sorted(m for m in below if m.startswith(above)) == []
    assert reachable({"a": {"b"}, "b": {"c"}}, "a") == {"b", "c"}


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
