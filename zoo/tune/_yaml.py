"""Reading a YAML file while remembering where each key and list item is, so that errors
found later (after the file became plain dicts) can still point at a line."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from zoo.errors import ZooError, did_you_mean

Path_ = tuple[Any, ...]  # a key path into the document: ("space", "lr", "loguniform", 0)


class Where:
    """Line numbers of a YAML document's keys and list items, and the error format
    ``file:line: dotted.path: message``. Paths set on the command line say so instead."""

    def __init__(self, path: str, lines: dict[Path_, int] | None = None) -> None:
        self.path = path
        self.lines: dict[Path_, int] = dict(lines or {})
        self.cli: set[Path_] = set()  # paths whose value came from a command-line flag

    def line(self, at: Path_) -> int | None:
        """The line of ``at`` or of its closest parent that has one."""
        for i in range(len(at), 0, -1):
            if at[:i] in self.cli:
                return None
            if at[:i] in self.lines:
                return self.lines[at[:i]]
        return None

    def error(self, at: Path_, message: str) -> ZooError:
        """A ZooError for the value at ``at``."""
        dotted = ".".join(str(p) for p in at) or "top level"
        if any(at[:i] in self.cli for i in range(1, len(at) + 1)):
            return ZooError(f"{self.path}: {dotted} (set on the command line): {message}")
        line = self.line(at)
        where = f"{self.path}:{line}" if line else self.path
        return ZooError(f"{where}: {dotted}: {message}")


def read_yaml(path: str | Path, kind: str = "search space") -> tuple[dict[str, Any], Where]:
    """Load a YAML mapping and the line of every key in it.

    Duplicate keys are an error (PyYAML would silently keep the last one, which in a
    search space quietly drops a dimension).
    """
    p = Path(path)
    if not p.is_file():
        folder = p.parent if p.parent.is_dir() else Path(".")
        found = sorted(x.name for x in folder.glob("*.yaml"))
        raise ZooError(f"{kind} {path} does not exist;{did_you_mean(p.name, found)} "
                       f"YAML files in {folder}: {', '.join(found) or '(none)'}")
    text = p.read_text()
    where = Where(str(path))
    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ZooError(f"{path} is not valid YAML: {exc}") from None
    if root is not None:
        _walk(root, (), where)
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise where.error((), f"a {kind} is a mapping of keys (name, metric, base, space, ...), "
                              f"got {type(data).__name__}")
    return data, where


def _walk(node: yaml.Node, at: Path_, where: Where) -> None:
    if isinstance(node, yaml.MappingNode):
        seen: dict[Any, int] = {}
        for key, value in node.value:
            name = key.value
            line = key.start_mark.line + 1
            if name in seen:
                where.lines[(*at, name)] = line
                raise where.error((*at, name), f"appears twice (lines {seen[name]} and {line}); "
                                               "YAML would keep only the last")
            seen[name] = line
            where.lines[(*at, name)] = line
            _walk(value, (*at, name), where)
    elif isinstance(node, yaml.SequenceNode):
        for i, item in enumerate(node.value):
            where.lines[(*at, i)] = item.start_mark.line + 1
            _walk(item, (*at, i), where)
