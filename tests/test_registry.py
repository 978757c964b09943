"""The plugin registry: discovery through real entry points, isolation of broken plugins,
ZOO_PLUGINS / ZOO_STRICT_PLUGINS, helpful lookups, and fresh objects on every build.

Plugins are "installed" by writing dist-info folders onto sys.path (see fixtures/), so
discovery goes through importlib.metadata exactly as for a pip-installed package.
"""

from __future__ import annotations

import dataclasses

import pytest
import torch
from fixtures import BROKEN, PluginEnv

from zoo.config import TrainConfig
from zoo.errors import ZooError
from zoo.plugin.registry import build_encoder, encoder_config

# the substring each broken plugin's one-line error must carry
BROKEN_ERRORS = {
    "importerror": "ModuleNotFoundError: No module named 'zoo_fx_missing_dependency'",
    "hookraises": "RuntimeError: zoo_fx_hook_raises failed on purpose",
    "zdupname": "'myencoder'",
    "badspec": "register() expects a EncoderSpec, got dict",
    "baddefaults": "config fields need defaults: width",
    "badhookargs": "registr",
    "baddefault": "BadDefault() fails with its own defaults",
}


def test_example_plugin_found_through_its_entry_point(plugin_env: PluginEnv) -> None:
    package, version = plugin_env.add_example()
    registry = plugin_env.load()
    item = registry.encoder("myencoder")
    assert (item.plugin, item.package, item.version) == ("myencoder", "zoo-myencoder", "0.1.0")
    assert (package, version) == ("zoo-myencoder", "0.1.0")
    assert registry.plugins["myencoder"] == ("zoo-myencoder", "0.1.0")
    assert item.spec.description


def test_example_plugin_absent_without_its_dist_info(plugin_env: PluginEnv) -> None:
    # the example is importable (on sys.path) but not installed: importable is not enough
    assert "myencoder" not in plugin_env.load().encoders


def test_broken_plugins_are_isolated(plugin_env: PluginEnv) -> None:
    plugin_env.add_example()
    plugin_env.add_broken(*BROKEN)
    registry = plugin_env.load()

    broken = {b.plugin: b for b in registry.broken}
    assert set(BROKEN) <= set(broken)
    for plugin, expected in BROKEN_ERRORS.items():
        b = broken[plugin]
        assert expected in b.error, (plugin, b.error)
        assert (b.package, b.version) == (f"zoo-fx-{plugin}", "9.9")
    # (pluggy's PluginValidationError message spans lines; `zoo plugins` joins them)
    assert "Traceback" in broken["hookraises"].detail

    # the good plugins still work, including the built-in masks from the real install
    assert registry.encoder("myencoder").package == "zoo-myencoder"
    assert "paper" in registry.masks
    for bad in ("badspec", "baddefaults"):
        assert bad not in registry.encoders


def test_duplicate_name_message_names_both_sources(plugin_env: PluginEnv) -> None:
    plugin_env.add_example()
    plugin_env.add_broken("zdupname")
    registry = plugin_env.load()
    (b,) = [b for b in registry.broken if b.plugin in ("zdupname", "myencoder")]
    for source in ("'zdupname'", "zoo-fx-zdupname 9.9", "'myencoder'", "zoo-myencoder 0.1.0"):
        assert source in b.error
    kept = registry.encoder("myencoder")
    assert f"already registered by plugin '{kept.plugin}'" in b.error  # says who won


def test_duplicate_name_keeps_the_first_plugin(plugin_env: PluginEnv) -> None:
    # entry points load sorted by name: "myencoder" < "zzdup", so myencoder is first
    plugin_env.add_example()
    plugin_env.add_dist("zoo-fx-zzdup", "9.9", {"zzdup": BROKEN["zdupname"]})
    registry = plugin_env.load()
    assert registry.encoder("myencoder").plugin == "myencoder"
    assert [b.plugin for b in registry.broken if "already registered" in b.error] == ["zzdup"]


@pytest.mark.parametrize("plugin", sorted(BROKEN))
def test_strict_mode_raises(plugin_env: PluginEnv, plugin: str) -> None:
    plugin_env.add_example()
    plugin_env.add_broken(plugin)
    plugin_env.allow("myencoder", plugin)  # keep the real install's state out of it
    assert [b.plugin for b in plugin_env.load().broken] != []  # broken, but tolerated...
    plugin_env.strict()
    with pytest.raises(ZooError, match="is broken") as info:  # ...until strict
        plugin_env.load()
    assert BROKEN_ERRORS[plugin] in str(info.value)


def test_strict_mode_passes_when_all_good(plugin_env: PluginEnv) -> None:
    plugin_env.add_example()
    plugin_env.allow("myencoder")
    plugin_env.strict()
    assert set(plugin_env.load().encoders) == {"myencoder"}


