"""`zoo tune` end to end on local Ray: a smoke search, kill + resume, and a two-node cluster.

Each test starts Ray (a few seconds on 2 cores), so the searches are tiny: the point is the
orchestration (trials, checkpoints, leaderboard rows), not the models.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SMOKE = str(ROOT / "search_spaces" / "smoke.yaml")


def zoo(*args: str, env: dict | None = None, timeout: float = 600) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "zoo", *args], capture_output=True, text=True,
                          timeout=timeout, env={**os.environ, **(env or {})})


def board(storage: Path, *extra: str) -> dict:
    done = zoo("leaderboard", "--storage", str(storage), "--format", "json", *extra)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


@pytest.fixture()
def data_env(cifar_dir: Path) -> dict:
    return {"ZOO_DATA_DIR": str(cifar_dir)}


def test_smoke_search_fills_the_leaderboard(tmp_path: Path, data_env: dict) -> None:
    storage = tmp_path / "results"
    plan = zoo("tune", SMOKE, "--dry-run", env=data_env)
    assert plan.returncode == 0, plan.stderr

    run = zoo("tune", SMOKE, "--storage", str(storage), "--no-live", env=data_env)
    assert run.returncode == 0, run.stderr[-3000:]
    rows = board(storage)
    trials = rows["trials"]
    assert len(trials) >= 2
    for t in trials:
        assert t["status"] == "completed", t
        assert t["psnr_hole"] is not None and t["dice"] is not None
        assert Path(t["checkpoint"]).exists()
        assert Path(t["grid_png"]).exists() and Path(t["curves_png"]).exists()
        assert t["config"]["dataset"] == "cifar10"
    assert {r["name"] for r in rows["references"]} >= {"ceiling", "telea", "mean_fill"}

    # running the same search again refuses, and loses nothing
    again = zoo("tune", SMOKE, "--storage", str(storage), "--no-live", env=data_env)
    assert again.returncode == 2 and "--resume" in again.stderr
    assert board(storage)["trials"] == trials


def _completed(storage: Path) -> int:
    db = storage / "leaderboard.sqlite"
    if not db.exists():
        return 0
    import sqlite3

    try:
        with sqlite3.connect(db) as con:
            return con.execute("SELECT COUNT(*) FROM trials WHERE status='completed'"
                               ).fetchone()[0]
    except sqlite3.OperationalError:  # the schema is being created right now
        return 0


def test_killed_search_resumes_without_redoing_trials(tmp_path: Path, data_env: dict) -> None:
    storage = tmp_path / "results"
    args = ["tune", SMOKE, "--storage", str(storage), "--no-live", "--name", "resumable",
            "--num-samples", "2", "--max-concurrent", "1"]
    proc = subprocess.Popen([sys.executable, "-m", "zoo", *args], env={**os.environ, **data_env},
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    deadline = time.time() + 400
    while _completed(storage) < 1 and proc.poll() is None and time.time() < deadline:
        time.sleep(0.5)
    assert proc.poll() is None, "search ended before it could be interrupted:\n" + \
        proc.stdout.read()[-3000:]
    proc.send_signal(signal.SIGINT)  # Ctrl-C: Tune saves its state and stops
    proc.wait(timeout=120)
    first = {t["trial_id"]: t for t in board(storage)["trials"]}
    done_before = {tid for tid, t in first.items() if t["status"] == "completed"}
    assert 1 <= len(done_before) < 4  # 2 encoders x 2 samples, one at a time

    resumed = zoo(*args, "--resume", env=data_env)
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    trials = board(storage)["trials"]
    ids = [t["trial_id"] for t in trials]
    assert len(ids) == len(set(ids))  # every trial exactly once
    assert len(ids) == 4 and all(t["status"] == "completed" for t in trials)
    for tid in done_before:  # finished trials were not run again
        after = next(t for t in trials if t["trial_id"] == tid)
        assert after["updated_at"] == first[tid]["updated_at"]


def test_search_spreads_over_a_two_node_cluster(tmp_path: Path, cifar_dir: Path) -> None:
    import ray
    from ray.cluster_utils import Cluster

    from zoo.tune.runner import run_search
    from zoo.tune.space import load_space

    cluster = Cluster(initialize_head=True, head_node_args={"num_cpus": 1})
    cluster.add_node(num_cpus=1)
    cluster.wait_for_nodes()
    try:
        spec = load_space(SMOKE, overrides={"name": "cluster", "resources": {"cpu": 1},
                                            "base": {"data_dir": str(cifar_dir)}})
        grid = run_search(spec, str(tmp_path / "results"), address=cluster.address)
        nodes = {r.metrics["node_id"] for r in grid if r.metrics}
        assert len(nodes) == 2, nodes
        assert all(r.error is None for r in grid)
    finally:
        ray.shutdown()
        cluster.shutdown()


def test_failing_trial_is_retried_then_recorded_as_failed(tmp_path: Path, data_env: dict
                                                          ) -> None:
    """An installed plugin whose forward breaks: its trial fails (after its retry) and is
    recorded with the error, while the other trial completes."""
    fixtures = ROOT / "tests" / "fixtures"
    site = tmp_path / "site"
    info = site / "zoo_fx_liar-9.9.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: zoo-fx-liar\nVersion: 9.9\n")
    (info / "entry_points.txt").write_text("[zoo.plugins]\nliar = zoo_fx_bad_forward\n")
    space = tmp_path / "failing.yaml"
    space.write_text((ROOT / "search_spaces" / "smoke.yaml").read_text().replace(
        "encoder: {grid: [none, convmixer]}", "encoder: {grid: [none, liar]}").replace(
        "encoder_args: {width: 16}", "encoder_args: {channels: 8}"))
    env = {**data_env, "PYTHONPATH": os.pathsep.join(
        [str(site), str(fixtures), os.environ.get("PYTHONPATH", "")])}
    storage = tmp_path / "results"
    run = zoo("tune", str(space), "--storage", str(storage), "--no-live", env=env)
    assert run.returncode == 0, run.stderr[-3000:]
    rows = {t["encoder"]: t for t in board(storage)["trials"]}
    assert rows["none"]["status"] == "completed"
    assert rows["liar"]["status"] == "failed"
    assert "RuntimeError" in rows["liar"]["error"] or "size" in rows["liar"]["error"]
