"""The core's layering: no import cycles between zoo's modules (at any level: module level,
inside functions and under ``if TYPE_CHECKING:``), the old import paths of the plugin
system re-export its package, the library prints nothing and sets no environment variables,
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


def _imports(path: Path, modules: dict[str, Path]) -> set[str]:
    """Every zoo module ``path`` imports, wherever the import is: at module level, inside a
    function, or under ``if TYPE_CHECKING:`` (never run, but a cycle all the same for a
    reader and for a type checker)."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
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


def test_imports_count_type_checking_and_function_level(tmp_path: Path) -> None:
    source = tmp_path / "m.py"
    source.write_text("from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n"
                      "    from zoo.plugin.registry import Registry\n"
                      "def f():\n    from zoo.modelfolder import hub\n")
    modules = {"zoo.plugin.registry": source, "zoo.modelfolder.hub": source}
    assert _imports(source, modules) == {"zoo.plugin.registry", "zoo.modelfolder.hub"}


def test_plugin_system_and_model_folders_have_their_packages() -> None:
    modules = _modules()
    for name in ("registry", "hookspecs", "contract", "testing", "kinds"):
        assert f"zoo.plugin.{name}" in modules
    for name in ("checkpoint", "refs", "hub", "card", "export"):
        assert f"zoo.modelfolder.{name}" in modules
        assert f"zoo.{name}" not in modules, f"zoo/{name}.py is back beside zoo/modelfolder/"
    # inside zoo, nothing imports the old plugin paths: they are for code outside zoo
    shims = {"zoo.registry", "zoo.hookspecs", "zoo.contract", "zoo.testing"}
    users = {m: _imports(p, modules) & shims for m, p in modules.items() if m not in shims}
    assert {m: s for m, s in users.items() if s} == {}


def test_old_plugin_paths_re_export_the_same_objects() -> None:
    import zoo
    import zoo.contract
    import zoo.hookspecs
    import zoo.plugin.contract
    import zoo.plugin.hookspecs
    import zoo.plugin.kinds
    import zoo.plugin.registry
    import zoo.plugin.testing
    import zoo.registry
    import zoo.testing

    pairs = [(zoo.hookspecs, zoo.plugin.hookspecs), (zoo.testing, zoo.plugin.testing),
             (zoo.registry, zoo.plugin.registry), (zoo.contract, zoo.plugin.contract)]
    for old, new in pairs:
        for name in old.__all__:
            source = zoo.plugin.kinds if (old, name) == (zoo.contract, "check") else new
            assert getattr(old, name) is getattr(source, name), f"{old.__name__}.{name}"
    assert zoo.hookimpl is zoo.plugin.hookspecs.hookimpl


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
