"""Result pictures: the evaluation grid (cell contents and size), learning curves, and
`zoo compare` over two checkpoints plus baselines."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from zoo.baselines import BASELINES
from zoo.cli import main
from zoo.config import TrainConfig
from zoo.errors import ZooError
from zoo.masks import frozen_masks
from zoo.viz import (
    CURVES_DPI,
    CURVES_SIZE,
    LINE_H,
    PAD,
    SCALE,
    grid_size,
    save_eval_grid,
    save_learning_curves,
)


def _train(tmp: Path, seed: int) -> dict:
    from zoo.train import train

    config = TrainConfig(dataset="synthetic", epochs=2, train_limit=64, val_limit=16,
                         test_limit=16, unet={"widths": [8, 16, 32]}, device="cpu", threads=1,
                         seed=seed)
    return train(config, tmp, final_eval=False)


@pytest.fixture(scope="module")
def runs(tmp_path_factory) -> list[dict]:
    return [_train(tmp_path_factory.mktemp(f"run{s}"), s) for s in (0, 1)]


def _cell(grid: np.ndarray, row: int, col: int, h: int, w: int, lines: int = 1) -> np.ndarray:
    top = lines * LINE_H + PAD + PAD + row * (h * SCALE + PAD)
    left = PAD + col * (w * SCALE + PAD)
    return grid[top:top + h * SCALE, left:left + w * SCALE]


def test_eval_grid_on_cifar(runs, cifar_dir, tmp_path) -> None:
    from zoo.modelfolder.checkpoint import load_model
    from zoo.data import load_cifar10

    model = load_model(runs[0]["checkpoint"])[0]
    test = load_cifar10(cifar_dir).test[:20]  # (20, 3, 32, 32) uint8
    masks = frozen_masks("paper", {}, 20, 32, 32)
    path = save_eval_grid(model, test, masks, tmp_path / "grid.png", n=8,
                          extra={"telea": BASELINES["telea"]})
    grid = np.asarray(Image.open(path).convert("RGB"))
    # 8 rows; masked | model | telea | truth
    assert (grid.shape[1], grid.shape[0]) == grid_size(8, 4, 32, 32)
    assert grid.shape == (LINE_H + PAD + 8 * 128 + 9 * PAD, 4 * 128 + 5 * PAD, 3)
    for r in (0, 7):
        truth = test[r].permute(1, 2, 0).numpy()
        big = np.kron(truth, np.ones((SCALE, SCALE, 1), np.uint8))
        assert np.array_equal(_cell(grid, r, 3, 32, 32), big)
        hole = np.kron(masks[r, 0].numpy(), np.ones((SCALE, SCALE))) > 0.5
        pred = _cell(grid, r, 1, 32, 32)
        assert np.array_equal(pred[~hole], big[~hole])  # composited: known pixels exact
        assert not np.array_equal(pred[hole], big[hole])
        masked = _cell(grid, r, 0, 32, 32)
        assert (masked[hole] == (255, 0, 255)).all()  # hole shown in magenta
    assert (grid[:LINE_H] < 128).any()  # the column labels were drawn


def test_learning_curves(runs, tmp_path) -> None:
    history = runs[0]["history"] + [{**runs[0]["history"][-1], "epoch": 3, "train_loss": 0.01}]
    path = save_learning_curves(history, tmp_path / "curves.png")
    im = np.asarray(Image.open(path).convert("RGB"))
    assert (im.shape[1], im.shape[0]) == (round(CURVES_SIZE[0] * CURVES_DPI),
                                          round(CURVES_SIZE[1] * CURVES_DPI))
    assert len(np.unique(im.reshape(-1, 3), axis=0)) > 20  # plotted, not blank
    with pytest.raises(ZooError, match="no epochs"):
        save_learning_curves([], tmp_path / "none.png")
    assert not (tmp_path / "none.png").exists()


def test_grid_refuses_mismatched_columns(tmp_path) -> None:
    from zoo.viz import render_grid

    with pytest.raises(ZooError, match="shape"):
        render_grid([("a", torch.zeros(2, 3, 8, 8)), ("b", torch.zeros(2, 3, 8, 4))],
                    tmp_path / "g.png")


def test_compare_two_checkpoints_and_baselines(runs, tmp_path, capsys) -> None:
    out = tmp_path / "cmp.png"
    a, b = (r["checkpoint"] for r in runs)
    assert main(["compare", a, b, "--out", str(out), "--baselines", "telea,mean_fill",
                 "--n", "5", "--device", "cpu"]) == 0
    grid = np.asarray(Image.open(out).convert("RGB"))
    # masked | run a | run b | telea | mean_fill | truth; two label lines (name, PSNR)
    assert (grid.shape[1], grid.shape[0]) == grid_size(5, 6, 32, 32, label_lines=2)
    text = capsys.readouterr().out
    assert "telea" in text and "mean_fill" in text and "PSNR hole" in text
    # both runs predict on the same test image with the same hole: known pixels agree
    c1, c2 = _cell(grid, 0, 1, 32, 32, 2), _cell(grid, 0, 2, 32, 32, 2)
    truth = _cell(grid, 0, 5, 32, 32, 2)
    same = (c1 == truth).all(-1) & (c2 == truth).all(-1)
    assert 0.5 < same.mean() < 1.0
    assert main(["compare", a, "--out", str(tmp_path / "x.png"), "--baselines", "teela"]) == 2
    assert main(["compare", str(tmp_path / "missing.pt"), "--out", str(tmp_path / "x.png"),
                 "--db", str(tmp_path / "none.sqlite")]) == 2
