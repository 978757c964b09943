"""Plugin discovery: one pluggy manager, fed by the ``zoo.plugins`` entry-point group.

Built-in plugins (``plugins/``, installed as ``zoo_plugins``) come through the same entry
points as any outside package. A plugin that fails to import, raises in its hook, registers
a config whose defaults fail (``zoo.contract.check_defaults``) or a name that is taken is
recorded in ``Registry.broken``; everything else keeps working, and looking up a name it
offered says why it is unavailable. ``ZOO_STRICT_PLUGINS=1`` turns those failures into
errors (for plugin authors); ``ZOO_PLUGINS=a,b`` loads only the named plugins.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import traceback
from collections.abc import Iterable
from dataclasses import dataclass, field
from importlib import metadata
from types import ModuleType
from typing import Any

import pluggy

from zoo.config import from_dict
from zoo.contract import ContractError, check_defaults, probe_encoder, tag
from zoo.errors import ZooError, unknown
from zoo.hookspecs import EncoderSpec, LossSpec, MaskSpec, ZooHookSpecs

log = logging.getLogger(__name__)

ENTRY_POINT_GROUP = "zoo.plugins"
ENV_ALLOW = "ZOO_PLUGINS"
ENV_STRICT = "ZOO_STRICT_PLUGINS"
_KIND = {EncoderSpec: "encoder", MaskSpec: "mask", LossSpec: "loss"}


@dataclass(frozen=True)
class Registered:
    """One registered encoder, mask or loss term, with where it came from."""

    spec: Any  # EncoderSpec | MaskSpec | LossSpec
    plugin: str  # entry-point (or module) name
    package: str  # distribution that provides it
    version: str


@dataclass(frozen=True)
class BrokenPlugin:
    """A plugin that failed; ``error`` says why (one line) and ``detail`` has the traceback."""

    plugin: str
    package: str
    version: str
    error: str
    detail: str = ""
    offers: tuple[tuple[str, str], ...] = ()  # (kind, name) it tried to register, if known


@dataclass
class Registry:
    """What the plugins registered. Look names up with ``encoder()`` / ``mask()``."""

    encoders: dict[str, Registered] = field(default_factory=dict)
    masks: dict[str, Registered] = field(default_factory=dict)
    losses: dict[str, Registered] = field(default_factory=dict)
    broken: list[BrokenPlugin] = field(default_factory=list)
    plugins: dict[str, tuple[str, str]] = field(default_factory=dict)  # name -> (pkg, version)

    def encoder(self, name: str) -> Registered:
        """The encoder registered as ``name``; a ZooError with suggestions otherwise."""
        return self._lookup("encoder", self.encoders, name)

    def mask(self, name: str) -> Registered:
        """The mask generator registered as ``name``; a ZooError with suggestions otherwise."""
        return self._lookup("mask", self.masks, name)

    def loss(self, name: str) -> Registered:
        """The loss term registered as ``name``; a ZooError with suggestions otherwise."""
        return self._lookup("loss", self.losses, name)

    def _lookup(self, kind: str, table: dict[str, Registered], name: str) -> Registered:
        if name in table:
            return table[name]
        for b in self.broken:  # registered by a plugin that was then found broken: say why
            if (kind, name) in b.offers:
                who = "" if f"(plugin '{b.plugin}'" in b.error else (
                    f"plugin '{b.plugin}' ({b.package} {b.version}) is broken: ")
                raise ZooError(f"{kind} '{name}' cannot be used: {who}{b.error} "
                               "(`zoo plugins --check` checks every plugin)")
        err = unknown(kind, name, table)
        broken = [b.plugin for b in self.broken]
        if broken:  # the name may belong to a plugin that failed to load
            err = ZooError(f"{err} (broken plugins: {', '.join(broken)}; see `zoo plugins`)")
        raise err


def _strict() -> bool:
    return os.environ.get(ENV_STRICT, "").lower() in ("1", "true", "yes")


def _allowed() -> set[str] | None:
    raw = os.environ.get(ENV_ALLOW, "").strip()
    return {p.strip() for p in raw.split(",") if p.strip()} if raw else None


def _check_spec(spec: Any, expected: type, plugin: str, package: str) -> None:
    if not isinstance(spec, expected):
        raise TypeError(f"register() expects a {expected.__name__}, got {type(spec).__name__}")
    check_defaults(_KIND[expected], spec, plugin, package)


class _Loader:
    """Builds a Registry, isolating each plugin's failures."""

    def __init__(self) -> None:
        self.pm = pluggy.PluginManager("zoo")
        self.pm.add_hookspecs(ZooHookSpecs)
        self.registry = Registry()
        self.sources: dict[str, tuple[str, str]] = {}  # plugin -> (package, version)

    def fail(self, plugin: str, exc: BaseException | str,
             offers: tuple[tuple[str, str], ...] = ()) -> None:
        package, version = self.sources.get(plugin, ("?", "?"))
        if isinstance(exc, (str, ContractError)):  # already one line naming who and why
            message, detail = str(exc), ""
        else:
            message = f"{type(exc).__name__}: {exc}"
            detail = "".join(traceback.format_exception(exc))
        if _strict():
            raise ZooError(f"plugin '{plugin}' ({package} {version}) is broken: {message}")
        log.warning("plugin %s is broken: %s", plugin, message)
        self.registry.broken.append(
            BrokenPlugin(plugin, package, version, message, detail, offers))

    def add(self, plugin: str, module: ModuleType | None, package: str, version: str,
            load_error: BaseException | None = None) -> None:
        self.sources[plugin] = (package, version)
        if load_error is not None:
            self.fail(plugin, load_error)
            return
        try:
            self.pm.register(module, name=plugin)
            self.pm.check_pending()  # a misspelled hook name would otherwise register nothing
        except Exception as exc:  # pluggy validation: misspelled hook args, duplicates...
            if self.pm.is_registered(module):
                self.pm.unregister(module)
            self.fail(plugin, exc)
            return
        self.registry.plugins[plugin] = (package, version)

    def collect(self, hook_name: str, expected: type, table: dict[str, Registered]) -> None:
        hook = getattr(self.pm.hook, hook_name)
        for impl in hook.get_hookimpls():  # in registration order: the first name wins
            plugin = impl.plugin_name
            package, version = self.sources.get(plugin, ("?", "?"))
            staged: list[Any] = []
            kind = _KIND[expected]
            try:
                impl.function(*[staged.append if a == "register" else None for a in impl.argnames])
                for spec in staged:
                    _check_spec(spec, expected, plugin, f"{package} {version}")
            except Exception as exc:  # the plugin's own bug: isolate it, register nothing
                offers = tuple((kind, str(s.name)) for s in staged if hasattr(s, "name"))
                self.fail(plugin, exc, offers)
                continue
            for spec in staged:
                if spec.name in table:
                    first = table[spec.name]
                    self.fail(plugin, (
                        f"{kind} name '{spec.name}' from plugin "
                        f"'{plugin}' ({package} {version}) is already registered by plugin "
                        f"'{first.plugin}' ({first.package} {first.version}); kept the first"))
                    continue
                table[spec.name] = Registered(spec, plugin, package, version)


