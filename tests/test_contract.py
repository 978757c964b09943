"""zoo.plugin.contract on plugins that break it: each failure is one line that names the plugin,
its package, the field, what was declared and what came back, from every entry point a
user meets (`zoo plugins --check`, `zoo train`, `zoo tune --dry-run`, the test kit)."""

from __future__ import annotations

import json
import re

import pytest
import torch
from fixtures import PluginEnv

import zoo
from zoo.cli import main
from zoo.plugin.contract import (ContractError, check_encoder, check_encoder_output, check_loss,
                                 check_mask)
from zoo.errors import ZooError
from zoo.plugin.registry import build_encoder, get_registry

SMALL = ("encoder 'smallout' (plugin 'smallout', zoo-fx-smallout 9.9): output_size(32, 32) "
         "declares 8x8 but forward returned 4x4; make output_size compute the size forward "
         "returns (the U-Net sizes and checks inputs from it)")
FEW = ("encoder 'fewchannels' (plugin 'fewchannels', zoo-fx-fewchannels 9.9): out_channels "
       "declares 64 but forward returned 32 channels for input (2, 3, 32, 32); make "
       "out_channels equal to what forward returns (or forward return that many)")
DEFAULT = ("encoder 'baddefault' (plugin 'baddefault', zoo-fx-baddefault 9.9): config "
           "BadDefault() fails with its own defaults, so it would fail for every user who sets "
           "no encoder_args: encoder_args.width must be >= 8, got 0; fix the default in "
           "BadDefault")


@pytest.fixture
def three(plugin_env: PluginEnv) -> PluginEnv:
    """The issue's three broken plugins next to the built-ins, in the process registry."""
    plugin_env.add_misbehaving("smallout", "fewchannels")
    plugin_env.add_broken("baddefault")
    plugin_env.refresh()
    return plugin_env


def _one_line(text: str) -> str:
    """One message, no traceback (rich wraps long lines at the terminal width: unwrap)."""
    assert text.count("error:") == 1 and "Traceback" not in text, text
    return " ".join(text.split())


# ---- the contract itself -----------------------------------------------------------------


def test_encoder_size_and_channel_lies_are_named(three: PluginEnv) -> None:
    with pytest.raises(ContractError) as info:
        check_encoder("smallout", registry=get_registry())
    assert str(info.value) == SMALL
    with pytest.raises(ContractError) as info:
        check_encoder("fewchannels", registry=get_registry())
    assert str(info.value) == FEW


def test_invalid_default_is_broken_at_load_and_named_on_lookup(three: PluginEnv) -> None:
    registry = three.load()
    (b,) = [b for b in registry.broken if b.plugin == "baddefault"]
    assert b.error == DEFAULT and b.offers == (("encoder", "baddefault"),)
    with pytest.raises(ZooError) as info:
        registry.encoder("baddefault")
    assert str(info.value) == (f"encoder 'baddefault' cannot be used: {DEFAULT} "
                               "(`zoo plugins --check` checks every plugin)")
    three.strict()
    with pytest.raises(ZooError, match="fails with its own defaults"):
        three.load()


def test_check_encoder_output_is_cheap_and_names_the_builder(three: PluginEnv) -> None:
    from zoo.plugin.contract import tag
    from zoo.plugin.registry import get_registry

    item = get_registry().encoder("fewchannels")
    enc = tag(item.spec.build(item.spec.config(), 3), "encoder", "fewchannels", item)
    x = torch.zeros(1, 3, 16, 16)
    with pytest.raises(ContractError, match=r"^encoder 'fewchannels' \(plugin 'fewchannels', "
                       r"zoo-fx-fewchannels 9.9\): out_channels declares 64 but forward "
                       r"returned 32 channels for input \(1, 3, 16, 16\)"):
        check_encoder_output(enc, x.shape, enc(x))
    good = build_encoder("convmixer", {"width": 8}, 3)
    check_encoder_output(good, x.shape, good(x))  # passes silently
    with pytest.raises(ContractError, match="forward must return a Tensor"):
        check_encoder_output(good, x.shape, [good(x)])
    with pytest.raises(ContractError, match=r"^encoder 'fewchannels' .* for input \(1, 3, 32, 32\)"):
        build_encoder("fewchannels", None, 3)  # every build is probed once


