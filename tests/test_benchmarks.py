"""The benchmark scripts run and report what they promise (no speed is asserted here)."""

from __future__ import annotations

import importlib.util
import math
import sys
from pathlib import Path

import numpy as np
import torch

BENCH = Path(__file__).resolve().parents[1] / "benchmarks"


def _load(name: str):
    spec = importlib.util.spec_from_file_location(f"bench_{name}", BENCH / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def test_reference_dataset_cuts_the_paper_square():
    bench = _load("bench_train")
    images = np.full((8, 32, 32, 3), 200, dtype=np.uint8)
    ds = bench.PaperMaskedImages(images)
    for i in range(len(ds)):
        masked, mask, target = ds[i]
        assert masked.shape == target.shape == (3, 32, 32) and mask.shape == (1, 32, 32)
        rows = mask[0].any(dim=1).nonzero().flatten()
        cols = mask[0].any(dim=0).nonzero().flatten()
        assert mask.sum() == 11 * 11 and len(rows) == len(cols) == 11
        assert rows[0] == cols[0] and 2 <= int(rows[0]) <= 19  # on the diagonal, r in 2..19
        assert (masked * mask).abs().sum() == 0  # the hole is zeros
        assert torch.allclose(target, torch.full_like(target, 200 / 255))


def test_bench_train_reports_both_loops(monkeypatch, capsys):
    monkeypatch.delenv("ZOO_DATA_DIR", raising=False)
    bench = _load("bench_train")
    rec = bench.main(["--device", "cpu", "--images", "64", "--batch-size", "32",
                      "--warmup-steps", "1", "--threads", "1", "--no-isolate"])
    assert "SYNTHETIC" in rec["data"]
    for part in ("zoo", "reference"):
        assert rec[part]["images"] == 64
        assert math.isfinite(rec[part]["images_per_s"]) and rec[part]["images_per_s"] > 0
        assert rec[part]["peak_rss_mb"] > 0
    assert rec["speedup"] == rec["zoo"]["images_per_s"] / rec["reference"]["images_per_s"]
    assert {"device_name", "torch", "batch_size", "cpu_cores"} <= rec.keys()
    out = capsys.readouterr().out
    assert "BENCH_TRAIN {" in out and "reference" in out