def load_registry(extra: Iterable[tuple[str, ModuleType]] = ()) -> Registry:
    """Discover plugins from entry points (plus ``extra`` (name, module) pairs) and collect
    their registrations. Never raises for a broken plugin unless ZOO_STRICT_PLUGINS is set."""
    loader = _Loader()
    allowed = _allowed()
    for ep in sorted(metadata.entry_points(group=ENTRY_POINT_GROUP), key=lambda e: e.name):
        if allowed is not None and ep.name not in allowed:
            continue
        dist = getattr(ep, "dist", None)
        package, version = (dist.name, dist.version) if dist else ("?", "?")
        if ep.name in loader.sources:
            first = loader.sources[ep.name]
            loader.registry.broken.append(BrokenPlugin(
                ep.name, package, version, f"entry point name '{ep.name}' of {package} is "
                f"already used by {first[0]} {first[1]}; kept the first"))
            if _strict():
                raise ZooError(loader.registry.broken[-1].error)
            continue
        try:
            module = ep.load()
        except Exception as exc:  # import errors, missing deps, syntax errors
            loader.add(ep.name, None, package, version, load_error=exc)
            continue
        loader.add(ep.name, module, package, version)
    for name, module in extra:
        loader.add(name, module, getattr(module, "__package__", None) or name,
                   str(getattr(module, "__version__", "local")))
    loader.collect("zoo_register_encoders", EncoderSpec, loader.registry.encoders)
    loader.collect("zoo_register_masks", MaskSpec, loader.registry.masks)
    loader.collect("zoo_register_losses", LossSpec, loader.registry.losses)
    return loader.registry


_REGISTRY: Registry | None = None


def get_registry(refresh: bool = False) -> Registry:
    """The process-wide registry, discovered once (``refresh=True`` discovers again)."""
    global _REGISTRY
    if _REGISTRY is None or refresh:
        _REGISTRY = load_registry()
    return _REGISTRY


def encoder_config(name: str, args: dict[str, Any] | None = None) -> Any:
    """A fresh config dataclass for encoder ``name`` with ``args`` applied (validated)."""
    spec = get_registry().encoder(name).spec
    if args and not dataclasses.fields(spec.config):
        raise ZooError(f"encoder '{name}' has no options, got encoder_args "
                       f"{', '.join(map(str, args))}; choose an encoder that has them with "
                       "--encoder (`zoo plugins` lists each one's options)")
    return from_dict(spec.config, args or {}, prefix="encoder_args")


def build_encoder(name: str, args: dict[str, Any] | None, in_channels: int) -> Any:
    """Build a fresh fusion-encoder module for ``name`` (see EncoderSpec for its contract),
    probed once with a 32x32 dummy forward against what it declares."""
    item = get_registry().encoder(name)
    encoder = tag(item.spec.build(encoder_config(name, args), in_channels), "encoder", name, item)
    probe_encoder(encoder, in_channels)  # a lying encoder fails here, in one line
    return encoder


def mask_config(name: str, args: dict[str, Any] | None = None) -> Any:
    """A fresh config dataclass for mask generator ``name`` with ``args`` applied."""
    spec = get_registry().mask(name).spec
    return from_dict(spec.config, args or {}, prefix="mask_args")


def loss_config(name: str, args: dict[str, Any] | None = None) -> Any:
    """A fresh config dataclass for loss term ``name`` with ``args`` applied."""
    spec = get_registry().loss(name).spec
    return from_dict(spec.config, args or {}, prefix=f"loss_args.{name}")