def test_the_build_probe_leaves_the_encoder_as_it_was(three: PluginEnv) -> None:
    enc = build_encoder("convmixer", {"width": 8}, 4)  # BatchNorm inside
    assert enc.training and all(m.training for m in enc.modules())
    fresh = build_encoder("convmixer", {"width": 8}, 4)
    for a, b in zip(enc.buffers(), fresh.buffers()):  # running stats untouched by the probe
        if a.is_floating_point():
            assert torch.equal(a, torch.zeros_like(a)) or torch.equal(a, torch.ones_like(a))


def test_builtins_and_example_keep_the_contract(plugin_env: PluginEnv) -> None:
    plugin_env.add_example()
    plugin_env.refresh()
    check_encoder("myencoder", {"widths": [4, 8]}, registry=get_registry())
    check_encoder("none", registry=get_registry())


@pytest.mark.parametrize("name, message", [
    ("fxsoft", r"values declares only 0 and 1 but .* returned 0.5; threshold the mask"),
    ("fxunseeded", r"two draws from generators seeded alike differ at 32x32"),
    ("fxneedsgen", r"generate\(config, 8, 32, 32, None, 'cpu'\) raised AttributeError"),
    ("fxflat", r"shape declares \(8, 1, 32, 32\) but .* returned \(8, 32, 32\)"),
    ("fxallhole", r".* returned a mask that is all hole \(mask 0\); leave some context"),
])
def test_mask_contract_failures(plugin_env: PluginEnv, name: str, message: str) -> None:
    plugin_env.add_misbehaving("fxmasks")
    registry = plugin_env.load()
    check_mask("fxgood", registry=registry)
    with pytest.raises(ContractError, match=rf"^mask '{name}' \(plugin 'fxmasks', "
                       rf"zoo-fx-fxmasks 9.9\): {message}"):
        check_mask(name, registry=registry)


@pytest.mark.parametrize("name, message", [
    ("fxperpixel", r"forward\(pred, target, mask\) declares a scalar Tensor but it returned "
                   r"shape \(2, 3, 16, 16\)"),
    ("fxdetached", r"(sends no gradient to pred|backward through forward's value raised)"),
    ("fxlazycritic", r"update\(pred, target, mask\) returns a value with no gradient"),
    ("fxnotmodule", r"build\(\) declares an nn.Module but returned str"),
])
def test_loss_contract_failures(plugin_env: PluginEnv, name: str, message: str) -> None:
    plugin_env.add_misbehaving("fxlosses")
    registry = plugin_env.load()
    check_loss("fxl1", registry=registry)
    check_loss("fxcritic", registry=registry)  # adversarial: not zero for pred == target
    with pytest.raises(ContractError, match=rf"^loss '{name}' \(plugin 'fxlosses', "
                       rf"zoo-fx-fxlosses 9.9\): {message}"):
        check_loss(name, registry=registry)


# ---- from the command line ---------------------------------------------------------------


def test_plugins_check_names_all_three(three: PluginEnv, capsys) -> None:
    code = main(["plugins", "--json", "--check", "smallout", "fewchannels", "baddefault"])
    data = json.loads(capsys.readouterr().out)
    assert code == 1
    errors = {c["name"]: c["error"] for c in data["check"]}
    assert errors == {"smallout": SMALL, "fewchannels": FEW}
    (broken,) = data["broken"][-1:]
    assert broken["plugin"] == "baddefault" and broken["error"] == DEFAULT
    assert data["summary"]["line"] == (
        "0 of 2 passed the contract; exit 1: 2 failed the contract (encoder 'fewchannels', "
        "encoder 'smallout'); 1 plugin broken (baddefault; see the Broken plugins table)")


