"""Plugin discovery: one pluggy manager, fed by the ``zoo.plugins`` entry-point group, and
one table per plugin kind (``zoo.plugin.kinds``): each kind's hook is called through
pluggy, one plugin at a time, and what it registers lands in that kind's table.

Built-in plugins (``plugins/``, installed as ``zoo_plugins``) come through the same entry
points as any outside package. A plugin that fails to import, raises in its hook, registers
a config whose defaults fail (``zoo.plugin.contract.check_defaults``) or a name that is taken is
recorded in ``Registry.broken``; everything else keeps working, and looking up a name it
offered says why it is unavailable. A plugin that calls ``sys.exit()`` is broken, not the
end of zoo, and what a plugin prints at import or in its hook is logged, not printed.
zoo's own plugins load first: a built-in name always stays with the built-in.
``ZOO_STRICT_PLUGINS=1`` turns those failures into errors (for plugin authors);
``ZOO_PLUGINS=a,b`` loads only the named plugins (a name no plugin has is warned about).
"""

from __future__ import annotations

import contextlib
import dataclasses
import io
import logging
import os
import re
import traceback
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from importlib import metadata
from types import ModuleType
from typing import Any

import pluggy
from packaging.requirements import InvalidRequirement, Requirement
from packaging.utils import canonicalize_name
from packaging.version import InvalidVersion, Version

from zoo.config import from_dict
from zoo.errors import ZooError, unknown
from zoo.plugin.contract import ContractError, check_defaults, probe_encoder, tag
from zoo.plugin.hookspecs import ZooHookSpecs
from zoo.plugin.kinds import KINDS, Kind, kind_of

log = logging.getLogger(__name__)

ENTRY_POINT_GROUP = "zoo.plugins"
ENV_ALLOW = "ZOO_PLUGINS"
ENV_STRICT = "ZOO_STRICT_PLUGINS"
# zoo's own plugins: its distribution's entry points into zoo_plugins (see pyproject). They
# load first, so a built-in name always stays with the built-in.
BUILTIN_PACKAGE = "zoo-inpaint"
BUILTIN_MODULE = "zoo_plugins"
# a PEP 508 distribution name, the only text a `pip install` hint is built from
_PACKAGE_NAME = re.compile(r"^[A-Za-z0-9](?:[A-Za-z0-9._-]{0,98}[A-Za-z0-9])?$")


@dataclass(frozen=True)
class Registered:
    """One registered encoder, mask or loss term, with where it came from."""

    spec: Any  # EncoderSpec | MaskSpec | LossSpec
    plugin: str  # entry-point (or module) name
    package: str  # distribution that provides it
    version: str
    kind: Kind  # its row of the kinds table


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
    """What the plugins registered, one table per kind (``zoo.plugin.kinds``). Look names
    up with ``get(kind, name)`` (or ``encoder()``, ``mask()``, ``loss()``)."""

    encoders: dict[str, Registered] = field(default_factory=dict)
    masks: dict[str, Registered] = field(default_factory=dict)
    losses: dict[str, Registered] = field(default_factory=dict)
    broken: list[BrokenPlugin] = field(default_factory=list)
    plugins: dict[str, tuple[str, str]] = field(default_factory=dict)  # name -> (pkg, version)
    installed: list[str] = field(default_factory=list)  # every entry-point name found
    allowed: tuple[str, ...] | None = None  # ZOO_PLUGINS, when set
    warnings: list[str] = field(default_factory=list)  # one line each, e.g. a ZOO_PLUGINS typo
    # the manager the hooks were called through (None for a registry built by hand)
    plugin_manager: pluggy.PluginManager | None = field(default=None, repr=False,
                                                        compare=False)

    def table(self, kind: str) -> dict[str, Registered]:
        """The registered items of ``kind`` by name (``encoders``, ``masks``, ``losses``)."""
        return getattr(self, kind_of(kind).plural)

    def items(self, plugins: Iterable[str] | None = None) -> list[tuple[str, str, Registered]]:
        """``(kind, name, Registered)`` for everything registered (only by ``plugins`` when
        given), in the kinds' order, then by name."""
        wanted = None if plugins is None else set(plugins)
        return [(kind.name, name, item) for kind in KINDS
                for name, item in sorted(self.table(kind.name).items())
                if wanted is None or item.plugin in wanted]

    def encoder(self, name: str) -> Registered:
        """The encoder registered as ``name``; a ZooError with suggestions otherwise."""
        return self.get("encoder", name)

    def mask(self, name: str) -> Registered:
        """The mask generator registered as ``name``; a ZooError with suggestions otherwise."""
        return self.get("mask", name)

    def loss(self, name: str) -> Registered:
        """The loss term registered as ``name``; a ZooError with suggestions otherwise."""
        return self.get("loss", name)

    def get(self, kind: str, name: str) -> Registered:
        """The item of ``kind`` registered as ``name``; a ZooError that says why it is not
        there (a broken plugin, ZOO_PLUGINS) and suggests names otherwise."""
        table = self.table(kind)
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
        if self.allowed is not None:  # the name may belong to a plugin ZOO_PLUGINS left out
            err = ZooError(f"{err} ({ENV_ALLOW}={','.join(self.allowed)} loads only those "
                           f"plugins; installed: {', '.join(self.installed) or '(none)'}; "
                           f"unset {ENV_ALLOW} or add the plugin that provides '{name}')")
        raise err

    def check_source(self, kind: str, name: str, recorded: dict[str, Any], where: Any) -> None:
        """ZooError when ``name`` is served here by another package than the one a model
        folder recorded (``recorded``: its zoo.json ``requires`` entry) for it."""
        package = recorded.get("package") if isinstance(recorded, dict) else None
        item = self.table(kind)[name]
        if not isinstance(package, str) or package in ("", "?") or item.package == "?":
            return
        if canonicalize_name(package) != canonicalize_name(item.package):
            raise ZooError(
                f"model {where} was saved with the {kind} '{name}' of package "
                f"{as_data(package)} (plugin {recorded.get('plugin', '?')!r}), but here "
                f"'{name}' comes from plugin '{item.plugin}' of package {item.package} "
                f"{item.version}; install the package the model names, or remove "
                f"{item.package}")


