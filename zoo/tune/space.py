"""Search spaces as data: a YAML file becomes a validated ``SearchSpec``, then Tune objects.

Everything is checked before any trial starts; each error names the file, the line and
the key (``search_spaces/x.yaml:12: space.lr.loguniform: needs 0 < low ...``).
docs/search_spaces.md is the schema reference.
"""

from __future__ import annotations

import dataclasses
import itertools
import math
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from zoo.config import TrainConfig, UNetConfig, nest
from zoo.errors import ZooError, did_you_mean
from zoo.tune._yaml import Where, read_yaml

TOP_KEYS = ("name", "description", "metric", "mode", "max_epochs", "num_samples", "seeds",
            "scheduler", "search", "resources", "max_failures", "max_concurrent", "base",
            "space")
RANGES = ("uniform", "loguniform", "quniform", "qloguniform", "randint", "qrandint")
KINDS = ("choice", "grid", *RANGES)
# reported by the training function after every epoch, with their better direction
# (validation set only: tuning on test would make the test score meaningless)
METRICS = {"val_psnr_hole": "max", "val_ssim_hole": "max", "val_l1_hole": "min",
           "val_dice": "max", "val_psnr": "max", "val_ssim": "max", "val_l1": "min",
           "train_loss": "min"}
SCHEDULERS = {"asha": ("grace_period", "reduction_factor"), "fifo": ()}
SEARCHES = {"random": (), "grid": (), "optuna": ("seed",)}
# option dicts whose valid keys depend on a registry name chosen in the same config
SELECTORS = {"encoder_args": "encoder", "mask_args": "mask"}
PLAN_TRIALS_MAX = 500  # the dry-run plan lists trials only up to this many
PAIR_CHECKS_MAX = 1500  # value pairs built into configs at load time (~1 ms each)
COUPLED_HINT = ("; to search depth and widths together, choose whole unet mappings: "
                "unet: {choice: [{depth: 2, widths: [64, 128, 256]}, "
                "{depth: 3, widths: [32, 64, 128, 256]}]}")


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
    base: dict[str, Any] = field(default_factory=dict)  # flat dotted keys -> value
    space: dict[str, tuple[str, Any]] = field(default_factory=dict)  # path -> (kind, args)

    def grids(self) -> dict[str, list[Any]]:
        """The dimensions Tune enumerates rather than samples, in the file's order:
        ``grid`` ones, and under ``search: grid`` every choice and integer range."""
        all_grid = self.search["type"] == "grid"
        return {key: (list(args) if kind == "grid" else _enumerate(kind, args))
                for key, (kind, args) in self.space.items()
                if kind == "grid" or (all_grid and _enumerate(kind, args) is not None)}

    def param_space(self) -> dict[str, Any]:
        """Tune's ``param_space``: flat dotted keys -> domains, the constant ``base``
        values (so each trial's config is complete) and ``seed`` (a grid when several)."""
        from ray import tune

        out: dict[str, Any] = {k: _copy(v) for k, v in self.base.items()}
        grids = self.grids()
        for key, (kind, args) in self.space.items():
            if key in grids:
                out[key] = tune.grid_search(_copy(grids[key]))
            elif kind == "choice":
                out[key] = tune.choice(_copy(args))
            else:
                out[key] = _tune_range(kind, args)
        out["seed"] = tune.grid_search(list(self.seeds)) if len(self.seeds) > 1 else self.seeds[0]
        return out

    def trial_config(self, flat: dict[str, Any]) -> TrainConfig:
        """The TrainConfig of one trial from Tune's flat config (or any part of one).

        ``base`` < sampled values (a whole ``unet`` mapping < a dotted ``unet.x``);
        ``epochs = max_epochs``; ``encoder_args`` / ``mask_args`` keys that the chosen
        encoder / mask does not have are dropped, so one space can tune ConvMixer's
        width beside the ``none`` encoder. Raises ZooError when the result is invalid.
        """
        from zoo.registry import encoder_config, get_registry, mask_config

        base = {**self.base, **{k: v for k, v in flat.items() if k in self.base}}
        picked = {k: v for k, v in flat.items() if k in self.space or k == "seed"}
        picked = dict(sorted(picked.items(), key=lambda kv: kv[0].count(".")))
        data = _merge(nest(base), nest(picked))
        data.setdefault("seed", self.seeds[0])
        data["epochs"] = self.max_epochs
        registry = get_registry()
        for args_key, selector in SELECTORS.items():
            name = str(data.get(selector, getattr(TrainConfig, selector)))
            known = _fields(registry, selector, name)
            args = data.get(args_key) or {}
            if not isinstance(args, dict):
                raise ZooError(f"'{args_key}' must be a mapping of options, got {args!r}")
            data[args_key] = {k: v for k, v in args.items() if k in known}
        config = TrainConfig.from_dict(data)
        encoder_config(config.encoder, config.encoder_args)  # the plugins' own checks
        mask_config(config.mask, config.mask_args)
        return config

    def scheduler_obj(self) -> Any:
        """ASHA (stops weak trials at epoch milestones) or FIFO. ``metric``/``mode`` are
        not set here: pass them to ``tune.TuneConfig`` (Tune refuses them twice)."""
        from ray.tune.schedulers import ASHAScheduler, FIFOScheduler

        if self.scheduler["type"] == "fifo":
            return FIFOScheduler()
        return ASHAScheduler(time_attr="training_iteration", max_t=self.max_epochs,
                             grace_period=int(self.scheduler.get("grace_period", 1)),
                             reduction_factor=float(self.scheduler.get("reduction_factor", 2)))

    def search_alg(self) -> Any:
        """None for random and grid (Tune's default BasicVariantGenerator expands
        ``param_space()``), else an OptunaSearch on ``metric``/``mode``."""
        if self.search["type"] != "optuna":
            return None
        _require_optuna()
        from ray.tune.search.optuna import OptunaSearch

        return OptunaSearch(metric=self.metric, mode=self.mode,
                            seed=int(self.search.get("seed", 0)))

    def n_trials(self) -> int | None:
        """How many trials Tune will run: num_samples x grid sizes x seeds (with Optuna,
        which allows no grids and one seed, just num_samples)."""
        sizes = [len(v) for v in self.grids().values()]
        return self.num_samples * math.prod(sizes) * len(self.seeds)

    def finite(self) -> bool:
        """True when every trial is known before the search starts (all grids)."""
        return set(self.grids()) == set(self.space)

    def points(self) -> list[dict[str, Any]]:
        """Tune's trials of a finite space, in Tune's order (its grid keys sorted, the
        first varying fastest; all of it repeated num_samples times)."""
        if not self.finite():
            raise ZooError(f"search '{self.name}' samples some values at random; its trials "
                           "are only known when they run")
        grids = {**self.grids(), "seed": list(self.seeds)}
        keys = sorted(grids)
        combos = itertools.product(*(grids[k] for k in reversed(keys)))
        one = [dict(zip(reversed(keys), combo)) for combo in combos]
        return [{k: p[k] for k in [*self.space, "seed"]} for p in one] * self.num_samples

    def plan(self) -> dict[str, Any]:
        """Everything `zoo tune --dry-run` shows, as JSON-safe data: settings, base, space,
        n_trials and, for finite spaces, every trial's point and full config."""
        plan: dict[str, Any] = {k: _copy(getattr(self, k)) for k in (
            "name", "path", "description", "metric", "mode", "max_epochs", "num_samples",
            "seeds", "scheduler", "search", "resources", "max_failures", "max_concurrent",
            "base")}
        plan["space"] = {k: {kind: _copy(args)} for k, (kind, args) in self.space.items()}
        plan["n_trials"] = self.n_trials()
        plan["finite"] = self.finite()
        if plan["finite"] and (plan["n_trials"] or 0) <= PLAN_TRIALS_MAX:
            points = self.points()
            plan["points"] = points
            plan["trials"] = [self.trial_config(p).to_dict() for p in points]
        return plan