def test_allow_list_loads_only_named_plugins(plugin_env: PluginEnv) -> None:
    plugin_env.add_example()
    plugin_env.add_broken(*BROKEN)
    plugin_env.allow("myencoder")
    registry = plugin_env.load()
    assert set(registry.plugins) == {"myencoder"}
    assert set(registry.encoders) == {"myencoder"}
    assert registry.masks == {} and registry.broken == []


def test_allow_list_takes_several_names(plugin_env: PluginEnv) -> None:
    plugin_env.add_example()
    plugin_env.add_broken("hookraises")
    plugin_env.allow("myencoder", "hookraises")
    registry = plugin_env.load()
    assert set(registry.plugins) == {"myencoder", "hookraises"}
    assert [b.plugin for b in registry.broken] == ["hookraises"]


def test_unknown_encoder_suggests_a_name(plugin_env: PluginEnv) -> None:
    plugin_env.add_example()
    plugin_env.allow("myencoder")
    registry = plugin_env.load()
    with pytest.raises(ZooError, match=r"unknown encoder 'myencodr'; did you mean 'myencoder'\?"):
        registry.encoder("myencodr")
    with pytest.raises(ZooError, match="unknown mask 'paper'"):
        registry.mask("paper")  # masks plugin not allowed: the error still lists choices


def test_unknown_encoder_mentions_broken_plugins(plugin_env: PluginEnv) -> None:
    plugin_env.add_example()
    plugin_env.add_broken("importerror")
    plugin_env.allow("myencoder", "importerror")
    with pytest.raises(ZooError, match="broken plugins: importerror; see `zoo plugins`"):
        plugin_env.load().encoder("fancy")


def test_builds_are_fresh_objects(plugin_env: PluginEnv) -> None:
    plugin_env.add_example()
    plugin_env.refresh()  # build_encoder reads the process-wide registry
    a = build_encoder("myencoder", None, 3)
    b = build_encoder("myencoder", None, 3)
    assert a is not b
    pa, pb = next(a.parameters()), next(b.parameters())
    assert pa is not pb
    with torch.no_grad():
        pa.zero_()
    assert pb.abs().sum() > 0  # no shared weights


def test_configs_are_fresh_and_defaults_untouched(plugin_env: PluginEnv) -> None:
    plugin_env.add_example()
    spec = plugin_env.refresh().encoder("myencoder").spec
    cfg = encoder_config("myencoder", {"widths": [8, 16]})
    assert cfg.widths == (8, 16)  # coerced from YAML/CLI-style list
    cfg.widths = (1,)
    cfg.activation = "gelu"
    again = encoder_config("myencoder")
    assert again is not cfg
    assert (again.widths, again.activation) == (spec.config().widths, spec.config().activation)
    assert again.widths == (32, 64) and again.activation == "relu"
    with pytest.raises(dataclasses.FrozenInstanceError):
        spec.name = "other"  # type: ignore[misc]


def test_bad_encoder_args_name_the_valid_ones(plugin_env: PluginEnv) -> None:
    plugin_env.add_example()
    plugin_env.refresh()
    with pytest.raises(ZooError, match=r"encoder_args.widht'; did you mean 'widths'\?"):
        encoder_config("myencoder", {"widht": [8]})
    with pytest.raises(ZooError, match="relu or gelu"):
        encoder_config("myencoder", {"activation": "tanh"})


@pytest.mark.parametrize("size", [(32, 32), (48, 40), (33, 17)])
def test_example_output_size_matches_its_forward(plugin_env: PluginEnv, size) -> None:
    plugin_env.add_example()
    plugin_env.refresh()
    enc = build_encoder("myencoder", {"widths": [4, 6]}, 4)
    out = enc(torch.zeros(1, 4, *size))
    assert tuple(out.shape) == (1, enc.out_channels, *enc.output_size(*size))
    with pytest.raises(ZooError, match="at least 4x4"):
        enc.output_size(3, 32)


def _synthetic_batch(n: int = 8, size: int = 32) -> tuple[torch.Tensor, torch.Tensor]:
    """Smooth colour gradients (learnable, unlike noise) with a square hole each."""
    g = torch.Generator().manual_seed(0)
    ys = torch.linspace(0, 1, size).view(1, 1, size, 1)
    xs = torch.linspace(0, 1, size).view(1, 1, 1, size)
    a, b, c = (torch.rand(n, 3, 1, 1, generator=g) for _ in range(3))
    image = (a * ys + b * xs + c).clamp(0, 2) / 2  # (n, 3, H, W) in 0..1
    mask = torch.zeros(n, 1, size, size)
    for i in range(n):
        r = 2 + 2 * i
        mask[i, :, r:r + 11, r:r + 11] = 1.0
    return image, mask


