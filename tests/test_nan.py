"""A model whose output is NaN is broken: it never scores, never ranks, never inpaints.

Before the fix, ``_psnr`` mapped a NaN mse to inf (``NaN > 0`` is false), so a NaN model
scored the ceiling's ``psnr_hole: "inf"`` and ranked first; inpainting painted black holes.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from safetensors import safe_open
from safetensors.torch import load_file, save_file

from zoo.cli import main
from zoo.config import TrainConfig
from zoo.metrics import MetricAccumulator, _psnr
from zoo.evaluate import NonFiniteOutput, evaluate_model


def test_psnr_of_nan_is_nan_and_zero_is_inf() -> None:
    out = _psnr(torch.tensor([0.0, math.nan, 0.01]))
    assert math.isinf(out[0]) and math.isnan(out[1]) and out[2] == pytest.approx(20.0)


def test_one_nan_image_makes_the_mean_nan_not_perfect() -> None:
    target = torch.rand(4, 3, 8, 8, generator=torch.Generator().manual_seed(0))
    mask = torch.zeros(4, 1, 8, 8)
    mask[:, :, 2:5, 2:5] = 1
    pred = target.clone()
    pred[1] = math.nan
    acc = MetricAccumulator()
    acc.update(target, pred, mask)
    out = acc.compute()
    for key in ("psnr_hole", "ssim_hole", "l1_hole", "psnr"):
        assert math.isnan(out[key]), (key, out[key])
    scores = acc.image_scores()
    assert math.isinf(scores["psnr_hole"][0]) and math.isnan(scores["psnr_hole"][1])


class _NanModel(torch.nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.w = torch.nn.Parameter(torch.zeros(1))

    def forward(self, x: torch.Tensor, m: torch.Tensor) -> torch.Tensor:
        return x * math.nan


def test_evaluate_model_refuses_a_nan_model() -> None:
    images = torch.randint(0, 255, (6, 3, 8, 8), dtype=torch.uint8)
    masks = torch.zeros(6, 1, 8, 8)
    masks[:, :, 2:5, 2:5] = 1
    with pytest.raises(NonFiniteOutput, match="NaN or inf on 6 of 6 images"):
        evaluate_model(_NanModel(), images, masks)


@pytest.fixture(scope="module")
def nan_folder(tmp_path_factory) -> Path:
    """A real model folder whose weights were then set to NaN."""
    from zoo.train import train

    out = tmp_path_factory.mktemp("nanrun")
    config = TrainConfig(dataset="synthetic", epochs=1, train_limit=32, val_limit=8,
                         test_limit=8, unet={"widths": [8, 16, 32]}, device="cpu", threads=1,
                         mask="square")
    train(config, out, final_eval=False)
    weights = out / "model.safetensors"
    with safe_open(weights, "pt") as f:  # keep the save id that ties it to zoo.json
        meta = f.metadata()
    tensors = load_file(weights)
    save_file({k: torch.full_like(v, math.nan) if v.is_floating_point() else v
               for k, v in tensors.items()}, weights, metadata=meta)
    return out


def test_zoo_eval_of_a_nan_model_is_an_error(nan_folder: Path, capsys, monkeypatch) -> None:
    monkeypatch.setenv("ZOO_DATA_DIR", "/nonexistent")  # synthetic data: none needed
    assert main(["eval", str(nan_folder), "--json"]) == 2
    captured = capsys.readouterr()
    assert "NaN or inf" in captured.err and '"inf"' not in captured.out


def test_zoo_inpaint_refuses_a_nan_model(nan_folder: Path, tmp_path: Path, capsys) -> None:
    img = np.random.default_rng(0).integers(0, 255, (40, 48, 3), dtype=np.uint8)
    Image.fromarray(img).save(tmp_path / "photo.png")
    mask = np.zeros((40, 48), np.uint8)
    mask[10:20, 10:30] = 255
    Image.fromarray(mask).save(tmp_path / "photo_mask.png")
    out = tmp_path / "out"
    code = main(["inpaint", "--image", str(tmp_path / "photo.png"), "--model", str(nan_folder),
                 "--out", str(out)])
    assert code != 0
    assert "NaN or inf" in capsys.readouterr().err.replace("\n", " ")
    assert not out.exists() or not list(out.glob("*.png"))


def test_encoder_returning_nan_fails_at_build_naming_it() -> None:
    from zoo.plugin.contract import ContractError, probe_encoder

    class NanEncoder(torch.nn.Module):
        out_channels = 4

        def __init__(self) -> None:
            super().__init__()
            self.conv = torch.nn.Conv2d(3, 4, 1)

        def output_size(self, h: int, w: int) -> tuple[int, int]:
            return h, w

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return self.conv(x) * math.nan

    with pytest.raises(ContractError, match="NaN or inf"):
        probe_encoder(NanEncoder(), 3)


def test_compare_stats_refuses_nan_weights_despite_stored_scores(nan_folder, tmp_path,
                                                                   capsys) -> None:
    """Scores copied in from a healthy model must not vouch for NaN weights."""
    import shutil

    from zoo.scores import ImageScores, write_scores

    write_scores(nan_folder, ImageScores("synthetic/32px/square/n8/s2024",
                                         np.zeros(8, np.int8),
                                         {"model": {k: np.ones(8) for k in
                                                    ("psnr_hole", "ssim_hole", "l1_hole")}}))
    assert main(["compare", str(nan_folder), "baseline:telea", "--stats"]) == 2
    assert "NaN or inf weights" in capsys.readouterr().err.replace("\n", " ")
    shutil.os.remove(nan_folder / "scores.safetensors")


def test_a_fifo_leaderboard_is_refused_not_waited_on(tmp_path: Path, capsys) -> None:
    import os

    fifo = tmp_path / "lb.sqlite"
    os.mkfifo(fifo)
    assert main(["leaderboard", "--db", str(fifo)]) == 2
    assert "not a regular file" in " ".join(capsys.readouterr().err.split())  # rich wraps


def test_compare_grid_refuses_a_nan_model_instead_of_drawing_it(nan_folder: Path, tmp_path: Path,
                                                                 capsys, monkeypatch) -> None:
    """`zoo compare` without --stats used to draw the NaN model and label it 'nan dB'."""
    monkeypatch.setenv("ZOO_DATA_DIR", "/nonexistent")  # synthetic data: none needed
    out = tmp_path / "grid.png"
    assert main(["compare", str(nan_folder), "baseline:telea", "--out", str(out)]) == 2
    assert "predicted NaN or inf" in capsys.readouterr().err.replace("\n", " ")
    assert not out.exists()