def _strict() -> bool:
    return os.environ.get(ENV_STRICT, "").lower() in ("1", "true", "yes")


def _allowed() -> set[str] | None:
    raw = os.environ.get(ENV_ALLOW, "").strip()
    return {p.strip() for p in raw.split(",") if p.strip()} if raw else None


def _is_builtin(ep: metadata.EntryPoint) -> bool:
    dist = getattr(ep, "dist", None)
    return (dist is not None and canonicalize_name(dist.name) == BUILTIN_PACKAGE
            and ep.value.split(":")[0].split(".")[0] == BUILTIN_MODULE)


class PluginAborted(Exception):
    """A plugin raised SystemExit (or another BaseException) at import or in its hook."""


def _plugin_code(plugin: str, what: str, fn: Callable[[], Any]) -> Any:
    """``fn()`` (a plugin's import or hook) with what it prints kept off stdout (logged, so
    ``zoo plugins --json`` stays JSON) and ``sys.exit()`` turned into ``PluginAborted``:
    a plugin never ends zoo. Ctrl-C still stops it."""
    out = io.StringIO()
    try:
        with contextlib.redirect_stdout(out):
            return fn()
    except (KeyboardInterrupt, Exception):
        raise
    except BaseException as exc:  # SystemExit, GeneratorExit, ...
        code = f"sys.exit({exc.code!r})" if isinstance(exc, SystemExit) else type(exc).__name__
        raise PluginAborted(f"plugin '{plugin}' called {code} {what}; a plugin must raise an "
                            "exception instead of ending the program") from exc
    finally:
        if out.getvalue().strip():
            log.info("plugin %s printed %s: %s", plugin, what, out.getvalue().strip()[:2000])


def as_data(text: Any) -> str:
    """Text from a model folder (a package name, a version), as data: itself when it looks
    like a package name, else its ascii() repr, cut to 80 characters."""
    if isinstance(text, str) and _PACKAGE_NAME.match(text):
        return text
    shown = ascii(text)
    return shown if len(shown) <= 80 else shown[:77] + "..."


def install_command(package: Any, version: Any = None) -> str | None:
    """``pip install 'name==version'`` for a package a model folder names, or None when the
    text is not a valid PEP 508 name (and PEP 440 version): nothing from a file becomes a
    command unchecked."""
    if not isinstance(package, str) or not _PACKAGE_NAME.match(package):
        return None
    pin = package
    if isinstance(version, str) and version not in ("", "?", "local"):
        try:
            pin = f"{package}=={Version(version)}"
        except InvalidVersion:
            return None
    try:
        req = Requirement(pin)
    except InvalidRequirement:
        return None
    if req.marker or req.url or req.extras or str(req) != pin:
        return None
    return f"pip install '{pin}'"


