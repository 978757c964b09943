"""The benchmark scripts run (each in its --smoke mode, so a broken benchmark fails CI) and
report what they measure (no speed is asserted here)."""

from __future__ import annotations

import importlib.util
import json
import math
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

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


def _printed(out: str, tag: str) -> dict:
    (line,) = [ln for ln in out.splitlines() if ln.startswith(f"{tag} ")]
    return json.loads(line.split(" ", 1)[1])


def test_bench_train_smoke_times_the_work(monkeypatch, capsys):
    """--smoke runs both loops; the reference timer must cover its pass: a pass made 0.3 s
    slower must read at least 0.3 s slower (a timer outside the loop would not)."""
    monkeypatch.delenv("ZOO_DATA_DIR", raising=False)
    bench = _load("bench_train")
    real_pass, passes = bench._reference_pass, []

    def slow_pass(*args, **kwargs):
        passes.append(1)
        real_pass(*args, **kwargs)
        if len(passes) == 2:  # the timed pass, after the warm-up one
            time.sleep(0.3)

    monkeypatch.setattr(bench, "_reference_pass", slow_pass)
    rec = bench.main(["--smoke"])
    assert "SYNTHETIC" in rec["data"] and len(passes) == 2
    for part in ("zoo", "reference"):
        assert rec[part]["images"] == 64
        assert 0 < rec[part]["seconds"] and rec[part]["peak_rss_mb"] > 0
        assert math.isclose(rec[part]["images_per_s"] * rec[part]["seconds"], 64, rel_tol=1e-6)
    assert rec["reference"]["seconds"] >= 0.3
    assert {"device_name", "torch", "batch_size", "cpu_cores"} <= rec.keys()
    out = capsys.readouterr().out
    assert _printed(out, "BENCH_TRAIN") == json.loads(json.dumps(rec, default=str))
    assert f"zoo / reference: {rec['speedup']:.2f}x" in out


def test_bench_train_paper_run_smoke(monkeypatch, capsys):
    monkeypatch.delenv("ZOO_DATA_DIR", raising=False)
    rec = _load("bench_train").main(["--smoke", "--paper-run"])
    assert (rec["epochs"], rec["train_images"], rec["test_images"]) == (1, 64, 64)
    assert rec["wall_s"] >= rec["train_time_s"] > 0
    assert math.isfinite(rec["test_psnr_hole"]) and math.isfinite(rec["telea_psnr_hole"])
    assert _printed(capsys.readouterr().out, "BENCH_PAPER_RUN")["wall_s"] == rec["wall_s"]


@pytest.mark.slow
def test_bench_tune_smoke(monkeypatch, capsys, tmp_path):
    """One tiny trial through run_search with the SearchSpec type `zoo tune` uses."""
    monkeypatch.delenv("ZOO_DATA_DIR", raising=False)
    bench = _load("bench_tune")
    rec = bench.main(["--smoke", "--storage", str(tmp_path)])
    (setting,) = rec["settings"]
    assert setting["errors"] == [] and setting["trials_done"] == setting["trials"] == 1
    assert setting["summed_images_per_s"] > 0 and setting["wall_s"] > 0
    assert _printed(capsys.readouterr().out, "BENCH_TUNE")["settings"][0]["trials_done"] == 1


def test_bench_tune_spec_is_the_runner_type():
    from zoo.tune.space import SearchSpec

    bench = _load("bench_tune")
    spec = bench.fixed_spec("x", {"encoder": "none", "unet": {"depth": 2}, "epochs": 9}, 3, 2,
                            {"cpu": 1, "gpu": 0})
    assert isinstance(spec, SearchSpec) and spec.n_trials() == 3
    config = spec.trial_config({"seed": 2})
    assert (config.seed, config.epochs, config.unet.depth) == (2, 2, 2)
    assert type(spec.scheduler_obj()).__name__ == "FIFOScheduler"  # what run_search calls