def render_plan(spec: SearchSpec) -> Any:
    """A rich renderable of ``spec.plan()`` for ``zoo tune --dry-run``."""
    from rich.console import Group
    from rich.table import Table

    plan = spec.plan()
    settings = Table(title=f"search '{spec.name}' ({spec.path})", show_header=False)
    for key in ("description", "metric", "mode", "max_epochs", "num_samples", "seeds",
                "scheduler", "search", "resources", "max_failures", "max_concurrent"):
        value = plan[key]
        if isinstance(value, dict):  # {type: asha, grace_period: 1} -> asha (grace_period=1)
            rest = ", ".join(f"{k}={v:g}" if isinstance(v, float) else f"{k}={v}"
                             for k, v in value.items() if k != "type")
            value = (f"{rest} per trial" if "type" not in value
                     else f"{value['type']} ({rest})" if rest else value["type"])
        if key == "max_concurrent" and value is None:
            value = "no cap"
        settings.add_row(key, _short(value, 80))
    settings.add_row("trials", f"[bold]{plan['n_trials']}[/]"
                     + ("" if plan["finite"] else " (values drawn when the search runs)"))
    fixed = Table(title="fixed for every trial (base)")
    fixed.add_column("option")
    fixed.add_column("value")
    for key, value in plan["base"].items():
        fixed.add_row(key, _short(value))
    fixed.add_row("epochs", f"{spec.max_epochs} (max_epochs)")
    sampled = Table(title="searched (space)")
    for col in ("option", "kind", "values"):
        sampled.add_column(col)
    grids = spec.grids()
    for key, (kind, args) in spec.space.items():
        shown = kind if key not in grids or kind == "grid" else f"{kind} (as grid)"
        sampled.add_row(key, shown, _short(args, 80))
    sampled.add_row("seed", "grid" if len(spec.seeds) > 1 else "fixed", _short(spec.seeds))
    parts: list[Any] = [settings, fixed, sampled]
    if "points" in plan:
        trials = Table(title=f"the {len(plan['points'])} trials, in Tune's order")
        trials.add_column("#", justify="right")
        keys = [*spec.space, "seed"]
        for key in keys:
            trials.add_column(key)
        for i, point in enumerate(plan["points"]):
            trials.add_row(str(i), *(_short(point[k]) for k in keys))
        parts.append(trials)
    return Group(*parts)


