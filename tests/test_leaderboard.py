"""The leaderboard store and `zoo leaderboard`: upserts, concurrency, ranking, grouping, CLI."""

from __future__ import annotations

import csv
import io
import json
import math
import multiprocessing
import statistics
import threading
from pathlib import Path

import pytest

from zoo.cli import main
from zoo.config import TrainConfig
from zoo.settings import build_config
from zoo.errors import ZooError
from zoo.leaderboard import (
    DEFAULT_STORAGE,
    SCHEMA_VERSION,
    Leaderboard,
    default_db_path,
    resolve_db_path,
)

EVAL_ID = "cifar10/paper/n100/s2024"
BASELINES = {
    "mean_fill": {"dice": 0.5832, "psnr_hole": 14.0, "ssim_hole": 0.50, "l1_hole": 0.184},
    "telea": {"dice": 0.5901, "psnr_hole": 17.6, "ssim_hole": 0.70, "l1_hole": 0.108},
    "ceiling": {"dice": 0.5948, "psnr_hole": math.inf, "ssim_hole": 1.0, "l1_hole": 0.0},
}


def make_result(encoder: str = "none", seed: int = 0, psnr_hole: float = 17.0,
                l1_hole: float = 0.1, dice: float = 0.58, dataset: str = "cifar10",
                epochs: int = 5, **extra) -> dict:
    """A result dict shaped like zoo.train.train's, for a real TrainConfig."""
    cfg = TrainConfig(encoder=encoder, seed=seed, dataset=dataset, epochs=epochs, test_limit=100)
    return {
        "dice": dice, "psnr_hole": psnr_hole, "ssim_hole": 0.7, "l1_hole": l1_hole,
        "psnr": 25.0, "ssim": 0.9, "l1": 0.03, "params": 123_456, "train_time_s": 9.5,
        "train_images_per_s": 3000.0, "device": "cpu", "epochs_done": epochs,
        "checkpoint": f"/runs/{encoder}-{seed}/model.pt", "encoder": encoder,
        "plugin_version": "0.1.0", "config": cfg.to_dict(), "config_hash": cfg.hash(),
        "eval_id": EVAL_ID, "baselines": BASELINES, "grid_png": f"/runs/{encoder}-{seed}/grid.png",
        "curves_png": None, **extra,
    }


def record(lb: Leaderboard, trial_id: str, search: str = "s1", status: str = "completed",
           **kwargs) -> bool:
    result = make_result(**kwargs)
    return lb.record_trial(search, trial_id, status, result, result["config"])


@pytest.fixture
def lb(tmp_path: Path) -> Leaderboard:
    return Leaderboard(tmp_path / "lb.sqlite")


# -- store ---------------------------------------------------------------------------------


def test_schema_version_and_wal(lb: Leaderboard) -> None:
    import sqlite3

    assert lb.schema_version() == SCHEMA_VERSION
    with sqlite3.connect(lb.path) as conn:
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def test_same_trial_twice_is_one_row(lb: Leaderboard) -> None:
    record(lb, "t1", psnr_hole=17.0)
    first = lb.get("t1")
    record(lb, "t1", psnr_hole=18.5)
    rows = lb.trials()
    assert len(rows) == 1
    assert rows[0]["psnr_hole"] == 18.5
    assert rows[0]["created_at"] == first["created_at"]
    # the same trial id in another search is another row
    record(lb, "t1", search="s2")
    assert len(lb.trials()) == 2


def test_completed_is_never_overwritten_by_failed_or_running(lb: Leaderboard) -> None:
    assert record(lb, "t1", psnr_hole=17.3)
    cfg = lb.get("t1")["config"]
    assert not lb.record_trial("s1", "t1", "failed", None, cfg, error="worker died")
    assert not lb.record_trial("s1", "t1", "running", None, cfg)
    row = lb.get("t1")
    assert (row["status"], row["psnr_hole"], row["error"]) == ("completed", 17.3, None)


