"""The plugin test kit: zoo's contract (``zoo.plugin.contract``) as pytest tests, shipped with zoo.

In a plugin's own repository, one test file is enough (``zoo plugins new`` writes it)::

    from zoo.testing import PluginContract

    class TestContract(PluginContract):
        plugin = "gatedconv"                         # the entry-point name
        settings = {"gatedconv": {"width": 16}}      # optional: small settings, by name

and ``python -m pytest`` runs, for every encoder, mask and loss the plugin registers:

- ``test_plugin_loads``: the plugin is installed, imports, registers something and is not
  broken (an import error or an invalid config default fails here, with the reason);
- ``test_defaults``: the contract with the config defaults (what a user gets), at one
  size when small settings exist, else at every test size;
- ``test_small_settings``: the contract with ``settings[name]`` (else the spec's
  ``test_args``) over every test size; only for names that have some.

``plugin = None`` checks every installed plugin: zoo's own tests do that.
"""

from __future__ import annotations

from typing import Any, ClassVar

import pytest

from zoo.plugin.contract import ENCODER_SIZES, MASK_SIZES, ContractError
from zoo.plugin.kinds import check, kind_of
from zoo.plugin.registry import ENTRY_POINT_GROUP, Registered, Registry, get_registry

__all__ = ["PluginContract", "run_contract"]


def run_contract(kind: str, name: str, args: dict[str, Any] | None = None, *,
                 registry: Registry | None = None, **options: Any) -> None:
    """``zoo.plugin.kinds.check`` (on the process-wide registry unless ``registry`` is given),
    failing the test with the contract's one line (no traceback of zoo's internals: the
    line says what to fix)."""
    try:
        check(kind, name, args, registry=registry or get_registry(), **options)
    except ContractError as exc:
        failure = str(exc)
    else:
        return
    pytest.fail(failure, pytrace=False)  # outside the except: the line is printed once


class PluginContract:
    """Subclass it in a test module; set ``plugin`` (and optionally ``settings``)."""

    plugin: ClassVar[str | None] = None  # entry-point name; None: every installed plugin
    settings: ClassVar[dict[str, dict[str, Any]]] = {}  # registered name -> small args
    encoder_sizes: ClassVar[tuple[tuple[int, int], ...]] = ENCODER_SIZES
    mask_sizes: ClassVar[tuple[tuple[int, int], ...]] = MASK_SIZES

    # -- collection ---------------------------------------------------------------------

    @classmethod
    def registry(cls) -> Registry:
        """The process-wide registry (what `zoo train` would use)."""
        return get_registry()

    def pytest_generate_tests(self, metafunc: pytest.Metafunc) -> None:
        """One test per (kind, name) the plugin registers."""
        if "item" not in metafunc.fixturenames:
            return
        registry = self.registry()
        found = registry.items(None if self.plugin is None else [self.plugin])
        if metafunc.function.__name__ == "test_small_settings":  # only where there are some
            found = [f for f in found if self._small_args(f[0], f[1], f[2]) is not None]
        metafunc.parametrize("item", [(kind, name) for kind, name, _ in found],
                             ids=[f"{kind}-{name}" for kind, name, _ in found])

    def _options(self, kind: str, small: bool) -> dict[str, Any]:
        attr = kind_of(kind).sizes  # the class attribute with this kind's test sizes, if any
        if attr is None:
            return {}
        sizes = getattr(self, attr)
        return {"sizes": sizes if small else sizes[:1]}

    def _small_args(self, kind: str, name: str, entry: Registered) -> dict[str, Any] | None:
        args = self.settings.get(name, getattr(entry.spec, "test_args", None))
        return dict(args) if args else None

    # -- the tests ----------------------------------------------------------------------

    def test_plugin_loads(self) -> None:
        registry = self.registry()
        broken = [b for b in registry.broken if self.plugin in (None, b.plugin)]
        if broken:
            pytest.fail("; ".join(f"plugin '{b.plugin}' ({b.package} {b.version}) is broken: "
                                  f"{b.error}" for b in broken), pytrace=False)
        if self.plugin is None:
            return
        if self.plugin not in registry.plugins:
            pytest.fail(f"plugin '{self.plugin}' is not installed: no entry point "
                        f"'{self.plugin}' in the '{ENTRY_POINT_GROUP}' group (installed: "
                        f"{', '.join(sorted(registry.plugins)) or 'none'}); run `pip install "
                        "-e .` in the plugin's folder, and check the name in pyproject.toml",
                        pytrace=False)
        if not registry.items([self.plugin]):
            pytest.fail(f"plugin '{self.plugin}' registers no encoder, mask or loss; call "
                        "register(...) in a zoo_register_* hook", pytrace=False)

    def test_defaults(self, item: tuple[str, str]) -> None:
        kind, name = item
        registry = self.registry()
        # every test size with the defaults, unless small settings will cover the sizes
        every = self._small_args(kind, name, registry.get(kind, name)) is None
        run_contract(kind, name, None, registry=registry, **self._options(kind, small=every))

    def test_small_settings(self, item: tuple[str, str]) -> None:
        kind, name = item
        registry = self.registry()
        entry = registry.get(kind, name)
        args = self._small_args(kind, name, entry)
        run_contract(kind, name, args, registry=registry, **self._options(kind, small=True))
