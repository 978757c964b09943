"""Images and masks as stored: reading any Pillow mode into a ``Picture``, and the one
rule that turns mask values into a hole (for files and arrays alike)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps

from zoo.errors import ZooError

MASK_THRESHOLD = 127  # 8-bit mask values above this are hole
# Pillow modes read as-is; anything else (P, 1, CMYK, YCbCr, ...) is converted first.
GRAY16 = ("I;16", "I;16L", "I;16B", "I;16N", "I")


@dataclass
class Picture:
    """An image as stored: ``pixels`` (H, W, C) uint8 or uint16 with C = 1 or 3, and an
    optional ``alpha`` (H, W); ``rgb()`` is what the model sees."""

    pixels: np.ndarray
    alpha: np.ndarray | None = None

    @property
    def max_value(self) -> int:
        return 65535 if self.pixels.dtype == np.uint16 else 255

    def rgb(self) -> np.ndarray:
        """(H, W, 3) float32 in 0..1; grayscale is repeated over the three channels."""
        x = self.pixels.astype(np.float32) / self.max_value
        return np.repeat(x, 3, axis=2) if x.shape[2] == 1 else x

    def to_pil(self) -> Image.Image:
        """Back to a Pillow image in the closest PNG-storable mode."""
        p = self.pixels
        if p.dtype == np.uint16:
            return Image.fromarray(p[..., 0])  # I;16
        # uint8 arrays: Pillow reads the mode from the shape ((h, w, 4) RGBA, (h, w, 2) LA,
        # (h, w, 3) RGB, (h, w) L); naming it is deprecated since Pillow 11.3
        p = p.astype(np.uint8, copy=False)
        if self.alpha is not None:
            return Image.fromarray(np.dstack([p, self.alpha.astype(np.uint8, copy=False)]))
        return Image.fromarray(p if p.shape[2] == 3 else p[..., 0])


def open_decoded(path: Path, what: str) -> Image.Image:
    """Open and fully decode (so a truncated file fails here), rotated per its EXIF tag."""
    from zoo._images import open_image

    try:
        with open_image(path, what) as im:
            im.load()
            return ImageOps.exif_transpose(im)
    except (OSError, ValueError, Image.DecompressionBombError) as exc:
        raise ZooError(f"cannot read {what} {path}: {exc}; fix or remove the file") from None


def picture_from_pil(im: Image.Image, what: str = "the image") -> Picture:
    """A Pillow image of any mode as a ``Picture``: 16-bit (and in-range 32-bit) grayscale
    stays 16-bit, palette becomes RGB (RGBA when transparent), 1-bit becomes L, any other
    mode RGB(A); alpha is kept apart. ``what`` names the image in errors."""
    mode = im.mode
    if mode in GRAY16:
        arr = np.asarray(im)
        if mode == "I" and arr.size and (arr.min() < 0 or arr.max() > 65535):
            raise ZooError(f"{what} is 32-bit integer with values outside 0..65535; "
                           "convert it to 8- or 16-bit first")
        return Picture(arr.astype(np.uint16)[..., None])
    if mode == "P" or mode == "PA":
        has_alpha = mode == "PA" or "transparency" in im.info
        im = im.convert("RGBA" if has_alpha else "RGB")
    elif mode == "1":
        im = im.convert("L")
    elif mode not in ("RGB", "RGBA", "L", "LA"):
        try:
            im = im.convert("RGBA" if "A" in mode else "RGB")
        except (ValueError, OSError) as exc:
            raise ZooError(f"{what} has mode {mode}, which cannot become RGB ({exc}); "
                           "save it as an 8-bit RGB or grayscale image") from None
    arr = np.asarray(im)
    if arr.ndim == 2:
        arr = arr[..., None]
    if im.mode in ("RGBA", "LA"):
        return Picture(np.ascontiguousarray(arr[..., :-1]), np.ascontiguousarray(arr[..., -1]))
    return Picture(np.ascontiguousarray(arr))


def read_image(path: str | Path) -> Picture:
    """Read an image file of any Pillow mode into a ``Picture`` (``picture_from_pil``)."""
    path = Path(path)
    return picture_from_pil(open_decoded(path, "image"), what=f"image {path}")


def read_mask(path: str | Path, size: tuple[int, int] | None = None) -> np.ndarray:
    """Read a mask file as (H, W) bool, True = hole (white). ``size`` (w, h) must match."""
    path = Path(path)
    im = open_decoded(path, "mask")
    if size is not None and im.size != tuple(size):
        raise ZooError(f"mask {path} is {im.size[0]}x{im.size[1]} but its image is "
                       f"{size[0]}x{size[1]}; a mask must have its image's size")
    if im.mode in GRAY16:  # 16-bit masks: the same rule, scaled
        return mask_hole(np.asarray(im), 65535)
    return mask_hole(np.asarray(im.convert("L")))


def mask_hole(values: np.ndarray, max_value: int = 255) -> np.ndarray:
    """The one mask rule, for files and arrays alike: a mask of only 0s and 1s marks the
    hole with 1; any other marks it with values above 127 (of 255; 16-bit scaled)."""
    values = np.asarray(values)
    if values.size and values.min() >= 0 and values.max() <= 1:
        return values == 1
    return values.astype(np.int64) > MASK_THRESHOLD * (max_value // 255)

