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
from zoo.plugin.kinds import KIND, KINDS

# what names a plugin (a TrainConfig field), and the key of its options
PLUGIN_ARGS = {kind.name: kind.options for kind in KINDS}


def build_config(*layers: Mapping[str, Any] | TrainConfig | None, plugins: bool = True,
                 plugin_args: str = "reset") -> TrainConfig:
    """The one way settings become a :class:`TrainConfig`.

    ``layers`` come lowest priority first: a preset, a stored checkpoint's config (a dict or
    a TrainConfig), a config file, named flags, ``--set`` pairs, a search space's values.
    Each is nested (``{"unet": {"depth": 3}}``) or dotted (``{"unet.depth": 3}``); None or
    empty layers are skipped. A later layer replaces values key by key and option mappings
    (``unet``, ``encoder_args``, ...) merge, except that a layer naming another encoder,
    mask or loss than a layer below *named* starts its options afresh
    (``plugin_args="reset"``, the default: those options were given for the other one;
    options from layers that named none are kept for whichever is chosen, so a config file's
    ``encoder_args`` serve ``--encoder``). ``plugin_args="filter"``
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
    # each plugin's options as given, in order: (did that layer name the plugin?, options)
    given: dict[str, list[tuple[bool, Any]]] = {selector: [] for selector in PLUGIN_ARGS}
    for layer in layers:
        if isinstance(layer, TrainConfig):
            layer = layer.to_dict()
        if not layer:
            continue
        if not isinstance(layer, Mapping):
            raise ZooError(f"settings must be a mapping of options, got {layer!r}")
        layer = nest(dict(layer))
        for selector, args_key in PLUGIN_ARGS.items():
            if plugin_args == "reset" and selector in layer and selector in data and \
                    layer[selector] != data[selector]:
                given[selector] = _switched(selector, layer[selector], given[selector])
            if args_key in layer:
                given[selector].append((selector in layer, layer.pop(args_key)))
        data = merge(data, layer)
    for selector, args_key in PLUGIN_ARGS.items():
        if given[selector]:
            data[args_key] = _merged(options for _, options in given[selector])
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
    from zoo.plugin.registry import encoder_config, mask_config

    encoder_config(config.encoder, config.encoder_args)  # its "has no options" hint
    mask_config(config.mask, config.mask_args)
    if config.test_mask is not None or config.test_mask_args is not None:
        scoring = config.scoring()
        mask_config(scoring.mask, scoring.mask_args)
    loss_configs(config)  # one config per term the loss mixes


def _switched(selector: str, new: Any, given: list[tuple[bool, Any]]) -> list[tuple[bool, Any]]:
    """The options left when a layer names ``new`` instead of the encoder, mask or loss
    named below: those given beside the old name go (for a loss, those of terms ``new``
    does not use), those given without a name stay."""
    if not KIND[selector].per_term:
        return [(named, options) for named, options in given if not named]
    try:
        terms = {name for name, _ in parse_loss(new)}
    except ZooError:
        terms = set()  # from_dict names the bad spec
    return [(named, {k: v for k, v in options.items() if k in terms}
             if named and isinstance(options, Mapping) else options)
            for named, options in given]


def _merged(layers: Any) -> Any:
    """Option mappings merged in order; a value that is not a mapping replaces them (and
    from_dict names it)."""
    out: Any = {}
    for options in layers:
        out = merge(out, options) if isinstance(options, Mapping) and \
            isinstance(out, Mapping) else options
    return out


def plugin_fields(registry: Any, selector: str, name: str) -> set[str]:
    """The option names of encoder or mask ``name`` (``selector`` says which); an unknown
    name raises the registry's ZooError, which names the valid ones."""
    entry = registry.get(selector, name)
    return {f.name for f in dataclasses.fields(entry.spec.config)}


def _drop_foreign_args(data: dict[str, Any]) -> dict[str, Any]:
    """``data`` with only the encoder/mask options that the chosen plugins have."""
    from zoo.plugin.registry import get_registry

    registry = get_registry()
    out = dict(data)
    # a loss's options are kept per term (a term it does not use is dropped when it is
    # switched, see _switched), so only the kinds with one item are filtered here
    for selector, args_key in ((k.name, k.options) for k in KINDS if not k.per_term):
        args = out.get(args_key) or {}
        if not isinstance(args, Mapping):
            raise ZooError(f"'{args_key}' must be a mapping of options, got {args!r}")
        known = plugin_fields(registry, selector, str(out.get(selector, getattr(TrainConfig,
                                                                                selector))))
        out[args_key] = {k: v for k, v in args.items() if k in known}
    return out
