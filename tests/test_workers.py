"""Data-parallel trials (``zoo._ddp``): 2 Ray Train workers (gloo, CPU) against 1 process.

Tolerance: with dropout off and GroupNorm (no batch statistics), each worker's shard meets
the same images and the same holes as in the one-process batch (the masks are drawn for the
global batch on every rank, then sliced), and DDP's gradient mean over two equal shards is
the global batch's mean loss gradient. What is left is float32 summation order (the
all-reduce, two half-batch means instead of one): relative 1e-4 over two epochs of eight
steps is ~100x what that order gives, and ~10x below what one changed mask or batch gives.
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from zoo._ddp import check_cluster, check_workers, train_workers
from zoo.errors import ZooError
from zoo.settings import build_config
from zoo.train import train

TINY = {"dataset": "synthetic", "train_limit": 32, "val_limit": 8, "test_limit": 8,
        "epochs": 2, "batch_size": 8, "threads": 1,
        "unet": {"widths": [8, 16, 32], "norm": "group", "dropout": 0.0}}


class _Stop(Exception):
    pass


def test_bad_workers_refused_before_any_worker_starts() -> None:
    for bad in (0, -1, 1.5, "2", True):
        with pytest.raises(ZooError, match="whole number >= 1"):
            check_workers(bad, 8)
    with pytest.raises(ZooError, match="global batch.*divisible by 3"):
        check_workers(3, 8)
    assert check_workers(2, 8) == 2
    # mask_repeats: the step's round(batch x repeats) samples must split too (16 x 1.1 = 18
    # over 8 workers would leave two of them an empty batch)
    with pytest.raises(ZooError, match=r"mask_repeats 1.1 makes each step 18 masked samples"):
        check_workers(8, 16, mask_repeats=1.1)
    assert check_workers(8, 16, mask_repeats=2) == 8
    assert check_workers(2, 16, mask_repeats=1.5) == 2  # 24 samples, 12 each
    with pytest.raises(ZooError, match=r"3 workers x 1 CPU = 3 CPU.*has 2"):
        check_cluster(3, 1.0, 0.0, {"CPU": 2.0})
    with pytest.raises(ZooError, match="GPU"):
        check_cluster(2, 0.5, 1.0, {"CPU": 2.0})
    check_cluster(2, 0.5, 0.0, {"CPU": 2.0})  # two half-CPU workers fit on two cores


def test_two_workers_match_one_and_resume(tmp_path: Path) -> None:
    """One process trains 2 epochs (the reference), and another stops after epoch 1; 2
    workers resume that checkpoint and train epoch 2: it is the reference's within 1e-4."""
    config = build_config(TINY)
    ref = train(config, tmp_path / "ref", resume=False, final_eval=False)["history"]

    def stop(record: dict, ckpt: Path) -> None:
        raise _Stop

    with pytest.raises(_Stop):
        train(config, tmp_path / "run", final_eval=False, on_epoch=stop)
    import ray

    t0 = time.perf_counter()
    try:
        result = train_workers(config, tmp_path / "run", 2, cpu=0.5)
    finally:  # the other tests start Ray their own way
        ray.shutdown()
    assert time.perf_counter() - t0 < 120
    hist = result["history"]
    assert [h["epoch"] for h in hist] == [1, 2] and result["workers"] == 2
    assert hist[0]["train_loss"] == ref[0]["train_loss"]  # kept from the checkpoint
    assert hist[1]["train_loss"] == pytest.approx(ref[1]["train_loss"], rel=1e-4)
    assert hist[1]["val_psnr_hole"] == pytest.approx(ref[1]["val_psnr_hole"], abs=1e-2)
    assert result["psnr_hole"] > 0  # rank 0 ran the final evaluation


def test_leaderboard_records_workers_and_old_rows_default_to_one(tmp_path: Path) -> None:
    import sqlite3

    from zoo.leaderboard.db import Leaderboard

    path = tmp_path / "lb.sqlite"
    Leaderboard(path).record_trial("s", "old", "completed", {"psnr_hole": 9.0}, {})
    with sqlite3.connect(path) as conn:  # a leaderboard written before the column existed
        conn.execute("ALTER TABLE trials DROP COLUMN workers")
    board = Leaderboard(path)
    board.record_trial("s", "ddp", "completed", {"workers": 2, "psnr_hole": 10.0}, {})
    with sqlite3.connect(path) as conn:
        rows = dict(conn.execute("SELECT trial_id, workers FROM trials").fetchall())
    assert rows == {"old": 1, "ddp": 2}


SPACE = """name: ddp
metric: val_psnr_hole
max_epochs: 2
seeds: [0]
scheduler: {type: fifo}
resources: RESOURCES
max_failures: 0
base:
  dataset: synthetic
  train_limit: 32
  val_limit: 8
  test_limit: 8
  batch_size: 8
  unet: {widths: [8, 16, 32], norm: group, dropout: 0.0}
space:
  lr: {grid: [0.001]}
"""


def _tune(tmp_path: Path, resources: str, *extra: str):
    import subprocess
    import sys

    space = tmp_path / "ddp.yaml"
    space.write_text(SPACE.replace("RESOURCES", resources))
    env = {**__import__("os").environ, "XDG_CONFIG_HOME": str(tmp_path / "config")}
    return subprocess.run([sys.executable, "-m", "zoo", "tune", str(space), "--storage",
                           str(tmp_path / "res"), "--no-live", *extra], capture_output=True,
                          text=True, timeout=300, env=env)


def test_tune_refuses_bad_workers_before_any_trial(tmp_path: Path) -> None:
    done = _tune(tmp_path, "{workers: 0, cpu: 1}", "--dry-run")
    assert done.returncode != 0 and "whole number >= 1" in done.stderr, done.stderr[-2000:]
    done = _tune(tmp_path, "{workers: 2, cpu: 1.5}", "--dry-run")
    assert done.returncode != 0 and "fractions below 1" in done.stderr, done.stderr[-2000:]


@pytest.mark.slow
def test_tune_refuses_more_workers_than_the_cluster_has(tmp_path: Path) -> None:
    done = _tune(tmp_path, "{workers: 2, cpu: 64}")  # more than this machine's Ray has
    assert done.returncode != 0, done.stdout
    assert "2 workers x 64 CPU = 128 CPU" in done.stderr, done.stderr[-2000:]
    assert "started" not in done.stderr


@pytest.mark.slow
@pytest.mark.skipif(__import__("os").environ.get("ZOO_TEST_TUNE_WORKERS") != "1",
                    reason="~75 s on the 2-core CI machine (over this file's budget); set "
                           "ZOO_TEST_TUNE_WORKERS=1 to run it")
def test_tune_trial_on_two_workers_records_workers(tmp_path: Path) -> None:
    import json
    import subprocess
    import sys

    done = _tune(tmp_path, "{workers: 2, cpu: 0.5}")
    assert done.returncode == 0, done.stderr[-3000:]
    assert "ddp-1 epoch 1/2" in done.stderr  # rank 0's epoch reached Tune (what ASHA reads)
    rows = subprocess.run([sys.executable, "-m", "zoo", "leaderboard", "--storage",
                           str(tmp_path / "res"), "--format", "json"], capture_output=True,
                          text=True, timeout=120)
    (trial,) = json.loads(rows.stdout)["trials"]
    assert trial["status"] == "completed" and trial["workers"] == 2 and trial["epochs"] == 2
