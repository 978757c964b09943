"""The search-space file format: reading YAML with the line of every key and list item
(so that errors found later, in plain dicts, still point at a line), and checking the
shape of its settings, sampling kinds and option paths. Values are checked against
TrainConfig and the registry in ``zoo.tune.space``."""

from __future__ import annotations

import dataclasses
import functools
import math
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import yaml

from zoo.config import TrainConfig, UNetConfig
from zoo.errors import ZooError, did_you_mean

TOP_KEYS = ("name", "description", "metric", "mode", "max_epochs", "num_samples", "seeds",
            "scheduler", "search", "resources", "max_failures", "max_concurrent", "preset",
            "base", "space")
RANGES = ("uniform", "loguniform", "quniform", "qloguniform", "randint", "qrandint")
KINDS = ("choice", "grid", *RANGES)
# reported by the training function after every epoch, with their better direction
# (validation set only: tuning on test would make the test score meaningless)
METRICS = {"val_psnr_hole": "max", "val_ssim_hole": "max", "val_l1_hole": "min",
           "val_dice": "max", "val_psnr": "max", "val_ssim": "max", "val_l1": "min",
           "train_loss": "min"}
SCHEDULERS = {"asha": ("grace_period", "reduction_factor"), "fifo": ()}
SEARCHES = {"random": ("seed",), "grid": (), "optuna": ("seed",)}
# option dicts whose valid keys depend on a registry name chosen in the same config
SELECTORS = {"encoder_args": "encoder", "mask_args": "mask"}
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
    text = _read_text(p)
    where = Where(str(path))
    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
        if root is not None:
            _expanded_size(root, {}, set(), path)  # an alias bomb is refused before expanding
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ZooError(f"{path} is not valid YAML: {exc}") from None
    except RecursionError:
        raise ZooError(f"{path} is not valid YAML: nested too deeply") from None
    if root is None or data is None:
        raise ZooError(f"{path} is empty; a {kind} needs at least a space: mapping (see "
                       "search_spaces/smoke.yaml)")
    _walk(root, (), where)
    if not isinstance(data, dict):
        raise where.error((), f"a {kind} is a mapping of keys (name, metric, base, space, ...), "
                              f"got {type(data).__name__}")
    return data, where


MAX_YAML_BYTES = 1024 * 1024
MAX_YAML_NODES = 100_000


def _read_text(p: Path) -> str:
    """The UTF-8 text of YAML file ``p``: a regular file of at most 1 MB."""
    from zoo._json import read_regular

    try:
        return read_regular(p, MAX_YAML_BYTES).decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ZooError(f"{p} is not valid YAML: not UTF-8 ({exc.reason} at byte "
                       f"{exc.start}); save it as UTF-8") from None
    except (OSError, ValueError) as exc:
        raise ZooError(f"cannot read {p}: {getattr(exc, 'strerror', None) or exc}") from None


def _expanded_size(node: yaml.Node, sizes: dict[int, int], open_: set[int],
                   path: str | Path) -> int:
    """How many nodes ``node`` holds once every alias is expanded, counted without expanding
    (each node once); a ZooError past MAX_YAML_NODES (an alias bomb) or for a cycle."""
    key = id(node)
    if key in sizes:
        return sizes[key]
    if key in open_:
        raise ZooError(f"{path} is not valid YAML for zoo: an alias refers to itself")
    open_.add(key)
    children = node.value if isinstance(node.value, list) else []
    total = 1
    for child in children:
        for sub in (child if isinstance(child, tuple) else (child,)):
            total += _expanded_size(sub, sizes, open_, path)
    open_.discard(key)
    if total > MAX_YAML_NODES:
        raise ZooError(f"{path} expands to more than {MAX_YAML_NODES} values (an alias "
                       "bomb?); write the search space out plainly")
    sizes[key] = total
    return total


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


def parse_settings(spec: Any, data: dict[str, Any], where: Where) -> None:
    """Check the run settings in ``data`` (everything but base and space) onto ``spec``."""
    name = data.get("name")
    if name is not None and not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9_.-]*", str(name)):
        raise where.error(("name",), f"must be letters, digits, '_', '.' or '-' (it names the "
                                     f"search's folder in the storage), got {name!r}")
    put = functools.partial(_setting, spec, data, where)
    put("description", str)
    put("metric", str, lambda v: v in METRICS,
        f"unknown metric '{data.get('metric')}';{did_you_mean(str(data.get('metric')), METRICS)}"
        f" valid: {', '.join(METRICS)} (validation metrics: never tune on test)")
    spec.mode = METRICS[spec.metric]  # the metric's own direction unless mode overrides it
    put("mode", str, lambda v: v in ("min", "max"), "must be min or max")
    put("max_epochs", int, lambda v: v >= 1, "must be >= 1")
    put("num_samples", int, lambda v: v >= 1, "must be >= 1")
    put("max_failures", int, lambda v: v >= 0, "must be >= 0")
    put("max_concurrent", int, lambda v: v >= 1, "must be >= 1 (or null for no cap)")
    _seeds(spec, data.get("seeds"), where)
    for key, table in (("scheduler", SCHEDULERS), ("search", SEARCHES)):
        _typed_setting(spec, key, table, data.get(key), where)
    if spec.scheduler["type"] == "asha":
        _asha(spec.scheduler, spec.max_epochs, where)
    _resources(spec, data.get("resources"), where)


