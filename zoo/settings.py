"""The one way settings become a validated :class:`~zoo.config.TrainConfig`.

Settings come in layers: a preset, a stored checkpoint's config, a config file, CLI flags,
``--set`` pairs, a search space's sampled values, where a trial runs. :func:`build_config`
merges them in that order and validates the result, the plugins' own options included
(through the registry, which is why this is not in ``zoo.config``: that module stays free of
plugins, and the registry imports it).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any

from zoo.config import TrainConfig, from_dict, nest, parse_loss
from zoo.errors import ZooError

# the plugin each options mapping belongs to
PLUGIN_ARGS = {"encoder": "encoder_args", "mask": "mask_args"}


def build_config(*layers: Mapping[str, Any] | TrainConfig | None, plugins: bool = True,
                 plugin_args: str = "reset") -> TrainConfig:
    """The one way settings become a :class:`TrainConfig`.

    ``layers`` come lowest priority first: a preset, a stored checkpoint's config (a dict or
    a TrainConfig), a config file, named flags, ``--set`` pairs, a search space's values.
    Each is nested (``{"unet": {"depth": 3}}``) or dotted (``{"unet.depth": 3}``); None or
    empty layers are skipped. A later layer replaces values key by key and option mappings
    (``unet``, ``encoder_args``, ...) merge, except that a layer naming another encoder or
    mask than the layers below starts that plugin's options afresh (``plugin_args="reset"``,
    the default: the old options belonged to another plugin). ``plugin_args="filter"``
    instead keeps every layer's options and drops those the chosen plugin does not have: a
    search space tunes ConvMixer's width beside the ``none`` encoder.

    ``plugins=True`` also validates ``encoder_args``, ``mask_args`` and ``loss_args``
    through the plugins' own config classes (they must be installed); ``False`` checks only
    zoo's own fields, for reading a record (a leaderboard row) on a machine without them.
    Raises ZooError naming the bad option and the valid ones.
    """
    if plugin_args not in ("reset", "filter"):
        raise ValueError(f"plugin_args must be 'reset' or 'filter', got {plugin_args!r}")
    data: dict[str, Any] = {}
    for layer in layers:
        if isinstance(layer, TrainConfig):
            layer = layer.to_dict()
        if not layer:
            continue
        if not isinstance(layer, Mapping):
            raise ZooError(f"settings must be a mapping of options, got {layer!r}")
        layer = nest(dict(layer))
        if plugin_args == "reset":
            data = _reset_switched_plugins(data, layer)
        data = merge(data, layer)
    if plugin_args == "filter":
        data = _drop_foreign_args(data)
    config = from_dict(TrainConfig, data)
    if plugins:
        check_plugin_args(config)
    return config


def merge(base: Mapping[str, Any], extra: Mapping[str, Any]) -> dict[str, Any]:
    """``extra`` deep-merged over ``base``: nested mappings merge, anything else replaces."""
    out = dict(base)
    for key, value in extra.items():
        if isinstance(value, Mapping) and isinstance(out.get(key), Mapping):
            out[key] = merge(out[key], value)
        else:
            out[key] = value
    return out


def check_plugin_args(config: TrainConfig) -> None:
    """Build the encoder's, the mask's and every loss term's own config from ``config``,
    so an unknown plugin or a bad option fails here, naming it, before anything runs."""
    from zoo.losses import loss_configs
    from zoo.registry import encoder_config, mask_config

    encoder_config(config.encoder, config.encoder_args)
    mask_config(config.mask, config.mask_args)
    loss_configs(config)


def _reset_switched_plugins(data: dict[str, Any], layer: dict[str, Any]) -> dict[str, Any]:
    """``data`` without the options of a plugin that ``layer`` replaces by another."""
    out = dict(data)
    for selector, args_key in PLUGIN_ARGS.items():
        if selector in layer and layer[selector] != out.get(selector, _selector_default(selector)):
            out.pop(args_key, None)
    if "loss" in layer and isinstance(out.get("loss_args"), Mapping):
        try:
            terms = {name for name, _ in parse_loss(layer["loss"])}
        except ZooError:
            terms = set()  # from_dict names the bad spec
        out["loss_args"] = {k: v for k, v in out["loss_args"].items() if k in terms}
    return out


def _drop_foreign_args(data: dict[str, Any]) -> dict[str, Any]:
    """``data`` with only the encoder/mask options that the chosen plugins have."""
    from zoo.registry import get_registry

    registry = get_registry()
    out = dict(data)
    for selector, args_key in PLUGIN_ARGS.items():
        args = out.get(args_key) or {}
        if not isinstance(args, Mapping):
            raise ZooError(f"'{args_key}' must be a mapping of options, got {args!r}")
        name = str(out.get(selector, _selector_default(selector)))
        entry = registry.encoder(name) if selector == "encoder" else registry.mask(name)
        known = {f.name for f in dataclasses.fields(entry.spec.config)}
        out[args_key] = {k: v for k, v in args.items() if k in known}
    return out


def _selector_default(selector: str) -> Any:
    """TrainConfig's default for field ``selector`` (``"encoder"`` -> ``"none"``)."""
    return TrainConfig.__dataclass_fields__[selector].default