def test_example_encoder_trains_in_the_unet(plugin_env: PluginEnv) -> None:
    from zoo.model import build_model
    from zoo_myencoder import MyEncoder

    plugin_env.add_example()
    plugin_env.refresh()  # build_model looks the encoder up in the process-wide registry
    torch.manual_seed(0)
    config = TrainConfig(encoder="myencoder", encoder_args={"widths": [8, 16]},
                         unet={"widths": [8, 16, 32], "dropout": 0.0})
    model = build_model(config).train()
    (encoder,) = [m for m in model.modules() if isinstance(m, MyEncoder)]
    image, mask = _synthetic_batch()
    opt = torch.optim.Adam(model.parameters(), lr=3e-3)
    losses = []
    for _ in range(20):
        opt.zero_grad()
        loss = torch.nn.functional.mse_loss(model(image * (1 - mask), mask), image)
        loss.backward()
        if not losses:  # the fused encoder is really in the graph
            assert all(p.grad is not None and p.grad.abs().sum() > 0
                       for p in encoder.parameters())
        opt.step()
        losses.append(loss.item())
    assert losses[-1] < 0.5 * losses[0], losses


def test_misspelled_hook_name_is_reported_broken(tmp_path, monkeypatch) -> None:
    import types

    from zoo.plugin.registry import load_registry

    module = types.ModuleType("zoo_fx_typo")
    exec("from zoo import hookimpl\n@hookimpl\ndef zoo_register_encoder(register):\n    pass\n",
         module.__dict__)
    monkeypatch.setenv("ZOO_PLUGINS", "none")
    registry = load_registry(extra=[("typo", module)])
    (broken,) = [b for b in registry.broken if b.plugin == "typo"]
    assert "zoo_register_encoder" in broken.error
    assert "none" in registry.encoders  # the others still load


# ---- one table of plugin kinds --------------------------------------------------------------


def test_the_kinds_table_drives_lookups_options_and_the_cli(plugin_env: PluginEnv) -> None:
    from zoo.cli.plugins import describe
    from zoo.plugin.hookspecs import EncoderSpec, LossSpec, MaskSpec
    from zoo.plugin.kinds import KINDS, kind_of
    from zoo.plugin.registry import plugin_config
    from zoo.settings import PLUGIN_ARGS

    assert [(k.name, k.spec, k.hook, k.options) for k in KINDS] == [
        ("encoder", EncoderSpec, "zoo_register_encoders", "encoder_args"),
        ("mask", MaskSpec, "zoo_register_masks", "mask_args"),
        ("loss", LossSpec, "zoo_register_losses", "loss_args")]
    assert PLUGIN_ARGS == {"encoder": "encoder_args", "mask": "mask_args", "loss": "loss_args"}
    plugin_env.add_example()
    registry = plugin_env.refresh()
    for kind in KINDS:
        for name, item in registry.table(kind.name).items():
            assert registry.get(kind.name, name) is item
            assert item.kind is kind and isinstance(item.spec, kind.spec)
    assert registry.get("encoder", "myencoder") is registry.encoder("myencoder")
    assert plugin_config("encoder", "convmixer", {"width": 8}).width == 8
    assert plugin_config("mask", "paper") == registry.mask("paper").spec.config()
    with pytest.raises(ZooError, match=r"loss_args\.l1_hole"):
        plugin_config("loss", "l1_hole", {"nope": 1})
    with pytest.raises(ZooError, match="unknown plugin kind 'encodr'; valid: encoder, mask, "
                                       "loss"):
        kind_of("encodr")
    with pytest.raises(ZooError, match="unknown mask 'nope'"):
        registry.get("mask", "nope")
    report = describe(registry)
    assert [e["name"] for e in report["encoders"]] == sorted(registry.encoders)
    assert [e["name"] for e in report["losses"]] == sorted(registry.losses)
    assert [(k, n) for k, n, _ in registry.items(["myencoder"])] == [("encoder", "myencoder")]


def test_hooks_are_called_through_the_registry_plugin_manager(plugin_env: PluginEnv) -> None:
    plugin_env.add_example()
    plugin_env.add_broken("hookraises")
    registry = plugin_env.load()
    pm = registry.plugin_manager
    assert pm is not None and pm.is_registered(pm.get_plugin("myencoder"))
    # what the registry collected is what pluggy's own hook caller hands out, plugin by plugin
    for plugin in ("myencoder", "convmixer"):
        found: list = []
        others = [p for p in pm.get_plugins() if p is not pm.get_plugin(plugin)]
        pm.subset_hook_caller("zoo_register_encoders", others)(register=found.append)
        assert found and all(registry.encoder(s.name).plugin == plugin for s in found)
    # the whole hook at once stops at the broken plugin: why the registry calls one at a time
    with pytest.raises(RuntimeError, match="zoo_fx_hook_raises failed on purpose"):
        pm.hook.zoo_register_encoders(register=lambda spec: None)
    assert "hookraises" in {b.plugin for b in registry.broken}
