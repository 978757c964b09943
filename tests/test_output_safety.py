"""Text zoo did not write (leaderboard rows, plugin names) never drives the terminal:
control sequences are escaped in every output format (issue 16, finding 9)."""

from __future__ import annotations

import json

import pytest
from test_leaderboard import make_result

from zoo.cli import main
from zoo.leaderboard import Leaderboard

TITLE = "\x1b]0;pwned\x07"  # sets the terminal window's title
CLEAR = "\x1b[2J"  # clears the screen
C1 = "\x9b2J"  # the same, as a one-byte C1 control


def _raw(text: str) -> list[str]:
    return [c for c in ("\x1b", "\x07", "\x9b") if c in text]


@pytest.fixture
def db(tmp_path):
    lb = Leaderboard(tmp_path / "lb.sqlite")
    for n, status in ((1, "completed"), (2, "failed")):
        result = make_result(seed=n)
        result["encoder"] = f"evil{TITLE}{CLEAR}"
        lb.record_trial("s1", f"s1-{n}", status, result, result["config"],
                        error=f"boom{CLEAR}{TITLE}{C1}" if status == "failed" else None)
    return tmp_path / "lb.sqlite"


@pytest.mark.parametrize("argv", [
    ["--format", "table"], ["--format", "markdown"], ["--format", "csv"], ["--format", "json"],
    ["--status", "failed", "--columns", "error"], ["show", "s1-2"], ["show", "s1-2", "--format",
                                                                        "json"], ["searches"],
])
def test_control_sequences_never_reach_the_terminal(db, capsys, argv) -> None:
    assert main(["leaderboard", "--db", str(db), *argv]) == 0
    out = capsys.readouterr().out
    assert _raw(out) == [], argv
    if argv[-1] == "json":  # JSON keeps the text, escaped the JSON way
        data = json.loads(out)
        rows = data.get("trials") or [data]
        assert any(r["encoder"] == f"evil{TITLE}{CLEAR}" for r in rows)
    elif argv[-1] in ("markdown", "csv") or argv[0] == "show":  # shown as text, escaped
        assert "evil\\x1b]0;pwned\\x07\\x1b[2J" in out
    if argv == ["show", "s1-2"]:
        assert "boom\\x1b[2J\\x1b]0;pwned\\x07\\x9b2J" in out


def test_error_lines_and_plugin_listings_are_escaped(tmp_path, capsys) -> None:
    assert main(["leaderboard", "--db", str(tmp_path / f"no{CLEAR}.sqlite")]) == 2
    err = capsys.readouterr().err
    assert _raw(err) == [] and "error:" in err


def test_plugin_listing_escapes_control_sequences(tmp_path, monkeypatch, capsys) -> None:
    from fixtures import FIXTURES, PluginEnv

    from zoo.plugin.registry import get_registry

    env = PluginEnv(monkeypatch, tmp_path)
    monkeypatch.syspath_prepend(str(FIXTURES))
    env.add_dist("zoo-fx-ansi", "9.9", {"ansi": "zoo_fx_ansi"})
    try:
        assert main(["plugins"]) == 0
        out = capsys.readouterr().out
        assert "ansibox" in out and _raw(out) == []
        assert main(["plugins", "--json"]) == 0
        out = capsys.readouterr().out
        assert _raw(out) == [] and "\\u001b]0;pwned" in out
    finally:
        monkeypatch.undo()
        get_registry(refresh=True)


def test_show_prints_paths_whole(db, capsys) -> None:
    lb = Leaderboard(db)
    result = make_result(seed=9)
    long = "/results/" + "a-very-long-folder-name" * 4 + "/checkpoint_000003/model.safetensors"
    result["checkpoint"] = long
    lb.record_trial("s1", "s1-9", "completed", result, result["config"])
    assert main(["leaderboard", "--db", str(db), "show", "s1-9"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert any(line.startswith("checkpoint") and line.rstrip().endswith(long) for line in lines)


def test_one_inf_decoder_and_one_flattener() -> None:
    """zoo._json.from_jsonable undoes to_jsonable's "inf" (the leaderboard and model folders
    both read with it); zoo._dicts.flatten opens nested options into dotted keys."""
    import math

    from zoo._dicts import flatten
    from zoo._json import from_jsonable, to_jsonable

    value = {"a": [math.inf, -math.inf, 1.5, "x"], "b": {"c": math.inf}}
    assert from_jsonable(to_jsonable(value)) == value
    nested = {"lr": 1e-3, "unet": {"depth": 3, "extra": {"k": 1}}, "encoder_args": {},
              "mask_args": {"size": 8}}
    assert flatten(nested) == {"lr": 1e-3, "unet.depth": 3, "unet.extra.k": 1,
                               "mask_args.size": 8}
    assert flatten(nested, ("unet", "mask_args")) == {
        "lr": 1e-3, "unet.depth": 3, "unet.extra": {"k": 1}, "encoder_args": {},
        "mask_args.size": 8}
