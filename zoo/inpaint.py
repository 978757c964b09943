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
overlapping tiles when large, and cropped back; the model runs only on windows around the
hole, with the margin its receptive field needs (measured: ``zoo._windows``), so a photo
costs what its holes cost.
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

# the reading side lives in zoo._picture; its names stay importable from here
from zoo._picture import (MASK_THRESHOLD, Picture, mask_hole, open_decoded,  # noqa: F401
                          picture_from_pil, read_image, read_mask)
from zoo.data.folder import EXTENSIONS
from zoo.errors import ZooError
from zoo._fullpass import (DEFAULT_TILE, MAX_PIXELS, MULTISCALE_MIN_SIDE,  # noqa: F401
                           MULTISCALE_REACH, TILE_OVERLAP, _depth, _pad, fit_size,
                           multiscale_full, predict_full)

GENERATED_SEED = 2024

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


# ---- running the model (on hole windows: zoo._predict; the full pass: zoo._fullpass) --------


def predict(model: torch.nn.Module, rgb: np.ndarray, hole: np.ndarray, *,
            batch_size: int = 4, tile: int = DEFAULT_TILE, max_pixels: int = MAX_PIXELS,
            _full: bool = False) -> np.ndarray:
    """The model's output (H, W, 3) float32 in the hole of ``rgb`` (H, W, 3) in 0..1 with
    ``hole`` (H, W) bool, at any size: padded to a size the model takes, tiled above
    ``max_pixels``, as one full pass would give it; the model runs only on windows around
    the hole (``zoo._windows``; one window at a time, so ``batch_size`` only batches the
    full pass's tiles), and pixels outside the hole are ``rgb``'s. ``_full``: the model
    over every pixel (the reference path; its known pixels are the model's output)."""
    if _full:
        return predict_full(model, rgb, hole, batch_size=batch_size, tile=tile,
                            max_pixels=max_pixels)
    from zoo._predict import dense, predict_sparse

    return dense(rgb, predict_sparse(model, rgb, hole, tile=tile, max_pixels=max_pixels))


def predict_multiscale(model: torch.nn.Module, rgb: np.ndarray, hole: np.ndarray, *,
                       reach: float = MULTISCALE_REACH, batch_size: int = 4,
                       tile: int = DEFAULT_TILE, max_pixels: int = MAX_PIXELS,
                       _full: bool = False) -> np.ndarray:
    """Coarse to fine: a model trained on small images fills holes well only within a few
    pixels of known ones (its training holes are ~11 px wide). The image is halved (known
    pixels averaged) until no hole pixel is more than ``reach`` px from a known one; the
    model fills that level; at each finer level its own fill is kept within ``reach`` px
    of known pixels and the upsampled coarser fill is used deeper inside, blended
    linearly in between. Thin holes (scratches) never leave full resolution. Every level
    runs the model on hole windows only (``_full``: over every pixel, the reference).
    -> (H, W, 3) float32 in 0..1; known pixels are the input's."""
    if _full:
        return multiscale_full(model, rgb, hole, reach=reach, batch_size=batch_size,
                               tile=tile, max_pixels=max_pixels)
    from zoo._predict import dense, multiscale_sparse

    return dense(rgb, multiscale_sparse(model, rgb, hole, reach=reach, tile=tile,
                                        max_pixels=max_pixels))


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
                    max_pixels: int = MAX_PIXELS, multiscale: bool = True,
                    seam: str = "none", _full: bool = False) -> Picture:
    """Inpaint one in-memory picture; an empty hole returns it unchanged. ``multiscale``
    fills large holes coarse to fine (``predict_multiscale``); off, one pass at full size.
    ``seam="poisson"`` blends the fill into the photo at the end (``zoo.seam``).
    The model runs on hole windows only, and only hole pixels are computed (``_full``: the
    full pass over every pixel, kept as the reference)."""
    if hole.shape != picture.pixels.shape[:2]:
        raise ZooError(f"mask is {hole.shape[1]}x{hole.shape[0]} but the image is "
                       f"{picture.pixels.shape[1]}x{picture.pixels.shape[0]}")
    if not hole.any():
        return picture
    if _full:
        fill = multiscale_full if multiscale else predict_full
        pred = fill(model, picture.rgb(), hole, batch_size=batch_size, tile=tile,
                    max_pixels=max_pixels)
        ys, xs = np.nonzero(hole)
        vals = pred[ys, xs]
    else:
        from zoo._predict import multiscale_sparse, predict_sparse

        fill = multiscale_sparse if multiscale else predict_sparse
        ys, xs, vals = fill(model, picture, hole, tile=tile, max_pixels=max_pixels)
    if not np.isfinite(vals).all():  # a broken model would paint black holes
        raise ZooError("the model predicted NaN or inf in the hole: its weights are broken "
                       "(did training diverge?), so nothing was written")
    from zoo.seam import check_seam, seam_sparse

    if check_seam(seam) == "poisson":
        vals = seam_sparse(picture, hole, ys, xs, vals)
    return _composite_at(picture, ys, xs, vals)


def _composite_at(picture: Picture, ys: np.ndarray, xs: np.ndarray,
                  vals: np.ndarray) -> Picture:
    """``composite`` from the hole pixels' values alone (N, 3): no full-size float copy."""
    if picture.pixels.shape[2] == 1:
        vals = (vals @ np.array([0.299, 0.587, 0.114], dtype=np.float32))[..., None]
    pixels = picture.pixels.copy()
    pixels[ys, xs] = np.rint(np.clip(vals, 0, 1) * picture.max_value).astype(pixels.dtype)
    return Picture(pixels, picture.alpha)


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
                  batch_size: int = 4, tile: int = DEFAULT_TILE, seam: str = "none",
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
        result = inpaint_picture(model, picture, hole, batch_size=batch_size, tile=tile,
                                 seam=seam)
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