def test_failed_then_completed_replaces(lb: Leaderboard) -> None:
    # a trial that reported no config: its settings are kept as given (nested; the store
    # builds no TrainConfig), and the columns the config leaves out are the defaults
    assert lb.record_trial("s1", "t1", "failed", None,
                           {"encoder": "none", "unet.depth": 3, "unet.widths": [8, 16, 32, 64]},
                           error="CUDA OOM")
    failed = lb.get("t1")
    assert (failed["status"], failed["error"], failed["dataset"], failed["mask"]) == (
        "failed", "CUDA OOM", "cifar10", "paper")
    assert failed["config"] == {"encoder": "none", "unet": {"depth": 3,
                                                            "widths": [8, 16, 32, 64]}}
    assert failed["psnr_hole"] is None
    # an invalid config (depth 3 needs 4 widths) is kept as given, still with columns
    assert lb.record_trial("s1", "t2", "failed", None, {"unet.depth": 3, "dataset": "folder"},
                           error="bad config")
    invalid = lb.get("t2")
    assert invalid["config"] == {"unet": {"depth": 3}, "dataset": "folder"}
    assert invalid["dataset"] == "folder" and invalid["mask"] == "paper"
    assert invalid["config_hash"] and invalid["config_hash"] != failed["config_hash"]
    record(lb, "t1", psnr_hole=18.0)
    row = lb.get("t1", search="s1")
    assert (row["status"], row["psnr_hole"], row["error"]) == ("completed", 18.0, None)


def test_columns_and_references_from_result(lb: Leaderboard) -> None:
    record(lb, "t1", encoder="convmixer", seed=3)
    row = lb.get("t1")
    assert row["encoder"] == "convmixer" and row["seed"] == 3 and row["epochs"] == 5
    assert row["dataset"] == "cifar10" and row["mask"] == "paper" and row["eval_id"] == EVAL_ID
    assert row["config_hash"] == build_config(row["config"]).hash()
    assert row["checkpoint"] == "/runs/convmixer-3/model.pt"
    assert row["metrics"]["epochs_done"] == 5 and "baselines" not in row["metrics"]
    refs = {r["name"]: r for r in lb.references()}
    assert set(refs) == set(BASELINES)
    assert refs["ceiling"]["psnr_hole"] == math.inf  # inf survives SQLite
    assert refs["ceiling"]["metrics"]["psnr_hole"] == math.inf  # and the JSON column
    assert [r["name"] for r in lb.references()][0] == "ceiling"  # best first


def test_record_references_upserts(lb: Leaderboard) -> None:
    lb.record_references("e1", "cifar10", "paper", {"telea": {"psnr_hole": 17.0}})
    lb.record_references("e1", "cifar10", "paper", {"telea": {"psnr_hole": 17.6}})
    lb.record_references("e2", "folder", "paper", {"telea": {"psnr_hole": 12.0}})
    assert [(r["eval_id"], r["psnr_hole"]) for r in lb.references(dataset="cifar10")] == [
        ("e1", 17.6)]
    assert len(lb.references()) == 2


def _write_rows(path: str, worker: int, n: int, start) -> None:
    start.wait()  # both processes write at the same moment
    lb = Leaderboard(path)
    for i in range(n):
        lb.record_trial(f"search{worker}", f"t{i:03d}", "completed",
                        {"psnr_hole": float(i), "eval_id": "e"}, {"encoder": "none", "seed": i})


def test_two_processes_write_concurrently(tmp_path: Path) -> None:
    path = str(tmp_path / "lb.sqlite")
    ctx = multiprocessing.get_context("spawn")
    start = ctx.Event()
    procs = [ctx.Process(target=_write_rows, args=(path, w, 50, start)) for w in (0, 1)]
    for p in procs:
        p.start()
    start.set()
    for p in procs:
        p.join(timeout=120)
    assert [p.exitcode for p in procs] == [0, 0]
    rows = Leaderboard(path).trials()
    assert len(rows) == 100
    assert {(r["search"], r["trial_id"]) for r in rows} == {
        (f"search{w}", f"t{i:03d}") for w in (0, 1) for i in range(50)}


