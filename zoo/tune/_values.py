"""The values of a search space checked before any trial starts: the TrainConfig of every
listed value and of each range's bounds and an inside point is built, with every encoder
and mask the search can pick, and an error is blamed on the line of the value."""

from __future__ import annotations

import itertools
import math
import re
from typing import Any

from zoo.errors import ZooError, did_you_mean
from zoo.settings import plugin_fields
from zoo.tune._yaml import SELECTORS, Where, finite_values

PAIR_CHECKS_MAX = 1500  # value pairs built into configs at load time (~1 ms each)
COUPLED_HINT = ("; to search depth and widths together, choose whole unet mappings: "
                "unet: {choice: [{depth: 2, widths: [64, 128, 256]}, "
                "{depth: 3, widths: [32, 64, 128, 256]}]}")


def option_at(spec: Any, key: str) -> tuple[Any, ...]:
    """The YAML path of an option, for error locations."""
    return ("space", key) if key in spec.space else ("base", *key.split("."))


def check_values(spec: Any, where: Where) -> None:
    """Build the TrainConfig of every listed value and of each range's bounds and an
    inside point, with every encoder and mask the search can pick that reads it."""
    picks, known = _plugin_picks(spec, where)
    _check_option_names(spec, known, where)
    sampled = [s for s in SELECTORS.values() if s in spec.space]
    combos = [dict(zip(sampled, names)) for names in
              itertools.product(*(picks[s] for s in sampled))]
    for combo in combos:
        _check_point(spec, where, (), combo)  # base alone, with each encoder and mask
    dims = [(key, kind, _candidates(kind, args)) for key, (kind, args) in spec.space.items()]
    for key, kind, values in dims:
        for at, value in values:
            for combo in _fitting(combos, {key: value}, known):
                _check_point(spec, where, ("space", key, kind, *at), {**combo, key: value},
                             key, kind)
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


def _plugin_picks(spec: Any, where: Where
                  ) -> tuple[dict[str, list[str]], dict[str, dict[str, set[str]]]]:
    """The encoder and mask names the search can pick (selector -> names), and each one's
    option names (selector -> name -> options); an unknown name is blamed where it stands."""
    from zoo.plugin.registry import get_registry

    registry = get_registry()
    picks: dict[str, list[str]] = {}
    known: dict[str, dict[str, set[str]]] = {}
    for selector in SELECTORS.values():
        if selector in spec.space:
            kind, args = spec.space[selector]
            names = finite_values(kind, args)
            if names is None:
                raise where.error(("space", selector, kind), "must be a choice or grid of names")
            ats = [("space", selector, kind, i) for i in range(len(names))]
        else:
            names = [spec.fixed(selector)]
            ats = [("base", selector)]
        for name, at in zip(names, ats):
            try:
                known.setdefault(selector, {})[str(name)] = plugin_fields(registry, selector, str(name))
            except ZooError as exc:
                raise where.error(at, str(exc)) from None
        picks[selector] = [str(n) for n in names]
    return picks, known


def _check_option_names(spec: Any, known: dict[str, dict[str, set[str]]],
                        where: Where) -> None:
    """Every encoder_args / mask_args option, in base or space, is read by some pick."""
    for args_key, selector in SELECTORS.items():
        for key in [*spec.base, *spec.space]:
            if key == args_key:  # a choice of whole option mappings
                kind, values = spec.space[key]
                for i, value in enumerate(values):
                    at = ("space", key, kind, i)
                    if not isinstance(value, dict):
                        raise where.error(at, f"must be a mapping of {selector} options, "
                                              f"got {value!r}")
                    for arg in value:
                        _check_arg(args_key, selector, str(arg), known, at, where)
            elif key.startswith(args_key + "."):
                _check_arg(args_key, selector, key.split(".", 1)[1], known, option_at(spec, key), where)


def _check_point(spec: Any, where: Where, at: tuple[Any, ...], point: dict[str, Any],
                 key: str = "", kind: str = "") -> None:
    """The trial config of ``point`` builds, or the error is blamed on ``at`` (else on the
    line the message names), with a hint for the usual mistakes."""
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
    values = finite_values(kind, args) if kind in ("choice", "grid") else None
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


def _blame(spec: Any, message: str) -> tuple[Any, ...]:
    """The base option an error message names (its line), else ``base`` itself."""
    named = [k for k in spec.base if re.search(rf"(?<![\w.]){re.escape(k)}(?!\w)", message)]
    return option_at(spec, max(named, key=len)) if named else ("base",)
