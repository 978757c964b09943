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
  ``test_args``) over every test size; only for names that have some;
- ``test_checkpoint_round_trip``: for every encoder, a small U-Net with it (its small
  settings, else its defaults) saved as a model folder by ``save_checkpoint`` and rebuilt
  by ``load_model`` (so through the spec's ``reload_args``) gives identical outputs.

``plugin = None`` checks every installed plugin: zoo's own tests do that.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Any, ClassVar

import pytest

from zoo.errors import ZooError
from zoo.plugin.contract import ENCODER_SIZES, MASK_SIZES, ContractError, _one_line, origin
from zoo.plugin.kinds import check, kind_of
from zoo.plugin.registry import ENTRY_POINT_GROUP, Registered, Registry, get_registry

__all__ = ["PluginContract", "check_round_trip", "run_contract"]

ROUND_TRIP_UNET = {"widths": [8, 16, 32]}  # small: the round trip is about the encoder


def run_contract(kind: str, name: str, args: dict[str, Any] | None = None, *,
                 registry: Registry | None = None, **options: Any) -> None:
    """``zoo.plugin.kinds.check`` (on the process-wide registry unless ``registry`` is given),
    failing the test with the contract's one line (no traceback of zoo's internals: the
    line says what to fix)."""
    _fail_on_contract(lambda: check(kind, name, args, registry=registry or get_registry(),
                                    **options))


def check_round_trip(name: str, args: dict[str, Any] | None, folder: str | Path, *,
                     sizes: Iterable[tuple[int, int]] = ENCODER_SIZES) -> None:
    """Encoder ``name`` through a model folder: a small U-Net with it, its BatchNorm
    statistics moved by one training-mode forward, saved into ``folder`` with
    ``save_checkpoint`` and rebuilt with ``load_model`` (which applies the spec's
    ``reload_args``), must give the same outputs (``torch.equal``, eval mode) on a fixed
    input at the first of ``sizes`` it takes. Uses the process-wide registry, as
    ``load_model`` does. Raises a one-line ContractError naming the encoder."""
    import torch

    from zoo.model import build_model
    from zoo.modelfolder.checkpoint import load_model, save_checkpoint
    from zoo.settings import build_config

    who = origin("encoder", name, get_registry().encoder(name))
    try:
        config = build_config({"encoder": name, "encoder_args": args or {},
                               "unet": ROUND_TRIP_UNET})
        torch.manual_seed(0)
        model = build_model(config)
    except ZooError as exc:
        raise ContractError(f"{who}: a U-Net with it cannot be built: {_one_line(exc)}") from exc
    h, w = _first_size(model, sizes, who)
    g = torch.Generator().manual_seed(h * w)
    mask = (torch.rand(2, 1, h, w, generator=g) > 0.7).float()
    masked = torch.rand(2, 3, h, w, generator=g) * (1 - mask)
    with torch.no_grad():
        model.train()(masked, mask)  # BatchNorm statistics move off their initial values
        expected = model.eval()(masked, mask)
    save_checkpoint(folder, {"config": config.to_dict(), "model": model.state_dict()})
    try:
        loaded, _, _ = load_model(folder)
        with torch.no_grad():
            got = loaded(masked, mask)
    except ZooError as exc:
        raise ContractError(f"{who}: a model saved with it does not load again: "
                            f"{_one_line(exc)}; check the spec's reload_args (it must not "
                            "change the model the saved weights belong to)") from exc
    if not torch.equal(got, expected):
        raise ContractError(
            f"{who}: a model reloaded from its model folder gives other outputs at {h}x{w} "
            f"(largest difference {(got - expected).abs().max().item():.3g}); keep all of "
            "the encoder's state in its state_dict (parameters and buffers), and let "
            "reload_args change nothing the outputs depend on")


def _first_size(model: Any, sizes: Iterable[tuple[int, int]], who: str) -> tuple[int, int]:
    tried = []
    for h, w in sizes:
        try:
            model.check_size(h, w)
        except ZooError:
            tried.append(f"{h}x{w}")
            continue
        return h, w
    raise ContractError(f"{who}: a U-Net with it takes none of the test sizes "
                        f"{', '.join(tried)}; give the kit sizes it takes "
                        "(PluginContract.encoder_sizes)")


def _fail_on_contract(fn: Any) -> None:
    """``fn()``, failing the test with the contract's one line when it raises a
    ContractError (no traceback of zoo's internals: the line says what to fix)."""
    try:
        fn()
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
        if metafunc.function.__name__ == "test_checkpoint_round_trip":  # models have encoders
            found = [f for f in found if f[0] == "encoder"]
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

    def test_checkpoint_round_trip(self, item: tuple[str, str], tmp_path: Path) -> None:
        _, name = item
        args = self._small_args("encoder", name, get_registry().encoder(name))
        _fail_on_contract(lambda: check_round_trip(name, args, tmp_path / "model",
                                                   sizes=self.encoder_sizes))
