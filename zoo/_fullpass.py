"""The full-pass fills: the model over every pixel of the image, at every pyramid level.

The path ``zoo.inpaint`` took before hole-only windows (``zoo._predict``); kept as the
reference the windowed fill is tested and benchmarked against (``_full=True``).
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from zoo.model._fill import known_mean_pool

DEFAULT_TILE = 512  # tile side for large images; U-Net activations at 512^2 fit any machine
MAX_PIXELS = 1024 * 1024  # images above this are tiled instead of run whole
TILE_OVERLAP = 64  # pixels shared by neighbouring tiles, blended linearly
MULTISCALE_REACH = 4.0  # px from known pixels that a model trained on 32x32 fills well
MULTISCALE_MIN_SIDE = 4  # never halve an image below this side


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
def predict_full(model: torch.nn.Module, rgb: np.ndarray, hole: np.ndarray, *,
            batch_size: int = 4, tile: int = DEFAULT_TILE,
            max_pixels: int = MAX_PIXELS) -> np.ndarray:
    """The model's output (H, W, 3) float32 for ``rgb`` (H, W, 3) in 0..1 with ``hole``
    (H, W) bool, at any size: padded to a size the model takes, tiled above ``max_pixels``;
    the model runs over every pixel (the path before hole-only windows)."""
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
def multiscale_full(model: torch.nn.Module, rgb: np.ndarray, hole: np.ndarray, *,
                       reach: float = MULTISCALE_REACH, batch_size: int = 4,
                       tile: int = DEFAULT_TILE, max_pixels: int = MAX_PIXELS) -> np.ndarray:
    """Coarse to fine: a model trained on small images fills holes well only within a few
    pixels of known ones (its training holes are ~11 px wide). The image is halved (known
    pixels averaged) until no hole pixel is more than ``reach`` px from a known one; the
    model fills that level; at each finer level its own fill is kept within ``reach`` px
    of known pixels and the upsampled coarser fill is used deeper inside, blended
    linearly in between. Thin holes (scratches) never leave full resolution.
    -> (H, W, 3) float32 in 0..1; known pixels are the input's. Every level runs the
    model over every pixel (the path before hole-only windows)."""
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
        pred = torch.from_numpy(predict_full(model, lx[0].permute(1, 2, 0).numpy(), lhole,
                                        batch_size=batch_size, tile=tile,
                                        max_pixels=max_pixels)).permute(2, 0, 1)[None]
        if filled is not None:  # blend with the coarser level's fill, deeper in the hole
            up = F.interpolate(filled, size=lx.shape[-2:], mode="bilinear", align_corners=False)
            depth = torch.from_numpy(_depth(lhole))[None, None]
            trust = ((reach - depth) / (reach / 2)).clamp(0, 1)  # 1 near known, 0 at reach
            pred = trust * pred + (1 - trust) * up
        filled = lx * lk + pred * (1 - lk)  # (1, 3, h, w)
    return filled[0].clamp(0, 1).permute(1, 2, 0).numpy()


