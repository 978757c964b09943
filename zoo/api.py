"""Inpainting from Python: ``zoo.load(ref)`` and ``model.inpaint(image, mask)``.

    import zoo
    from PIL import Image

    model = zoo.load("hf-hub:org/name")          # or a model folder, a file, a trial id
    out = model.inpaint(Image.open("photo.jpg"), Image.open("photo_mask.png"))
    out.save("filled.png")

``inpaint`` takes PIL images of any mode or numpy arrays (H, W), (H, W, 1|2|3|4) of uint8
or uint16, of any size, with the guarantees of ``zoo inpaint``: the output has the input's
size (and, for arrays, its shape and dtype), pixels outside the hole are the input's bit
for bit, alpha is kept, grayscale stays grayscale. It runs ``zoo.inpaint.inpaint_picture``
(padding to a size the model takes, tiling above one megapixel), as ``zoo inpaint`` does.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np

from zoo.errors import ZooError


def _picture_from_pil(im: Any) -> Any:
    """A PIL image of any mode as a ``zoo.inpaint.Picture`` (the rules of ``read_image``)."""
    from zoo.inpaint import picture_from_pil

    return picture_from_pil(im)


def _picture_from_array(arr: np.ndarray) -> Any:
    from zoo.inpaint import Picture

    if arr.dtype not in (np.uint8, np.uint16):
        raise ZooError(f"image arrays must be uint8 or uint16, got {arr.dtype}; for floats in "
                       "0..1 pass (x * 255).round().astype(np.uint8)")
    if arr.ndim == 2:
        arr = arr[..., None]
    if arr.ndim != 3 or arr.shape[2] not in (1, 2, 3, 4):
        raise ZooError(f"image array of shape {arr.shape}; expected (H, W) or (H, W, C) with "
                       "C = 1 (gray), 2 (gray + alpha), 3 (RGB) or 4 (RGBA)")
    if arr.shape[0] < 1 or arr.shape[1] < 1:
        raise ZooError(f"image array of shape {arr.shape} is empty")
    if arr.shape[2] in (2, 4):
        return Picture(np.ascontiguousarray(arr[..., :-1]), np.ascontiguousarray(arr[..., -1]))
    return Picture(np.ascontiguousarray(arr))


def to_picture(image: Any) -> Any:
    """A PIL image or a numpy array as a ``Picture``."""
    from PIL import Image

    if isinstance(image, Image.Image):
        return _picture_from_pil(image)
    if isinstance(image, np.ndarray):
        return _picture_from_array(image)
    raise ZooError(f"image must be a PIL image or a numpy array, got {type(image).__name__}")


def to_hole(mask: Any, size: tuple[int, int]) -> np.ndarray:
    """The hole (H, W) bool of a mask, by the rule of mask files (``zoo.inpaint.mask_hole``):
    a PIL image or an integer array of only 0s and 1s marks the hole with 1, any other with
    values above 127 (uint16 and 16-bit images scaled); bool arrays: True = hole; floats:
    > 0.5. A colour array counts a pixel's brightest channel. ``size`` is the image's
    (height, width); a mask with no hole pixel is an error (nothing to inpaint)."""
    from PIL import Image

    from zoo._picture import GRAY16, mask_hole

    if isinstance(mask, Image.Image):
        hole = (mask_hole(np.asarray(mask), 65535) if mask.mode in GRAY16
                else mask_hole(np.asarray(mask.convert("L"))))
    elif isinstance(mask, np.ndarray):
        m = mask.max(axis=2) if mask.ndim == 3 else mask
        if m.ndim != 2:
            raise ZooError(f"mask array of shape {mask.shape}; expected (H, W) or (H, W, C)")
        if m.dtype == bool:
            hole = m
        elif np.issubdtype(m.dtype, np.integer):
            hole = mask_hole(m, 65535 if m.dtype == np.uint16 else 255)
        elif np.issubdtype(m.dtype, np.floating):
            hole = m > 0.5
        else:
            raise ZooError(f"mask arrays must be bool, integer or float, got {m.dtype}")
    else:
        raise ZooError(f"mask must be a PIL image or a numpy array, got {type(mask).__name__}")
    if hole.shape != tuple(size):
        raise ZooError(f"mask is {hole.shape[1]}x{hole.shape[0]} but the image is "
                       f"{size[1]}x{size[0]}; a mask must have its image's size")
    if not hole.any():
        raise ZooError("the mask marks no hole pixel, so there is nothing to inpaint; a hole "
                       "is white (> 127), or 1 in a mask of only 0s and 1s, or True")
    return np.ascontiguousarray(hole)


class Inpainter:
    """A loaded model: ``inpaint(image, mask)``; ``net`` is the torch module, ``config`` its
    TrainConfig, ``metrics`` its test metrics (or None), ``folder`` where it lies.
    ``tta="flip"`` averages each fill with that of the mirrored input (``zoo.ensemble``);
    ``seam="poisson"`` (the default) blends each fill into the photo (``zoo.seam``;
    ``seam="none"``: the model's fill as it is);
    ``net`` may also be several modules, whose fills are averaged (an ensemble: ``config``
    and ``folder`` are then the first's, and ``metrics`` None, as no test scored the mean)."""

    def __init__(self, net: Any, config: Any, payload: dict[str, Any], folder: Path, *,
                 tta: str | None = None, seam: str | None = "poisson") -> None:
        from zoo.ensemble import check_tta, wrap
        from zoo.seam import check_seam

        members = list(net) if isinstance(net, (list, tuple)) else [net]
        self.tta = check_tta(tta)
        self.seam = check_seam(seam)
        self.net, self.config, self.folder = wrap(members, self.tta), config, folder
        self.metrics = payload.get("metrics") if len(members) == 1 else None
        self.requires = payload.get("requires") or {}

    @property
    def device(self) -> Any:
        return next(self.net.parameters()).device

    def to(self, device: Any) -> Inpainter:
        """Move the model to ``device`` (``"cpu"``, ``"cuda"``, ...); returns self."""
        from zoo.device import resolve_device

        self.net.to(resolve_device(str(device)))
        return self

    def __repr__(self) -> str:
        extra = "" if self.tta == "none" else f", tta={self.tta!r}"
        extra += "" if self.seam == "poisson" else f", seam={self.seam!r}"
        members = getattr(self.net, "members", None)
        if members is not None and len(members) > 1:
            extra += f", models={len(members)}"
        return (f"Inpainter(encoder={self.config.encoder!r}, mask={self.config.mask!r}, "
                f"folder={str(self.folder)!r}, device={str(self.device)!r}{extra})")

    def inpaint(self, image: Any, mask: Any, *, batch_size: int = 4,
                tile: int | None = None) -> Any:
        """Fill the hole of ``image`` (PIL image or array) where ``mask`` marks it; returns
        the same kind: a PIL image (PNG-storable mode), or an array of the input's shape and
        dtype. Pixels outside the hole are the input's, unchanged."""
        import torch

        from zoo.inpaint import DEFAULT_TILE, inpaint_picture

        picture = to_picture(image)
        hole = to_hole(mask, picture.pixels.shape[:2])
        self.net.eval()
        with torch.no_grad():
            out = inpaint_picture(self.net, picture, hole, batch_size=batch_size,
                                  tile=tile or DEFAULT_TILE, seam=self.seam)
        if isinstance(image, np.ndarray):
            pixels = out.pixels
            if out.alpha is not None:
                pixels = np.concatenate([pixels, out.alpha[..., None]], axis=2)
            return pixels.reshape(image.shape).astype(image.dtype, copy=False)
        return out.to_pil()

    __call__ = inpaint


def load(ref: str | os.PathLike | list[Any], *, device: str = "auto", storage: str | None = None,
         db: str | None = None, tta: str | None = None, seam: str | None = "poisson"
         ) -> Inpainter:
    """Load a model by any name zoo accepts (a model folder, its model.safetensors, a trial
    id with ``storage``/``db``, or ``hf-hub:org/name``): an ``Inpainter`` in eval mode.
    ``"a,b,c"`` (or a list) loads the three and averages their fills (an ensemble);
    ``tta="flip"``
    averages each fill with the mirrored input's (``zoo.ensemble``); ``seam="poisson"``
    (the default) blends each fill into the photo (``zoo.seam``; ``"none"``: the fill as
    the model made it)."""
    from zoo.ensemble import check_tta
    from zoo.seam import check_seam

    check_tta(tta)  # before anything loads
    check_seam(seam)
    nets, first = load_members(ref, device=device, storage=storage, db=db, caller="python")
    return Inpainter(nets, first[0], first[1], first[2], tta=tta, seam=seam)


def load_members(ref: str | os.PathLike | list[Any], *, device: str = "auto", storage: Any = None,
                 db: Any = None, caller: str = "cli") -> tuple[list[Any], tuple[Any, ...]]:
    """The modules of ``ref`` (one model, or ``a,b,c``), and the first's (config, payload,
    folder). Members must share a test set's size rules; their configs may differ."""
    from zoo.device import resolve_device
    from zoo.ensemble import split_refs
    from zoo.modelfolder.checkpoint import load_model
    from zoo.modelfolder.refs import resolve_model

    if isinstance(ref, (list, tuple)):
        refs = [os.fspath(r) for r in ref]
    else:
        refs = split_refs(ref) if isinstance(ref, str) else [os.fspath(ref)]
    nets, first = [], None
    for one in refs:
        folder = resolve_model(one, storage=storage, db=db, caller=caller)
        net, config, payload = load_model(folder, device=resolve_device(device))
        nets.append(net)
        first = first or (config, payload, folder)
    return nets, first
