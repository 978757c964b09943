"""The Inpaint tab's work, with no Gradio in it: a client's photo and hole in, PNG files
out, through the functions `zoo inpaint` calls (``zoo.inpaint.inpaint_picture`` for the
models, coarse to fine, and ``zoo.baselines.fill_picture`` for Telea), so a page or an API
call gets the guarantees of the command: same size, known pixels bit for bit, alpha and
grayscale kept. Every problem a client can cause is a ZooError with a message for it.
"""

from __future__ import annotations

import re
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

from zoo.errors import ZooError

BASELINE = "telea"  # the classical fill shown beside every model's


def check_size(path: str | Path, max_pixels: int, what: str = "photo") -> tuple[int, int]:
    """(width, height) read from the file's header, before anything is decoded; a file
    Pillow cannot open, or one above ``max_pixels``, is a ZooError saying so."""
    from PIL import Image, UnidentifiedImageError

    name = Path(path).name
    try:
        with Image.open(path) as im:
            w, h = im.size
    except (UnidentifiedImageError, OSError, ValueError):
        raise ZooError(f"cannot read the {what} '{name}': it is not an image file Pillow can "
                       "open (PNG, JPEG, WebP, TIFF, ...)") from None
    except Image.DecompressionBombError:
        w, h = max_pixels + 1, 1  # Pillow refused even the header: far too large
    check_pixels(w, h, max_pixels, f"the {what} '{name}'")
    return w, h


def check_pixels(w: int, h: int, max_pixels: int, what: str) -> None:
    """A ZooError naming ``what`` when a w x h image is above this server's limit."""
    if w * h > max_pixels:
        raise ZooError(f"{what} is {w}x{h} = {w * h:,} pixels, more than this server takes "
                       f"({max_pixels:,}, its --max-pixels); shrink it first")


def open_photo(path: str | Path | None, max_pixels: int) -> Any:
    """The uploaded photo as a ``zoo.inpaint.Picture`` (any mode, EXIF rotation applied)."""
    from zoo.inpaint import read_image

    if not path:
        raise ZooError("no photo: upload one first (any size and mode)")
    check_size(path, max_pixels)
    return read_image(path)


def editor_picture(background: Any, max_pixels: int) -> Any:
    """The photo as the editor holds it, (H, W, 4) uint8 RGBA from the browser, as a
    ``Picture``: RGB when it is opaque everywhere, else RGB with its alpha."""
    from zoo.inpaint import Picture

    if background is None:
        raise ZooError("no photo: drop one on the editor (or click it to upload), then "
                       "paint the hole")
    a = np.asarray(background)
    if a.ndim != 3 or a.shape[2] != 4 or a.dtype != np.uint8:
        raise ZooError(f"the editor sent an image of shape {a.shape}; upload the photo again")
    h, w = a.shape[:2]
    check_pixels(w, h, max_pixels, "the photo")
    alpha = a[..., 3]
    rgb = np.ascontiguousarray(a[..., :3])
    return Picture(rgb) if alpha.min() == 255 else Picture(rgb, np.ascontiguousarray(alpha))


def painted_hole(layers: list[Any] | None, size: tuple[int, int]) -> np.ndarray:
    """The hole the brush painted: every pixel that any editor layer (H, W, 4) covers.
    ``size`` is the photo's (height, width)."""
    hole = np.zeros(size, bool)
    for layer in layers or []:
        a = np.asarray(layer)
        if a.ndim != 3 or a.shape[2] != 4:
            continue
        if a.shape[:2] != tuple(size):
            raise ZooError(f"the painted layer is {a.shape[1]}x{a.shape[0]} but the photo is "
                           f"{size[1]}x{size[0]}; upload the photo again and paint on it")
        hole |= a[..., 3] > 0
    return hole


def hole_of(picture: Any, mask_path: str | Path | None, layers: list[Any] | None,
            max_pixels: int) -> np.ndarray:
    """The hole: the uploaded mask file if there is one (white = hole, the rule of mask
    files), else what the brush painted; no hole pixel at all is a ZooError."""
    from zoo.inpaint import read_mask

    h, w = picture.pixels.shape[:2]
    if mask_path:
        mw, mh = check_size(mask_path, max_pixels, "mask")
        if (mw, mh) != (w, h):
            raise ZooError(f"the mask '{Path(mask_path).name}' is {mw}x{mh} but the photo is "
                           f"{w}x{h}; a mask must have its photo's size")
        hole = read_mask(mask_path, (w, h))
        where = "the mask marks no hole pixel (a hole is white, > 127, or 1 in a mask of 0s and 1s)"
    else:
        hole = painted_hole(layers, (h, w))
        where = "no hole painted: paint over what to remove with the brush, or upload a mask"
    if not hole.any():
        raise ZooError(f"nothing to inpaint: {where}")
    return hole


def safe_name(text: str | None, default: str = "photo") -> str:
    """``text`` made only of letters, digits, '-', '_' and '.', not starting with a dot
    (a client's file or model name never picks where the server writes)."""
    name = re.sub(r"[^A-Za-z0-9._-]+", "_", str(text or "")).strip("._")
    return name[:64] or default


def safe_stem(filename: str | Path | None, default: str = "photo") -> str:
    """The stem of a client's file name, made safe by ``safe_name``."""
    return safe_name(Path(str(filename)).stem if filename else None, default)


def fill(catalog: Any, picture: Any, hole: np.ndarray, names: list[str], stem: str,
         out_root: Path, *, baseline: bool = True) -> list[tuple[str, str]]:
    """Each named model's fill, then Telea's (with ``baseline``), as PNGs in a fresh folder
    under ``out_root``: ``[(path, caption), ...]``. Names are checked before any work."""
    from zoo.baselines import fill_picture
    from zoo.inpaint import inpaint_picture
    from zoo.viz import save_png_atomic

    names = [catalog.check(n) for n in (names or [None])]
    models = [(n, catalog.get(n)) for n in dict.fromkeys(names)]
    out_dir = Path(tempfile.mkdtemp(prefix="fill-", dir=out_root))
    results = [(name, inpaint_picture(model.net, picture, hole)) for name, model in models]
    if baseline:
        results.append((BASELINE, fill_picture(BASELINE, picture, hole)))
    written = []
    for name, result in results:
        path = save_png_atomic(result.to_pil(), out_dir / f"{stem}_{safe_name(name)}.png")
        caption = "Telea (OpenCV, classical)" if name == BASELINE else name
        written.append((str(path), caption))
    return written