def test_threads_share_one_leaderboard(lb: Leaderboard) -> None:
    start = threading.Barrier(4)

    def write(worker: int) -> None:
        start.wait()
        for i in range(10):
            lb.record_trial("s", f"w{worker}-{i}", "completed", {"psnr_hole": 1.0}, {"seed": i})

    threads = [threading.Thread(target=write, args=(w,)) for w in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(lb.trials()) == 40


def test_sort_direction_follows_the_metric(lb: Leaderboard) -> None:
    record(lb, "a", psnr_hole=17.0, l1_hole=0.12, dice=0.585)
    record(lb, "b", psnr_hole=18.0, l1_hole=0.10, dice=0.580)
    record(lb, "c", psnr_hole=16.0, l1_hole=0.15, dice=0.590)
    lb.record_trial("s1", "d", "failed", None, {"encoder": "none"}, error="x")
    ids = lambda rows: [r["trial_id"] for r in rows]  # noqa: E731
    assert ids(lb.trials(sort="psnr_hole")) == ["b", "a", "c", "d"]  # higher first, NULL last
    assert ids(lb.trials(sort="l1_hole")) == ["b", "a", "c", "d"]  # lower first, NULL last
    assert ids(lb.trials(sort="dice")) == ["c", "a", "b", "d"]
    assert ids(lb.trials(sort="psnr_hole", descending=False)) == ["c", "a", "b", "d"]
    assert ids(lb.trials(sort="psnr_hole", top=2)) == ["b", "a"]
    with pytest.raises(ZooError, match="psnr_hole"):
        lb.trials(sort="psnr_hol")


def test_filters(lb: Leaderboard) -> None:
    record(lb, "a", encoder="none")
    record(lb, "b", encoder="convmixer", search="s2")
    record(lb, "c", encoder="convmixer", dataset="synthetic")
    lb.record_trial("s1", "d", "failed", None, {"encoder": "convmixer"}, error="x")
    ids = lambda rows: sorted(r["trial_id"] for r in rows)  # noqa: E731
    assert ids(lb.trials(encoder="convmixer")) == ["b", "c", "d"]
    assert ids(lb.trials(search="s2")) == ["b"]
    assert ids(lb.trials(dataset="synthetic")) == ["c"]
    assert ids(lb.trials(status="failed")) == ["d"]
    assert ids(lb.trials(encoder="convmixer", status="completed", dataset="cifar10")) == ["b"]
    assert ids(lb.trials(mask="paper")) == ["a", "b", "c", "d"]
    with pytest.raises(ZooError, match="completed"):
        lb.trials(status="done")


def test_grouped_mean_and_std_across_seeds(lb: Leaderboard) -> None:
    fused = [18.1, 18.4, 17.9]
    plain = [17.2, 17.5]
    for seed, value in enumerate(fused):
        record(lb, f"f{seed}", encoder="convmixer", seed=seed, psnr_hole=value, l1_hole=value / 100)
    for seed, value in enumerate(plain):
        record(lb, f"p{seed}", encoder="none", seed=seed, psnr_hole=value, l1_hole=value / 100)
    # another config: 7 epochs
    record(lb, "solo", encoder="none", seed=0, epochs=7, psnr_hole=19.0, l1_hole=0.2)
    lb.record_trial("s1", "bad", "failed", None, {"encoder": "convmixer"}, error="x")

    groups = lb.grouped()
    assert [(g["encoder"], g["n"]) for g in groups] == [("none", 1), ("convmixer", 3), ("none", 2)]
    solo, f, p = groups
    assert f["psnr_hole_mean"] == pytest.approx(statistics.mean(fused))
    assert f["psnr_hole_std"] == pytest.approx(statistics.stdev(fused))
    assert f["l1_hole_mean"] == pytest.approx(statistics.mean(v / 100 for v in fused))
    assert p["psnr_hole_std"] == pytest.approx(statistics.stdev(plain))
    assert f["seeds"] == [0, 1, 2] and sorted(f["trial_ids"]) == ["f0", "f1", "f2"]
    assert solo["psnr_hole_std"] is None  # one seed has no spread
    # l1_hole: lower first
    assert [g["trial_ids"][0][0] for g in lb.grouped(sort="l1_hole")] == ["p", "f", "s"]
    assert [g["encoder"] for g in lb.grouped(encoder="convmixer")] == ["convmixer"]
    # a seed re-run in another search counts once, with its newest result
    record(lb, "again", search="s2", encoder="none", seed=1, psnr_hole=17.9, l1_hole=0.179)
    p2 = lb.grouped(encoder="none", sort="l1_hole")[0]
    assert p2["n"] == 2 and sorted(p2["trial_ids"]) == ["again", "p0"]
    assert p2["psnr_hole_mean"] == pytest.approx(statistics.mean([17.2, 17.9]))


def test_get_by_prefix(lb: Leaderboard) -> None:
    record(lb, "a1b2_00001")
    record(lb, "a1b2_00002")
    record(lb, "ffff_00001")
    assert lb.get("ffff")["trial_id"] == "ffff_00001"
    assert lb.get("a1b2_00002")["trial_id"] == "a1b2_00002"
    with pytest.raises(ZooError, match="ambiguous.*a1b2_00001.*a1b2_00002"):
        lb.get("a1b2")
    with pytest.raises(ZooError, match="no trial 'zzz'"):
        lb.get("zzz")
    record(lb, "ffff_00001", search="s2")  # same id in two searches
    with pytest.raises(ZooError, match="s1/ffff_00001.*s2/ffff_00001"):
        lb.get("ffff_00001")
    assert lb.get("ffff_00001", search="s2")["search"] == "s2"


def test_db_paths(tmp_path: Path) -> None:
    assert default_db_path(tmp_path) == tmp_path.resolve() / "leaderboard.sqlite"
    assert default_db_path(f"file://{tmp_path}") == tmp_path.resolve() / "leaderboard.sqlite"
    with pytest.raises(ZooError, match="--db"):
        default_db_path("s3://bucket/results")
    assert resolve_db_path() == Path(DEFAULT_STORAGE).resolve() / "leaderboard.sqlite"
    assert resolve_db_path(db=tmp_path / "x.sqlite") == tmp_path / "x.sqlite"


def test_reading_a_missing_db_creates_nothing(tmp_path: Path) -> None:
    path = tmp_path / "nowhere" / "lb.sqlite"
    with pytest.raises(ZooError, match="zoo tune"):
        Leaderboard(path, create=False)
    assert not path.parent.exists()


def test_a_file_that_is_not_a_leaderboard(tmp_path: Path) -> None:
    path = tmp_path / "notes.sqlite"
    path.write_text("hello, this is not sqlite " * 100)
    with pytest.raises(ZooError, match="not a zoo leaderboard"):
        Leaderboard(path, create=False)


# -- CLI -------------------------------------------------------------------------------------


@pytest.fixture
def filled(lb: Leaderboard) -> Leaderboard:
    for seed, value in enumerate([18.1, 18.4]):
        record(lb, f"conv_{seed:05d}", encoder="convmixer", seed=seed, psnr_hole=value)
    record(lb, "none_00000", encoder="none", psnr_hole=17.2)
    lb.record_trial("s1", "oops_00000", "failed", None, {"encoder": "timm"}, error="boom")
    return lb


def _run(capsys, *argv: str) -> tuple[int, str, str]:
    code = main(["leaderboard", *argv])
    out, err = capsys.readouterr()
    return code, out, err


def test_cli_json(filled: Leaderboard, capsys) -> None:
    code, out, _ = _run(capsys, "--db", str(filled.path), "--format", "json")
    assert code == 0
    data = json.loads(out)  # strict JSON: inf is "inf"
    assert [t["trial_id"] for t in data["trials"]] == [
        "conv_00001", "conv_00000", "none_00000", "oops_00000"]
    refs = {r["name"]: r for r in data["references"]}
    assert refs["ceiling"]["psnr_hole"] == "inf" and refs["telea"]["psnr_hole"] == 17.6
    assert data["trials"][0]["config"]["encoder"] == "convmixer"

    code, out, _ = _run(capsys, "--db", str(filled.path), "--format", "json", "--group")
    groups = json.loads(out)["groups"]
    assert [g["n"] for g in groups] == [2, 1]
    assert groups[0]["psnr_hole_mean"] == pytest.approx(statistics.mean([18.1, 18.4]))


def test_cli_csv(filled: Leaderboard, capsys) -> None:
    code, out, _ = _run(capsys, "--db", str(filled.path), "--format", "csv",
                        "--status", "completed", "--sort", "dice")
    rows = list(csv.DictReader(io.StringIO(out)))
    assert code == 0
    assert out.startswith("rank,search,trial_id,status,")
    assert len(rows) == 3 and {r["status"] for r in rows} == {"completed"}
    assert json.loads(rows[0]["config"])["dataset"] == "cifar10"


def test_cli_markdown_and_table(filled: Leaderboard, capsys) -> None:
    code, out, _ = _run(capsys, "--db", str(filled.path), "--format", "markdown", "--top", "2")
    lines = out.splitlines()
    assert code == 0
    assert lines[0].startswith("| # | trial |") and lines[1].startswith("|---|")
    assert len([ln for ln in lines[2:] if ln.startswith("| ") and "_0000" in ln]) == 2
    assert "**References**" in out and "| telea |" in out.replace("  ", " ")

    code, out, _ = _run(capsys, "--db", str(filled.path), "--encoder", "convmixer")
    assert code == 0
    assert "conv_00001" in out and "none_00000" not in out
    assert "telea" in out and "ceiling" in out  # reference rows beside every table

    code, out, _ = _run(capsys, "--db", str(filled.path), "--group")
    assert code == 0 and "±" in out

    code, out, _ = _run(capsys, "--db", str(filled.path), "--search", "nope")
    assert code == 0 and "no trials match" in out and "s1" in out


def test_cli_show(filled: Leaderboard, capsys) -> None:
    code, out, _ = _run(capsys, "show", "conv_00001", "--db", str(filled.path))
    assert code == 0
    assert "conv_00001" in out and "/runs/convmixer-1/model.pt" in out and "grid.png" in out
    assert '"encoder": "convmixer"' in out and '"unet"' in out  # the full config
    code, out, _ = _run(capsys, "show", "none", "--db", str(filled.path), "--format", "json")
    row = json.loads(out)
    assert row["trial_id"] == "none_00000" and row["config"]["encoder"] == "none"
    assert {r["name"] for r in row["references"]} == set(BASELINES)
    code, _, err = _run(capsys, "show", "conv", "--db", str(filled.path))
    assert code == 2 and "ambiguous" in err


def test_cli_storage_flag(filled: Leaderboard, tmp_path: Path, capsys) -> None:
    filled.path.rename(tmp_path / "leaderboard.sqlite")
    code, out, _ = _run(capsys, "--storage", str(tmp_path), "--format", "json")
    assert code == 0 and len(json.loads(out)["trials"]) == 4


@pytest.mark.parametrize("argv, message", [
    (["--sort", "psnr"], None),  # valid: a whole-image metric
    (["--sort", "psnr_hol"], "did you mean 'psnr_hole'"),
    (["--format", "yaml"], "valid: csv, json, markdown, table"),
    (["--status", "done"], "completed"),
    (["--top", "0"], "--top"),
    (["show"], "needs a trial id"),
    (["show", "x", "--format", "csv"], "valid: json, table"),
])
def test_cli_bad_input(filled: Leaderboard, capsys, argv, message) -> None:
    code, _, err = _run(capsys, "--db", str(filled.path), *argv)
    if message is None:
        assert code == 0
    else:
        assert code == 2 and message in err


def test_cli_missing_db_is_an_error_and_creates_nothing(tmp_path: Path, capsys,
                                                        monkeypatch) -> None:
    path = tmp_path / "none.sqlite"
    code, _, err = _run(capsys, "--db", str(path))
    assert code == 2 and "no leaderboard" in err and "zoo tune" in err
    assert not path.exists()
    monkeypatch.chdir(tmp_path)  # the default ./results
    code, _, err = _run(capsys, "--format", "json")
    assert code == 2 and "results" in err.replace("\n", "")
    assert list(tmp_path.iterdir()) == []


def test_a_newer_schema_is_refused(filled: Leaderboard) -> None:
    import sqlite3

    with sqlite3.connect(filled.path) as conn:
        conn.execute("UPDATE meta SET value = ? WHERE key = 'schema_version'",
                     (str(SCHEMA_VERSION + 1),))
    with pytest.raises(ZooError, match="upgrade zoo"):
        Leaderboard(filled.path, create=False)


# -- issue 11: like with like, settings, searches, rm, paths ------------------------------------


def _result(eval_id: str, lr: float, psnr: float | None, test_limit: int, **extra) -> tuple:
    cfg = TrainConfig(lr=lr, test_limit=test_limit, epochs=3).to_dict()
    result = {"psnr_hole": psnr, "eval_id": eval_id if psnr is not None else None,
              "epochs_done": 3 if psnr is not None else 1, "config": cfg,
              "baselines": {"telea": {"psnr_hole": 17.0 if test_limit == 500 else 17.6}},
              **extra}
    return result, cfg


@pytest.fixture
def mixed(tmp_path: Path) -> Leaderboard:
    lb = Leaderboard(tmp_path / "results" / "leaderboard.sqlite")
    small, big = "cifar10/paper/n500/s2024", "cifar10/paper/n2000/s2024"
    for tid, (eval_id, lr, psnr, n) in {
            "a-1": (big, 1e-3, 17.5, 2000), "a-2": (big, 2e-3, 17.1, 2000),
            "a-3": (big, 3e-3, None, 2000), "b-1": (small, 1e-3, 18.9, 500)}.items():
        result, cfg = _result(eval_id, lr, psnr, n, **{"psnr_hole@0-10": 21.5})
        status = "completed" if psnr is not None else "stopped"
        lb.record_trial(tid[0], tid, status, result, cfg)
    return lb


def test_tables_per_eval_set_with_their_own_references(mixed: Leaderboard, capsys) -> None:
    code, out, _ = _run(capsys, "--db", str(mixed.path), "--format", "markdown")
    assert code == 0
    small = out.index("**eval set cifar10/paper/n500")
    big = out.index("**eval set cifar10/paper/n2000")
    # the set of the best trial first; never one ranking across both sets
    assert small < out.index("| b-1 |") < big < out.index("| a-1 |") < out.index("| a-3 |")
    # each set has its own telea row, scored on its own masks
    assert out[small:big].count("| telea |") == 1 and "17.00" in out[small:big]
    assert out[big:].count("| telea |") == 1 and "17.60" in out[big:]
    header = next(ln for ln in out[big:].splitlines() if ln.startswith("| # |"))
    assert "| status |" in header and "| loss |" in header and "| lr |" in header
    # epochs actually trained: the stopped trial did 1 of its 3
    a3 = next(ln for ln in out.splitlines() if "| a-3 |" in ln)
    assert "| stopped |" in a3 and "| 1 |" in a3
    code, out, _ = _run(capsys, "--db", str(mixed.path), "--format", "json")
    assert json.loads(out)["eval_sets"] == [{"eval_id": "cifar10/paper/n500/s2024", "n": 1},
                                            {"eval_id": "cifar10/paper/n2000/s2024", "n": 3}]


def test_status_stays_visible_on_80_columns(mixed: Leaderboard, capsys, monkeypatch) -> None:
    from zoo.cli._console import console

    monkeypatch.setattr(console, "_width", 80)
    code, out, _ = _run(capsys, "--db", str(mixed.path), "--search", "a")
    assert code == 0 and "status" in out and "stopped" in out
    assert max(len(line) for line in out.splitlines()) <= 80


def test_extra_columns_in_every_format(mixed: Leaderboard, capsys) -> None:
    code, out, _ = _run(capsys, "--db", str(mixed.path), "--format", "csv",
                        "--columns", "psnr_hole@0-10,optimizer")
    rows = list(csv.DictReader(io.StringIO(out)))
    assert code == 0 and rows[0]["psnr_hole@0-10"] == "21.5" and rows[0]["optimizer"] == "adam"
    assert rows[0]["loss"] == "mse"
    code, out, _ = _run(capsys, "--db", str(mixed.path), "--format", "markdown",
                        "--columns", "psnr_hole@0-10")
    assert "psnr_hole@0-10" in out and "21.50" in out
    code, _, err = _run(capsys, "--db", str(mixed.path), "--columns", "psnr_hole@0-1O")
    assert code == 2 and "did you mean 'psnr_hole@0-10'" in " ".join(err.split())


def test_group_says_what_it_leaves_out(mixed: Leaderboard, capsys) -> None:
    code, out, _ = _run(capsys, "--db", str(mixed.path), "--group", "--search", "a")
    flat = " ".join(out.split())
    assert code == 0 and "1 stopped" in flat and "2 configs" in flat
    code, out, _ = _run(capsys, "--db", str(mixed.path), "--group", "--search", "b")
    assert "1 config " in " ".join(out.split())


def test_searches_and_rm(mixed: Leaderboard, capsys, monkeypatch) -> None:
    code, out, _ = _run(capsys, "--db", str(mixed.path), "searches", "--format", "json")
    found = {s["search"]: s for s in json.loads(out)["searches"]}
    assert found["a"]["trials"] == 3 and found["a"]["status"] == {"completed": 2, "stopped": 1}
    assert found["a"]["best"] == "a-1" and found["b"]["best_psnr_hole"] == 18.9
    code, _, err = _run(capsys, "--db", str(mixed.path), "rm", "a")  # no terminal: must --yes
    assert code == 2 and "--yes" in err and len(mixed.trials(search="a")) == 3
    code, _, err = _run(capsys, "--db", str(mixed.path), "rm", "c", "--yes")
    assert code == 2 and "unknown search" in err
    code, out, _ = _run(capsys, "--db", str(mixed.path), "rm", "a", "--yes")
    assert code == 0 and "deleted 3 trials" in out
    assert mixed.searches() == ["b"] and mixed.references()  # references stay


def test_paths_are_stored_relative_and_read_absolute(tmp_path: Path) -> None:
    import shutil
    import sqlite3

    storage = tmp_path / "results"
    lb = Leaderboard(storage / "leaderboard.sqlite")
    ckpt = storage / "quick" / "quick-1" / "checkpoint_000002"
    ckpt.mkdir(parents=True)
    lb.record_trial("quick", "quick-1", "completed",
                    {"checkpoint": str(ckpt), "grid_png": str(ckpt / "grid.png"),
                     "curves_png": "/elsewhere/curves.png"}, {"encoder": "none"})
    with sqlite3.connect(lb.path) as conn:
        stored = conn.execute("SELECT checkpoint, grid_png, curves_png FROM trials").fetchone()
    assert stored == ("quick/quick-1/checkpoint_000002",
                      "quick/quick-1/checkpoint_000002/grid.png", "/elsewhere/curves.png")
    moved = tmp_path / "copy"
    shutil.copytree(storage, moved)
    row = Leaderboard(moved / "leaderboard.sqlite").get("quick-1")
    assert row["checkpoint"] == str(moved / "quick" / "quick-1" / "checkpoint_000002")
    assert Path(row["checkpoint"]).is_dir()
    assert Leaderboard(moved / "leaderboard.sqlite").trials()[0]["checkpoint"] == row["checkpoint"]


def test_interrupted_rows(lb: Leaderboard) -> None:
    lb.record_trial("s", "s-1", "running", None, {"encoder": "none"})
    record(lb, "s-2", search="s")
    assert lb.mark_interrupted("s", "stopped by Ctrl-C") == 1
    assert lb.get("s-1")["status"] == "interrupted" and lb.get("s-2")["status"] == "completed"
    assert lb.record_trial("s", "s-1", "running", None, {"encoder": "none"})  # resumed


def test_show_prints_whole_paths(tmp_path: Path, capsys, monkeypatch) -> None:
    from zoo.cli._console import console

    monkeypatch.setattr(console, "_width", 80)
    lb = Leaderboard(tmp_path / "lb.sqlite")
    deep = "/very/long/" + "folder/" * 12 + "checkpoint.pt"
    lb.record_trial("s", "s-1", "completed", {"checkpoint": deep}, {"encoder": "none"})
    code, out, _ = _run(capsys, "show", "s-1", "--db", str(lb.path))
    assert code == 0 and "…" not in out
    assert deep in "".join(line.strip() for line in out.splitlines())


def test_writes_never_follow_a_link(tmp_path: Path) -> None:
    real = tmp_path / "real.sqlite"
    Leaderboard(real)
    link = tmp_path / "link.sqlite"
    link.symlink_to(real)
    with pytest.raises(ZooError, match="symbolic link"):
        Leaderboard(link)
    assert Leaderboard(link, create=False).trials() == []  # reading through it is fine


@pytest.mark.parametrize("fmt", ["table", "markdown"])
def test_grouped_references_sit_under_their_columns(mixed: Leaderboard, capsys, monkeypatch,
                                                   fmt: str) -> None:
    """--group with a searched setting (lr) beside the metrics: telea's hole PSNR is in the
    psnr_hole column and its name in the config column, in the table and in markdown
    (it once sat one column to the right)."""
    from zoo.cli._console import console

    monkeypatch.setattr(console, "_width", 250)  # every column shown
    code, out, _ = _run(capsys, "--db", str(mixed.path), "--group", "--search", "a",
                        "--format", fmt)
    assert code == 0
    bar = "|" if fmt == "markdown" else "│"
    head = "|" if fmt == "markdown" else "┃"
    header = next([c.strip() for c in ln.strip().strip(head).split(head)]
                  for ln in out.splitlines() if ln.strip().startswith(head) and " # " in ln)
    telea = next([c.strip() for c in ln.strip().strip(bar).split(bar)]
                 for ln in out.splitlines() if " telea " in ln)
    assert "lr" in header and len(telea) == len(header)
    assert telea[header.index("psnr_hole")] == "17.60"
    assert telea[header.index("config")] == "telea"  # markdown: its "reference" column
    assert telea[header.index("lr")] == ""