def test_bench_quality_and_photos_smoke(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    """The results-table script trains, scores every mask kind with area bins and prints
    the table; the photo script inpaints real photos and scores zoo beside Telea."""
    quality = _load("bench_quality")
    assert quality.main(["--smoke", "--presets", "strong", "--seeds", "0",
                         "--runs", str(tmp_path / "q"), "--json", str(tmp_path / "q.json")]) == 0
    out = capsys.readouterr().out
    assert "| strong |" in out and "| telea |" in out and "by hole area" in out
    data = json.loads((tmp_path / "q.json").read_text())
    assert set(data["results"]["strong"]) == {"paper", "square", "irregular"}
    assert "paired comparisons" in out and "| strong | baseline:telea |" in out
    for row in data["paired"]:  # the paired mean difference is the gap of the two table means
        kind = row["mask"]
        gap = (data["results"]["strong"][kind][0]["psnr_hole"]
               - data["references"][kind]["telea"]["psnr_hole"])
        assert row["a"] == "strong" and row["b"] == "baseline:telea"
        assert row["mean_diff"] == pytest.approx(gap, abs=1e-6)
        assert row["ci"][0] <= row["mean_diff"] <= row["ci"][1]
    assert {r["mask"] for r in data["paired"]} == {"paper", "square", "irregular"}
    photos = _load("bench_photos")
    model = tmp_path / "q" / "strong-s0"
    assert photos.main([str(model), "--smoke", "--json", "--out", str(tmp_path / "p.png"),
                        "--seam", "--also", str(model)]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["summary"]["photos"] == len(report["rows"]) >= 3
    for row in report["rows"]:
        assert all(math.isfinite(row[k]) for k in ("zoo", "zoo_one_pass", "telea", "zoo_seam"))
        assert 0 < row["hole_pct"] < 30
        # the second model runs with the first one's options: the same model, the same fill
        assert row["also"] == row["zoo_seam"]
    # masked | zoo | also | Telea | original, 4 px apart, at the first photo's size
    first = report["rows"][0]["photo"].split("@")[1].split("/")[0]
    w, h = map(int, first.split("x"))
    assert Image.open(tmp_path / "p.png").size == (5 * w + 4 * 4, h)


def test_bench_cost_smoke_prints_its_figures(capsys):
    bench = _load("bench_cost")
    assert bench.main(["--smoke"]) == 0
    out = capsys.readouterr().out
    record = _printed(out, "cost")
    assert record["params"] == 12083 and record["gflops"] > 0
    assert set(record["latency_ms"]) == {"batch1", "batch64"} and "pt" in record["latency_device"]


def test_bench_cost_times_training_in_turns(capsys, monkeypatch):
    """--train-images trains each preset once per round, A B A B, and reports the median
    speed and each preset's time for the 10k x 3 budget relative to the first's."""
    from zoo import train as train_module

    bench = _load("bench_cost")
    order = []
    real = train_module.train

    def counted(config, out_dir, **kwargs):
        result = real(config, out_dir, **kwargs)
        if not Path(out_dir).name.startswith("warm"):
            order.append(config.batch_size)
        return result

    monkeypatch.setattr(train_module, "train", counted)
    monkeypatch.delenv("ZOO_DATA_DIR", raising=False)  # synthetic images: speed only
    assert bench.main(["--smoke", "--presets", "tiny,tiny+batch_size=32+lr=0.002",
                       "--train-images", "48", "--rounds", "2"]) == 0
    out = capsys.readouterr().out
    assert order == [16, 32, 16, 32]
    records = [json.loads(line.split(" ", 1)[1]) for line in out.splitlines()
               if line.startswith("train_cost ")]
    assert [r["preset"] for r in records] == ["tiny", "tiny+batch_size=32+lr=0.002"]
    for r in records:
        assert len(r["rounds"]) == 2 and r["train_images_per_s"] > 0 and r["images"] == 48
        assert r["budget_s"] == pytest.approx(30_000 / r["train_images_per_s"])
    assert records[0]["time_vs_first"] == 1.0
    assert records[1]["time_vs_first"] == pytest.approx(
        records[1]["budget_s"] / records[0]["budget_s"])
    assert "SYNTHETIC" in out and "training speed" in out


def test_bench_inpaint_cost_smoke(capsys):
    """Each size and path runs in its own process and reports wall, its parts and peak RSS."""
    rec = _load("bench_inpaint_cost").main(["--smoke"])
    paths = [(r["mp"], r["path"]) for r in rec["rows"]]
    assert paths == [(0.01, "old"), (0.01, "new"), (0.04, "old"), (0.04, "new")]
    for row in rec["rows"]:
        assert row["wall_s"] >= row["inpaint_s"] > 0 and row["peak_rss_mb"] > 0
    lines = [ln for ln in capsys.readouterr().out.splitlines()
             if ln.startswith("BENCH_INPAINT_COST ")]
    assert [json.loads(ln.split(" ", 1)[1])["path"] for ln in lines] == [p for _, p in paths]
    assert rec["ratio"] > 0


def test_preset_lists_split_outside_brackets():
    """``--presets`` names may carry a list (``+unet.widths=[64,128,256]``): its commas
    do not split the name, the ones between names do."""
    common = _load("_common")
    assert common.split_presets("strong,strong+unet.widths=[64,128,256]+mask_repeats=2, paper") \
        == ["strong", "strong+unet.widths=[64,128,256]+mask_repeats=2", "paper"]
    assert common.split_presets("a+mask_args={min_hole: 0.1, max_hole: 0.2},b") == \
        ["a+mask_args={min_hole: 0.1, max_hole: 0.2}", "b"]
    cost = _load("bench_cost")
    config = cost.config_of("strong+unet.widths=[64,128,256]+mask_repeats=2")
    assert config.unet.widths == (64, 128, 256) and config.mask_repeats == 2
