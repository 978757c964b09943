"""The gradient-domain seam (zoo.seam): what the solve does, that the photo path (one hole
component at a time) agrees with a whole-image solve, and the options in Python and CLI."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

import zoo
from zoo.cli import main
from zoo.ensemble import label
from zoo.errors import ZooError
from zoo.seam import Seamed, blend, check_seam, poisson, seam_sparse


def _scene(h: int = 36, w: int = 44) -> tuple[torch.Tensor, torch.Tensor]:
    """A flat two-colour image (left and right halves) and a hole across the middle."""
    truth = torch.zeros(1, 3, h, w)
    truth[..., : w // 2] = torch.tensor([0.2, 0.5, 0.7])[:, None, None]
    truth[..., w // 2:] = torch.tensor([0.6, 0.3, 0.1])[:, None, None]
    hole = torch.zeros(1, 1, h, w)
    hole[..., 10:24, 6:18] = 1  # inside the left half
    return truth, hole


def test_an_offset_fill_is_pulled_back_to_the_border_and_keeps_its_detail():
    truth, hole = _scene()
    texture = 0.05 * torch.sin(torch.arange(44.0) * 1.3)[None, None, None, :].expand_as(truth)
    fill = truth + 0.15 + texture  # the right detail, a level 0.15 too bright
    known = truth * (1 - hole)  # what the model saw: zeros in the hole
    out = poisson(fill, known, hole)
    inside = hole.expand_as(out) > 0
    assert torch.equal(out[~inside], truth[~inside])  # known pixels untouched
    err_before = (fill - truth)[inside].abs().mean()
    err_after = (out - truth)[inside].abs().mean()
    assert err_after < 0.25 * err_before  # the level follows the border
    # the fill's own gradients between hole pixels are kept: the detail survives
    dx = lambda x: x[..., 12:22, 8:16].diff(dim=-1)  # noqa: E731  (well inside the hole)
    assert torch.allclose(dx(out), dx(fill), atol=0.02)
    # a flat fill at the wrong level becomes the border's colour everywhere
    flat = poisson(truth + 0.1 * hole, known, hole)
    assert torch.allclose(flat, truth, atol=1e-3)


def test_blend_mixes_half_and_half_and_leaves_holeless_images_alone():
    truth, hole = _scene()
    fill = truth + 0.2 * hole
    known = truth * (1 - hole)
    half = blend(fill, known, hole)  # mix 0.5 of the solve (= truth here) and the fill
    assert torch.allclose(half, truth + 0.1 * hole, atol=1e-3)
    whole = torch.ones_like(hole)  # no known pixel: nothing to blend towards, the fill stays
    assert torch.allclose(poisson(fill, known, whole), fill)
    batch = torch.cat([fill, truth])
    holes = torch.cat([hole, torch.zeros_like(hole)])
    out = blend(batch, torch.cat([known, truth]), holes)
    assert torch.allclose(out[1:], truth) and torch.allclose(out[:1], half, atol=1e-5)


def test_photo_path_solves_each_hole_alone_and_matches_a_whole_image_solve():
    rng = np.random.default_rng(0)
    yy, xx = np.mgrid[0:60, 0:80] / 80.0
    photo = np.stack([0.3 + 0.4 * xx, 0.5 + 0.2 * yy, 0.4 + 0.3 * xx * yy], -1).astype(np.float32)
    hole = np.zeros((60, 80), bool)
    hole[5:20, 5:25] = True
    hole[30:52, 50:74] = True
    hole[0:4, 70:80] = True  # touching the image's edge
    ys, xs = np.nonzero(hole)
    vals = photo[ys, xs] + 0.1 + rng.normal(0, 0.02, (len(ys), 3)).astype(np.float32)
    under = photo.copy()
    under[hole] = 0.9  # what lies under the mask in the photo (the object removed) is ignored
    got = seam_sparse(under, hole, ys, xs, vals)
    t = torch.from_numpy(under).permute(2, 0, 1)[None]
    f = t.clone()
    f[0, :, ys, xs] = torch.from_numpy(vals).T
    m = torch.from_numpy(hole.astype(np.float32))[None, None]
    want = blend(f, t, m)[0].permute(1, 2, 0).numpy()[ys, xs]
    assert np.abs(got - want).max() < 2e-3
    assert np.abs(got - photo[ys, xs]).mean() < 0.6 * np.abs(vals - photo[ys, xs]).mean()


class _Bright(torch.nn.Module):
    """A compositing 'model' whose fill is a constant a little off."""

    multiple = 4

    def __init__(self) -> None:
        super().__init__()
        self.w = torch.nn.Parameter(torch.tensor(0.8))

    def forward(self, masked, mask):
        return masked * (1 - mask) + self.w * mask


def test_seamed_wraps_a_model_and_names_its_rows():
    truth, hole = _scene(32, 32)
    net = Seamed(_Bright())
    out = net(truth * (1 - hole), hole)
    inside = hole.expand_as(out) > 0
    assert torch.equal(out[~inside], truth[~inside])
    assert (out[inside] - truth[inside]).abs().mean() < (0.8 - truth[inside]).abs().mean()
    assert net.multiple == 4 and net.padded_size(30, 30) == (32, 32)
    assert label(["q1"], seam="poisson") == "q1+poisson"
    assert label(["q1", "q2"], "flip", "poisson") == "ensemble(q1,q2)+flip+poisson"
    assert check_seam(None) == "none"
    with pytest.raises(ZooError, match="none, poisson"):
        check_seam("laplace")


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory) -> Path:
    from zoo.config import TrainConfig
    from zoo.train import train

    config = TrainConfig(dataset="synthetic", epochs=1, train_limit=32, val_limit=8,
                         test_limit=8, unet={"widths": [8, 16, 32]}, device="cpu", threads=1,
                         mask="mixed", test_mask="paper")
    result = train(config, tmp_path_factory.mktemp("seam-run"), baselines=())
    return Path(result["checkpoint"]).parent


def test_inpaint_blends_by_default_and_none_turns_it_off(tiny_model, tmp_path, capsys):
    from PIL import Image

    loaded = zoo.load(str(tiny_model), device="cpu")
    plain = zoo.load(str(tiny_model), device="cpu", seam="none")
    assert loaded.seam == "poisson" and plain.seam == "none" and "seam='none'" in repr(plain)
    rng = np.random.default_rng(1)
    image = rng.integers(0, 256, (24, 30, 3), dtype=np.uint8)
    hole = np.zeros((24, 30), bool)
    hole[6:14, 8:19] = True
    a, b = loaded.inpaint(image, hole), plain.inpaint(image, hole)
    assert (a[~hole] == image[~hole]).all() and (b[~hole] == image[~hole]).all()
    assert not (a[hole] == b[hole]).all()
    with pytest.raises(ZooError, match="none, poisson"):
        zoo.load(str(tiny_model), device="cpu", seam="smooth")
    Image.fromarray(image).save(tmp_path / "p.png")
    Image.fromarray((hole * 255).astype(np.uint8)).save(tmp_path / "p_mask.png")
    for seam, out in (([], "default"), (["--seam", "none"], "none")):
        assert main(["inpaint", "--model", str(tiny_model), "--image", str(tmp_path / "p.png"),
                     "--out", str(tmp_path / out), "--device", "cpu", *seam]) == 0
    printed = capsys.readouterr().out
    assert "seam none" in printed
    got = {k: np.asarray(Image.open(tmp_path / k / "p.png")) for k in ("default", "none")}
    assert (got["default"] == a).all() and (got["none"] == b).all()
    with pytest.raises(SystemExit):
        main(["inpaint", "--model", str(tiny_model), "--image", str(tmp_path / "p.png"),
              "--out", str(tmp_path / "x"), "--seam", "smooth"])
    assert "invalid choice: 'smooth'" in capsys.readouterr().err


def test_eval_scores_the_seam_as_its_own_row(tiny_model, capsys):
    assert main(["eval", str(tiny_model), "--seam", "poisson", "--json", "--device", "cpu"]) == 0
    seamed = json.loads(capsys.readouterr().out)
    assert seamed["model"].endswith("+poisson") and seamed["seam"] == "poisson"
    assert main(["eval", str(tiny_model), "--json", "--device", "cpu"]) == 0
    plain = json.loads(capsys.readouterr().out)
    assert plain["eval_id"] == seamed["eval_id"] and plain["psnr_hole"] != seamed["psnr_hole"]
    assert main(["eval", "--baseline", "telea", "--seam", "poisson"]) == 2
    assert "apply to a MODEL" in capsys.readouterr().err
