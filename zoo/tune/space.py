"""Search spaces as data: a YAML file becomes a validated ``SearchSpec``, then Tune objects.

Everything is checked before any trial starts; each error names the file, the line and
the key (``search_spaces/x.yaml:12: space.lr.loguniform: needs 0 < low ...``).
docs/searching.md, "Search spaces", is the schema reference.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from zoo._dicts import flatten
from zoo.config import TrainConfig, nest, preset
from zoo.errors import ZooError, did_you_mean
from zoo.settings import build_config, merge
from zoo.tune._values import check_values, option_at
from zoo.tune._yaml import (KINDS, METRICS, SELECTORS, TOP_KEYS, Where,  # noqa: F401
                            check_path, finite_values, parse_domain, parse_preset,
                            parse_settings, read_yaml)

PLAN_TRIALS_MAX = 500  # the dry-run plan lists trials only up to this many


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
    preset: str | None = None  # a zoo.config preset: the lowest layer, under base
    # the preset's settings when the search was loaded: its trials use these, so a zoo
    # upgraded (or edited) while a search runs, or before a --resume, cannot change them
    preset_values: dict[str, Any] | None = None
    base: dict[str, Any] = field(default_factory=dict)  # flat dotted keys -> value
    space: dict[str, tuple[str, Any]] = field(default_factory=dict)  # path -> (kind, args)

    def grids(self) -> dict[str, list[Any]]:
        """The dimensions Tune enumerates rather than samples, in the file's order:
        ``grid`` ones, and under ``search: grid`` every choice and integer range."""
        all_grid = self.search["type"] == "grid"
        return {key: (list(args) if kind == "grid" else finite_values(kind, args))
                for key, (kind, args) in self.space.items()
                if kind == "grid" or (all_grid and finite_values(kind, args) is not None)}

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

    def layers(self, flat: dict[str, Any], runtime: dict[str, Any] | None = None
               ) -> list[dict[str, Any] | None]:
        """The settings of one trial, lowest first: ``preset`` < ``base`` < sampled values
        (a whole ``unet`` mapping < a dotted ``unet.x``) < ``epochs = max_epochs`` <
        ``runtime`` (where the trial runs: device, threads)."""
        base = {**self.base, **{k: v for k, v in flat.items() if k in self.base}}
        picked = {k: v for k, v in flat.items() if k in self.space or k == "seed"}
        picked = dict(sorted(picked.items(), key=lambda kv: kv[0].count(".")))
        return [self.preset_layer(), {"seed": self.seeds[0]}, base,
                picked, {"epochs": self.max_epochs}, runtime]

    def preset_layer(self) -> dict[str, Any] | None:
        """The preset's settings as the search recorded them (a copy), else as zoo has
        them now; None without a preset."""
        if not self.preset:
            return None
        if self.preset_values is not None:
            return _copy(self.preset_values)
        return preset(self.preset)

    def trial_config(self, flat: dict[str, Any],
                     runtime: dict[str, Any] | None = None) -> TrainConfig:
        """The TrainConfig of one trial from Tune's flat config (or any part of one), built
        from :meth:`layers`; ``encoder_args`` / ``mask_args`` keys that the chosen encoder /
        mask does not have are dropped, so one space can tune ConvMixer's width beside the
        ``none`` encoder. Raises ZooError when the result is invalid.
        """
        from zoo.plugin.contract import verify_encoder
        from zoo.plugin.registry import get_registry

        config = build_config(*self.layers(flat, runtime), plugin_args="filter")
        # the encoder's declared output against what forward returns (cached per config)
        verify_encoder(config.encoder, config.encoder_args, 4 if config.unet.mask_channel else 3,
                       (config.image_size,) * 2, registry=get_registry())
        return config

    def sampled(self, flat: dict[str, Any]) -> dict[str, Any]:
        """A trial's :meth:`layers` merged into one nested dict, unvalidated and without
        building a TrainConfig: what a row records of a trial that reported no config."""
        out: dict[str, Any] = {}
        for layer in self.layers(flat):
            out = merge(out, nest(layer)) if layer else out
        return out

    def fixed(self, key: str) -> Any:
        """The value of option ``key`` that no trial samples: base's, else the preset's,
        else TrainConfig's default."""
        if key in self.base:
            return self.base[key]
        return (self.preset_layer() or {}).get(key, getattr(TrainConfig, key))

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
        """Tune's BasicVariantGenerator for random and grid (it expands ``param_space()``),
        seeded by ``search.seed`` (default 0) so that a rerun samples the same trials, and
        capped at ``max_concurrent`` here (Tune ignores ``max_concurrent_trials`` for a
        generator it is given); else an OptunaSearch on ``metric``/``mode`` (capped by
        :meth:`max_concurrent_trials`)."""
        if self.search["type"] != "optuna":
            from ray.tune.search import BasicVariantGenerator

            return BasicVariantGenerator(random_state=int(self.search.get("seed", 0)),
                                         max_concurrent=self.max_concurrent or 0)
        _require_optuna()
        from ray.tune.search.optuna import OptunaSearch

        return OptunaSearch(metric=self.metric, mode=self.mode,
                            seed=int(self.search.get("seed", 0)))

    def max_concurrent_trials(self) -> int | None:
        """``TuneConfig.max_concurrent_trials``: Tune wraps a Searcher (Optuna) in a
        ConcurrencyLimiter with it; random and grid searches are capped by their generator."""
        return self.max_concurrent if self.search["type"] == "optuna" else None

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
            "preset", "base")}
        plan["space"] = {k: {kind: _copy(args)} for k, (kind, args) in self.space.items()}
        plan["n_trials"] = self.n_trials()
        plan["finite"] = self.finite()
        if plan["finite"] and (plan["n_trials"] or 0) <= PLAN_TRIALS_MAX:
            points = self.points()
            plan["points"] = points
            plan["trials"] = [self.trial_config(p).to_dict() for p in points]
        return plan