def load_space(path: str | Path, overrides: dict[str, Any] | None = None) -> SearchSpec:
    """Read and validate a search-space YAML file. ``overrides`` (from CLI flags) replace
    top-level keys; ``overrides["base"]`` adds fixed options, and pins any option the
    space would search (``--set lr=0.01`` takes ``lr`` out of the space)."""
    data, where = read_yaml(path)
    overrides = dict(overrides or {})
    cli_base = _flatten(overrides.pop("base", None) or {}, ("encoder_args", "mask_args", "unet"))
    for key, value in overrides.items():
        where.cli.add((key,))
        if isinstance(value, dict) and isinstance(data.get(key), dict):
            value = {**data[key], **value}
        data[key] = value
    for key in data:
        if key not in TOP_KEYS:
            raise where.error((key,), f"unknown key;{did_you_mean(str(key), TOP_KEYS)} valid: "
                                      f"{', '.join(TOP_KEYS)}")
    spec = SearchSpec(name=str(data.get("name") or Path(path).stem), path=str(path))
    _settings(spec, data, where)

    base = data.get("base") or {}
    if not isinstance(base, dict):
        raise where.error(("base",), "must be a mapping of TrainConfig options")
    spec.base = _flatten(base, ("encoder_args", "mask_args", "unet"))
    for key in cli_base:
        where.cli.add(("base", *key.split(".")))
    spec.base.update(cli_base)
    space = data.get("space") or {}
    if not isinstance(space, dict):
        raise where.error(("space",), "must map TrainConfig options to {kind: values}")
    for key, domain in space.items():
        key = str(key)
        if key in cli_base:
            continue  # pinned on the command line
        if key in spec.base:
            raise where.error(("space", key), "is also fixed in base; remove one of them")
        spec.space[key] = _domain(key, domain, where)
    for key in [*spec.base, *spec.space]:
        _check_path(key, _at(spec, key), where)
    _check_search(spec, where)
    _check_values(spec, where)
    return spec


# -- helpers ----------------------------------------------------------------------------


def _enumerate(kind: str, args: Any) -> list[Any] | None:
    """Every value a dimension can take, when it is a finite list; else None."""
    if kind in ("choice", "grid"):
        return list(args)
    if kind == "randint":  # ours includes high (see docs/search_spaces.md)
        return list(range(args[0], args[1] + 1))
    if kind == "qrandint":
        return list(range(args[0], args[1] + 1, args[2]))
    return None


