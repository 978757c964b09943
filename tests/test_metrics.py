"""Metrics: the paper's Dice, PSNR / SSIM / L1 in the hole and overall."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from zoo.errors import ZooError
from zoo.metrics import KEYS, MetricAccumulator, SSIM_SIGMA, SSIM_WINDOW, dice_pairs, score, ssim_map


def _batch(n: int = 8, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    target = torch.rand(n, 3, 16, 16, generator=g)
    mask = torch.zeros(n, 1, 16, 16)
    mask[:, :, 4:10, 3:9] = 1.0  # 36 hole pixels
    return target, mask


def test_keys() -> None:
    t, m = _batch()
    out = score(t, t, m)
    assert tuple(out) == KEYS and out["n_images"] == 8


def test_perfect_prediction() -> None:
    t, m = _batch()
    out = score(t, t, m)
    y = t.double().view(4, 2, -1).flatten(1)
    ceiling = ((y * y).sum(1) / y.sum(1)).mean().item()
    assert out["dice"] == pytest.approx(ceiling, rel=1e-9)
    assert out["dice"] < 1.0
    assert out["psnr_hole"] == math.inf and out["psnr"] == math.inf
    assert out["l1_hole"] == 0 and out["l1"] == 0
    assert out["ssim"] == pytest.approx(1.0) and out["ssim_hole"] == pytest.approx(1.0)


def test_known_error_values() -> None:
    t, m = _batch()
    t = t * 0.8  # room to add 0.1 without leaving 0..1
    pred = t + 0.1 * m  # error 0.1 in the hole only
    out = score(t, pred, m)
    assert out["psnr_hole"] == pytest.approx(20.0, abs=1e-4)  # mse 0.01
    assert out["l1_hole"] == pytest.approx(0.1, abs=1e-6)
    frac = 36 / 256
    assert out["psnr"] == pytest.approx(-10 * math.log10(0.01 * frac), abs=1e-4)
    assert out["l1"] == pytest.approx(0.1 * frac, abs=1e-6)
    assert out["ssim_hole"] < out["ssim"] < 1.0


def test_psnr_is_mean_of_per_image_values() -> None:
    t, m = _batch(2)
    t = t * 0.5
    pred = t.clone()
    pred[0] += 0.1 * m[0]  # 20 dB
    pred[1] += 0.01 * m[1]  # 40 dB
    assert score(t, pred, m)["psnr_hole"] == pytest.approx(30.0, abs=1e-3)


def test_dice_by_hand() -> None:
    t, m = _batch(4)
    p = torch.rand(4, 3, 16, 16, generator=torch.Generator().manual_seed(9))
    y, q = t.double().flatten(1), p.double().flatten(1)
    pairs = [2 * (y[i:i + 2] * q[i:i + 2]).sum() / (y[i:i + 2] + q[i:i + 2]).sum() for i in (0, 2)]
    assert score(t, p, m)["dice"] == pytest.approx(float(sum(pairs) / 2), rel=1e-9)


def test_dice_pairs_span_updates() -> None:
    t, m = _batch(10, seed=1)
    p, _ = _batch(10, seed=2)
    whole = MetricAccumulator()
    whole.update(t, p, m)
    split = MetricAccumulator()
    for a, b in ((0, 3), (3, 4), (4, 9), (9, 10)):  # odd batches: pairs straddle updates
        split.update(t[a:b], p[a:b], m[a:b])
    x, y = whole.compute(), split.compute()
    for key in KEYS:
        assert x[key] == pytest.approx(y[key], rel=1e-9), key


def test_odd_last_image_is_scored_alone() -> None:
    t, m = _batch(3)
    p, _ = _batch(3, seed=5)
    pairs = dice_pairs(t, p)
    assert pairs.shape == (2,)
    y, q = t[2].double(), p[2].double()
    alone = 2 * (y * q).sum() / (y + q).sum()
    assert pairs[1].item() == pytest.approx(alone.item(), rel=1e-9)


def test_images_without_a_hole_are_skipped_by_hole_metrics() -> None:
    t, m = _batch(4)
    m[2:] = 0
    pred = (t + 0.05 * m).clamp(0, 1)
    pred[2:] = 0.5  # bad outside the hole, but these images have no hole
    out = score(t, pred, m)
    assert out["n_images"] == 4
    assert out["l1_hole"] == pytest.approx(score(t[:2], pred[:2], m[:2])["l1_hole"])
    assert out["l1"] > score(t[:2], pred[:2], m[:2])["l1"]


def test_empty_accumulator_is_nan() -> None:
    out = MetricAccumulator().compute()
    assert out["n_images"] == 0 and math.isnan(out["dice"]) and math.isnan(out["psnr"])


def test_shape_errors() -> None:
    t, m = _batch(2)
    with pytest.raises(ZooError, match="mask"):
        score(t, t, m[:, :, :8])
    with pytest.raises(ZooError, match="one shape"):
        score(t, t[:1], m)


def test_ssim_matches_a_direct_window_sum() -> None:
    g = torch.Generator().manual_seed(4)
    x = torch.rand(1, 3, 16, 16, generator=g)
    y = (x + 0.2 * torch.rand(1, 3, 16, 16, generator=g)).clamp(0, 1)
    s = ssim_map(x, y)
    # independent computation at an interior pixel, with an explicit 2-D Gaussian window
    r = SSIM_WINDOW // 2
    k = np.arange(SSIM_WINDOW) - r
    w = np.exp(-(k[:, None] ** 2 + k[None, :] ** 2) / (2 * SSIM_SIGMA**2))
    w /= w.sum()
    i, j = 8, 7
    vals = []
    for c in range(3):
        a = x[0, c, i - r:i + r + 1, j - r:j + r + 1].double().numpy()
        b = y[0, c, i - r:i + r + 1, j - r:j + r + 1].double().numpy()
        ma, mb = (w * a).sum(), (w * b).sum()
        va, vb = (w * a * a).sum() - ma**2, (w * b * b).sum() - mb**2
        cov = (w * a * b).sum() - ma * mb
        c1, c2 = 0.01**2, 0.03**2
        vals.append((2 * ma * mb + c1) * (2 * cov + c2) / ((ma**2 + mb**2 + c1) * (va + vb + c2)))
    assert s[0, 0, i, j].item() == pytest.approx(float(np.mean(vals)), abs=1e-5)
    assert s.shape == (1, 1, 16, 16)


def test_one_metric_table_drives_the_views() -> None:
    """Directions and decimals come from zoo.metrics.TABLE: the leaderboard's sort order,
    the reference columns, the eval report and the model card read it."""
    from zoo.modelfolder.card import METRIC_KEYS
    from zoo.cli._report import COLUMNS
    from zoo.leaderboard import METRICS, REFERENCE_METRICS
    from zoo.metrics import TABLE, metric

    assert METRICS == {k: m.higher_is_better for k, m in TABLE.items()}
    assert not METRICS["l1_hole"] and not METRICS["params"] and METRICS["dice"]
    assert REFERENCE_METRICS == tuple(k for k in KEYS if k != "n_images")
    assert [k for k, _, _ in COLUMNS] == ["dice", "psnr_hole", "ssim_hole", "l1_hole",
                                          "texture_hole", "psnr", "ssim"]
    assert METRIC_KEYS == ("psnr_hole", "ssim_hole", "l1_hole", "dice", "texture_hole", "psnr",
                           "ssim")
    assert metric("val_psnr_hole@10-20") is TABLE["psnr_hole"]
    assert TABLE["psnr_hole"].format(17.634) == "17.63"
    assert TABLE["ssim_hole"].format(0.71234) == "0.7123"
    assert TABLE["ssim_hole"].format(0.71234, short=True) == "0.712"
    assert TABLE["params"].format(123_456) == "0.12M" and TABLE["params"].format(5_000) == "5.0k"
    assert TABLE["psnr_hole"].format(math.inf) == "inf" and TABLE["l1"].format(None) == "-"
    with pytest.raises(ZooError, match="did you mean 'psnr_hole'"):
        metric("psnr_hoel")


def test_eval_id_names_the_frozen_set() -> None:
    from zoo.masks import EVAL_SEED, eval_id

    assert eval_id("cifar10", "paper", {}, 10000, 32) == f"cifar10/paper/n10000/s{EVAL_SEED}"
    assert eval_id("folder", "square", {"size": 8, "a": 1}, 50, 64) == \
        f"folder/64px/square(a=1,size=8)/n50/s{EVAL_SEED}"
