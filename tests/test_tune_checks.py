"""`zoo tune` refuses what it cannot do before Ray starts, and leaves files as they were."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from zoo.cli import main

ROOT = Path(__file__).resolve().parents[1]
SMOKE = str(ROOT / "search_spaces" / "smoke.yaml")


def _tune(capsys, *argv: str) -> tuple[int, str]:
    code = main(["tune", SMOKE, "--no-live", *argv])
    return code, " ".join(capsys.readouterr().err.split())


def _ray_started() -> bool:
    import ray

    return ray.is_initialized()


def test_a_corrupt_leaderboard_stops_the_search_before_ray(tmp_path: Path, capsys) -> None:
    storage = tmp_path / "results"
    storage.mkdir()
    db = storage / "leaderboard.sqlite"
    junk = b"this is not SQLite " * 200
    db.write_bytes(junk)
    code, err = _tune(capsys, "--storage", str(storage))
    assert code == 2 and "not a zoo leaderboard" in err, err
    assert db.read_bytes() == junk  # untouched
    assert sorted(p.name for p in storage.iterdir()) == ["leaderboard.sqlite"]
    assert not _ray_started()


def test_a_db_folder_or_storage_file_is_refused(tmp_path: Path, capsys) -> None:
    folder = tmp_path / "dbdir"
    folder.mkdir()
    code, err = _tune(capsys, "--storage", str(tmp_path / "r"), "--db", str(folder))
    assert code == 2 and "is a folder" in err, err
    assert list(folder.iterdir()) == []
    a_file = tmp_path / "results.txt"
    a_file.write_text("x")
    code, err = _tune(capsys, "--storage", str(a_file))
    assert code == 2 and "is a file, not a folder" in err, err
    assert a_file.read_text() == "x"
    code, err = _tune(capsys, "--storage", str(a_file / "sub"))
    assert code == 2 and "is a file, not a folder" in err, err
    assert not _ray_started()


def test_leaderboard_db_folder_is_an_error(tmp_path: Path, capsys) -> None:
    code = main(["leaderboard", "--db", str(tmp_path)])
    err = " ".join(capsys.readouterr().err.split())
    assert code == 2 and "is a folder" in err


def test_resume_without_a_search_is_refused(tmp_path: Path, capsys) -> None:
    code, err = _tune(capsys, "--storage", str(tmp_path), "--resume")
    assert code == 2 and "nothing to resume" in err


def test_rows_of_the_same_search_name_are_not_overwritten(tmp_path: Path, capsys) -> None:
    from zoo.leaderboard import Leaderboard

    lb = Leaderboard(tmp_path / "shared.sqlite")
    lb.record_trial("smoke", "smoke-1", "completed", {"psnr_hole": 17.0}, {"encoder": "none"})
    code, err = _tune(capsys, "--storage", str(tmp_path / "other"), "--db", str(lb.path))
    assert code == 2 and "already has rows" in err and "zoo leaderboard rm smoke" in err, err
    assert lb.get("smoke-1")["psnr_hole"] == 17.0


def test_check_resume_names_the_changed_setting() -> None:
    from zoo.errors import ZooError
    from zoo.tune._store import check_resume, spec_from_record, spec_record
    from zoo.tune.space import load_space

    spec = load_space(SMOKE)
    stored = spec_record(spec)
    assert spec_record(spec_from_record(stored)) == stored  # the record round-trips
    check_resume(load_space(SMOKE), stored)  # same settings: fine
    for overrides, named in (({"max_epochs": 3}, "--max-epochs"),
                             ({"base": {"lr": 0.01}}, "lr"),
                             ({"resources": {"cpu": 2}}, "--cpus/--gpus"),
                             ({"num_samples": 2}, "--num-samples")):
        with pytest.raises(ZooError, match=f"--resume cannot change {named} "):
            check_resume(load_space(SMOKE, overrides=overrides), stored)


def test_trial_names_are_readable_and_unique() -> None:
    from zoo.tune._store import trial_name

    assert trial_name("quick", "a1b2c_00000") == "quick-1"
    assert trial_name("quick", "a1b2c_00011") == "quick-12"
    assert trial_name("quick", "odd") == "quick-odd"


def test_rich_escape_keeps_brackets(capsys) -> None:
    from zoo.cli._console import console, escape

    console.print(escape("pip install 'zoo-inpaint[export]'"), soft_wrap=True)
    assert "zoo-inpaint[export]" in capsys.readouterr().out


def test_an_unreachable_address_is_one_message(tmp_path: Path, capsys) -> None:
    import socket

    with socket.socket() as sock:  # a port nothing listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    code, err = _tune(capsys, "--storage", str(tmp_path), "--address", f"127.0.0.1:{port}")
    assert code == 2 and "no Ray head node answers" in err, err
    code, err = _tune(capsys, "--storage", str(tmp_path), "--address", "nohostport")
    assert code == 2 and "HOST:PORT" in err
    assert not _ray_started()


def test_bad_eval_batch_size_and_lr_are_refused_before_work(capsys) -> None:
    for setting, message in (("eval_batch_size=0", "eval_batch_size must be >= 1"),
                             ("eval_batch_size=-5", "eval_batch_size must be >= 1"),
                             ("lr=.inf", "lr must be a finite number")):
        code, err = _tune(capsys, "--set", setting, "--dry-run")
        assert code == 2 and message in err, err


def test_another_sqlite_file_is_not_taken_over(tmp_path: Path, capsys) -> None:
    import sqlite3

    db = tmp_path / "app.sqlite"
    with sqlite3.connect(db) as conn:
        conn.execute("CREATE TABLE users (name TEXT)")
    before = db.read_bytes()
    code, err = _tune(capsys, "--storage", str(tmp_path / "r"), "--db", str(db))
    assert code == 2 and "not a zoo leaderboard" in err, err
    assert db.read_bytes() == before


def test_without_address_ray_starts_its_own_cluster(monkeypatch) -> None:
    """Ray's default would join any cluster already running on the machine (another
    user's, or a test's): the embedded search must not."""
    import ray

    from zoo.tune import runner

    seen = {}
    monkeypatch.setattr(ray, "is_initialized", lambda: False)
    monkeypatch.setattr(ray, "init", lambda address=None, **kw: seen.update(address=address))
    monkeypatch.setenv("RAY_ADDRESS", "10.0.0.1:6379")
    runner._init_ray(None, {})
    assert seen["address"] == "local"
    runner._init_ray("10.0.0.9:6379", {})
    assert seen["address"] == "10.0.0.9:6379"


class _Payload:
    """Writes a marker file when unpickled: what a forged tuner.pkl would run."""

    def __init__(self, marker: str) -> None:
        self.marker = marker

    def __reduce__(self):
        return (Path.write_text, (Path(self.marker), "ran"))


def _handed_over_search(tmp_path: Path) -> tuple[Path, Path]:
    """A results folder as someone could hand it over: a valid search record and Ray state
    whose tuner.pkl runs code when unpickled."""
    import pickle

    from zoo.tune._store import write_record
    from zoo.tune.space import load_space

    storage, marker = tmp_path / "handed", tmp_path / "MARKER"
    spec = load_space(SMOKE, overrides={"base": {"dataset": "synthetic"}})
    write_record(storage / "smoke", spec)
    (storage / "smoke" / "tuner.pkl").write_bytes(pickle.dumps(_Payload(str(marker))))
    (storage / "smoke" / "experiment_state-2026.json").write_text('{"trial_data": []}')
    return storage, marker


def test_resume_of_ray_state_zoo_did_not_write_is_refused_unpickled(
        tmp_path: Path, capsys, monkeypatch: pytest.MonkeyPatch) -> None:
    from zoo.tune._guard import key_file, seal

    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    storage, marker = _handed_over_search(tmp_path)
    args = ("--storage", str(storage), "--resume", "--set", "dataset=synthetic")
    code, err = _tune(capsys, *args)
    assert code == 2 and "has no seal of its Ray state" in err and "--trust-state" in err, err
    assert "results in" not in err
    assert not marker.exists() and not _ray_started()

    # sealed with another user's key (or forged): the same refusal
    other = tmp_path / "other"
    monkeypatch.setenv("XDG_CONFIG_HOME", str(other))
    seal(storage / "smoke")
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    code, err = _tune(capsys, *args)
    assert code == 2 and "does not match its seal" in err, err
    # sealed by this user, then a state file swapped: refused too
    seal(storage / "smoke")
    assert key_file() == tmp_path / "config" / "zoo" / "search.key"  # XDG_CONFIG_HOME
    assert key_file().stat().st_mode & 0o777 == 0o600
    (storage / "smoke" / "tuner.pkl").write_bytes(
        (storage / "smoke" / "tuner.pkl").read_bytes() + b" ")
    code, err = _tune(capsys, *args)
    assert code == 2 and "does not match its seal" in err, err
    assert not marker.exists() and not _ray_started()


def test_a_second_run_of_a_search_is_refused_while_the_first_holds_it(
        tmp_path: Path, capsys) -> None:
    import subprocess
    import sys

    storage = tmp_path / "results"
    holder = subprocess.Popen(  # what a running `zoo tune` of this search holds
        [sys.executable, "-c", "import sys, time\nfrom zoo.tune._guard import search_lock\n"
         f"with search_lock({str(storage)!r}, 'smoke'):\n    print('held', flush=True)\n"
         "    sys.stdin.read()"], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "held"
        code, err = _tune(capsys, "--storage", str(storage), "--set", "dataset=synthetic")
        assert code == 2 and "is being run by another `zoo tune`" in err, err
        assert f"pid {holder.pid}" in err
        assert "results in" not in err and not _ray_started()
    finally:
        holder.communicate("", timeout=30)
    assert not (storage / ".smoke.lock").exists()  # released, and removed


def test_max_concurrent_reaches_the_variant_generator() -> None:
    """Tune ignores max_concurrent_trials when given a BasicVariantGenerator (random, grid):
    the cap must be the generator's own (test_tune checks no two trials overlap)."""
    from zoo.tune.space import load_space

    for kind in ("random", "grid"):
        spec = load_space(SMOKE, overrides={"max_concurrent": 1, "search": {"type": kind}})
        assert spec.search_alg().max_concurrent == 1
        assert spec.max_concurrent_trials() is None  # Ray would warn and ignore it
    assert load_space(SMOKE).search_alg().max_concurrent == 0  # no cap