def parse_preset(name: Any, where: Where) -> str | None:
    """``preset``: the name of a ``zoo.config`` preset (the lowest layer, under ``base``),
    or None when the key is left out."""
    from zoo.config import PRESETS, preset

    if name is None:
        return None
    if not isinstance(name, str):
        raise where.error(("preset",), f"must be the name of a preset ({', '.join(PRESETS)}), "
                                       f"got {name!r}")
    try:
        preset(name)
    except ZooError as exc:
        raise where.error(("preset",), str(exc)) from None
    return name


def _setting(spec: Any, data: dict[str, Any], where: Where, key: str, kind: type,
             ok: Callable[[Any], bool] = lambda v: True, hint: str = "") -> None:
    """Set ``spec.key`` from ``data[key]`` (when given and not null): a ``kind`` for which
    ``ok`` holds, else ``hint`` is the error."""
    if data.get(key) is None:
        return
    value = data[key]
    if kind is int and (isinstance(value, bool) or not isinstance(value, int)):
        raise where.error((key,), f"must be an integer, got {value!r}")
    if kind is str and not isinstance(value, str):
        raise where.error((key,), f"must be a string, got {value!r}")
    if not ok(value):
        raise where.error((key,), hint)
    setattr(spec, key, value)


def _seeds(spec: Any, seeds: Any, where: Where) -> None:
    """``seeds``: one integer or a non-empty list of distinct integers."""
    if seeds is None:
        return
    seeds = [seeds] if isinstance(seeds, int) and not isinstance(seeds, bool) else seeds
    if (not isinstance(seeds, list) or not seeds
            or not all(isinstance(s, int) and not isinstance(s, bool) for s in seeds)):
        raise where.error(("seeds",), f"must be a non-empty list of integers, got {seeds!r}")
    if len(set(seeds)) != len(seeds):
        raise where.error(("seeds",), f"lists a seed twice: {seeds}")
    spec.seeds = list(seeds)


def _typed_setting(spec: Any, key: str, table: dict[str, tuple[str, ...]], value: Any,
                   where: Where) -> None:
    """``scheduler`` / ``search``: a type name from ``table``, or ``{type: ..., option: ...}``
    with that type's options only (the type defaults to the table's first)."""
    if value is None:
        return
    value = {"type": value} if isinstance(value, str) else value
    if not isinstance(value, dict):
        raise where.error((key,), f"must be a mapping like {{type: {next(iter(table))}}}")
    kind = value.get("type", next(iter(table)))
    if kind not in table:
        raise where.error((key, "type"), f"unknown {key} '{kind}';"
                                         f"{did_you_mean(str(kind), table)} valid: "
                                         f"{', '.join(table)}")
    allowed = ("type", *table[kind])
    for opt in value:
        if opt not in allowed:
            raise where.error((key, opt), f"unknown option of {key} '{kind}';"
                                          f"{did_you_mean(str(opt), allowed)} valid: "
                                          f"{', '.join(allowed)}")
    setattr(spec, key, {**value, "type": kind})


def _asha(scheduler: dict[str, Any], max_epochs: int, where: Where) -> None:
    """ASHA's options (defaults as ``SearchSpec`` applies them): a grace period within the
    epoch budget, a reduction factor above 1."""
    grace = scheduler.get("grace_period", 1)
    if not _int(grace) or not 1 <= grace <= max_epochs:
        raise where.error(("scheduler", "grace_period"),
                          f"must be an integer epoch in 1..max_epochs ({max_epochs}), "
                          f"got {grace!r}")
    factor = scheduler.get("reduction_factor", 2)
    if not _num(factor) or factor <= 1:
        raise where.error(("scheduler", "reduction_factor"),
                          f"must be a number > 1, got {factor!r}")


