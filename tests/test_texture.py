"""zoo's own texture statistic: the fill's high-frequency energy in the hole over the truth's."""

from __future__ import annotations

import math

import numpy as np
import torch

from zoo.metrics import IMAGE_METRICS, MetricAccumulator, TABLE, _blur, texture_ratio
from zoo.scores import ImageScores, from_accumulators


def _case(seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    target = torch.rand(4, 3, 32, 32, generator=g)  # detailed: i.i.d. pixels
    mask = torch.zeros(4, 1, 32, 32)
    mask[..., 8:24, 8:24] = 1
    return target, mask


def test_truth_scores_one_blur_below_noise_above():
    target, mask = _case()
    same = texture_ratio(target, target, mask)
    assert torch.allclose(same, torch.ones(4))
    blurred = target * (1 - mask) + _blur(target) * mask
    assert (texture_ratio(target, blurred, mask) < 0.5).all()
    flat = target * (1 - mask) + 0.5 * mask  # a mean fill: no detail at all
    assert (texture_ratio(target, flat, mask) < 0.1).all()
    smooth = _blur(_blur(target))  # a smooth truth, filled with noise
    noisy = smooth * (1 - mask) + torch.rand(4, 3, 32, 32) * mask
    assert (texture_ratio(smooth, noisy, mask) > 2).all()


def test_no_hole_is_nan_and_flat_truth_flat_fill_is_one():
    target, mask = _case()
    ratio = texture_ratio(target, target, torch.zeros_like(mask))
    assert torch.isnan(ratio).all()
    flat = torch.full_like(target, 0.3)
    assert torch.allclose(texture_ratio(flat, flat, mask), torch.ones(4))


def test_reported_and_kept_per_image():
    target, mask = _case()
    blurred = target * (1 - mask) + _blur(target) * mask
    acc = MetricAccumulator()
    acc.update(target, blurred, mask)
    out = acc.compute()
    per = texture_ratio(target, blurred, mask)
    assert math.isclose(out["texture_hole"], float(per.mean()), rel_tol=1e-5)
    assert "zoo" in TABLE["texture_hole"].label  # labelled as zoo's own, not a paper's
    kept = acc.image_scores()
    assert set(IMAGE_METRICS) <= set(kept)
    np.testing.assert_allclose(kept["texture_hole"], per.numpy(), rtol=1e-5)
    scores = from_accumulators("e", {"model": kept})
    back = ImageScores.from_bytes(scores.to_bytes())
    np.testing.assert_allclose(back.get("model", "texture_hole"), per.numpy(), rtol=1e-5)
    assert not any(k.startswith("texture_hole@") for k in out)  # not in the area bins


def test_leaderboard_written_before_texture_gains_its_column(tmp_path):
    import sqlite3

    from zoo.leaderboard import Leaderboard

    path = tmp_path / "lb.sqlite"
    Leaderboard(path)
    with sqlite3.connect(path) as conn:  # as a leaderboard of the zoo before texture_hole
        conn.execute("ALTER TABLE trials DROP COLUMN texture_hole")
        conn.execute("ALTER TABLE refs DROP COLUMN texture_hole")
    lb = Leaderboard(path)
    lb.record_trial("s", "t1", "completed",
                    {"psnr_hole": 18.0, "texture_hole": 0.7, "eval_id": "e",
                     "baselines": {"telea": {"psnr_hole": 17.0, "texture_hole": 0.5}}},
                    config={"mask": "mixed", "test_mask": "paper"})
    row = lb.trials()[0]
    assert row["texture_hole"] == 0.7 and row["mask"] == "paper"  # the mask it was scored on
    assert lb.references()[0]["texture_hole"] == 0.5


def test_the_step_at_the_holes_edge_is_not_detail():
    """A flat fill that meets its surroundings badly (a grey square in a bright image, what
    sharp.yaml's adversarial weight 0.03 produced) has no detail: near 0, as a flat fill
    that matches them. Measured across the edge, the step had scored such a fill 0.67 on
    the mean fill's CIFAR-10 holes and 2.05 on that model's."""
    g = torch.Generator().manual_seed(1)
    smooth = _blur(torch.rand(4, 3, 32, 32, generator=g))  # a smooth truth
    target = 0.2 + 0.6 * smooth
    mask = torch.zeros(4, 1, 32, 32)
    mask[..., 10:22, 10:22] = 1
    for level in (0.0, 0.5, 1.0):  # from a matching fill to a glaring one
        flat = target * (1 - mask) + level * mask
        assert (texture_ratio(target, flat, mask) < 0.05).all(), level
    # the truth's own detail is what it is, whatever lies around the hole
    other = target * mask + (1 - target) * (1 - mask)
    assert torch.allclose(texture_ratio(target, other, mask), torch.ones(4))
    # thin holes (a 1-pixel stroke) still measure detail along them
    line = torch.zeros_like(mask)
    line[..., 16, 4:28] = 1
    rough = target + 0.3 * (torch.rand(4, 3, 32, 32, generator=g) - 0.5)
    assert (texture_ratio(target, rough, line) > 2).all()
