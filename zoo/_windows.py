"""Hole-only windows: run the model where the holes are, not over the whole photo.

The one-pass and tiled fills of ``zoo.inpaint`` run the model over every pixel, but only
the hole's pixels are kept. Here each pass (the whole padded image, or one of today's
tiles) runs the model only on windows around its hole pixels, wide enough that every hole
pixel sees what it would see in the full pass:

- the margin is *measured*, per model: the support of the gradient of one output pixel
  with respect to the input (image and mask) on a random probe with a hole of the size
  found at that level (``receptive_margin``); a model whose support reaches the probe's
  border (a Fourier bottleneck, instance/group norm, global encoder features) is global
  and keeps the full pass;
- windows start on a grid of the smallest power of two at or above the margin (and of the
  model's ``multiple``), counted from the pass's own origin, so that every pooling grid
  inside that reach (U-Net max-pools, encoder strides, push-pull blocks) falls where it
  falls in the full pass; a window that reaches a pass's edge ends on that edge, where
  the full pass's padding is reproduced.

Results agree with the full pass to float rounding (tests/test_windows.py checks the
shipped configs within 1/255 in the hole). Pixels outside the hole are never computed.
"""

from __future__ import annotations

import math
import weakref
from collections.abc import Callable

import numpy as np
import torch

MAX_PROBE_SIDE = 512  # a support reaching past a probe this large: the model is global
MAX_WINDOW_FRACTION = 0.6  # windows covering more of a pass than this: run the whole pass
_MARGINS: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()  # model -> {hole side: m}

FitSize = Callable[[torch.nn.Module, int, int], tuple[int, int]]


def _support_radius(model: torch.nn.Module, side: int, hole_side: int) -> int | None:
    """Chebyshev radius of the input pixels the centre output depends on, on a side x side
    probe with a centred hole_side square; None when it reaches the probe's border."""
    device = next(model.parameters()).device
    gen = torch.Generator().manual_seed(0)
    x = torch.rand(1, 3, side, side, generator=gen)
    m = torch.zeros(1, 1, side, side)
    c, half = side // 2, hole_side // 2
    m[..., c - half:c - half + hole_side, c - half:c - half + hole_side] = 1
    x, m = x.to(device).requires_grad_(), m.to(device).requires_grad_()
    try:
        with torch.enable_grad():
            out = model(x * (1 - m), m)
            gx, gm = torch.autograd.grad(out[:, :, c, c].sum(), [x, m], allow_unused=True)
    except RuntimeError:  # not differentiable: nothing can be said, so it is global
        return None
    grads = [g.abs().sum(dim=(0, 1)) for g in (gx, gm) if g is not None]
    if not grads:
        return None
    rows, cols = np.nonzero((sum(grads) > 0).cpu().numpy())
    if not len(rows):
        return 0
    radius = int(max(np.abs(rows - c).max(), np.abs(cols - c).max()))
    return None if radius >= c - 2 else radius


def _radius(model: torch.nn.Module, fit: FitSize, bucket: int) -> int | None:
    cache = _MARGINS.setdefault(model, {})
    if bucket not in cache:
        radius, side = None, max(64, 4 * bucket)
        while side <= MAX_PROBE_SIDE:
            s, _ = fit(model, side, side)
            radius = _support_radius(model, s, bucket)
            if radius is not None:
                break
            side *= 2
        cache[bucket] = radius
    return cache[bucket]


def receptive_margin(model: torch.nn.Module, fit: FitSize, hole_side: int = 8) -> int | None:
    """The margin (px) a window needs around a hole of about ``hole_side`` px so that the
    model's output in it is what the full pass gives; None: the model sees the whole image.
    Measured once per model and hole-size bucket (powers of two); the larger of the
    1-px-hole probe and the bucket's, since inside a wide hole of zeros some units are
    silent (ReLU) and the support there reads smaller than the model's reach."""
    bucket = 1 << max(0, math.ceil(math.log2(max(1, hole_side))))
    small, wide = _radius(model, fit, 1), _radius(model, fit, bucket)
    if small is None or wide is None:
        return None
    return max(small, wide)


def window_grid(margin: int, multiple: int) -> int:
    """The alignment of window starts: a power of two at or above the margin and the
    model's multiple (so every pooling grid within the model's reach lines up)."""
    return 1 << math.ceil(math.log2(max(2, margin, multiple)))


def plan_windows(ys: np.ndarray, xs: np.ndarray, sh: int, sw: int, margin: int | None,
                 grid: int, valid: Callable[[int, int], bool]
                 ) -> list[tuple[int, int, int, int, np.ndarray]]:
    """Windows (r, c, height, width, pixel indices) inside an sh x sw pass that together
    cover the hole pixels (ys, xs) (pass coordinates) with ``margin`` px of context on
    every side that is not the pass's edge. Falls back to the whole pass (one window)
    when the model is global, or the windows would cover most of the pass anyway."""
    import cv2

    whole = [(0, 0, sh, sw, np.arange(len(ys)))]
    if margin is None:
        return whole
    cells = np.zeros((-(-sh // grid), -(-sw // grid)), np.uint8)
    cy, cx = ys // grid, xs // grid
    cells[cy, cx] = 1
    k = -(-margin // grid)  # cells of context on each side
    grown = cv2.dilate(cells, np.ones((2 * k + 1, 2 * k + 1), np.uint8))
    n, labels = cv2.connectedComponents(grown, connectivity=8)
    lab = labels[cy, cx]
    out, area = [], 0
    for i in range(1, n):
        idx = np.nonzero(lab == i)[0]
        if not len(idx):
            continue
        r0 = max(0, int(cy[idx].min()) - k) * grid
        c0 = max(0, int(cx[idx].min()) - k) * grid
        r1 = min(sh, (int(cy[idx].max()) + 1 + k) * grid)
        c1 = min(sw, (int(cx[idx].max()) + 1 + k) * grid)
        if not valid(r1 - r0, c1 - c0):
            return whole
        out.append((r0, c0, r1 - r0, c1 - c0, idx))
        area += (r1 - r0) * (c1 - c0)
    return whole if area > MAX_WINDOW_FRACTION * sh * sw else out


def padded_index(start: int, stop: int, n: int, reflect: bool) -> np.ndarray:
    """Source indices of [start, stop) in a side of length n padded at its end, as
    ``F.pad`` does it (reflect, or replicate)."""
    i = np.arange(start, stop)
    beyond = i >= n
    i[beyond] = (2 * n - 2 - i[beyond]) if reflect else n - 1
    return i