def install_advice(package: Any, version: Any) -> tuple[str, str]:
    """For a missing plugin a model folder names: ``(" from package P V", "pip install
    'P==V'")``, or, when the recorded text is no valid package name and version, the text
    as quoted data and no command."""
    if not package or package == "?":
        return "", "install the plugin that provides it (`zoo plugins` lists those installed)"
    command = install_command(package, version)
    if command is not None:
        return f" from package {package}{f' {version}' if version else ''}", command
    return (f" from a package recorded as {as_data(package)} version "
            f"{as_data(version) if version else '(none)'}", "that is not a valid package name and version, so "
            "no install command is offered; ask the model's author which plugin it needs")


def _check_spec(spec: Any, kind: Kind, plugin: str, package: str) -> None:
    if not isinstance(spec, kind.spec):
        raise TypeError(f"register() expects a {kind.spec.__name__}, got {type(spec).__name__}")
    check_defaults(kind, spec, plugin, package)


class _Loader:
    """Builds a Registry, isolating each plugin's failures."""

    def __init__(self) -> None:
        self.pm = pluggy.PluginManager("zoo")
        self.pm.add_hookspecs(ZooHookSpecs)
        self.registry = Registry()
        self.sources: dict[str, tuple[str, str]] = {}  # plugin -> (package, version)
        self.builtin: set[str] = set()  # plugins of zoo's own package

    def fail(self, plugin: str, exc: BaseException | str,
             offers: tuple[tuple[str, str], ...] = ()) -> None:
        package, version = self.sources.get(plugin, ("?", "?"))
        if isinstance(exc, (str, ContractError)):  # already one line naming who and why
            message, detail = str(exc), ""
        elif isinstance(exc, PluginAborted):
            message = str(exc)
            detail = "".join(traceback.format_exception(exc.__cause__ or exc))
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

    def call(self, hook_name: str, plugin: Any, register: Callable[[Any], None]) -> None:
        """``pm.hook.<hook_name>(register=...)`` as pluggy calls it, for one plugin only.
        One plugin at a time, not the whole hook at once: a hook call stops at the first
        implementation that raises, and would not say whose it was, so each plugin's
        implementation is called through pluggy's subset hook caller (the hook without
        every other plugin) and its failure is its own."""
        others = [p for p in self.pm.get_plugins() if p is not plugin]
        self.pm.subset_hook_caller(hook_name, remove_plugins=others)(register=register)

    def collect(self, kind: Kind) -> None:
        table = self.registry.table(kind.name)
        hook = getattr(self.pm.hook, kind.hook)
        for impl in hook.get_hookimpls():  # in registration order: the first name wins
            plugin = impl.plugin_name
            package, version = self.sources.get(plugin, ("?", "?"))
            staged: list[Any] = []
            try:
                _plugin_code(plugin, f"in {kind.hook}",
                             lambda: self.call(kind.hook, impl.plugin, staged.append))
                for spec in staged:
                    _check_spec(spec, kind, plugin, f"{package} {version}")
            except Exception as exc:  # the plugin's own bug: isolate it, register nothing
                offers = tuple((kind.name, str(s.name)) for s in staged if hasattr(s, "name"))
                self.fail(plugin, exc, offers)
                continue
            for spec in staged:
                if spec.name in table:
                    self.fail(plugin, self._taken(kind, spec.name, plugin, table[spec.name]))
                    continue
                table[spec.name] = Registered(spec, plugin, package, version, kind)

    def _taken(self, kind: Kind, name: str, plugin: str, first: Registered) -> str:
        package, version = self.sources.get(plugin, ("?", "?"))
        own = first.plugin in self.builtin
        return (f"{kind.name} name '{name}' from plugin '{plugin}' ({package} {version}) is "
                f"already registered by {'built-in ' if own else ''}plugin '{first.plugin}' "
                f"({first.package} {first.version}); "
                f"{'built-in names stay with the built-in' if own else 'kept the first'}")


