"""Inpaint image files with a trained model: masks found by name, any size, any mode.

Masks are matched to images by file stem, following LaMa and IOPaint:

- ``photo.png`` with ``photo_mask.png`` (or one ``photo_mask000.png``) beside it or in the
  mask folder (LaMa);
- the same file name (or the same stem with any image extension) in a mask folder (IOPaint);
- one mask file for every image, or masks generated with a registered kind (seeded).

White (> 127) marks the hole, or 1 in a mask of only 0s and 1s (``mask_hole``, the rule
``zoo.load(...).inpaint`` applies to arrays too); an image whose mask marks no pixel is
skipped. Images keep their size and, where a PNG can hold it, their
mode: RGB stays RGB, RGBA keeps its alpha, L and 16-bit grayscale stay grayscale (the
prediction's luminance fills the hole). Known pixels are copied from the input bit for bit.
Each image is padded (reflect) to the nearest size the model takes, or cut into
overlapping tiles when large, and cropped back.
"""

from __future__ import annotations

import re
import zlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

# the reading side lives in zoo._picture; its names stay importable from here
from zoo._picture import (MASK_THRESHOLD, Picture, mask_hole, open_decoded,  # noqa: F401
                          picture_from_pil, read_image, read_mask)
from zoo.data.folder import EXTENSIONS
from zoo.errors import ZooError
from zoo.model._fill import known_mean_pool

DEFAULT_TILE = 512  # tile side for large images; U-Net activations at 512^2 fit any machine
MAX_PIXELS = 1024 * 1024  # images above this are tiled instead of run whole
TILE_OVERLAP = 64  # pixels shared by neighbouring tiles, blended linearly
GENERATED_SEED = 2024
MULTISCALE_REACH = 4.0  # px from known pixels that a model trained on 32x32 fills well
MULTISCALE_MIN_SIDE = 4  # never halve an image below this side


@dataclass
class Job:
    """One image to inpaint: where it is, its mask file (None: generated), where it goes."""

    image: Path
    mask: Path | None
    out: Path
    size: tuple[int, int]  # (width, height) after EXIF rotation
    has_hole: bool = True  # False: its mask file marks no pixel; skipped


# ---- reading (files and masks as stored: zoo._picture) ----------------------------------------


def generated_mask(kind: str, args: dict[str, Any] | None, h: int, w: int, name: str,
                   seed: int = GENERATED_SEED) -> np.ndarray:
    """A mask from the registered generator ``kind``; seeded by ``seed`` and the file name,
    so an image gets the same hole however many others are processed with it."""
    from zoo.masks import make_masks

    gen = torch.Generator().manual_seed(seed + zlib.crc32(name.encode()))
    return make_masks(kind, args, 1, h, w, generator=gen)[0, 0].numpy() > 0.5


# ---- matching images and masks --------------------------------------------------------------


def _is_image(p: Path) -> bool:
    return p.is_file() and p.suffix.lower() in EXTENSIONS and not p.name.startswith(".")


_MASK_NAME = re.compile(r"^(?P<stem>.+)_mask\d*$")


def find_images(path: str | Path, exclude: Sequence[Path] = ()) -> list[Path]:
    """The image file, or the images in a folder (not recursive), leaving out LaMa-style
    masks (``x_mask.png`` when ``x.*`` is an image there) and ``exclude``."""
    path = Path(path)
    if path.is_file():
        return [path]
    if not path.is_dir():
        raise ZooError(f"--image {path} does not exist; give an image file or a folder of "
                       f"images ({', '.join(EXTENSIONS)})")
    files = sorted(p for p in path.iterdir() if _is_image(p))
    stems = {p.stem for p in files}
    skip = {Path(e).resolve() for e in exclude}
    images = [p for p in files if p.resolve() not in skip and not (
        (m := _MASK_NAME.match(p.stem)) and m["stem"] in stems)]
    if not images:
        raise ZooError(f"no images in {path}; looked for files ending in {', '.join(EXTENSIONS)}")
    return images


def _listing(folder: Path, cache: dict[Path, dict[str, Path]]) -> dict[str, Path]:
    key = folder.resolve()
    if key not in cache:
        cache[key] = ({p.name.lower(): p for p in folder.iterdir() if p.is_file()}
                      if folder.is_dir() else {})
    return cache[key]


