"""zoo.settings.build_config: the one way layers of settings become a validated TrainConfig."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from zoo.config import TrainConfig, preset
from zoo.settings import build_config
from zoo.errors import ZooError

ZOO = Path(__file__).resolve().parents[1] / "zoo"


def test_later_layers_win_key_by_key_and_mappings_merge() -> None:
    config = build_config(preset("strong"), {"unet": {"depth": 3, "widths": [8, 16, 32, 64]}},
                          {"unet.dropout": 0.1, "lr": "0.01"}, None, {})
    assert config.encoder == "convmixer"  # from the preset
    assert config.unet.skip_merge == "concat"  # the preset's, kept beside the new depth
    assert (config.unet.depth, config.unet.widths, config.unet.dropout) == (3, (8, 16, 32, 64), 0.1)
    assert config.lr == 0.01  # coerced from the string a --set gives


def test_a_stored_config_is_a_layer_and_round_trips() -> None:
    stored = build_config(preset("strong"), {"seed": 3, "encoder_args": {"width": 32}})
    assert build_config(stored) == stored
    assert build_config(stored.to_dict()) == stored
    assert build_config(stored, {"test_limit": 10}).test_limit == 10
    assert stored.test_limit is None  # layers never mutate what they are given


def test_switching_plugin_starts_its_options_afresh() -> None:
    config = build_config({"encoder": "convmixer", "encoder_args": {"width": 32},
                           "mask": "irregular", "mask_args": {"max_strokes": 3}},
                          {"encoder": "none", "mask": "square"})
    assert (config.encoder_args, config.mask_args) == ({}, {})
    same = build_config({"encoder": "convmixer", "encoder_args": {"width": 32}},
                        {"encoder": "convmixer", "encoder_args": {"depth": 2}})
    assert same.encoder_args == {"width": 32, "depth": 2}
    # options of loss terms the new loss does not use go with the old loss
    loss = build_config({"loss": "mse+adv:0.01", "loss_args": {"adv": {"lr": 1e-4}}},
                        {"loss": "l1_hole"})
    assert (loss.loss, loss.loss_args) == ("l1_hole", {})


def test_options_from_a_layer_that_named_no_plugin_serve_the_chosen_one() -> None:
    # a config file with options only, then --encoder/--mask/--set loss=... on the CLI
    file = {"encoder_args": {"width": 64}, "mask_args": {"max_frac": 0.3},
            "loss_args": {"ssim": {"kernel_size": 5}}}
    config = build_config(file, {"encoder": "convmixer", "mask": "square", "loss": "mse+ssim"})
    assert config.encoder_args == {"width": 64} and config.mask_args == {"max_frac": 0.3}
    assert config.loss_args == {"ssim": {"kernel_size": 5}}
    # the preset names convmixer and mixed masks; options given without a name serve the
    # plugin finally chosen
    kept = build_config(preset("strong"), file | {"loss": "mse+ssim"}, {"mask": "square"})
    assert kept.mask_args == {"max_frac": 0.3} and kept.encoder_args == {"width": 64}
    # options for a term the loss does not use, given without naming a loss, are an error
    with pytest.raises(ZooError, match="loss_args has options for ssim"):
        build_config(file, {"encoder": "convmixer", "mask": "square", "loss": "mse"})


def test_filter_mode_drops_options_the_chosen_plugin_lacks() -> None:
    layers = ({"encoder_args": {"width": 32}}, {"encoder": "none"})
    assert build_config(*layers, plugin_args="filter").encoder_args == {}
    kept = build_config({"encoder_args": {"width": 32}}, {"encoder": "convmixer"},
                        plugin_args="filter")
    assert kept.encoder_args == {"width": 32}  # the base's options serve every plugin that has them
    with pytest.raises(ZooError, match="unknown option 'encoder_args.widht'"):
        build_config({"encoder": "convmixer", "encoder_args": {"widht": 32}})


@pytest.mark.parametrize("layer, message", [
    ({"encoder": "convmixr"}, "convmixer"),  # the suggestion
    ({"encoder": "convmixer", "encoder_args": {"width": "wide"}}, "encoder_args.width"),
    ({"mask_args": {"nope": 1}}, "unknown option 'mask_args.nope'"),
    ({"loss": "mse+ssimm"}, "ssim"),
    ({"loss_args": {"adv": {"lr": 1e-4}}}, "loss_args has options for adv"),
    ({"loss": "adv", "loss_args": {"adv": {"lrr": 1}}}, "loss_args.adv.lrr"),
    ({"unet": {"depht": 3}}, "did you mean 'depth'"),
    ({"epochs": 0}, "epochs must be >= 1"),
])
def test_every_layer_is_validated_with_the_plugins_own_configs(layer: dict, message: str) -> None:
    with pytest.raises(ZooError, match=message):
        build_config(layer)


def test_plugins_false_reads_a_record_without_the_plugins() -> None:
    record = {"encoder": "someone_elses_encoder", "encoder_args": {"x": 1}}
    config = build_config(record, plugins=False)
    assert config.encoder == "someone_elses_encoder"
    with pytest.raises(ZooError, match="someone_elses_encoder"):
        build_config(record)


def test_bad_layers_are_refused() -> None:
    with pytest.raises(ZooError, match="mapping"):
        build_config(["unet.depth=3"])  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="reset"):
        build_config({}, plugin_args="merge")


def _calls_outside_config() -> list[str]:
    """Places in zoo/ (but config.py and settings.py) that build a TrainConfig by hand or
    deep-merge dicts."""
    found = []
    for path in ZOO.rglob("*.py"):
        if path.parent == ZOO and path.name in ("config.py", "settings.py") or \
                "_scaffold" in path.parts:
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Call):
                fn = node.func
                name = fn.attr if isinstance(fn, ast.Attribute) else getattr(fn, "id", "")
                first = node.args[0] if node.args else None
                if name == "TrainConfig" or (
                        name == "from_dict" and isinstance(first, ast.Name)
                        and first.id in ("TrainConfig", "UNetConfig")):
                    found.append(f"{path.relative_to(ZOO)}:{node.lineno}")
            if isinstance(node, ast.FunctionDef) and "merge" in node.name:
                found.append(f"{path.relative_to(ZOO)}:{node.lineno} def {node.name}")
    return found


def test_only_settings_py_turns_settings_into_a_train_config() -> None:
    assert _calls_outside_config() == []
    assert TrainConfig() == build_config()  # the defaults are the one empty layer stack


def test_config_hash_is_stable_across_added_options() -> None:
    """Leaderboard groups and resume checks key on the hash: an option added later, at its
    default, must leave the hash of every earlier config as it was (this one is 0.1.0's)."""
    assert TrainConfig().hash() == "681bd876fc3a"
    assert build_config({"unet.prefill": "pushpull"}).hash() != TrainConfig().hash()