def test_sigterm_before_tune_takes_over_is_an_interrupt() -> None:
    """A SIGTERM that arrives while Ray starts (before Tune's own handler) interrupts as
    Ctrl-C does (the CLI then prints the resume hint and exits 130), never a bare exit."""
    import os
    import signal

    from zoo.tune.runner import stop_on_sigterm

    before, before_int = signal.getsignal(signal.SIGTERM), signal.getsignal(signal.SIGINT)
    try:
        # Python's own Ctrl-C handler, as at the start of `zoo tune` (an in-process search
        # earlier in the suite may have left Tune's handler installed)
        signal.signal(signal.SIGINT, signal.default_int_handler)
        stop_on_sigterm()
        with pytest.raises(KeyboardInterrupt):
            os.kill(os.getpid(), signal.SIGTERM)
            __import__("time").sleep(1)  # the handler runs here
    finally:
        signal.signal(signal.SIGTERM, before)
        signal.signal(signal.SIGINT, before_int)


def test_a_search_keeps_the_preset_it_began_with(monkeypatch: pytest.MonkeyPatch,
                                                tmp_path: Path) -> None:
    """The trials of a running search, and of its --resume, train the preset as it was when
    the search was loaded: editing or upgrading zoo meanwhile changes nothing, and a
    --resume under a changed preset is refused; so is that of a search recorded before
    presets were, once one of its trials trained the preset otherwise."""
    from zoo import config
    from zoo.errors import ZooError
    from zoo.tune._store import check_resume, spec_from_record, spec_record
    from zoo.tune.space import load_space

    quick = ROOT / "search_spaces" / "quick.yaml"
    spec = load_space(quick)
    before = [spec.trial_config(p).to_dict() for p in spec.points()[:2]]
    stored = spec_record(spec)
    assert stored["preset_values"] == config.preset(spec.preset)
    changed = {**config.PRESETS, spec.preset: {**config.PRESETS[spec.preset],
                                                "lr_schedule": "cosine"}}
    monkeypatch.setattr(config, "PRESETS", changed)
    assert config.preset(spec.preset)["lr_schedule"] == "cosine"
    # the loaded spec (what Tune hands each trial) and the rebuilt record keep the old recipe
    for same in (spec, spec_from_record(stored)):
        assert [same.trial_config(p).to_dict() for p in spec.points()[:2]] == before
        assert same.fixed("lr_schedule") == "onecycle"
    with pytest.raises(ZooError, match="preset 'strong-v1' has changed since it started"):
        check_resume(load_space(quick), stored)
    # a record from before presets were recorded resumes as it always did
    old = {k: v for k, v in stored.items() if k != "preset_values"}
    check_resume(load_space(quick), old)
    check_resume(load_space(quick), old, tmp_path)  # no trial has trained yet
    # ... unless one of its trials trained the preset as it was (Tune's report: the
    # sampled point under "config", what was trained under "train_config")
    point = spec.points()[0]
    (tmp_path / "quick-1").mkdir()
    (tmp_path / "quick-1" / "result.json").write_text(
        json.dumps({"epoch": 1, "config": point, "train_config": before[0]}) + "\n")
    with pytest.raises(ZooError, match=r"trial quick-1 trained the preset 'strong-v1' with "
                                       r"lr_schedule=\"onecycle\".*now has "
                                       r"lr_schedule=\"cosine\""):
        check_resume(load_space(quick), old, tmp_path)
    monkeypatch.setattr(config, "PRESETS", {**changed, spec.preset: config.PRESETS[spec.preset]
                                            | {"lr_schedule": "onecycle"}})
    check_resume(load_space(quick), old, tmp_path)  # the same recipe again: it resumes