def find_mask(image: Path, mask_dir: Path | None = None,
              cache: dict[Path, dict[str, Path]] | None = None) -> Path:
    """The mask of ``image`` by the LaMa / IOPaint conventions; a ZooError lists every name
    that was looked for when there is none, or the candidates when there are several."""
    cache = {} if cache is None else cache
    exts = "{" + ",".join(e.lstrip(".") for e in EXTENSIONS) + "}"
    rules: list[tuple[str, list[Path]]] = []
    folders = [image.parent]
    if mask_dir is not None and mask_dir.resolve() != image.parent.resolve():
        files = _listing(mask_dir, cache)
        same = [files[image.name.lower()]] if image.name.lower() in files else []
        rules.append((str(mask_dir / image.name), same))
        rules.append((str(mask_dir / f"{image.stem}.{exts}"),
                      [files[f"{image.stem}{e}".lower()] for e in EXTENSIONS
                       if f"{image.stem}{e}".lower() in files]))
        folders.insert(0, mask_dir)
    for folder in folders:
        files = _listing(folder, cache)
        rules.append((str(folder / f"{image.stem}_mask.{exts}"),
                      [files[f"{image.stem}_mask{e}".lower()] for e in EXTENSIONS
                       if f"{image.stem}_mask{e}".lower() in files]))
        numbered = re.compile(re.escape(image.stem.lower()) + r"_mask\d+$")
        rules.append((str(folder / f"{image.stem}_mask<N>.{exts}"),
                      sorted(p for name, p in files.items()
                             if numbered.match(Path(name).stem) and
                             Path(name).suffix in EXTENSIONS)))
    for _, found in rules:
        if len(found) == 1:
            return found[0]
        if len(found) > 1:
            raise ZooError(f"several masks fit {image}: {', '.join(map(str, found))}; keep one, "
                           "or pass --mask FILE")
    looked = "\n  ".join(pattern for pattern, _ in rules)
    raise ZooError(f"no mask for {image}; looked for:\n  {looked}\npass --mask FILE (one mask "
                   "for all images) or --mask DIR, or generate holes with --mask-kind")


def plan(image: str | Path, out_dir: str | Path, mask: str | Path | None = None, *,
         generate: bool = False) -> list[Job]:
    """Match every image with its mask and check them all (readable, same size, no output
    overwriting an input) before anything is written. ``mask`` is a file (used for every
    image), a folder, or None (``<stem>_mask`` beside each image); ``generate``: no files."""
    image, out_dir = Path(image), Path(out_dir)
    mask_path = Path(mask) if mask is not None else None
    if mask_path is not None and not mask_path.exists():
        raise ZooError(f"--mask {mask_path} does not exist; give a mask file or folder")
    one_mask = mask_path if mask_path is not None and mask_path.is_file() else None
    mask_dir = mask_path if mask_path is not None and mask_path.is_dir() else None
    images = find_images(image, exclude=[one_mask] if one_mask else [])
    cache: dict[Path, dict[str, Path]] = {}
    jobs, outputs = [], {}
    for img in images:
        out = out_dir / f"{img.stem}.png"
        if out.resolve() in outputs:
            raise ZooError(f"{img} and {outputs[out.resolve()]} would both be written to {out}; "
                           "rename one (outputs are named by file stem)")
        outputs[out.resolve()] = img
        size = open_decoded(img, "image").size
        m = None if generate else one_mask or find_mask(img, mask_dir, cache)
        # validates readability and size now, before any output
        has_hole = m is None or bool(read_mask(m, size).any())
        jobs.append(Job(img, m, out, size, has_hole))
    if jobs and not any(j.has_hole for j in jobs):
        masks = ", ".join(sorted({str(j.mask) for j in jobs})[:3])
        raise ZooError(f"mask {masks} marks no hole pixel, so there is nothing to inpaint; a "
                       "hole is white (> 127), or 1 in a mask of only 0s and 1s")
    inputs = {p.resolve() for j in jobs for p in (j.image, j.mask) if p is not None}
    for j in jobs:
        if j.out.resolve() in inputs:
            raise ZooError(f"writing {j.out} would overwrite an input file; choose another --out")
    return jobs


# ---- running the model ----------------------------------------------------------------------