def test_train_with_an_invalid_default_is_one_line(three: PluginEnv, capsys, tmp_path) -> None:
    code = main(["train", "--encoder", "baddefault", "--out", str(tmp_path / "run"),
                 "--epochs", "1", "--train-limit", "8"])
    err = _one_line(capsys.readouterr().err)
    assert code == 2
    assert err == (f"error: encoder 'baddefault' cannot be used: {DEFAULT} "
                   "(`zoo plugins --check` checks every plugin)")


def test_tune_dry_run_with_an_invalid_default_is_one_line(three: PluginEnv, capsys,
                                                          tmp_path) -> None:
    space = tmp_path / "s.yaml"
    space.write_text("base: {train_limit: 8}\nspace:\n  encoder: {grid: [none, baddefault]}\n")
    code = main(["tune", str(space), "--dry-run"])
    err = _one_line(capsys.readouterr().err)
    assert code == 2
    assert "encoder 'baddefault' cannot be used" in err and "fails with its own defaults" in err
    assert "fix the default in BadDefault" in err


@pytest.mark.parametrize("name, message", [("smallout", SMALL), ("fewchannels", FEW)])
def test_train_with_a_lying_encoder_is_one_line(three: PluginEnv, capsys, tmp_path, cifar_dir,
                                                name: str, message: str) -> None:
    code = main(["train", "--encoder", name, "--out", str(tmp_path / "run"), "--epochs", "1",
                 "--train-limit", "8", "--val-limit", "8", "--test-limit", "8",
                 "--data", str(cifar_dir), "--set", "unet.widths=[8,16,32]"])
    err = _one_line(capsys.readouterr().err)
    assert code == 2
    batch_free = re.compile(r"input \(\d+, ")  # the batch is train's, not the contract's
    assert batch_free.sub("input (B, ", err) == batch_free.sub("input (B, ", f"error: {message}")


# ---- the kit (zoo.plugin.testing) fails where it must ------------------------------------


def _kit(plugin: str | None):
    from zoo.plugin.testing import PluginContract

    class Kit(PluginContract):
        pass

    Kit.plugin = plugin
    return Kit()


@pytest.mark.parametrize("plugin, message", [
    ("importerror", "plugin 'importerror' (zoo-fx-importerror 9.9) is broken: "
                    "ModuleNotFoundError: No module named 'zoo_fx_missing_dependency'"),
    ("baddefault", f"plugin 'baddefault' (zoo-fx-baddefault 9.9) is broken: {DEFAULT}"),
    ("notinstalled", "plugin 'notinstalled' is not installed: no entry point 'notinstalled' "
                     "in the 'zoo.plugins' group"),
])
def test_kit_fails_a_plugin_that_does_not_load(plugin_env: PluginEnv, plugin: str,
                                               message: str) -> None:
    plugin_env.add_broken("importerror", "baddefault")
    plugin_env.refresh()
    with pytest.raises(pytest.fail.Exception) as info:
        _kit(plugin).test_plugin_loads()
    assert str(info.value).startswith(message)
    with pytest.raises(pytest.fail.Exception, match="importerror"):
        _kit(None).test_plugin_loads()  # zoo's own run over every plugin fails too


def test_kit_reports_the_contract_line(three: PluginEnv) -> None:
    kit = _kit("smallout")
    kit.test_plugin_loads()  # it loads: only the contract catches it
    with pytest.raises(pytest.fail.Exception) as info:
        kit.test_defaults(("encoder", "smallout"))
    assert str(info.value) == SMALL
    # raised outside the contract's except, so pytest prints the line once, not once more
    # "during handling of the above exception"
    assert info.value.__context__ is None


