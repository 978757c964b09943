"""Search spaces as data: a YAML file becomes a validated ``SearchSpec``, then Tune objects.

Everything is checked before any trial starts; each error names the file, the line and
the key (``search_spaces/x.yaml:12: space.lr: loguniform needs 0 < low < high``).
See README, "Search spaces", for the schema.
"""

from __future__ import annotations

import dataclasses
import itertools
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from zoo.config import TrainConfig, nest
from zoo.errors import ZooError, did_you_mean, unknown

TOP_KEYS = ("name", "description", "metric", "mode", "max_epochs", "num_samples", "seeds",
            "scheduler", "search", "resources", "max_failures", "max_concurrent", "base",
            "space")
RANGES = ("uniform", "loguniform", "randint", "qrandint", "quniform", "qloguniform")
KINDS = ("choice", "grid", *RANGES)
# reported by the training function after every epoch (validation set; never test)
METRICS = {"val_psnr_hole": "max", "val_ssim_hole": "max", "val_l1_hole": "min",
           "val_dice": "max", "val_psnr": "max", "val_ssim": "max", "val_l1": "min",
           "train_loss": "min"}
SCHEDULERS = ("asha", "fifo")
SEARCHES = ("random", "grid", "optuna")


@dataclass
class SearchSpec:
    """A validated search: run settings, fixed config (``base``) and sampled ``space``."""

    name: str
    path: str
    description: str = ""
    metric: str = "val_psnr_hole"
    mode: str = "max"
    max_epochs: int = 3
    num_samples: int = 1
    seeds: list[int] = field(default_factory=lambda: [0])
    scheduler: dict[str, Any] = field(default_factory=lambda: {"type": "asha"})
    search: dict[str, Any] = field(default_factory=lambda: {"type": "random"})
    resources: dict[str, float] = field(default_factory=lambda: {"cpu": 1.0, "gpu": 0.0})
    max_failures: int = 2
    max_concurrent: int | None = None
    base: dict[str, Any] = field(default_factory=dict)  # flat dotted keys
    space: dict[str, tuple[str, Any]] = field(default_factory=dict)  # path -> (kind, args)

    def param_space(self) -> dict[str, Any]:
        """Tune's ``param_space``: flat dotted keys -> domains, plus ``seed``."""
        from ray import tune

        grid = self.search.get("type") == "grid"
        out: dict[str, Any] = {}
        for key, (kind, args) in self.space.items():
            if kind == "grid" or (kind == "choice" and grid):
                out[key] = tune.grid_search(list(args))
            elif kind == "choice":
                out[key] = tune.choice(list(args))
            else:
                out[key] = getattr(tune, kind)(*args)
        out["seed"] = tune.grid_search(self.seeds) if len(self.seeds) > 1 else self.seeds[0]
        return out

    def trial_config(self, flat: dict[str, Any]) -> TrainConfig:
        """The TrainConfig of one trial: base + sampled values, ``epochs = max_epochs``.
        ``encoder_args`` keys the chosen encoder does not have are dropped, so one space
        can tune ConvMixer's width beside the ``none`` encoder."""
        from zoo.registry import get_registry

        values = {**self.base, **{k: v for k, v in flat.items() if k in self.space or
                                   k == "seed"}, "epochs": self.max_epochs}
        values.setdefault("seed", self.seeds[0])
        data = nest(values)
        encoder = data.get("encoder", TrainConfig.encoder)
        known = {f.name for f in dataclasses.fields(get_registry().encoder(encoder).spec.config)}
        data["encoder_args"] = {k: v for k, v in (data.get("encoder_args") or {}).items()
                                if k in known}
        return TrainConfig.from_dict(data)

    def scheduler_obj(self) -> Any:
        """ASHA (early stopping on ``metric`` per epoch) or FIFO."""
        from ray.tune.schedulers import ASHAScheduler, FIFOScheduler

        opts = {k: v for k, v in self.scheduler.items() if k != "type"}
        if self.scheduler["type"] == "fifo":
            return FIFOScheduler()
        return ASHAScheduler(time_attr="training_iteration", max_t=self.max_epochs,
                             grace_period=int(opts.get("grace_period", 1)),
                             reduction_factor=float(opts.get("reduction_factor", 2)))

    def search_alg(self) -> Any:
        """None for random and grid (Tune's BasicVariantGenerator), else Optuna."""
        if self.search["type"] != "optuna":
            return None
        try:
            from ray.tune.search.optuna import OptunaSearch
            import optuna  # noqa: F401
        except ImportError:
            raise ZooError("search type 'optuna' needs optuna: pip install optuna") from None
        return OptunaSearch(metric=self.metric, mode=self.mode,
                            seed=int(self.search.get("seed", 0)))

    def n_trials(self) -> int:
        """num_samples x grid sizes x seeds (Tune's expansion of a param space)."""
        grid = self.search.get("type") == "grid"
        sizes = [len(args) for kind, args in self.space.values()
                 if kind == "grid" or (grid and kind == "choice")]
        return self.num_samples * math.prod(sizes) * len(self.seeds)

    def plan(self) -> dict[str, Any]:
        """Everything `zoo tune --dry-run` shows, as data."""
        plan = {k: getattr(self, k) for k in ("name", "path", "description", "metric", "mode",
                                              "max_epochs", "num_samples", "seeds", "scheduler",
                                              "search", "resources", "max_failures",
                                              "max_concurrent", "base")}
        plan["space"] = {k: {kind: args} for k, (kind, args) in self.space.items()}
        plan["n_trials"] = self.n_trials()
        grid = self.search.get("type") == "grid"
        if all(kind == "grid" or (grid and kind == "choice") for kind, _ in self.space.values()):
            keys = list(self.space)
            combos = itertools.product(*(self.space[k][1] for k in keys), self.seeds)
            plan["trials"] = [self.trial_config({**dict(zip(keys, c[:-1])),
                                                 "seed": c[-1]}).to_dict()
                              for c in combos] * self.num_samples
        return plan