def fit_size(model: torch.nn.Module, h: int, w: int) -> tuple[int, int]:
    """The smallest size at or above h x w that ``model`` takes."""
    padded = getattr(model, "padded_size", None)
    if callable(padded):
        return tuple(padded(h, w))  # type: ignore[return-value]
    m = int(getattr(model, "multiple", 1))
    return -(-h // m) * m, -(-w // m) * m


def _pad(x: torch.Tensor, ph: int, pw: int) -> torch.Tensor:
    """Pad bottom/right by (ph, pw); reflect where the image is large enough, else replicate."""
    if not (ph or pw):
        return x
    mode = "reflect" if ph < x.shape[-2] and pw < x.shape[-1] else "replicate"
    return F.pad(x, (0, pw, 0, ph), mode=mode)


def _starts(length: int, tile: int, overlap: int) -> list[int]:
    if length <= tile:
        return [0]
    step = max(1, tile - overlap)
    starts = list(range(0, length - tile, step))
    return starts + [length - tile]


def _ramp(n: int, overlap: int) -> torch.Tensor:
    """Blend weights along one tile side: rising over ``overlap`` pixels at both ends."""
    i = torch.arange(n, dtype=torch.float32)
    return torch.minimum(i + 1, n - i).div(max(1, overlap)).clamp(1e-3, 1.0)


@torch.no_grad()
def predict(model: torch.nn.Module, rgb: np.ndarray, hole: np.ndarray, *,
            batch_size: int = 4, tile: int = DEFAULT_TILE,
            max_pixels: int = MAX_PIXELS) -> np.ndarray:
    """The model's output (H, W, 3) float32 for ``rgb`` (H, W, 3) in 0..1 with ``hole``
    (H, W) bool, at any size: padded to a size the model takes, tiled above ``max_pixels``."""
    device = next(model.parameters()).device
    h, w = hole.shape
    m = torch.from_numpy(np.ascontiguousarray(hole)).float()[None, None]  # (1, 1, H, W)
    x = torch.from_numpy(np.ascontiguousarray(rgb)).permute(2, 0, 1)[None].float() * (1 - m)
    th, tw = fit_size(model, h, w)
    x, m = _pad(x, th - h, tw - w), _pad(m, th - h, tw - w)  # (1, C, th, tw)
    if th * tw <= max_pixels:
        out = model(x.to(device), m.to(device)).float().cpu()
        return out[0, :, :h, :w].clamp(0, 1).permute(1, 2, 0).numpy()
    side_h, side_w = fit_size(model, min(tile, th), min(tile, tw))
    side_h, side_w = min(side_h, th), min(side_w, tw)
    overlap = min(TILE_OVERLAP, side_h // 4, side_w // 4)
    boxes = [(r, c) for r in _starts(th, side_h, overlap) for c in _starts(tw, side_w, overlap)]
    weight = _ramp(side_h, overlap)[:, None] * _ramp(side_w, overlap)[None, :]  # (sh, sw)
    acc = torch.zeros(3, th, tw)
    norm = torch.zeros(1, th, tw)
    for i in range(0, len(boxes), batch_size):
        chunk = boxes[i:i + batch_size]
        xs = torch.cat([x[..., r:r + side_h, c:c + side_w] for r, c in chunk])
        ms = torch.cat([m[..., r:r + side_h, c:c + side_w] for r, c in chunk])
        out = model(xs.to(device), ms.to(device)).float().cpu()  # (b, 3, sh, sw)
        for (r, c), o in zip(chunk, out):
            acc[:, r:r + side_h, c:c + side_w] += o * weight
            norm[:, r:r + side_h, c:c + side_w] += weight
    out = acc / norm
    return out[:, :h, :w].clamp(0, 1).permute(1, 2, 0).numpy()


def _depth(hole: np.ndarray) -> np.ndarray:
    """Distance (px) of each hole pixel to the nearest known pixel; 0 on known pixels."""
    import cv2

    return cv2.distanceTransform(hole.astype(np.uint8), cv2.DIST_L2, 5)


@torch.no_grad()
def predict_multiscale(model: torch.nn.Module, rgb: np.ndarray, hole: np.ndarray, *,
                       reach: float = MULTISCALE_REACH, batch_size: int = 4,
                       tile: int = DEFAULT_TILE, max_pixels: int = MAX_PIXELS) -> np.ndarray:
    """Coarse to fine: a model trained on small images fills holes well only within a few
    pixels of known ones (its training holes are ~11 px wide). The image is halved (known
    pixels averaged) until no hole pixel is more than ``reach`` px from a known one; the
    model fills that level; at each finer level its own fill is kept within ``reach`` px
    of known pixels and the upsampled coarser fill is used deeper inside, blended
    linearly in between. Thin holes (scratches) never leave full resolution.
    -> (H, W, 3) float32 in 0..1; known pixels are the input's."""
    x = torch.from_numpy(np.ascontiguousarray(rgb)).permute(2, 0, 1)[None].float()
    known = torch.from_numpy(~np.ascontiguousarray(hole))[None, None].float()
    levels = [(x, known)]
    while True:
        lx, lk = levels[-1]
        depth = _depth(lk[0, 0].numpy() < 0.5)
        if depth.max() <= reach or min(lx.shape[-2:]) < 2 * MULTISCALE_MIN_SIDE:
            break
        levels.append(known_mean_pool(lx, lk))
    filled = None
    for lx, lk in reversed(levels):
        lhole = lk[0, 0].numpy() < 0.5
        pred = torch.from_numpy(predict(model, lx[0].permute(1, 2, 0).numpy(), lhole,
                                        batch_size=batch_size, tile=tile,
                                        max_pixels=max_pixels)).permute(2, 0, 1)[None]
        if filled is not None:  # blend with the coarser level's fill, deeper in the hole
            up = F.interpolate(filled, size=lx.shape[-2:], mode="bilinear", align_corners=False)
            depth = torch.from_numpy(_depth(lhole))[None, None]
            trust = ((reach - depth) / (reach / 2)).clamp(0, 1)  # 1 near known, 0 at reach
            pred = trust * pred + (1 - trust) * up
        filled = lx * lk + pred * (1 - lk)  # (1, 3, h, w)
    return filled[0].clamp(0, 1).permute(1, 2, 0).numpy()


def composite(picture: Picture, prediction: np.ndarray, hole: np.ndarray) -> Picture:
    """``picture`` with its hole replaced by ``prediction`` (H, W, 3) in 0..1, quantised to
    the picture's bit depth; grayscale takes the prediction's luminance (ITU-R 601, as
    Pillow converts RGB to L). Known pixels are the input's, untouched."""
    pred = prediction
    if picture.pixels.shape[2] == 1:
        pred = (pred @ np.array([0.299, 0.587, 0.114], dtype=np.float32))[..., None]
    q = np.rint(np.clip(pred, 0, 1) * picture.max_value).astype(picture.pixels.dtype)
    pixels = np.where(hole[..., None], q, picture.pixels)
    return Picture(pixels, picture.alpha)


def inpaint_picture(model: torch.nn.Module, picture: Picture, hole: np.ndarray, *,
                    batch_size: int = 4, tile: int = DEFAULT_TILE,
                    max_pixels: int = MAX_PIXELS, multiscale: bool = True) -> Picture:
    """Inpaint one in-memory picture; an empty hole returns it unchanged. ``multiscale``
    fills large holes coarse to fine (``predict_multiscale``); off, one pass at full size."""
    if hole.shape != picture.pixels.shape[:2]:
        raise ZooError(f"mask is {hole.shape[1]}x{hole.shape[0]} but the image is "
                       f"{picture.pixels.shape[1]}x{picture.pixels.shape[0]}")
    if not hole.any():
        return picture
    fill = predict_multiscale if multiscale else predict
    pred = fill(model, picture.rgb(), hole, batch_size=batch_size, tile=tile,
                max_pixels=max_pixels)
    if not np.isfinite(pred[hole]).all():  # a broken model would paint black holes
        raise ZooError("the model predicted NaN or inf in the hole: its weights are broken "
                       "(did training diverge?), so nothing was written")
    return composite(picture, pred, hole)


def job_hole(job: Job, mask_kind: str | None = None, mask_args: dict[str, Any] | None = None,
             seed: int = GENERATED_SEED) -> np.ndarray:
    """The hole of ``job``: its mask file, or a generated ``mask_kind`` mask."""
    if job.mask is not None:
        return read_mask(job.mask, job.size)
    if mask_kind is None:
        raise ZooError(f"{job.image} has no mask file; pass --mask or --mask-kind")
    w, h = job.size
    return generated_mask(mask_kind, mask_args, h, w, job.image.name, seed)


def inpaint_files(model: torch.nn.Module, jobs: Sequence[Job], *, mask_kind: str | None = None,
                  mask_args: dict[str, Any] | None = None, seed: int = GENERATED_SEED,
                  batch_size: int = 4, tile: int = DEFAULT_TILE,
                  on_image: Callable[[Job, Path], None] | None = None) -> list[Path]:
    """Inpaint each job (from ``plan``) with a hole and write ``job.out`` as a PNG,
    atomically."""
    from zoo.viz import save_png_atomic

    if mask_kind is not None:  # an unknown kind or bad args fail before the first image
        generated_mask(mask_kind, mask_args, 8, 8, "check", seed)
    written = []
    for job in (j for j in jobs if j.has_hole):  # ``plan`` found no hole in the others
        picture = read_image(job.image)
        hole = job_hole(job, mask_kind, mask_args, seed)
        result = inpaint_picture(model, picture, hole, batch_size=batch_size, tile=tile)
        path = save_png_atomic(result.to_pil(), job.out)
        written.append(path)
        if on_image is not None:
            on_image(job, path)
    return written


def resolve_checkpoint(checkpoint: str | Path | None = None, trial: str | None = None, *,
                       storage: str | Path | None = None, db: str | Path | None = None) -> Path:
    """The model folder named by ``checkpoint`` (a folder, a file in it, a trial id or a Hub
    id: ``zoo.modelfolder.refs.resolve_model``) or by ``trial`` (a leaderboard trial id only)."""
    from zoo.modelfolder.refs import resolve_model, resolve_trial

    if (checkpoint is None) == (trial is None):
        raise ZooError("give exactly one model: --model REF (or --checkpoint / --trial)")
    if checkpoint is not None:
        return resolve_model(checkpoint, storage=storage, db=db)
    return resolve_trial(str(trial), storage=storage, db=db)
