"""Hole-only windows (zoo._windows, zoo._predict): the same fill as the full pass, within
1/255 in the hole, for the shipped configs, while the model sees only the hole's windows."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from zoo._fullpass import fit_size
from zoo._predict import _bilinear_at, _halve
from zoo._windows import receptive_margin
from zoo.config import preset
from zoo.inpaint import inpaint_picture, predict, predict_multiscale, read_image
from zoo.model import build_model
from zoo.model._fill import known_mean_pool
from zoo.settings import build_config

HOPPER = Path(__file__).parent / "assets" / "hopper.png"


def _model(name: str, **unet) -> torch.nn.Module:
    torch.manual_seed(0)  # random weights: the reach is the architecture's, not training's
    cfg = preset(name)
    cfg["unet"].update(unet)
    return build_model(build_config(cfg)).eval()


def _holes(h: int, w: int) -> np.ndarray:
    hole = np.zeros((h, w), bool)
    hole[20:44, 30:54] = True  # a box, deep enough for two pyramid levels
    hole[h - 6:h - 3, 10:w - 20] = True  # a scratch near the bottom edge (padding)
    hole[5:9, w - 7:w] = True  # a nick at the right edge
    return hole


@pytest.mark.parametrize("name", ["paper", "strong"])
def test_windows_match_the_full_pass_in_the_hole(name: str) -> None:
    model = _model(name)
    rgb = read_image(HOPPER).rgb()[:, :150]  # (128, 150, 3): not a multiple of 4 wide
    hole = _holes(*rgb.shape[:2])
    tiled = {"tile": 64, "max_pixels": 4000}
    runs = ([(predict, {}), (predict_multiscale, tiled)] if name == "strong" else
            [(fill, kw) for fill in (predict, predict_multiscale) for kw in ({}, tiled)])
    for fill, kw in runs:  # one pass, and tiled
        new = fill(model, rgb, hole, **kw)
        old = fill(model, rgb, hole, _full=True, **kw)
        assert np.abs(new - old)[hole].max() < 1 / 255, (fill.__name__, kw)
        assert np.array_equal(new[~hole], rgb[~hole])


def test_inpaint_picture_is_the_full_pass_and_sees_only_windows() -> None:
    model = _model("paper")
    seen = []
    model.register_forward_pre_hook(lambda mod, args: seen.append(args[0].shape[-2:].numel()))
    pic = read_image(HOPPER)
    h, w = pic.pixels.shape[:2]
    hole = np.zeros((h, w), bool)
    hole[60:68, 70:78] = True  # one small hole in a 128x128 photo
    old = inpaint_picture(model, pic, hole, _full=True).pixels
    seen.clear()
    new = inpaint_picture(model, pic, hole).pixels
    assert np.abs(old.astype(int) - new.astype(int)).max() <= 1
    assert np.array_equal(new[~hole], pic.pixels[~hole])
    probes = receptive_margin(model, fit_size, 9)
    assert probes is not None and seen and max(seen) < h * w / 2  # windows, not the photo


def test_margin_is_measured_and_global_models_keep_the_full_pass() -> None:
    class Convs(torch.nn.Module):  # k 3x3 convs: reach exactly k
        def __init__(self, k: int) -> None:
            super().__init__()
            convs = [torch.nn.Conv2d(4 if i == 0 else 3, 3, 3, padding=1) for i in range(k)]
            self.body = torch.nn.Sequential(*convs)

        def forward(self, masked, mask):
            return torch.sigmoid(self.body(torch.cat([masked, mask], 1)))

    class Global(Convs):  # instance norm: every pixel sees the whole image's statistics
        def forward(self, masked, mask):
            return torch.sigmoid(F.instance_norm(self.body(torch.cat([masked, mask], 1))))

    assert receptive_margin(Convs(5).eval(), fit_size, 3) == 5
    assert receptive_margin(Global(2).eval(), fit_size, 3) is None
    assert receptive_margin(_model("paper", bottleneck="ffc", widths=(4, 8, 8)), fit_size, 3) is None
    model = Global(2).eval()
    rng = np.random.default_rng(0)
    rgb = rng.random((40, 52, 3), dtype=np.float32)
    hole = _holes(40, 52)
    np.testing.assert_allclose(predict(model, rgb, hole)[hole],
                               predict(model, rgb, hole, _full=True)[hole], atol=1e-6)


def test_pyramid_steps_match_torch() -> None:
    rng = np.random.default_rng(1)
    img = rng.random((37, 23, 3), dtype=np.float32)
    hole = rng.random((37, 23)) > 0.6
    x = torch.from_numpy(img).permute(2, 0, 1)[None]
    k = torch.from_numpy(~hole)[None, None].float()
    coarse, known = known_mean_pool(x, k)
    mine, mine_hole = _halve(img, hole)
    np.testing.assert_allclose(mine, coarse[0].permute(1, 2, 0).numpy(), atol=1e-6)
    assert np.array_equal(mine_hole, known[0, 0].numpy() == 0)
    up = F.interpolate(x, size=(75, 46), mode="bilinear", align_corners=False)[0]
    ys, xs = np.nonzero(rng.random((75, 46)) > 0.5)
    np.testing.assert_allclose(_bilinear_at(img, ys, xs, 75, 46),
                               up[:, ys, xs].T.numpy(), atol=1e-5)