def load_registry(extra: Iterable[tuple[str, ModuleType]] = ()) -> Registry:
    """Discover plugins from entry points (plus ``extra`` (name, module) pairs) and collect
    their registrations: zoo's own plugins first, then the others by name. Never raises for
    a broken plugin unless ZOO_STRICT_PLUGINS is set."""
    loader = _Loader()
    allowed = _allowed()
    eps = sorted(metadata.entry_points(group=ENTRY_POINT_GROUP),
                 key=lambda e: (not _is_builtin(e), e.name))
    loader.registry.installed = sorted({ep.name for ep in eps})
    for ep in eps:
        if allowed is not None and ep.name not in allowed:
            continue
        _load_entry_point(loader, ep)
    for name, module in extra:
        loader.add(name, module, getattr(module, "__package__", None) or name,
                   str(getattr(module, "__version__", "local")))
    if allowed is not None:
        _note_allowed(loader.registry, allowed)
    for kind in KINDS:
        loader.collect(kind)
    loader.registry.plugin_manager = loader.pm
    return loader.registry


def _load_entry_point(loader: _Loader, ep: metadata.EntryPoint) -> None:
    """Import one entry point's module and register it; a duplicate entry-point name is
    refused (the built-ins, loaded first, keep theirs)."""
    dist = getattr(ep, "dist", None)
    package, version = (dist.name, dist.version) if dist else ("?", "?")
    if ep.name in loader.sources:
        first = loader.sources[ep.name]
        own = ep.name in loader.builtin
        loader.registry.broken.append(BrokenPlugin(
            ep.name, package, version, f"entry point name '{ep.name}' of {package} {version} "
            f"is already used by {'built-in plugin of ' if own else ''}{first[0]} {first[1]}; "
            f"{'kept the built-in' if own else 'kept the first'}"))
        if _strict():
            raise ZooError(loader.registry.broken[-1].error)
        return
    if _is_builtin(ep):
        loader.builtin.add(ep.name)
    try:
        module = _plugin_code(ep.name, "at import", ep.load)
    except Exception as exc:  # import errors, missing deps, syntax errors, sys.exit()
        loader.add(ep.name, None, package, version, load_error=exc)
        return
    loader.add(ep.name, module, package, version)


def _note_allowed(registry: Registry, allowed: set[str]) -> None:
    """Remember ZOO_PLUGINS, and warn about names in it that no installed plugin has."""
    registry.allowed = tuple(sorted(allowed))
    missing = sorted(allowed - set(registry.installed) - set(registry.plugins))
    if missing:
        message = (f"{ENV_ALLOW} names {', '.join(missing)}, which no installed plugin has; "
                   f"installed: {', '.join(registry.installed) or '(none)'}")
        registry.warnings.append(message)
        log.warning("%s", message)


_REGISTRY: Registry | None = None


def get_registry(refresh: bool = False) -> Registry:
    """The process-wide registry, discovered once (``refresh=True`` discovers again)."""
    global _REGISTRY
    if _REGISTRY is None or refresh:
        _REGISTRY = load_registry()
    return _REGISTRY


def plugin_config(kind: str, name: str, args: dict[str, Any] | None = None) -> Any:
    """A fresh config dataclass for the ``kind`` item ``name`` with ``args`` applied
    (validated; errors name the options as ``encoder_args``, ``loss_args.NAME``, ...)."""
    row = kind_of(kind)
    spec = get_registry().get(kind, name).spec
    return from_dict(spec.config, args or {}, prefix=row.prefix(name))


def encoder_config(name: str, args: dict[str, Any] | None = None) -> Any:
    """``plugin_config("encoder", ...)``; options given to an encoder that has none say
    which flag picks another."""
    spec = get_registry().encoder(name).spec
    if args and not dataclasses.fields(spec.config):
        raise ZooError(f"encoder '{name}' has no options, got encoder_args "
                       f"{', '.join(map(str, args))}; choose an encoder that has them with "
                       "--encoder (`zoo plugins` lists each one's options)")
    return plugin_config("encoder", name, args)


def build_encoder(name: str, args: dict[str, Any] | None, in_channels: int) -> Any:
    """Build a fresh fusion-encoder module for ``name`` (see EncoderSpec for its contract),
    probed once with a 32x32 dummy forward against what it declares."""
    item = get_registry().encoder(name)
    encoder = tag(item.spec.build(encoder_config(name, args), in_channels), "encoder", name, item)
    probe_encoder(encoder, in_channels)  # a lying encoder fails here, in one line
    return encoder


def mask_config(name: str, args: dict[str, Any] | None = None) -> Any:
    """``plugin_config("mask", name, args)``."""
    return plugin_config("mask", name, args)


def loss_config(name: str, args: dict[str, Any] | None = None) -> Any:
    """``plugin_config("loss", name, args)``."""
    return plugin_config("loss", name, args)