def render_plan(spec: SearchSpec) -> Any:
    """A rich renderable of ``spec.plan()`` for ``zoo tune --dry-run``."""
    from rich.console import Group
    from rich.table import Table

    plan = spec.plan()
    settings = Table(title=f"search '{spec.name}' ({spec.path})", show_header=False)
    for key in ("description", "metric", "mode", "max_epochs", "num_samples", "seeds",
                "scheduler", "search", "resources", "max_failures", "max_concurrent",
                "n_trials"):
        settings.add_row(key, str(plan[key]))
    fixed = Table(title="fixed for every trial (base)")
    fixed.add_column("option")
    fixed.add_column("value")
    for key, value in plan["base"].items():
        fixed.add_row(key, str(value))
    sampled = Table(title="sampled (space)")
    for col in ("option", "kind", "values"):
        sampled.add_column(col)
    for key, (kind, args) in spec.space.items():
        sampled.add_row(key, kind, str(args))
    parts = [settings, fixed, sampled]
    if "trials" in plan:
        trials = Table(title=f"the {len(plan['trials'])} trials")
        keys = [*spec.space, "seed"]
        for key in keys:
            trials.add_column(key)
        for t in plan["trials"]:
            flat = _flatten(t)
            trials.add_row(*(str(flat.get(k, t.get(k))) for k in keys))
        parts.append(trials)
    return Group(*parts)