def _tune_range(kind: str, args: list[Any]) -> Any:
    """Tune's domain for a range. randint and qrandint include ``high`` here; Tune's
    randint excludes it (and so does its qrandint when q == 1)."""
    from ray import tune

    if kind == "randint" or (kind == "qrandint" and args[2] == 1):
        return tune.randint(args[0], args[1] + 1)
    return getattr(tune, kind)(*args)


def _require_optuna() -> None:
    try:
        import optuna  # noqa: F401
    except ImportError:
        raise ZooError("search type 'optuna' needs the optuna package: pip install optuna "
                       "(or use search: {type: random})") from None


def _fields(registry: Any, selector: str, name: str) -> set[str]:
    entry = registry.encoder(name) if selector == "encoder" else registry.mask(name)
    return {f.name for f in dataclasses.fields(entry.spec.config)}


def _merge(a: dict[str, Any], b: dict[str, Any]) -> dict[str, Any]:
    out = dict(a)
    for k, v in b.items():
        out[k] = _merge(out[k], v) if isinstance(v, dict) and isinstance(out.get(k), dict) else v
    return out


def _flatten(d: dict[str, Any], nested: tuple[str, ...], prefix: str = "") -> dict[str, Any]:
    """Nested option dicts -> dotted keys; only ``nested`` fields are opened (their
    values may be dicts of options), any other value is kept whole."""
    out: dict[str, Any] = {}
    for k, v in d.items():
        key = f"{prefix}{k}"
        if isinstance(v, dict) and key in nested:
            out.update(_flatten(v, (), key + "."))
        else:
            out[key] = v
    return out


