"""`zoo plugins`: listing (tables and --json), broken plugins shown but tolerated, and
`--check`'s exit code. Runs the real CLI entry point in-process."""

from __future__ import annotations

import dataclasses
import json
from importlib import metadata

import pytest
from fixtures import PluginEnv

from zoo.cli import main
from zoo.plugin.registry import ENTRY_POINT_GROUP


def _builtin_plugins() -> list[str]:
    """The entry points zoo itself ships (read from its metadata, not hard-coded)."""
    eps = metadata.distribution("zoo-inpaint").entry_points
    return sorted(ep.name for ep in eps if ep.group == ENTRY_POINT_GROUP)


def _json(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, dict]:
    code = main(["plugins", "--json", *argv])
    return code, json.loads(capsys.readouterr().out)


def test_json_lists_builtins_and_the_example(plugin_env: PluginEnv, capsys) -> None:
    plugin_env.add_example()
    code, data = _json(capsys)
    assert code == 0
    assert set(data) == {"encoders", "masks", "losses", "broken", "warnings"}
    encoders = {e["name"]: e for e in data["encoders"]}
    assert {"none", "convmixer", "timm", "myencoder"} <= set(encoders)
    assert {"paper"} <= {m["name"] for m in data["masks"]}
    mine = encoders["myencoder"]
    assert mine == {"name": "myencoder", "plugin": "myencoder", "package": "zoo-myencoder",
                    "version": "0.1.0", "description": mine["description"],
                    "params": {"widths": [32, 64], "activation": "relu"}}
    assert mine["description"] and "\n" not in mine["description"]
    assert encoders["none"]["package"] == "zoo-inpaint"
    # every config field is listed, in declaration order
    from zoo.plugin.registry import get_registry

    registry = get_registry()
    for kind, table in (("encoders", registry.encoders), ("masks", registry.masks),
                        ("losses", registry.losses)):
        for e in data[kind]:
            fields = [f.name for f in dataclasses.fields(table[e["name"]].spec.config)]
            assert list(e["params"]) == fields, e["name"]


def test_broken_plugin_is_listed_and_tolerated(plugin_env: PluginEnv, capsys) -> None:
    plugin_env.add_example()
    plugin_env.add_broken("importerror", "badhookargs")
    code, data = _json(capsys)
    assert code == 0  # listing never fails because of a plugin
    broken = {b["plugin"]: b for b in data["broken"]}
    assert broken["importerror"] == {
        "plugin": "importerror", "package": "zoo-fx-importerror", "version": "9.9",
        "error": "ModuleNotFoundError: No module named 'zoo_fx_missing_dependency'"}
    # pluggy's message spans lines; the useful last line must survive the joining
    assert "\n" not in broken["badhookargs"]["error"]
    assert "Argument(s) {'registr'}" in broken["badhookargs"]["error"]
    assert "myencoder" in {e["name"] for e in data["encoders"]}


def test_verbose_adds_tracebacks(plugin_env: PluginEnv, capsys) -> None:
    plugin_env.add_broken("hookraises")
    plugin_env.allow("hookraises")
    for argv in (["-v", "plugins", "--json"], ["plugins", "--json", "-v"]):
        assert main(argv) == 0
        (b,) = json.loads(capsys.readouterr().out)["broken"]
        assert "Traceback" in b["detail"] and "zoo_fx_hook_raises" in b["detail"]
    _, data = _json(capsys)
    assert "detail" not in data["broken"][0]


def test_tables_show_plugins_and_broken_section(plugin_env: PluginEnv, capsys) -> None:
    plugin_env.add_example()
    plugin_env.add_broken("hookraises")
    plugin_env.allow("myencoder", "hookraises")
    assert main(["plugins"]) == 0
    out = capsys.readouterr().out
    assert "Fusion encoders" in out and "Mask generators" in out
    assert "myencoder" in out and "zoo-myencoder" in out
    assert "Broken plugins" in out and "hookraises" in out and "RuntimeError" in out
    assert "Traceback" not in out


def test_check_passes_for_builtins_and_example(plugin_env: PluginEnv, capsys) -> None:
    plugin_env.add_example()
    plugin_env.allow(*_builtin_plugins(), "myencoder")
    code, data = _json(capsys, "--check")
    assert data["broken"] == []
    assert all(c["ok"] for c in data["check"]), data["check"]
    assert code == 0
    checked = {c["name"] for c in data["check"] if c["kind"] == "encoder"}
    assert checked == {e["name"] for e in data["encoders"]} >= {"none", "myencoder"}


def test_check_fails_when_a_plugin_is_broken(plugin_env: PluginEnv, capsys) -> None:
    plugin_env.add_example()
    plugin_env.add_broken("hookraises")
    plugin_env.allow("myencoder", "hookraises")
    code, data = _json(capsys, "--check")
    assert [c["ok"] for c in data["check"]] == [True]  # myencoder itself is fine
    assert code == 1
    # every row says ok, so the summary must say why the exit is 1
    assert data["summary"]["line"] == ("1 of 1 passed the contract; exit 1: 1 plugin broken "
                                       "(hookraises; see the Broken plugins table)")
    assert main(["plugins", "--check"]) == 1
    assert "exit 1: 1 plugin broken (hookraises" in " ".join(capsys.readouterr().out.split())


def test_check_fails_when_an_encoder_does_not_run(plugin_env: PluginEnv, capsys) -> None:
    # registers cleanly, so only the dummy forward can catch it
    plugin_env.add_example()
    plugin_env.add_dist("zoo-fx-liar", "1.0", {"liar": "zoo_fx_bad_forward"})
    plugin_env.allow("myencoder", "liar")
    code, data = _json(capsys, "--check")
    assert data["broken"] == []
    results = {c["name"]: c for c in data["check"]}
    assert results["myencoder"]["ok"] and results["myencoder"]["error"] is None
    assert results["liar"]["error"] == (
        "encoder 'liar' (plugin 'liar', zoo-fx-liar 1.0): out_channels declares 8 but forward "
        "returned 9 channels for input (2, 3, 32, 32); make out_channels equal to what "
        "forward returns (or forward return that many)")
    assert code == 1
    assert "1 failed the contract (encoder 'liar')" in data["summary"]["line"]
    assert main(["plugins", "--check"]) == 1  # the table form agrees
    out = " ".join(capsys.readouterr().out.split())
    assert "failed: encoder 'liar'" in out and "exit 1: 1 failed the contract" in out


def test_check_names_select_plugins(plugin_env: PluginEnv, capsys) -> None:
    plugin_env.add_example()
    plugin_env.add_dist("zoo-fx-liar", "1.0", {"liar": "zoo_fx_bad_forward"})
    plugin_env.add_broken("hookraises")
    plugin_env.allow("myencoder", "liar", "hookraises", "masks")
    code, data = _json(capsys, "--check", "myencoder")  # the liar and the broken one aside
    assert code == 0 and [c["name"] for c in data["check"]] == ["myencoder"]
    assert data["summary"]["line"] == "1 of 1 passed the contract; exit 0"
    code, data = _json(capsys, "--check", "paper", "liar")  # a registered name or a plugin
    assert code == 1
    assert {c["name"] for c in data["check"]} == {"irregular", "mixed", "paper", "square", "liar"}
    assert main(["plugins", "--check", "myencodr"]) == 2  # a typo: ZooError, suggestion
    assert "did you mean 'myencoder'?" in capsys.readouterr().err
