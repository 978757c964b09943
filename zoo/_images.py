"""Opening image files that someone else made: the pixel count is checked from the header,
before anything is decoded, so a small file declaring a huge image (a decompression bomb)
is refused in one line instead of filling memory."""

from __future__ import annotations

import contextlib
import os
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from zoo.errors import ZooError

ENV_MAX_PIXELS = "ZOO_MAX_PIXELS"
MAX_PIXELS = 40_000_000  # 40 MP: a large photo; raise it with ZOO_MAX_PIXELS


def max_pixels() -> int:
    """The largest image (width x height) zoo decodes: $ZOO_MAX_PIXELS, else 40 MP."""
    raw = os.environ.get(ENV_MAX_PIXELS, "").strip()
    if not raw:
        return MAX_PIXELS
    try:
        value = int(raw)
    except ValueError:
        value = 0
    if value < 1:
        raise ZooError(f"{ENV_MAX_PIXELS}={raw!r} must be a whole number of pixels >= 1 "
                       f"(default {MAX_PIXELS})")
    return value


@contextlib.contextmanager
def open_image(path: str | Path, what: str = "image") -> Iterator[Any]:
    """``PIL.Image.open(path)`` for a file whose declared size is at most ``max_pixels()``;
    Pillow's own bomb warning is an error here, and both are ZooErrors naming the file."""
    from PIL import Image

    limit = max_pixels()
    with warnings.catch_warnings():
        warnings.simplefilter("error", Image.DecompressionBombWarning)
        try:
            with Image.open(path) as im:
                w, h = im.size
                if w * h > limit:
                    raise ZooError(f"{what} {path} declares {w}x{h} pixels, more than the "
                                   f"{limit} zoo decodes (a decompression bomb?); shrink it, "
                                   f"or raise {ENV_MAX_PIXELS} if you trust the file")
                yield im
        except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
            raise ZooError(f"{what} {path} is too large to decode safely ({exc}); shrink "
                           f"it, or raise {ENV_MAX_PIXELS} if you trust the file") from None