def load_space(path: str | Path, overrides: dict[str, Any] | None = None) -> SearchSpec:
    """Read and validate a search-space YAML file. ``overrides`` (from CLI flags) replace
    top-level keys; ``overrides["base"]`` adds fixed options, and pins any option the
    space would search (``--set lr=0.01`` takes ``lr`` out of the space)."""
    data, where = read_yaml(path)
    overrides = dict(overrides or {})
    cli_base = flatten(overrides.pop("base", None) or {}, ("encoder_args", "mask_args", "unet"))
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
    parse_settings(spec, data, where)
    spec.preset = parse_preset(data.get("preset"), where)
    spec.preset_values = preset(spec.preset) if spec.preset else None

    base = data.get("base") or {}
    if not isinstance(base, dict):
        raise where.error(("base",), "must be a mapping of TrainConfig options")
    spec.base = flatten(base, ("encoder_args", "mask_args", "unet"))
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
        spec.space[key] = parse_domain(key, domain, where)
    for key in [*spec.base, *spec.space]:
        check_path(key, option_at(spec, key), where)
    _check_search(spec, where)
    check_values(spec, where)
    return spec


# -- helpers ----------------------------------------------------------------------------


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
                       "(or pip install 'zoo-inpaint[optuna]'; or use search: {type: random})"
                       ) from None


def _copy(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _copy(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_copy(v) for v in value]
    return value


def _check_search(spec: SearchSpec, where: Where) -> None:
    kind = spec.search["type"]
    if kind == "grid":
        for key, (dim, _) in spec.space.items():
            if finite_values(dim, spec.space[key][1]) is None:
                raise where.error(("space", key, dim), f"search: grid enumerates every value, "
                                                       f"but {dim} is continuous; list the values "
                                                       "with grid: [...] or use search: random")
    if kind == "optuna":
        _require_optuna()
        for key, (dim, args) in spec.space.items():
            if dim == "grid":
                raise where.error(("space", key, dim), "Optuna suggests every value itself: "
                                                       "use choice instead of grid")
            if dim == "qloguniform":  # Ray would drop q with only a log warning
                raise where.error(("space", key, dim), "Optuna cannot quantize a log scale: "
                                                       "use loguniform, or search: random")
            if dim == "choice" and not all(a is None or isinstance(a, (bool, int, float, str))
                                           for a in args):
                raise where.error(("space", key, dim), "Optuna chooses only among plain values "
                                                       "(numbers, strings); use search: random "
                                                       "for lists or mappings")
        if len(spec.seeds) > 1:
            raise where.error(("seeds",), "Optuna runs one seed per trial: use seeds: [0] "
                                          "(or search: random to repeat configs over seeds)")
