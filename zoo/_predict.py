"""The fills ``zoo.inpaint`` runs: one pass or coarse to fine, the model on hole windows only.

Same tiling, padding, blending and pyramid as the full pass (``zoo._fullpass``), but each
pass runs the model only on the windows ``zoo._windows`` plans around its hole pixels, and
the cores return the hole pixels' values alone (``(ys, xs, values)``), so no full-size
float copy of the photo is made: level 0 is read from the stored pixels window by window,
and coarser levels are built in bands.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import torch

from zoo._fullpass import (DEFAULT_TILE, MAX_PIXELS, MULTISCALE_MIN_SIDE, MULTISCALE_REACH,
                           TILE_OVERLAP, _depth, _ramp, _starts, fit_size)
from zoo._windows import padded_index, plan_windows, receptive_margin, window_grid
from zoo.model._fill import known_mean_pool

HALVE_BAND = 512  # rows halved at a time: bounds the temporaries of building a level

Sparse = tuple[np.ndarray, np.ndarray, np.ndarray]  # ys, xs (N,), values (N, 3) float32


def _take(src: Any, rows: np.ndarray, cols: np.ndarray) -> np.ndarray:
    """(len(rows), len(cols), 3) float32 in 0..1 of a level: an (h, w, 3) float array, or
    a ``Picture`` (level 0, converted as ``Picture.rgb`` does, only where asked)."""
    if isinstance(src, np.ndarray):
        return src[np.ix_(rows, cols)]
    x = src.pixels[np.ix_(rows, cols)].astype(np.float32) / src.max_value
    return np.repeat(x, 3, axis=2) if x.shape[2] == 1 else x


def _passes(model: torch.nn.Module, th: int, tw: int, tile: int, max_pixels: int
            ) -> list[tuple[int, int, int, int, Any]]:
    """The full pass's boxes (r, c, height, width, blend weight or None), as it tiles."""
    if th * tw <= max_pixels:
        return [(0, 0, th, tw, None)]
    side_h, side_w = fit_size(model, min(tile, th), min(tile, tw))
    side_h, side_w = min(side_h, th), min(side_w, tw)
    overlap = min(TILE_OVERLAP, side_h // 4, side_w // 4)
    ramps = (_ramp(side_h, overlap).numpy(), _ramp(side_w, overlap).numpy())
    return [(r, c, side_h, side_w, ramps) for r in _starts(th, side_h, overlap)
            for c in _starts(tw, side_w, overlap)]


def hole_values(model: torch.nn.Module, src: Any, hole: np.ndarray, *, hole_side: int,
                tile: int = DEFAULT_TILE, max_pixels: int = MAX_PIXELS) -> Sparse:
    """The full pass's clamped output at the hole pixels of ``hole`` (h, w), computed on
    hole windows only; ``hole_side`` (px, about the widest hole) sizes the margin probe."""
    device = next(model.parameters()).device
    h, w = hole.shape
    ys, xs = np.nonzero(hole)
    th, tw = fit_size(model, h, w)
    reflect = th - h < h and tw - w < w  # the full pass's padding rule (inpaint._pad)
    margin = receptive_margin(model, fit_size, hole_side)
    grid = window_grid(margin or 0, int(getattr(model, "multiple", 1)))
    acc = np.zeros((len(ys), 3), np.float32)
    norm = np.zeros(len(ys), np.float32)
    valid = lambda a, b: fit_size(model, a, b) == (a, b)  # noqa: E731
    for r, c, sh, sw, ramps in _passes(model, th, tw, tile, max_pixels):
        inside = np.nonzero((ys >= r) & (ys < r + sh) & (xs >= c) & (xs < c + sw))[0]
        if not len(inside):
            continue
        py, px = ys[inside] - r, xs[inside] - c
        for wr, wc, wh, ww, idx in plan_windows(py, px, sh, sw, margin, grid, valid):
            rows = padded_index(r + wr, r + wr + wh, h, reflect)
            cols = padded_index(c + wc, c + wc + ww, w, reflect)
            m = torch.from_numpy(hole[np.ix_(rows, cols)]).float()[None, None]
            x = torch.from_numpy(_take(src, rows, cols)).permute(2, 0, 1)[None] * (1 - m)
            out = model(x.to(device), m.to(device)).float().clamp(0, 1).cpu()[0]
            wy, wx = py[idx] - wr, px[idx] - wc
            vals = out[:, wy, wx].T.numpy()  # (n, 3)
            if ramps is None:
                acc[inside[idx]] = vals
                norm[inside[idx]] = 1
            else:
                wt = ramps[0][py[idx]] * ramps[1][px[idx]]
                acc[inside[idx]] += vals * wt[:, None]
                norm[inside[idx]] += wt
    return ys, xs, acc / norm[:, None]


def _halve(src: Any, hole: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """One pyramid step (``known_mean_pool``), built in bands of rows: -> (level, hole)."""
    h, w = hole.shape
    out = np.empty((-(-h // 2), -(-w // 2), 3), np.float32)
    cols = np.arange(w)
    for r in range(0, h, HALVE_BAND):
        rows = np.arange(r, min(h, r + HALVE_BAND))
        x = torch.from_numpy(_take(src, rows, cols)).permute(2, 0, 1)[None]
        k = torch.from_numpy(~hole[r:r + HALVE_BAND])[None, None].float()
        coarse, _ = known_mean_pool(x, k)
        out[r // 2: r // 2 + coarse.shape[-2]] = coarse[0].permute(1, 2, 0).numpy()
    ph, pw = h % 2, w % 2
    padded = np.pad(hole, ((0, ph), (0, pw)), mode="edge")
    coarse_hole = padded[0::2, 0::2] & padded[1::2, 0::2] & padded[0::2, 1::2] & padded[1::2, 1::2]
    return out, coarse_hole


def _bilinear_at(img: np.ndarray, ys: np.ndarray, xs: np.ndarray, h: int, w: int
                 ) -> np.ndarray:
    """``F.interpolate(img, (h, w), bilinear, align_corners=False)`` at (ys, xs) only."""
    def axis(dst: np.ndarray, n_in: int, n_out: int) -> tuple[np.ndarray, ...]:
        src = np.maximum((dst + 0.5) * (n_in / n_out) - 0.5, 0).astype(np.float32)
        i0 = np.minimum(src.astype(np.int64), n_in - 1)
        return i0, np.minimum(i0 + 1, n_in - 1), (src - i0)[:, None]

    y0, y1, ly = axis(ys, img.shape[0], h)
    x0, x1, lx = axis(xs, img.shape[1], w)
    top = img[y0, x0] * (1 - lx) + img[y0, x1] * lx
    bottom = img[y1, x0] * (1 - lx) + img[y1, x1] * lx
    return top * (1 - ly) + bottom * ly


def _side(depth: np.ndarray) -> int:
    return 2 * math.ceil(float(depth.max(initial=0))) + 1


@torch.no_grad()
def predict_sparse(model: torch.nn.Module, src: Any, hole: np.ndarray, *,
                   tile: int = DEFAULT_TILE, max_pixels: int = MAX_PIXELS) -> Sparse:
    """One pass at full size, on hole windows: the hole pixels' (ys, xs, values)."""
    return hole_values(model, src, hole, hole_side=_side(_depth(hole)), tile=tile,
                       max_pixels=max_pixels)


@torch.no_grad()
def multiscale_sparse(model: torch.nn.Module, src: Any, hole: np.ndarray, *,
                      reach: float = MULTISCALE_REACH, tile: int = DEFAULT_TILE,
                      max_pixels: int = MAX_PIXELS) -> Sparse:
    """``zoo.inpaint.predict_multiscale`` on hole windows: the hole pixels' values."""
    levels, holes, depths = [src], [hole], [_depth(hole)]
    while depths[-1].max(initial=0) > reach and min(holes[-1].shape) >= 2 * MULTISCALE_MIN_SIDE:
        lx, lh = _halve(levels[-1], holes[-1])
        levels.append(lx)
        holes.append(lh)
        depths.append(_depth(lh))
    filled, side = None, _side(depths[0])  # one margin probe (the widest level's) for all
    for i in reversed(range(len(levels))):
        ys, xs, vals = hole_values(model, levels[i], holes[i], hole_side=side,
                                   tile=tile, max_pixels=max_pixels)
        if filled is not None:  # blend with the coarser level's fill, deeper in the hole
            trust = np.clip((reach - depths[i][ys, xs]) / (reach / 2), 0, 1)
            deep = np.nonzero(trust < 1)[0]
            up = _bilinear_at(filled, ys[deep], xs[deep], *holes[i].shape)
            t = trust[deep, None]
            vals[deep] = t * vals[deep] + (1 - t) * up
        if i:
            filled = levels[i].copy()  # (h, w, 3): known pixels are the level's
            filled[ys, xs] = vals
    return ys, xs, np.clip(vals, 0, 1)


def dense(src: np.ndarray, sparse: Sparse) -> np.ndarray:
    """(H, W, 3) float32: ``src`` with the sparse hole values written in."""
    ys, xs, vals = sparse
    out = np.array(src, dtype=np.float32, copy=True)
    out[ys, xs] = vals
    return out
