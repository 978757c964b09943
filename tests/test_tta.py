"""Inference options (zoo.ensemble): test-time flips and ensembles, in Python and the CLI,
and a model trained on one mask kind but scored on another (test_mask)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

import zoo
from zoo.cli import main
from zoo.config import TrainConfig
from zoo.ensemble import Averaged, label
from zoo.errors import ZooError


class _Lopsided(nn.Module):
    """Not mirror-symmetric: the output leans on each pixel's left neighbour."""

    multiple = 4

    def __init__(self, scale: float = 1.0) -> None:
        super().__init__()
        self.w = nn.Parameter(torch.tensor(scale))

    def forward(self, masked, mask):
        return masked.roll(1, dims=-1) * self.w


def test_flip_and_ensemble_average_what_they_say():
    x, m = torch.rand(2, 3, 8, 8), torch.zeros(2, 1, 8, 8)
    a, b = _Lopsided(1.0), _Lopsided(3.0)
    flipped = Averaged([a], tta="flip")(x, m)
    want = (a(x, m) + a(x.flip(-1), m).flip(-1)) / 2
    assert torch.allclose(flipped, want)
    assert not torch.allclose(flipped, a(x, m))  # the flip did change the answer
    assert torch.allclose(Averaged([a, b])(x, m), (a(x, m) + b(x, m)) / 2)
    assert Averaged([a, b], tta="flip").padded_size(5, 6) == (8, 8)
    assert label(["q1", "q3"], "flip") == "ensemble(q1,q3)+flip"
    assert label(["q1"]) == "q1" and label(["q1"], "flip") == "q1+flip"
    with pytest.raises(ZooError, match="none, flip"):
        Averaged([a], tta="mirror")


@pytest.fixture(scope="module")
def two_models(tmp_path_factory) -> list[Path]:
    """Two tiny models trained on mixed holes, scored on the paper's squares."""
    from zoo.train import train

    out = []
    for seed in (0, 1):
        run = tmp_path_factory.mktemp(f"run{seed}")
        config = TrainConfig(dataset="synthetic", epochs=1, train_limit=32, val_limit=8,
                             test_limit=8, unet={"widths": [8, 16, 32]}, device="cpu",
                             threads=1, mask="mixed", test_mask="paper", seed=seed)
        result = train(config, run, baselines=("telea",))
        assert "/paper/" in result["eval_id"]  # the test used the test mask, not training's
        assert "texture_hole" in result and "texture_hole" in result["baselines"]["telea"]
        out.append(Path(result["checkpoint"]).parent)
    return out


def test_load_ensemble_and_flip_inpaint(two_models):
    a, b = (str(p) for p in two_models)
    single = zoo.load(a, device="cpu")
    both = zoo.load(f"{a},{b}", device="cpu", tta="flip")
    assert isinstance(both.net, Averaged) and len(both.net.members) == 2
    assert both.metrics is None  # no test scored the mean: nothing is passed off as one's
    assert single.metrics is not None and not isinstance(single.net, Averaged)
    rng = np.random.default_rng(0)
    image = rng.integers(0, 256, (20, 28, 3), dtype=np.uint8)
    hole = np.zeros((20, 28), bool)
    hole[5:12, 6:15] = True
    filled = both.inpaint(image, hole)
    assert filled.shape == image.shape and (filled[~hole] == image[~hole]).all()
    assert not (filled[hole] == single.inpaint(image, hole)[hole]).all()
    with pytest.raises(ZooError, match="empty model name"):
        zoo.load(f"{a},", device="cpu")


def test_cli_eval_and_inpaint_name_the_option(two_models, tmp_path, capsys):
    a, b = (str(p) for p in two_models)
    assert main(["eval", f"{a},{b}", "--tta", "flip", "--json", "--device", "cpu"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["model"] == f"ensemble({a},{b})+flip" and result["tta"] == "flip"
    assert "/paper/" in result["eval_id"] and "texture_hole" in result
    assert main(["eval", a, "--json", "--device", "cpu"]) == 0
    alone = json.loads(capsys.readouterr().out)
    assert alone["eval_id"] == result["eval_id"]  # default: its own test masks (paper)
    assert alone["psnr_hole"] != result["psnr_hole"]
    from PIL import Image

    Image.fromarray(np.full((16, 16, 3), 120, np.uint8)).save(tmp_path / "p.png")
    mask = np.zeros((16, 16), np.uint8)
    mask[4:9, 4:9] = 255
    Image.fromarray(mask).save(tmp_path / "p_mask.png")
    assert main(["inpaint", "--model", f"{a},{b}", "--tta", "flip", "--image",
                 str(tmp_path / "p.png"), "--out", str(tmp_path / "out"), "--device", "cpu"]) == 0
    assert "ensemble(" in capsys.readouterr().out and (tmp_path / "out" / "p.png").is_file()
    with pytest.raises(SystemExit):
        main(["eval", a, "--tta", "mirror"])