def test_kit_round_trip_saves_and_reloads_the_example_plugin(plugin_env: PluginEnv,
                                                             tmp_path) -> None:
    plugin_env.add_example()
    plugin_env.refresh()
    kit = _kit("myencoder")
    kit.settings = {"myencoder": {"widths": [8, 16]}}
    kit.test_checkpoint_round_trip(("encoder", "myencoder"), tmp_path)
    folder = tmp_path / "model"  # written by the real model-folder code
    assert {"model.safetensors", "config.json", "zoo.json"} <= {p.name for p in folder.iterdir()}
    assert json.loads((folder / "config.json").read_text())["encoder_args"] == {"widths": [8, 16]}


@pytest.mark.parametrize("name, message", [
    ("badreload", "encoder 'badreload' (plugin 'badreload', zoo-fx-badreload 9.9): a model "
                  "saved with it does not load again: "),
    ("hiddenstate", "encoder 'hiddenstate' (plugin 'badreload', zoo-fx-badreload 9.9): a "
                    "model reloaded from its model folder gives other outputs at 32x32"),
])
def test_kit_names_an_encoder_that_does_not_survive_a_model_folder(
        plugin_env: PluginEnv, tmp_path, name: str, message: str) -> None:
    plugin_env.add_misbehaving("badreload")
    plugin_env.refresh()
    kit = _kit("badreload")
    kit.test_plugin_loads()
    kit.test_defaults(("encoder", name))  # the forward contract holds: only a reload fails
    with pytest.raises(pytest.fail.Exception) as info:
        kit.test_checkpoint_round_trip(("encoder", name), tmp_path)
    assert str(info.value).startswith(message), str(info.value)
    assert "\n" not in str(info.value) and info.value.__context__ is None
    if name == "badreload":  # the reload applied reload_args: the weights no longer fit
        assert "reload_args" in str(info.value) and "does not match" in str(info.value)


def test_verify_encoder_is_quick_and_remembered(three: PluginEnv, monkeypatch) -> None:
    from zoo.plugin import contract

    with pytest.raises(ContractError) as info:
        contract.verify_encoder("fewchannels", None, 4, (16, 16), registry=get_registry())
    assert ("out_channels declares 64 but forward returned 32 channels for input "
            "(2, 4, 16, 16)") in str(info.value)
    calls = []
    real = contract.check_encoder
    monkeypatch.setattr(contract, "check_encoder",
                        lambda *a, **k: calls.append(a) or real(*a, **k))
    for _ in range(3):
        contract.verify_encoder("convmixer", {"width": 8}, 3, registry=get_registry())
    assert len(calls) == 1
    contract.verify_encoder("convmixer", {"width": 8}, 3, (30, 30),
                            registry=get_registry())  # refused size: not ours


@pytest.mark.parametrize("name, message", [("smallout", SMALL), ("fewchannels", FEW)])
def test_tune_dry_run_with_a_lying_encoder_is_one_line(three: PluginEnv, capsys, tmp_path,
                                                       name: str, message: str) -> None:
    space = tmp_path / "s.yaml"
    space.write_text(f"base: {{train_limit: 8}}\nspace:\n  encoder: {{grid: [none, {name}]}}\n")
    code = main(["tune", str(space), "--dry-run"])
    err = _one_line(capsys.readouterr().err)
    assert code == 2
    assert message in err


def test_encoder_build_must_return_a_module(plugin_env: PluginEnv) -> None:
    import types

    from zoo.plugin.hookspecs import EncoderSpec
    from zoo.plugin.registry import load_registry

    module = types.ModuleType("zoo_fx_none_build")

    @zoo.hookimpl
    def zoo_register_encoders(register):
        register(EncoderSpec("nobuild", Cfg, lambda c, n: None, "builds nothing"))

    from dataclasses import dataclass

    @dataclass
    class Cfg:
        pass

    module.zoo_register_encoders = zoo_register_encoders
    plugin_env.allow("none")
    registry = load_registry(extra=[("nobuild", module)])
    with pytest.raises(ContractError, match=r"^encoder 'nobuild' \(plugin 'nobuild', "
                       r"nobuild local\): build\(config, 3\) declares an nn.Module "
                       r"but returned NoneType; return the encoder module$"):
        check_encoder("nobuild", registry=registry)
