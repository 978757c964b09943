"""`zoo inpaint` on real photos of several sizes and modes: known pixels kept bit for bit,
holes filled, masks found by both naming conventions, bad input refused before writing."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from zoo.cli import main
from zoo.config import TrainConfig
from zoo.errors import ZooError
from zoo.inpaint import (
    Picture,
    generated_mask,
    inpaint_picture,
    plan,
    predict,
    read_image,
    read_mask,
)
from zoo.viz import save_png_atomic

ASSETS = Path(__file__).parent / "assets"


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory) -> Path:
    from zoo.train import train

    out = tmp_path_factory.mktemp("run")
    config = TrainConfig(dataset="synthetic", epochs=2, train_limit=64, val_limit=16,
                         test_limit=16, unet={"widths": [8, 16, 32]}, device="cpu", threads=1,
                         mask="square")
    return Path(train(config, out, final_eval=False)["checkpoint"])


@pytest.fixture(scope="module")
def model(checkpoint):
    from zoo.modelfolder.checkpoint import load_model

    return load_model(checkpoint)[0]


def _tiles(cifar_dir: Path, n: int = 4) -> np.ndarray:
    """A 64x64 RGB mosaic of 4 real CIFAR-10 test photos."""
    x = np.load(cifar_dir / "test-0.npz")["x"][:n]  # (4, 32, 32, 3) uint8
    return np.concatenate([np.concatenate(x[:2], 1), np.concatenate(x[2:4], 1)], 0)


def _mask(w: int, h: int, seed: int) -> np.ndarray:
    """A rectangle plus a stroke, with values 128 (hole) and 127 (known) at its rim."""
    rng = np.random.default_rng(seed)
    m = np.zeros((h, w), np.uint8)
    top, left = rng.integers(2, h // 2), rng.integers(2, w // 2)
    m[top:top + h // 4, left:left + w // 4] = 255
    m[top + h // 4, left:left + w // 4] = 128  # > 127: hole
    m[top - 1, left:left + w // 4] = 127  # not > 127: known
    m[h - 3:h - 1, 1:w // 2] = 200
    return m


@pytest.fixture(scope="module")
def photos(cifar_dir, tmp_path_factory) -> dict:
    """Real photos in five modes and sizes, masks named by LaMa's and IOPaint's rules."""
    root = tmp_path_factory.mktemp("photos")
    images, masks = root / "images", root / "masks"
    images.mkdir()
    masks.mkdir()
    mosaic = Image.fromarray(_tiles(cifar_dir))
    made = {}

    def add(name: str, im: Image.Image, mask_path: Path, seed: int) -> None:
        im.save(images / name)
        Image.fromarray(_mask(*im.size, seed)).save(mask_path)
        made[Path(name).stem] = images / name

    add("rgb.png", mosaic.resize((50, 37), Image.Resampling.BICUBIC), masks / "rgb.png", 1)
    rgba = mosaic.convert("RGBA")
    rgba.putalpha(Image.linear_gradient("L").resize((64, 64)))
    add("rgba.png", rgba, masks / "rgba_mask.png", 2)  # LaMa name, in the mask folder
    gray = mosaic.convert("L").resize((33, 45), Image.Resampling.BILINEAR)
    add("gray.jpg", gray, masks / "gray.png", 3)  # IOPaint: same stem, png mask for a jpg
    g16 = (np.asarray(mosaic.convert("L").resize((40, 40))).astype(np.uint16) * 257
           + np.arange(40, dtype=np.uint16)[None, :])
    add("g16.png", Image.fromarray(g16), images / "g16_mask.png", 4)  # LaMa, beside it
    pal = mosaic.resize((30, 30)).quantize(16)
    add("pal.png", pal, images / "pal_mask001.png", 5)  # LaMa's numbered masks
    shutil.copy(ASSETS / "hopper.png", images / "hopper.png")
    hopper = Image.open(ASSETS / "hopper.png")
    Image.fromarray(_mask(*hopper.size, 6)).save(masks / "hopper.png")
    made["hopper"] = images / "hopper.png"
    return {"images": images, "masks": masks, "made": made}


def _known_and_hole(image: Path, mask: Path, out: Path, mode: str) -> None:
    src = Image.open(image)
    res = Image.open(out)
    assert res.mode == mode and res.size == src.size
    if src.mode == "P":
        src = src.convert("RGB")
    hole = np.asarray(Image.open(mask).convert("L")) > 127
    a, b = np.asarray(src), np.asarray(res)
    assert a.dtype == b.dtype
    assert np.array_equal(a[~hole], b[~hole]), "a known pixel changed"
    filled = b[hole].astype(np.float64)
    if a.ndim == 3 and a.shape[2] == 4:
        assert np.array_equal(a[..., 3], b[..., 3]), "alpha changed"
        filled = b[..., :3][hole].astype(np.float64)
    assert filled.max() > 0, "the hole is still zero"
    assert filled.std() > 0, "the hole is one flat value"


def test_inpaint_folder_of_modes(checkpoint, photos, tmp_path) -> None:
    out = tmp_path / "out"
    assert main(["inpaint", "--model", str(checkpoint), "--image", str(photos["images"]),
                 "--mask", str(photos["masks"]), "--out", str(out), "--device", "cpu"]) == 0
    # mask files beside the images are masks, not images to inpaint
    assert sorted(p.name for p in out.iterdir()) == sorted(f"{s}.png" for s in photos["made"])
    images, masks = photos["images"], photos["masks"]
    expect = {"rgb": ("RGB", masks / "rgb.png"), "rgba": ("RGBA", masks / "rgba_mask.png"),
              "gray": ("L", masks / "gray.png"), "g16": ("I;16", images / "g16_mask.png"),
              "pal": ("RGB", images / "pal_mask001.png"), "hopper": ("RGB", masks / "hopper.png")}
    for stem, (mode, mask) in expect.items():
        _known_and_hole(photos["made"][stem], mask, out / f"{stem}.png", mode)



def test_python_api_matches_the_command(checkpoint, photos, tmp_path) -> None:
    """zoo.load(...).inpaint on in-memory images gives exactly what `zoo inpaint` writes,
    for every mode, with the model named by its folder or its weights file."""
    import zoo

    out = tmp_path / "out"
    assert main(["inpaint", "--model", str(checkpoint.parent), "--image",
                 str(photos["images"]), "--mask", str(photos["masks"]), "--out", str(out),
                 "--device", "cpu"]) == 0
    model = zoo.load(checkpoint, device="cpu")
    images, masks = photos["images"], photos["masks"]
    pairs = {"rgb": masks / "rgb.png", "rgba": masks / "rgba_mask.png",
             "gray": masks / "gray.png", "g16": images / "g16_mask.png",
             "pal": images / "pal_mask001.png", "hopper": masks / "hopper.png"}
    for stem, mask in pairs.items():
        got = model.inpaint(Image.open(photos["made"][stem]), Image.open(mask))
        written = Image.open(out / f"{stem}.png")
        assert got.mode == written.mode and got.size == written.size, stem
        assert np.array_equal(np.asarray(got), np.asarray(written)), stem


def test_grayscale_hole_is_luminance(model) -> None:
    rng = np.random.default_rng(0)
    gray = Picture(rng.integers(0, 256, (24, 20, 1), dtype=np.uint8))
    hole = np.zeros((24, 20), bool)
    hole[5:12, 4:11] = True
    out = inpaint_picture(model, gray, hole)
    pred = predict(model, gray.rgb(), hole)
    lum = np.rint(pred @ np.array([0.299, 0.587, 0.114]) * 255)
    assert np.abs(out.pixels[..., 0][hole].astype(float) - lum[hole]).max() <= 1


def test_generated_masks_are_seeded(checkpoint, photos, tmp_path) -> None:
    src = photos["made"]["rgb"]
    runs = []
    for name, seed in (("a", "7"), ("b", "7"), ("c", "8")):
        assert main(["inpaint", "--model", str(checkpoint), "--image", str(src),
                     "--mask-kind", "square", "--seed", seed, "--out", str(tmp_path / name),
                     "--device", "cpu"]) == 0
        runs.append(np.asarray(Image.open(tmp_path / name / "rgb.png")))
    assert np.array_equal(runs[0], runs[1])
    assert not np.array_equal(runs[0], runs[2])
    w, h = Image.open(src).size
    hole = generated_mask("square", {}, h, w, src.name, seed=7)
    assert 0 < hole.mean() < 0.5
    original = np.asarray(Image.open(src))
    assert np.array_equal(runs[0][~hole], original[~hole])
    assert not np.array_equal(runs[0][hole], original[hole] * 0)


def test_tiling_matches_whole_image_for_a_pointwise_model() -> None:
    class Pointwise(torch.nn.Module):
        multiple = 8  # exercises fit_size's fallback for models without padded_size

        def __init__(self) -> None:
            super().__init__()
            self.mix = torch.nn.Conv2d(4, 3, 1)

        def forward(self, masked, mask):
            assert masked.shape[-1] % 8 == 0 and masked.shape[-2] % 8 == 0
            return torch.sigmoid(self.mix(torch.cat([masked, mask], 1)))

    torch.manual_seed(0)
    model = Pointwise().eval()
    rng = np.random.default_rng(1)
    rgb = rng.random((77, 101, 3), dtype=np.float32)
    hole = rng.random((77, 101)) > 0.7
    whole = predict(model, rgb, hole)
    tiled = predict(model, rgb, hole, tile=24, max_pixels=100, batch_size=3)
    assert whole.shape == tiled.shape == (77, 101, 3)
    np.testing.assert_allclose(tiled, whole, atol=1e-5)


def test_real_photo_tiled_keeps_known_pixels(model) -> None:
    pic = read_image(ASSETS / "hopper.png")
    h, w = pic.pixels.shape[:2]
    hole = np.zeros((h, w), bool)
    hole[40:60, 30:70] = True
    out = inpaint_picture(model, pic, hole, tile=48, max_pixels=1000)
    assert np.array_equal(out.pixels[~hole], pic.pixels[~hole])
    whole = predict(model, pic.rgb(), hole)
    tiled = predict(model, pic.rgb(), hole, tile=48, max_pixels=1000)
    assert np.abs(whole - tiled).mean() < 0.05  # only tile rims see less context


def test_mask_of_wrong_size_writes_nothing(checkpoint, photos, tmp_path) -> None:
    masks = tmp_path / "masks"
    masks.mkdir()
    Image.new("L", (10, 10), 255).save(masks / "rgb.png")
    out = tmp_path / "out"
    with pytest.raises(ZooError, match=r"rgb\.png is 10x10 but its image is 50x37"):
        plan(photos["made"]["rgb"], out, masks)
    assert main(["inpaint", "--checkpoint", str(checkpoint), "--image",
                 str(photos["made"]["rgb"]), "--mask", str(masks), "--out", str(out)]) == 2
    assert not out.exists() or not any(out.iterdir())


def test_unreadable_image_stops_before_any_output(checkpoint, photos, tmp_path) -> None:
    images = tmp_path / "images"
    shutil.copytree(photos["images"], images)
    (images / "zzz_broken.png").write_bytes(b"\x89PNG\r\n\x1a\n not really a png")
    out = tmp_path / "out"
    assert main(["inpaint", "--checkpoint", str(checkpoint), "--image", str(images),
                 "--mask", str(photos["masks"]), "--out", str(out)]) == 2
    with pytest.raises(ZooError, match="cannot read image .*zzz_broken.png"):
        plan(images, out, photos["masks"])
    assert not out.exists() or not any(out.iterdir())


def test_missing_mask_lists_what_was_looked_for(photos, tmp_path) -> None:
    lone = tmp_path / "lone"
    lone.mkdir()
    shutil.copy(photos["made"]["rgb"], lone / "cat.png")
    with pytest.raises(ZooError) as info:
        plan(lone, tmp_path / "out", photos["masks"])
    msg = str(info.value)
    assert "no mask for" in msg and "cat.png" in msg
    for looked in ("masks/cat.png", "masks/cat_mask.{png", "lone/cat_mask.{png",
                   "cat_mask<N>", "--mask-kind"):
        assert looked in msg


def test_one_mask_file_for_all_and_no_overwriting_inputs(checkpoint, photos, tmp_path) -> None:
    images = tmp_path / "images"
    images.mkdir()
    for name in ("a.png", "b.png"):
        shutil.copy(photos["made"]["rgb"], images / name)
    Image.fromarray(_mask(50, 37, 9)).save(images / "hole.png")  # inside the image folder
    jobs = plan(images, tmp_path / "out", images / "hole.png")
    assert [j.image.name for j in jobs] == ["a.png", "b.png"]  # the mask is not an image
    with pytest.raises(ZooError, match="overwrite an input"):
        plan(images, images, images / "hole.png")
    shutil.copy(photos["made"]["rgb"], images / "a.jpg")
    with pytest.raises(ZooError, match="both be written"):
        plan(images, tmp_path / "out", images / "hole.png")


def test_mask_threshold_and_16bit_masks(tmp_path) -> None:
    m8 = np.array([[0, 127, 128, 255]], np.uint8)
    Image.fromarray(m8).save(tmp_path / "m8.png")
    assert read_mask(tmp_path / "m8.png").tolist() == [[False, False, True, True]]
    m16 = np.array([[0, 127 * 257, 128 * 257, 65535]], np.uint16)
    Image.fromarray(m16).save(tmp_path / "m16.png")
    assert read_mask(tmp_path / "m16.png").tolist() == [[False, False, True, True]]


def test_atomic_write_leaves_no_partial_file(tmp_path) -> None:
    class Failing:
        def save(self, path, **kw):
            Path(path).write_bytes(b"half a png")
            raise OSError("disk full")

    with pytest.raises(ZooError, match=r"writing .*x\.png failed \(disk full\)"):
        save_png_atomic(Failing(), tmp_path / "x.png")
    assert list(tmp_path.iterdir()) == []


def test_trial_id_from_leaderboard(checkpoint, photos, tmp_path) -> None:
    from zoo.leaderboard import Leaderboard

    db = tmp_path / "lb.sqlite"
    config = TrainConfig(dataset="synthetic").to_dict()
    Leaderboard(db).record_trial("s1", "abc123_00000", "completed",
                                 {"checkpoint": str(checkpoint), "config": config}, config)
    out = tmp_path / "out"
    assert main(["inpaint", "--trial", "abc1", "--db", str(db), "--image",
                 str(photos["made"]["rgb"]), "--mask", str(photos["masks"] / "rgb.png"),
                 "--out", str(out)]) == 0
    assert (out / "rgb.png").exists()
    assert main(["inpaint", "--trial", "nope", "--db", str(db), "--image",
                 str(photos["made"]["rgb"]), "--mask-kind", "square", "--out", str(out)]) == 2


def test_inference_does_not_import_the_trainer(checkpoint: Path) -> None:
    """``zoo.load`` and ``inpaint`` use zoo.device and zoo.evaluate's neighbours, never
    zoo.train: a fresh interpreter loads a model, fills a hole, and has no trainer."""
    script = (
        "import sys\nimport numpy as np\nimport zoo, zoo.api\n"
        f"model = zoo.load({str(checkpoint)!r}, device='cpu')\n"
        "image = np.full((40, 40, 3), 128, np.uint8)\nmask = np.zeros((40, 40), bool)\n"
        "mask[10:20, 10:20] = True\nout = model.inpaint(image, mask)\n"
        "assert out.shape == image.shape and (out[~mask] == 128).all()\n"
        "model.to('cpu')\n"
        "print(sorted(m for m in sys.modules if m in ('zoo.train', 'zoo.tune', 'ray')))\n")
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                          timeout=300)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip().splitlines()[-1] == "[]"
