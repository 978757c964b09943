"""`zoo tune` end to end on local Ray: a smoke search, kill + resume, and a two-node cluster.

Each test starts Ray (a few seconds on 2 cores), so the searches are tiny: the point is the
orchestration (trials, checkpoints, leaderboard rows), not the models.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SMOKE = str(ROOT / "search_spaces" / "smoke.yaml")


def zoo(*args: str, env: dict | None = None, timeout: float = 600,
        unset: tuple[str, ...] = ()) -> subprocess.CompletedProcess:
    full = {k: v for k, v in {**os.environ, **(env or {})}.items() if k not in unset}
    return subprocess.run([sys.executable, "-m", "zoo", *args], capture_output=True, text=True,
                          timeout=timeout, env=full)


def board(storage: Path, *extra: str) -> dict:
    done = zoo("leaderboard", "--storage", str(storage), "--format", "json", *extra)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


@pytest.fixture()
def data_env(cifar_dir: Path, tmp_path: Path) -> dict:
    # the key that seals Ray's state lives in the config folder: a private one per test
    return {"ZOO_DATA_DIR": str(cifar_dir), "XDG_CONFIG_HOME": str(tmp_path / "config")}


def test_smoke_search_fills_the_leaderboard(tmp_path: Path, data_env: dict,
                                            cifar_dir: Path) -> None:
    storage = tmp_path / "results"
    plan = zoo("tune", SMOKE, "--dry-run", env=data_env)
    assert plan.returncode == 0, plan.stderr

    run = zoo("tune", SMOKE, "--storage", str(storage), "--no-live", env=data_env)
    assert run.returncode == 0, run.stderr[-3000:]
    assert "2 trials: 2 completed" in run.stdout
    # not a terminal: one line per trial event, never a silent search
    for line in ("smoke-1 started", "smoke-1 epoch 1/2", "smoke-2 completed"):
        assert line in run.stderr, run.stderr[-3000:]
    assert "Token authentication" not in run.stderr
    rows = board(storage)
    trials = rows["trials"]
    assert sorted(t["trial_id"] for t in trials) == ["smoke-1", "smoke-2"]  # readable ids
    for t in trials:
        assert t["status"] == "completed", t
        assert t["epochs"] == 2
        assert t["psnr_hole"] is not None and t["dice"] is not None
        assert Path(t["checkpoint"]).exists()
        assert Path(t["grid_png"]).exists() and Path(t["curves_png"]).exists()
        assert t["config"]["dataset"] == "cifar10"
        # ZOO_DATA_DIR is remembered: the trials' config names the data folder
        assert t["config"]["data_dir"] == str(cifar_dir)
    assert {r["name"] for r in rows["references"]} >= {"ceiling", "telea", "mean_fill"}
    # no private work folder was synced beside the checkpoints
    assert not list(storage.glob("smoke/*/work"))
    # paths are stored relative to the leaderboard's folder: a copied folder keeps working
    import sqlite3

    with sqlite3.connect(storage / "leaderboard.sqlite") as con:
        stored = [r[0] for r in con.execute("SELECT checkpoint FROM trials")]
    assert all(p.startswith("smoke/smoke-") for p in stored), stored
    moved = tmp_path / "moved"
    shutil.copytree(storage, moved)
    no_env = {k: v for k, v in os.environ.items() if k != "ZOO_DATA_DIR"}
    shown = subprocess.run([sys.executable, "-m", "zoo", "leaderboard", "show", "smoke-1",
                            "--storage", str(moved), "--format", "json"],
                           capture_output=True, text=True, env=no_env, timeout=120)
    assert shown.returncode == 0, shown.stderr
    row = json.loads(shown.stdout)
    assert row["checkpoint"].startswith(str(moved)) and Path(row["checkpoint"]).exists()
    assert row["config"]["data_dir"] == str(cifar_dir)
    # every command that takes a model works on the copied folder's trial ids in a new
    # shell with no ZOO_DATA_DIR: the search remembered where its data came from
    asset = Path(__file__).resolve().parent / "assets" / "hopper.png"
    follow_ups = {
        "eval": ["eval", "smoke-1", "--test-limit", "16", "--json"],
        "compare": ["compare", "smoke-1", "smoke-2", "--n", "2", "--out",
                    str(tmp_path / "compare.png")],
        "inpaint": ["inpaint", "--model", "smoke-2", "--image", str(asset), "--mask-kind",
                    "irregular", "--out", str(tmp_path / "filled")],
        "export": ["export", "smoke-1", "--format", "torchscript", "--out",
                   str(tmp_path / "smoke-1.torchscript.pt")],
    }
    outputs = {}
    for name, args in follow_ups.items():
        done = subprocess.run([sys.executable, "-m", "zoo", *args, "--storage", str(moved)],
                              capture_output=True, text=True, env=no_env, timeout=300,
                              cwd=tmp_path)
        assert done.returncode == 0, (name, done.stderr[-2000:])
        outputs[name] = done.stdout
    assert json.loads(outputs["eval"])["n_images"] == 16
    assert (tmp_path / "compare.png").exists() and (tmp_path / "filled" / "hopper.png").exists()
    assert (tmp_path / "smoke-1.torchscript.pt").exists()

    # running the same search again refuses, and loses nothing
    again = zoo("tune", SMOKE, "--storage", str(storage), "--no-live", env=data_env)
    assert again.returncode == 2 and "--resume" in again.stderr
    assert board(storage)["trials"] == trials

    # a deleted leaderboard comes back from what Tune stored
    for f in storage.glob("leaderboard.sqlite*"):
        f.unlink()
    rebuilt = zoo("leaderboard", "rebuild", "--storage", str(storage))
    assert rebuilt.returncode == 0, rebuilt.stderr
    after = board(storage)["trials"]
    keys = ("trial_id", "status", "epochs", "psnr_hole", "checkpoint", "grid_png", "config")
    assert [{k: t[k] for k in keys} for t in after] == [{k: t[k] for k in keys} for t in trials]
    assert {r["name"] for r in board(storage)["references"]} >= {"ceiling", "telea"}


def test_every_trial_diverging_exits_non_zero(tmp_path: Path, data_env: dict) -> None:
    storage = tmp_path / "results"
    run = zoo("tune", SMOKE, "--storage", str(storage), "--no-live", "--name", "div",
              "--set", "lr=1.0e30", env=data_env)
    assert run.returncode == 1, run.stderr[-3000:]
    assert "2 failed" in run.stdout
    trials = board(storage)["trials"]
    assert len(trials) == 2
    assert all(t["status"] == "failed" and "nan" in t["error"] for t in trials), trials


def _count(storage: Path, status: str) -> int:
    db = storage / "leaderboard.sqlite"
    if not db.exists():
        return 0
    import sqlite3

    try:
        with sqlite3.connect(db) as con:
            return con.execute("SELECT COUNT(*) FROM trials WHERE status=?", (status,)
                               ).fetchone()[0]
    except sqlite3.OperationalError:  # the schema is being created right now
        return 0


def _rows(storage: Path) -> list[dict]:
    import sqlite3

    with sqlite3.connect(storage / "leaderboard.sqlite") as con:
        con.row_factory = sqlite3.Row
        return [dict(r) for r in con.execute("SELECT trial_id, status, created_at, updated_at "
                                             "FROM trials ORDER BY created_at")]


def _assert_one_at_a_time(rows: list[dict]) -> None:
    """Each trial started after the one before it ended (rows: started, last written)."""
    for before, after in zip(rows, rows[1:]):
        assert after["created_at"] >= before["updated_at"], rows


def test_killed_search_resumes_without_redoing_trials(tmp_path: Path, data_env: dict) -> None:
    """SIGTERM (a CI cancel, `docker stop`) stops a search as Ctrl-C does; a cap of one
    trial at a time holds; a second run of the search is refused while one runs."""
    storage = tmp_path / "results"
    args = ["tune", SMOKE, "--storage", str(storage), "--no-live", "--name", "resumable",
            "--num-samples", "2", "--max-concurrent", "1"]
    proc = subprocess.Popen([sys.executable, "-m", "zoo", *args], env={**os.environ, **data_env},
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    deadline = time.time() + 400
    # interrupt while the second trial runs: one done, one to record as interrupted
    second = None
    while (_count(storage, "completed") < 1 or _count(storage, "running") < 1) and \
            proc.poll() is None and time.time() < deadline:
        assert _count(storage, "running") <= 1  # --max-concurrent 1
        if second is None and _count(storage, "running"):
            second = zoo(*args, env=data_env)  # the same search, while the first runs
        time.sleep(0.5)
    assert proc.poll() is None, "search ended before it could be interrupted:\n" + \
        proc.stdout.read()[-3000:]
    proc.send_signal(signal.SIGTERM)  # as Ctrl-C: Tune saves its state and stops
    out = proc.communicate(timeout=120)[0]
    assert proc.returncode == 130, out[-3000:]  # an interrupted search is no success
    assert "--resume" in out and "Tuner.restore" not in out
    assert "Stack trace" not in out and "SIGABRT" not in out and "*** " not in out, out[-3000:]
    # every trial counted: those Tune never created too
    import re

    counted = re.search(r"(\d+) trials: (\d+) completed, (\d+) interrupted, (\d+) not "
                        r"started", out)
    assert counted and counted[1] == "4", out[-3000:]
    assert sum(int(counted[i]) for i in (2, 3, 4)) == 4
    assert second is not None and second.returncode == 2, second
    assert "is being run by another `zoo tune`" in " ".join(second.stderr.split()), second
    assert "results in" not in second.stderr
    _assert_one_at_a_time(_rows(storage))
    first = {t["trial_id"]: t for t in board(storage)["trials"]}
    done_before = {tid for tid, t in first.items() if t["status"] == "completed"}
    assert 1 <= len(done_before) < 4  # 2 encoders x 2 samples, one at a time
    assert "running" not in {t["status"] for t in first.values()}
    assert "interrupted" in {t["status"] for t in first.values()}, first

    # settings a resume may not change are refused, naming the setting, before Ray starts
    for extra, named in ((["--max-epochs", "3"], "--max-epochs"),
                         (["--set", "lr=0.01"], "lr")):
        refused = zoo(*args, "--resume", *extra, env=data_env)
        assert refused.returncode == 2, refused.stderr[-3000:]
        assert f"--resume cannot change {named}" in refused.stderr, refused.stderr

    # a lost leaderboard is refilled by --resume from what Tune stored
    for f in storage.glob("leaderboard.sqlite*"):
        f.unlink()
    epochs_run = {tid: len((storage / "resumable" / tid / "result.json").read_text().splitlines())
                  for tid in done_before}
    resumed = zoo(*args, "--resume", env={"XDG_CONFIG_HOME": data_env["XDG_CONFIG_HOME"]},
                  unset=("ZOO_DATA_DIR",))  # a new shell: no variable
    assert resumed.returncode == 0, (resumed.stdout + resumed.stderr)[-3000:] + str(
        [(t["trial_id"], t["status"], t["error"]) for t in board(storage)["trials"]])
    assert "4 trials: 4 completed" in resumed.stdout
    assert "Failed to fetch metrics" not in resumed.stdout + resumed.stderr
    _assert_one_at_a_time([r for r in _rows(storage) if r["trial_id"] not in done_before])
    trials = board(storage)["trials"]
    ids = [t["trial_id"] for t in trials]
    assert len(ids) == len(set(ids))  # every trial exactly once
    assert sorted(ids) == [f"resumable-{i}" for i in range(1, 5)]
    assert all(t["status"] == "completed" for t in trials)
    for tid in done_before:  # finished trials were not run again, and are back in the board
        after = next(t for t in trials if t["trial_id"] == tid)
        assert after["psnr_hole"] == first[tid]["psnr_hole"]
        assert len((storage / "resumable" / tid / "result.json").read_text().splitlines()) \
            == epochs_run[tid]


def test_search_spreads_over_a_two_node_cluster(tmp_path: Path, cifar_dir: Path,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    import ray
    from ray.cluster_utils import Cluster

    from zoo.tune.runner import run_search
    from zoo.tune.space import load_space

    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    cluster = Cluster(initialize_head=True, head_node_args={"num_cpus": 1})
    cluster.add_node(num_cpus=1)
    cluster.wait_for_nodes()
    try:
        spec = load_space(SMOKE, overrides={"name": "cluster", "resources": {"cpu": 1},
                                            "base": {"data_dir": str(cifar_dir)}})
        outcome = run_search(spec, str(tmp_path / "results"), address=cluster.address)
        nodes = {r.metrics["node_id"] for r in outcome.grid if r.metrics}
        assert len(nodes) == 2, nodes
        assert all(r.error is None for r in outcome.grid)
        assert outcome.exit_code == 0 and outcome.counts == {"completed": 2}
    finally:
        ray.shutdown()
        cluster.shutdown()


def test_failing_trial_is_retried_then_recorded_as_failed(tmp_path: Path, data_env: dict
                                                          ) -> None:
    """An installed plugin whose forward breaks on training batches (it passes the contract
    that `zoo tune` checks before starting): its trial fails (after its retry) and is
    recorded with the error, while the other trial completes."""
    fixtures = ROOT / "tests" / "fixtures"
    site = tmp_path / "site"
    info = site / "zoo_fx_flaky-9.9.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: zoo-fx-flaky\nVersion: 9.9\n")
    (info / "entry_points.txt").write_text("[zoo.plugins]\nflaky = zoo_fx_flaky_forward\n")
    space = tmp_path / "failing.yaml"
    space.write_text((ROOT / "search_spaces" / "smoke.yaml").read_text().replace(
        "encoder: {grid: [none, convmixer]}", "encoder: {grid: [none, flaky]}").replace(
        "encoder_args: {width: 16}", "encoder_args: {channels: 8}"))
    env = {**data_env, "PYTHONPATH": os.pathsep.join(
        [str(site), str(fixtures), os.environ.get("PYTHONPATH", "")])}
    storage = tmp_path / "results"
    run = zoo("tune", str(space), "--storage", str(storage), "--no-live", env=env)
    assert run.returncode == 1, run.stderr[-3000:]  # a failed trial fails the search
    assert "1 completed, 1 failed" in run.stdout
    rows = {t["encoder"]: t for t in board(storage)["trials"]}
    assert rows["none"]["status"] == "completed"
    assert rows["flaky"]["status"] == "failed"
    assert "fail on purpose" in rows["flaky"]["error"]