def _flatten(d: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    out: dict[str, Any] = {}
    for k, v in d.items():
        key = f"{prefix}{k}"
        out[key] = v
        if isinstance(v, dict):
            out.update(_flatten(v, key + "."))
    return out


class _Where:
    """Maps YAML key paths to line numbers, for errors that point into the file."""

    def __init__(self, path: str, text: str) -> None:
        self.path, self.lines = path, {}
        try:
            self._walk(yaml.compose(text), ())
        except yaml.YAMLError:
            pass

    def _walk(self, node: Any, at: tuple) -> None:
        if isinstance(node, yaml.MappingNode):
            for key, value in node.value:
                here = (*at, key.value)
                self.lines[here] = key.start_mark.line + 1
                self._walk(value, here)

    def error(self, at: tuple, message: str) -> ZooError:
        for i in range(len(at), 0, -1):
            if at[:i] in self.lines:
                return ZooError(f"{self.path}:{self.lines[at[:i]]}: {'.'.join(at)}: {message}")
        return ZooError(f"{self.path}: {'.'.join(at) or 'top level'}: {message}")


def _merge(a: dict[str, Any], b: dict[str, Any]) -> dict[str, Any]:
    out = dict(a)
    for k, v in b.items():
        out[k] = _merge(out[k], v) if isinstance(v, dict) and isinstance(out.get(k), dict) else v
    return out


def _flat_base(base: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    """Nested YAML ``base`` -> dotted keys (``encoder_args`` and ``unet`` flattened)."""
    out: dict[str, Any] = {}
    for k, v in base.items():
        key = f"{prefix}{k}"
        if isinstance(v, dict) and key in ("unet", "encoder_args", "mask_args"):
            out.update(_flat_base(v, key + "."))
        else:
            out[key] = v
    return out


def load_space(path: str | Path, overrides: dict[str, Any] | None = None) -> SearchSpec:
    """Read, override (CLI flags) and validate a search-space YAML file."""
    p = Path(path)
    if not p.is_file():
        found = sorted(x.name for x in (p.parent if p.parent.is_dir() else Path(".")).glob("*.yaml"))
        raise ZooError(f"search space {path} does not exist;{did_you_mean(p.name, found)} "
                       f"YAML files there: {', '.join(found) or '(none)'}")
    text = p.read_text()
    where = _Where(str(path), text)
    try:
        data = yaml.safe_load(text) or {}
    except yaml.YAMLError as exc:
        raise ZooError(f"{path} is not valid YAML: {exc}") from None
    if not isinstance(data, dict):
        raise where.error((), "a search space is a mapping (name, metric, base, space, ...)")
    data = _merge(data, overrides or {})
    for key in data:
        if key not in TOP_KEYS:
            raise where.error((key,), f"unknown key;{did_you_mean(key, TOP_KEYS)} valid: "
                                      f"{', '.join(TOP_KEYS)}")
    spec = SearchSpec(name=str(data.get("name") or p.stem), path=str(path))
    _settings(spec, data, where)
    base = data.get("base") or {}
    if not isinstance(base, dict):
        raise where.error(("base",), "must be a mapping of TrainConfig options")
    spec.base = _flat_base(base)
    space = data.get("space") or {}
    if not isinstance(space, dict):
        raise where.error(("space",), "must map config paths to {kind: values}")
    for key, domain in space.items():
        spec.space[str(key)] = _domain(str(key), domain, where)
    _validate_values(spec, where)
    return spec


def _settings(spec: SearchSpec, data: dict[str, Any], where: _Where) -> None:
    def get(key: str, kind: type, check=lambda v: True, hint: str = "") -> None:
        if key not in data or data[key] is None:
            return
        value = data[key]
        try:
            value = kind(value)
        except (TypeError, ValueError):
            raise where.error((key,), f"must be {kind.__name__}, got {data[key]!r}") from None
        if not check(value):
            raise where.error((key,), hint)
        setattr(spec, key, value)

    get("description", str)
    get("metric", str, lambda v: v in METRICS,
        f"unknown metric '{data.get('metric')}';{did_you_mean(str(data.get('metric')), METRICS)}"
        f" valid: {', '.join(METRICS)} (validation metrics: never tune on test)")
    spec.mode = METRICS[spec.metric]
    get("mode", str, lambda v: v in ("min", "max"), "must be min or max")
    get("max_epochs", int, lambda v: v >= 1, "must be >= 1")
    get("num_samples", int, lambda v: v >= 1, "must be >= 1")
    get("max_failures", int, lambda v: v >= 0, "must be >= 0")
    get("max_concurrent", int, lambda v: v >= 1, "must be >= 1 (or null for no cap)")
    if "seeds" in data:
        seeds = data["seeds"]
        seeds = [seeds] if isinstance(seeds, int) else seeds
        if not isinstance(seeds, list) or not seeds or not all(isinstance(s, int) for s in seeds):
            raise where.error(("seeds",), "must be a non-empty list of integers")
        spec.seeds = list(seeds)
    for key, choices in (("scheduler", SCHEDULERS), ("search", SEARCHES)):
        value = data.get(key)
        if value is None:
            continue
        value = {"type": value} if isinstance(value, str) else value
        if not isinstance(value, dict) or value.get("type", choices[0]) not in choices:
            t = value.get("type") if isinstance(value, dict) else value
            raise where.error((key, "type"), f"unknown {key} '{t}';{did_you_mean(str(t), choices)}"
                                             f" valid: {', '.join(choices)}")
        allowed = {"scheduler": {"type", "grace_period", "reduction_factor"},
                   "search": {"type", "seed"}}[key]
        for opt in value:
            if opt not in allowed:
                raise where.error((key, opt), f"unknown option;{did_you_mean(opt, allowed)} "
                                              f"valid: {', '.join(sorted(allowed))}")
        setattr(spec, key, {"type": choices[0], **value})
    res = data.get("resources")
    if res is not None:
        if not isinstance(res, dict) or set(res) - {"cpu", "gpu"}:
            raise where.error(("resources",), "must be a mapping with cpu and/or gpu")
        for k, v in res.items():
            if not isinstance(v, (int, float)) or v < 0 or (k == "cpu" and v == 0):
                raise where.error(("resources", k), f"must be a number > 0 (gpu may be 0 or a "
                                                    f"fraction like 0.25), got {v!r}")
        spec.resources = {**spec.resources, **{k: float(v) for k, v in res.items()}}


def _domain(key: str, domain: Any, where: _Where) -> tuple[str, Any]:
    at = ("space", key)
    if not isinstance(domain, dict) or len(domain) != 1:
        raise where.error(at, f"must be one of {{{': ..., '.join(KINDS)}: ...}}, got {domain!r}")
    kind, args = next(iter(domain.items()))
    if kind not in KINDS:
        raise where.error((*at, kind), f"unknown sampling kind;{did_you_mean(kind, KINDS)} "
                                       f"valid: {', '.join(KINDS)}")
    if kind in ("choice", "grid"):
        if not isinstance(args, list) or not args:
            raise where.error((*at, kind), "needs a non-empty list of values")
        return kind, args
    n = 3 if kind.startswith("q") else 2
    shape = "[low, high, q]" if n == 3 else "[low, high]"
    if not isinstance(args, list) or len(args) != n or not all(
            isinstance(a, (int, float)) and not isinstance(a, bool) for a in args):
        raise where.error((*at, kind), f"needs {shape} numbers, got {args!r}")
    low, high = args[0], args[1]
    if not low < high:
        raise where.error((*at, kind), f"needs low < high, got {args}")
    if "log" in kind and low <= 0:
        raise where.error((*at, kind), f"needs 0 < low (a log scale), got low={low}")
    if n == 3 and args[2] <= 0:
        raise where.error((*at, kind), f"needs q > 0, got {args[2]}")
    if "randint" in kind and not all(isinstance(a, int) for a in args):
        raise where.error((*at, kind), f"needs integers, got {args}")
    return kind, args


def _candidates(spec: SearchSpec, key: str) -> list[Any]:
    """Values worth checking for one dimension: every listed value, or bounds and middle.
    (Tune's randint excludes ``high``; qrandint includes it.)"""
    kind, args = spec.space[key]
    if kind in ("choice", "grid"):
        return list(args)
    low, high = args[0], args[1]
    if kind == "randint":
        return [low, high - 1]
    if "log" in kind:
        return [low, math.sqrt(low * high), high]
    if kind in ("qrandint",):
        return [low, high]
    return [low, (low + high) / 2, high]


def _validate_values(spec: SearchSpec, where: _Where) -> None:
    from zoo.registry import get_registry

    registry = get_registry()
    encoders = (list(spec.space["encoder"][1]) if spec.space.get("encoder", ("", 0))[0] in
                ("choice", "grid") else [spec.base.get("encoder", TrainConfig.encoder)])
    for enc in encoders:
        if enc not in registry.encoders:
            at = ("space", "encoder") if "encoder" in spec.space else ("base", "encoder")
            raise where.error(at, str(unknown("encoder", enc, registry.encoders)))
    fields = {e: {f.name for f in dataclasses.fields(registry.encoder(e).spec.config)}
              for e in encoders}
    for key in [*spec.base, *spec.space]:
        if key.startswith("encoder_args."):
            arg = key.split(".", 1)[1]
            if not any(arg in f for f in fields.values()):
                known = sorted(set().union(*fields.values()))
                raise where.error(_at(spec, key), f"no encoder in this search ({', '.join(encoders)}) "
                                                  f"has option '{arg}';{did_you_mean(arg, known)} "
                                                  f"valid: {', '.join(known) or '(none)'}")

    def check(at: tuple, flat: dict[str, Any]) -> None:
        try:
            spec.trial_config(flat)
        except ZooError as exc:
            raise where.error(at, str(exc)) from None

    for enc in encoders:
        check(("base",), {"encoder": enc} if "encoder" in spec.space else {})
    for key in spec.space:
        users = [e for e in encoders if not key.startswith("encoder_args.")
                 or key.split(".", 1)[1] in fields[e]]
        for value in _candidates(spec, key):
            for enc in users:  # each value with every encoder that reads it
                check(_at(spec, key), {key: value, **({"encoder": enc} if key != "encoder"
                                                      and "encoder" in spec.space else {})})


def _at(spec: SearchSpec, key: str) -> tuple:
    return ("space", key) if key in spec.space else ("base", *key.split("."))
