"""Datasets other than CIFAR-10: any folder of images, and synthetic images for tests."""

from __future__ import annotations

import math
import os
from pathlib import Path

import numpy as np
import torch

from zoo.data._splits import Splits
from zoo.errors import ZooError

EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp", ".webp", ".tif", ".tiff", ".gif", ".ppm")
FRACTIONS = (0.90, 0.05, 0.05)  # train / val / test, by file


def list_images(root: Path) -> list[Path]:
    """Image files under ``root`` (recursively), sorted so the split is reproducible."""
    return sorted(p for p in root.rglob("*") if p.is_file() and p.suffix.lower() in EXTENSIONS)


def _crop(path: Path, size: int, rng: np.random.Generator, n: int = 1) -> np.ndarray:
    """``n`` random ``size`` x ``size`` crops (n, H, W, C uint8); smaller images are scaled up
    first so their shorter side is ``size``."""
    from PIL import Image

    from zoo._images import open_image

    try:
        with open_image(path) as im:
            im = im.convert("RGB")
            w, h = im.size
            if min(w, h) < size:
                scale = size / min(w, h)
                w, h = max(size, math.ceil(w * scale)), max(size, math.ceil(h * scale))
                im = im.resize((w, h), Image.Resampling.BICUBIC)
            out = []
            for _ in range(n):
                top = int(rng.integers(0, h - size + 1))
                left = int(rng.integers(0, w - size + 1))
                out.append(np.asarray(im.crop((left, top, left + size, top + size)),
                                      dtype=np.uint8))
            return np.stack(out)
    except OSError as exc:
        raise ZooError(f"cannot read image {path}: {exc}; remove it or fix it") from None


def load_folder(data_dir: str | os.PathLike | None, size: int = 32, seed: int = 0,
                crops: int = 1) -> Splits:
    """A folder of images, split 90/5/5 by file (so no photo is in two splits), ``crops``
    random ``size`` crops per file.

    Files are shuffled and cropped with ``seed``, so the same folder and seed give the same
    splits. At least 3 images are needed (one per split).
    """
    if data_dir in (None, ""):
        raise ZooError("the folder dataset needs a folder of images: pass --data DIR "
                       "(or set data_dir in the config)")
    root = Path(data_dir).expanduser().resolve()
    if not root.is_dir():
        raise ZooError(f"image folder {root} does not exist; pass --data DIR with images "
                       f"({', '.join(EXTENSIONS)})")
    files = list_images(root)
    if len(files) < 3:
        raise ZooError(f"image folder {root} has {len(files)} image(s); the folder dataset "
                       f"needs at least 3 (one each for train, val and test) with extensions "
                       f"{', '.join(EXTENSIONS)}")
    rng = np.random.default_rng(seed)
    order = rng.permutation(len(files))
    n_val = max(1, round(FRACTIONS[1] * len(files)))
    n_test = max(1, round(FRACTIONS[2] * len(files)))
    n_train = len(files) - n_val - n_test
    pixels = np.concatenate([_crop(files[i], size, rng, crops) for i in order])  # (N*c,s,s,3)
    x = torch.from_numpy(pixels).permute(0, 3, 1, 2).contiguous()
    a, b = n_train * crops, (n_train + n_val) * crops
    return Splits(train=x[:a], val=x[a:b], test=x[b:])


def _smooth_images(n: int, size: int, generator: torch.Generator) -> torch.Tensor:
    """Random gradients plus a few coloured Gaussian blobs: smooth, so inpaintable."""
    coords = torch.linspace(0, 1, size)
    yy, xx = coords.view(1, 1, size, 1), coords.view(1, 1, 1, size)
    base = torch.rand(n, 3, 1, 1, generator=generator)
    gy = torch.rand(n, 3, 1, 1, generator=generator) - 0.5
    gx = torch.rand(n, 3, 1, 1, generator=generator) - 0.5
    img = base + gy * yy + gx * xx  # (n, 3, size, size)
    blobs = 3
    centre = torch.rand(n, blobs, 2, generator=generator)
    radius = 0.08 + 0.2 * torch.rand(n, blobs, generator=generator)
    colour = torch.rand(n, blobs, 3, generator=generator) - 0.5
    for k in range(blobs):  # a few blobs; vectorised over images
        d2 = (yy - centre[:, k, 0].view(n, 1, 1, 1)) ** 2 + (xx - centre[:, k, 1].view(n, 1, 1, 1)) ** 2
        weight = torch.exp(-d2 / (2 * radius[:, k].view(n, 1, 1, 1) ** 2))
        img = img + weight * colour[:, k].view(n, 3, 1, 1)
    return (img.clamp(0, 1) * 255).round().to(torch.uint8).contiguous()


def synthetic_splits(n_train: int = 256, n_val: int = 64, n_test: int = 64, size: int = 32,
                     seed: int = 0) -> Splits:
    """Small smooth random images for tests and smoke runs. Each split has its own stream,
    so changing ``n_train`` leaves val and test unchanged."""
    splits = []
    for k, n in enumerate((n_train, n_val, n_test)):
        g = torch.Generator().manual_seed(seed * 3 + k)
        splits.append(_smooth_images(n, size, g))
    return Splits(*splits)