def _copy(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _copy(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_copy(v) for v in value]
    return value


def _short(value: Any, width: int = 60) -> str:
    text = str(value)
    return text if len(text) <= width else text[:width - 3] + "..."


def _at(spec: SearchSpec, key: str) -> tuple[Any, ...]:
    """The YAML path of an option, for error locations."""
    return ("space", key) if key in spec.space else ("base", *key.split("."))


def _settings(spec: SearchSpec, data: dict[str, Any], where: Where) -> None:
    def get(key: str, kind: type, ok: Any = lambda v: True, hint: str = "") -> None:
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
    if data.get("seeds") is not None:
        seeds = data["seeds"]
        seeds = [seeds] if isinstance(seeds, int) and not isinstance(seeds, bool) else seeds
        if (not isinstance(seeds, list) or not seeds
                or not all(isinstance(s, int) and not isinstance(s, bool) for s in seeds)):
            raise where.error(("seeds",), f"must be a non-empty list of integers, got {seeds!r}")
        if len(set(seeds)) != len(seeds):
            raise where.error(("seeds",), f"lists a seed twice: {seeds}")
        spec.seeds = list(seeds)
    for key, table in (("scheduler", SCHEDULERS), ("search", SEARCHES)):
        value = data.get(key)
        if value is None:
            continue
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
    if spec.scheduler["type"] == "asha":
        grace = spec.scheduler.get("grace_period", 1)
        if not isinstance(grace, int) or isinstance(grace, bool) or not 1 <= grace <= spec.max_epochs:
            raise where.error(("scheduler", "grace_period"), f"must be an integer epoch in "
                                                             f"1..max_epochs ({spec.max_epochs}), got {grace!r}")
        factor = spec.scheduler.get("reduction_factor", 2)
        if not isinstance(factor, (int, float)) or isinstance(factor, bool) or factor <= 1:
            raise where.error(("scheduler", "reduction_factor"), f"must be a number > 1, got {factor!r}")
    _resources(spec, data.get("resources"), where)


def _resources(spec: SearchSpec, res: Any, where: Where) -> None:
    if res is None:
        return
    if not isinstance(res, dict):
        raise where.error(("resources",), "must be a mapping like {cpu: 1, gpu: 0.25}")
    for key, value in res.items():
        if key not in ("cpu", "gpu"):
            raise where.error(("resources", key), f"unknown resource;{did_you_mean(str(key), ('cpu', 'gpu'))} "
                                                  "valid: cpu, gpu")
        if not isinstance(value, (int, float)) or isinstance(value, bool) or value < 0 or (
                key == "cpu" and value == 0):
            raise where.error(("resources", key), f"must be a number > 0 (gpu may be 0 or a "
                                                  f"fraction like 0.25), got {value!r}")
        if value > 1 and not float(value).is_integer():
            raise where.error(("resources", key), f"Ray shares a {key} only in fractions "
                                                  f"below 1; above 1 use a whole number, got {value}")
    spec.resources = {**spec.resources, **{k: float(v) for k, v in res.items()}}


def _number(value: Any) -> Any:
    """YAML 1.1 reads ``1e-4`` (no dot) as a string; take it as the number it means."""
    if isinstance(value, str):
        try:
            return float(value)
        except ValueError:
            return value
    return value


def _domain(key: str, domain: Any, where: Where) -> tuple[str, Any]:
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


def _check_path(key: str, at: tuple[Any, ...], where: Where) -> None:
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


def _check_search(spec: SearchSpec, where: Where) -> None:
    kind = spec.search["type"]
    if kind == "grid":
        for key, (dim, _) in spec.space.items():
            if _enumerate(dim, spec.space[key][1]) is None:
                raise where.error(("space", key, dim), f"search: grid enumerates every value, "
                                                       f"but {dim} is continuous; list the values "
                                                       "with grid: [...] or use search: random")
    if kind == "optuna":
        _require_optuna()
        for key, (dim, args) in spec.space.items():
            if dim == "grid":
                raise where.error(("space", key, dim), "Optuna suggests every value itself: "
                                                       "use choice instead of grid")
            if dim == "choice" and not all(a is None or isinstance(a, (bool, int, float, str))
                                           for a in args):
                raise where.error(("space", key, dim), "Optuna chooses only among plain values "
                                                       "(numbers, strings); use search: random "
                                                       "for lists or mappings")
        if len(spec.seeds) > 1:
            raise where.error(("seeds",), "Optuna runs one seed per trial: use seeds: [0] "
                                          "(or search: random to repeat configs over seeds)")


def _check_values(spec: SearchSpec, where: Where) -> None:
    """Build the TrainConfig of every listed value and of each range's bounds and an
    inside point, with every encoder and mask the search can pick that reads it."""
    from zoo.registry import get_registry

    registry = get_registry()
    picks: dict[str, list[str]] = {}  # selector -> the names the search can pick
    known: dict[str, dict[str, set[str]]] = {}  # selector -> name -> its option names
    for selector in SELECTORS.values():
        if selector in spec.space:
            kind, args = spec.space[selector]
            names = _enumerate(kind, args)
            if names is None:
                raise where.error(("space", selector, kind), "must be a choice or grid of names")
            ats = [("space", selector, kind, i) for i in range(len(names))]
        else:
            names = [spec.base.get(selector, getattr(TrainConfig, selector))]
            ats = [("base", selector)]
        for name, at in zip(names, ats):
            try:
                known.setdefault(selector, {})[str(name)] = _fields(registry, selector, str(name))
            except ZooError as exc:
                raise where.error(at, str(exc)) from None
        picks[selector] = [str(n) for n in names]

    for args_key, selector in SELECTORS.items():
        for key in [*spec.base, *spec.space]:
            if key == args_key:  # a choice of whole option mappings
                kind, values = spec.space[key]
                for i, value in enumerate(values):
                    if not isinstance(value, dict):
                        raise where.error(("space", key, kind, i), f"must be a mapping of "
                                                                   f"{selector} options, got {value!r}")
                    for arg in value:
                        _check_arg(args_key, selector, str(arg), known, ("space", key, kind, i), where)
            elif key.startswith(args_key + "."):
                _check_arg(args_key, selector, key.split(".", 1)[1], known, _at(spec, key), where)

    def check(at: tuple[Any, ...], point: dict[str, Any], key: str = "", kind: str = "") -> None:
        try:
            spec.trial_config(point)
        except ZooError as exc:
            message = str(exc)
            if key in ("unet.depth", "unet.widths") and "unet.widths needs" in message:
                message += COUPLED_HINT
            if "must be int" in message and kind in ("uniform", "loguniform", "quniform",
                                                     "qloguniform"):
                message += f"; {key} takes integers: use randint or qrandint"
            raise where.error(at or _blame(spec, message), message) from None

    sampled = [s for s in SELECTORS.values() if s in spec.space]
    combos = [dict(zip(sampled, names)) for names in
              itertools.product(*(picks[s] for s in sampled))]
    for combo in combos:
        check((), combo)  # base alone, with each encoder and mask the search can pick
    dims = [(key, kind, _candidates(kind, args)) for key, (kind, args) in spec.space.items()]
    for key, kind, values in dims:
        for at, value in values:
            for combo in _fitting(combos, {key: value}, known):
                check(("space", key, kind, *at), {**combo, key: value}, key, kind)
    # pairs catch options that constrain each other (unet.depth with unet.widths); the
    # full product can be huge, and pairs find the usual conflicts
    pairs = list(itertools.combinations(dims, 2))
    if sum(len(a[2]) * len(b[2]) for a, b in pairs) * len(combos) > PAIR_CHECKS_MAX:
        return
    for (key1, _, values1), (key2, kind2, values2) in pairs:
        for (_, v1), (at2, v2) in itertools.product(values1, values2):
            for combo in _fitting(combos, {key1: v1, key2: v2}, known):
                try:
                    spec.trial_config({**combo, key1: v1, key2: v2})
                except ZooError as exc:
                    raise where.error(("space", key2, kind2, *at2),
                                      f"with {key1} = {v1!r}: {exc}") from None


def _fitting(combos: list[dict[str, str]], point: dict[str, Any],
             known: dict[str, dict[str, set[str]]]) -> list[dict[str, str]]:
    """The encoder/mask picks that agree with ``point`` and read all of its options."""
    return [c for c in combos if all(point.get(s, n) == n for s, n in c.items())
            and all(_reads(k, c, known) for k in point)]


def _check_arg(args_key: str, selector: str, arg: str, known: dict[str, dict[str, set[str]]],
               at: tuple[Any, ...], where: Where) -> None:
    if any(arg in fields for fields in known[selector].values()):
        return
    every = sorted(set().union(*known[selector].values()))
    options = "; ".join(f"{name}: {', '.join(sorted(fields)) or '(no options)'}"
                        for name, fields in known[selector].items())
    raise where.error(at, f"no {selector} this search can pick has option '{arg}';"
                          f"{did_you_mean(arg, every)} {args_key} by {selector}: {options}")


def _reads(key: str, combo: dict[str, str], known: dict[str, dict[str, set[str]]]) -> bool:
    """Whether the encoder/mask in ``combo`` use option ``key`` (others drop it)."""
    for args_key, selector in SELECTORS.items():
        if key.startswith(args_key + ".") and selector in combo:
            return key.split(".", 1)[1] in known[selector][combo[selector]]
    return True


def _candidates(kind: str, args: Any) -> list[tuple[tuple[Any, ...], Any]]:
    """(YAML sub-path, value) pairs worth checking: every listed value, or a range's
    bounds and a point inside it that is not a round number (an int option given a
    float range fails on it, as it would in a trial)."""
    values = _enumerate(kind, args) if kind in ("choice", "grid") else None
    if values is not None:
        return [((i,), v) for i, v in enumerate(values)]
    low, high = args[0], args[1]
    if kind in ("randint", "qrandint"):
        q = args[2] if kind == "qrandint" else 1
        return [((0,), low), ((1,), high), ((), low + (high - low) // (2 * q) * q)]
    inside = (math.exp(math.log(low) + 0.37 * (math.log(high) - math.log(low)))
              if "log" in kind else low + 0.37 * (high - low))
    if kind.startswith("q"):
        inside = round(inside / args[2]) * args[2]
    return [((0,), float(low)), ((1,), float(high)), ((), inside)]


def _blame(spec: SearchSpec, message: str) -> tuple[Any, ...]:
    """The base option an error message names (its line), else ``base`` itself."""
    named = [k for k in spec.base if re.search(rf"(?<![\w.]){re.escape(k)}(?!\w)", message)]
    return _at(spec, max(named, key=len)) if named else ("base",)