def _resources(spec: Any, res: Any, where: Where) -> None:
    if res is None:
        return
    if not isinstance(res, dict):
        raise where.error(("resources",), "must be a mapping like {cpu: 1, gpu: 0.25}")
    for key, value in res.items():
        if key not in ("cpu", "gpu", "workers"):
            raise where.error(("resources", key), f"unknown resource;"
                                                  f"{did_you_mean(str(key), ('cpu', 'gpu'))} "
                                                  "valid: cpu, gpu, workers")
        if key == "workers":  # data-parallel workers per trial; cpu/gpu are then per worker
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise where.error(("resources", key), "must be a whole number >= 1 (1: one "
                                  f"process per trial, no Ray Train), got {value!r}")
            continue
        if not _num(value) or value < 0 or (key == "cpu" and value == 0):
            raise where.error(("resources", key), f"must be a number > 0 (gpu may be 0 or a "
                                                  f"fraction like 0.25), got {value!r}")
        if value > 1 and not float(value).is_integer():
            raise where.error(("resources", key), f"Ray shares a {key} only in fractions below "
                                                  f"1; above 1 use a whole number, got {value}")
    spec.resources = {**spec.resources, **{k: float(v) for k, v in res.items()}}


def _number(value: Any) -> Any:
    """YAML 1.1 reads ``1e-4`` (no dot) as a string; take it as the number it means."""
    if isinstance(value, str):
        try:
            return float(value)
        except ValueError:
            return value
    return value


def parse_domain(key: str, domain: Any, where: Where) -> tuple[str, Any]:
    """``{kind: args}`` -> ``(kind, args)``, with the args' shape and ranges checked."""
    at = ("space", key)
    if not isinstance(domain, dict) or len(domain) != 1:
        raise where.error(at, f"must be one sampling kind like {{choice: [a, b]}} or "
                              f"{{loguniform: [low, high]}} (kinds: {', '.join(KINDS)}), "
                              f"got {domain!r}")
    kind, args = next(iter(domain.items()))
    at = (*at, kind)
    if kind not in KINDS:
        raise where.error(at, f"unknown sampling kind;{did_you_mean(str(kind), KINDS)} "
                              f"valid: {', '.join(KINDS)}")
    if kind in ("choice", "grid"):
        if not isinstance(args, list) or not args:
            raise where.error(at, "needs a non-empty list of values")
        return kind, args
    n = 3 if kind.startswith("q") else 2
    shape = "[low, high, q]" if n == 3 else "[low, high]"
    args = [_number(a) for a in args] if isinstance(args, list) else args
    if not isinstance(args, list) or len(args) != n or not all(
            isinstance(a, (int, float)) and not isinstance(a, bool) for a in args):
        raise where.error(at, f"needs {shape} numbers, got {args!r}")
    low, high = args[0], args[1]
    if "randint" in kind and not all(isinstance(a, int) or float(a).is_integer() for a in args):
        raise where.error(at, f"needs integers, got {args}")
    if "randint" in kind:
        args = [int(a) for a in args]
    if not low < high:
        raise where.error(at, f"needs low < high, got {args}")
    if "log" in kind and low <= 0:
        raise where.error(at, f"needs 0 < low (a log scale), got low={low}")
    if n == 3:
        q = args[2]
        if q <= 0:
            raise where.error(at, f"needs q > 0, got {q}")
        if not all(math.isclose(b / q, round(b / q)) for b in (low, high)):
            raise where.error(at, f"needs low and high to be multiples of q={q} (the values "
                                  f"drawn are multiples of q), got {args}")
    return kind, args


def finite_values(kind: str, args: Any) -> list[Any] | None:
    """Every value a dimension can take, when it is a finite list; else None."""
    if kind in ("choice", "grid"):
        return list(args)
    if kind == "randint":  # ours includes high (see docs/searching.md, "Sampling kinds")
        return list(range(args[0], args[1] + 1))
    if kind == "qrandint":
        return list(range(args[0], args[1] + 1, args[2]))
    return None


def check_path(key: str, at: tuple[Any, ...], where: Where) -> None:
    """``key`` must name a TrainConfig option (``unet.x``, ``encoder_args.x`` ...)."""
    parts = key.split(".")
    top = {f.name for f in dataclasses.fields(TrainConfig)}
    if parts[0] == "epochs":
        raise where.error(at, "set max_epochs instead: it is every trial's epoch budget")
    if parts[0] == "seed":
        raise where.error(at, "set seeds: [0, 1, ...] instead: every config runs once per seed")
    if parts[0] not in top:
        raise where.error(at, f"unknown option '{parts[0]}';{did_you_mean(parts[0], top)} "
                              f"valid: {', '.join(sorted(top - {'epochs', 'seed'}))}")
    if len(parts) == 1:
        return
    if parts[0] == "unet":
        sub = {f.name for f in dataclasses.fields(UNetConfig)}
        if parts[1] not in sub:
            raise where.error(at, f"unknown option 'unet.{parts[1]}';{did_you_mean(parts[1], sub)}"
                                  f" valid: {', '.join(sorted(sub))}")
        if len(parts) == 2:
            return
    elif parts[0] in SELECTORS and len(parts) == 2:
        return  # checked against the chosen encoders / masks in check_values
    raise where.error(at, f"'{'.'.join(parts[:-1])}' has no options inside; "
                          f"did you mean '{'.'.join(parts[:2 if parts[0] == 'unet' else 1])}'?")


def _int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _num(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)
