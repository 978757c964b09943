"""The core's layering: no import cycles between zoo's modules (at any level, including
imports inside functions), the library prints nothing and sets no environment variables,
and no function in zoo/ runs over ~60 lines without a comment that says why."""

from __future__ import annotations

import ast
from pathlib import Path

ZOO = Path(__file__).resolve().parents[1] / "zoo"
LONG = 60  # lines; a longer function says why in a comment starting "# long:"


def _modules() -> dict[str, Path]:
    out = {}
    for path in ZOO.rglob("*.py"):
        if "_scaffold" in path.parts:
            continue
        parts = path.relative_to(ZOO.parent).with_suffix("").parts
        name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        out[name] = path
    return out


def _runtime_nodes(tree: ast.AST):
    """Every node but those under ``if TYPE_CHECKING:`` (annotations only, never run)."""
    stack = [tree]
    while stack:
        node = stack.pop()
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            stack.extend(node.orelse)
            continue
        yield node
        stack.extend(ast.iter_child_nodes(node))


def _imports(path: Path, modules: dict[str, Path]) -> set[str]:
    found = set()
    for node in _runtime_nodes(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
            found.update(f"{node.module}.{a.name}" for a in node.names)
        elif isinstance(node, ast.Import):
            found.update(a.name for a in node.names)
    return {m for m in found if m in modules}


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    out: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        for w in graph[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                out.append(sorted(comp))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return out


def test_no_import_cycles() -> None:
    modules = _modules()
    graph = {m: _imports(p, modules) - {m} for m, p in modules.items()}
    # a module's import of its own package's __init__ is how Python imports it, not a cycle
    graph = {m: {d for d in deps if not m.startswith(d + ".")} for m, deps in graph.items()}
    assert _cycles(graph) == []


def test_cycle_finder_finds_cycles() -> None:
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


def test_library_prints_nothing_and_sets_no_environment() -> None:
    offenders = []
    for name, path in _modules().items():
        if name.startswith("zoo.cli"):
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            text = ast.unparse(node) if isinstance(node, (ast.Call, ast.Assign)) else ""
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and \
                    node.func.id == "print":
                offenders.append(f"{name}:{node.lineno} print")
            elif "os.environ" in text and any(w in text for w in ("setdefault", "update(", "putenv")):
                offenders.append(f"{name}:{node.lineno} {text[:60]}")
            elif isinstance(node, ast.Assign) and "os.environ[" in ast.unparse(node.targets[0]):
                offenders.append(f"{name}:{node.lineno} {text[:60]}")
        if "import rich" in path.read_text() or "from rich" in path.read_text():
            offenders.append(f"{name}: imports rich")
    assert offenders == []


def test_functions_are_short_or_say_why() -> None:
    long = []
    for name, path in _modules().items():
        lines = path.read_text().splitlines()
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                n = node.end_lineno - node.lineno + 1
                body = lines[node.lineno - 1:node.end_lineno]
                if n > LONG and not any("# long:" in line for line in body):
                    long.append(f"{name}.{node.name} ({n} lines)")
    assert long == []
