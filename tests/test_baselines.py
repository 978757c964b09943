"""Classical baselines: behaviour on synthetic images, and PAPER.md's figures on real data."""

from __future__ import annotations

import pytest
import torch

from zoo.baselines import BASELINES, evaluate_baselines, mean_fill
from zoo.data import load_cifar10, synthetic_splits
from zoo.errors import ZooError
from zoo.masks import frozen_masks


@pytest.fixture(scope="module")
def smooth() -> tuple[torch.Tensor, torch.Tensor]:
    images = synthetic_splits(n_train=1, n_val=1, n_test=32, seed=3).test
    return images, frozen_masks("paper", {}, 32, 32, 32)


def test_mean_fill_by_hand() -> None:
    image = torch.rand(1, 3, 8, 8, generator=torch.Generator().manual_seed(0))
    mask = torch.zeros(1, 1, 8, 8)
    mask[..., 2:5, 3:6] = 1
    masked = image * (1 - mask)
    out = mean_fill(masked, mask)
    known = mask[0, 0] == 0
    for c in range(3):
        assert torch.allclose(out[0, c][~known], image[0, c][known].mean().expand(9))
    assert torch.equal(out[0][:, known], image[0][:, known])


@pytest.mark.parametrize("name", list(BASELINES))
def test_baselines_keep_known_pixels(name: str, smooth) -> None:
    images, masks = smooth
    target = images.float() / 255
    masked = target * (1 - masks)
    out = BASELINES[name](masked, masks)
    assert out.shape == target.shape and out.dtype == torch.float32
    assert out.min() >= 0 and out.max() <= 1
    known = (1 - masks).bool().expand_as(out)
    assert torch.allclose(out[known], target[known], atol=0.5 / 255 + 1e-6)


def test_ranking_on_smooth_images(smooth) -> None:
    images, masks = smooth
    res = evaluate_baselines(images, masks, names=("ceiling", "masked_input", "mean_fill",
                                                   "telea", "navier_stokes", "push_pull"),
                             batch_size=7)
    assert res["ceiling"]["psnr_hole"] == float("inf")
    assert res["masked_input"]["psnr_hole"] < res["mean_fill"]["psnr_hole"]
    assert res["mean_fill"]["psnr_hole"] < res["telea"]["psnr_hole"]
    assert res["mean_fill"]["psnr_hole"] < res["navier_stokes"]["psnr_hole"]
    assert res["mean_fill"]["psnr_hole"] < res["push_pull"]["psnr_hole"]
    assert all(r["n_images"] == 32 for r in res.values())
    assert res["masked_input"]["dice"] < res["telea"]["dice"] < res["ceiling"]["dice"]


def test_unknown_baseline() -> None:
    with pytest.raises(ZooError, match="did you mean 'telea'"):
        evaluate_baselines(torch.zeros(2, 3, 8, 8, dtype=torch.uint8), torch.zeros(2, 1, 8, 8),
                           names=("telia",))


def test_paper_figures_on_real_test_set(cifar_dir) -> None:
    """PAPER.md measured these on the full test set with its own draw of the paper masks;
    our frozen masks differ, so the figures agree to sampling noise, not exactly."""
    images = load_cifar10(cifar_dir).test[:2000]
    masks = frozen_masks("paper", {}, 2000, 32, 32)
    res = evaluate_baselines(images, masks, names=("ceiling", "masked_input", "mean_fill",
                                                   "telea"))
    assert res["ceiling"]["dice"] == pytest.approx(0.5948, abs=0.003)
    assert res["masked_input"]["dice"] == pytest.approx(0.5595, abs=0.003)
    assert res["masked_input"]["psnr_hole"] == pytest.approx(6.4, abs=0.5)
    assert res["mean_fill"]["dice"] == pytest.approx(0.5832, abs=0.003)
    assert res["mean_fill"]["psnr_hole"] == pytest.approx(14.0, abs=0.5)
    assert res["mean_fill"]["l1_hole"] == pytest.approx(0.184, abs=0.01)
    assert res["telea"]["dice"] == pytest.approx(0.5901, abs=0.003)
    assert res["telea"]["psnr_hole"] == pytest.approx(17.6, abs=0.5)
    assert res["telea"]["psnr_hole"] > res["mean_fill"]["psnr_hole"] + 2
