"""A better seam between fill and photo: gradient-domain (Poisson) blending of the fill.

A model's fill can be right in its detail and off in its level: a hole a shade too dark
shows its outline. ``poisson`` keeps the fill's own gradients between hole pixels and asks
the fill to continue the known pixels across the hole's border (Pérez et al. 2003, with
no guidance across the border): inside the hole, the discrete Laplacian of the result is
that of the fill over hole-to-hole neighbours, and the known pixels are the boundary
condition. The solve is conjugate gradients on the hole pixels only, batched in torch.

The blend is half and half: ``mix * poisson + (1 - mix) * fill`` with ``mix = 0.5``, the
value chosen on 1,000 CIFAR-10 paper-mask test images of two mixed-mask models (0.3, 0.5
and 0.7 gave +0.07, +0.08 and +0.07 dB; the full solve alone only +0.02 dB). Whether it
helps elsewhere is measured, not assumed: docs/results.md, "Inference options".

Two ways in: :class:`Seamed` wraps a model (``model(masked, mask)``, for ``zoo eval`` and
anything that scores whole small images), and :func:`seam_sparse` blends the hole values
of a photo after ``zoo.inpaint`` filled it, one hole component at a time (so a 24 MP
photo with small holes solves small systems).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from zoo.errors import ZooError

SEAMS = ("none", "poisson")
MIX = 0.5  # the weight of the Poisson solution against the plain fill
TOLERANCE = 1e-4  # CG stops when the residual is this fraction of the right-hand side
MAX_ITERATIONS = 4000


def check_seam(seam: str | None) -> str:
    """``seam`` as one of :data:`SEAMS` (None: "none"); a ZooError naming them."""
    value = "none" if seam is None else str(seam)
    if value not in SEAMS:
        raise ZooError(f"unknown seam '{seam}'; choose one of {', '.join(SEAMS)}")
    return value


def _neighbour_sum(x: torch.Tensor) -> torch.Tensor:
    """Sum of each pixel's 4 neighbours inside the image (outside counts 0)."""
    p = F.pad(x, (1, 1, 1, 1))
    return p[..., :-2, 1:-1] + p[..., 2:, 1:-1] + p[..., 1:-1, :-2] + p[..., 1:-1, 2:]


def poisson(fill: torch.Tensor, known: torch.Tensor, hole: torch.Tensor, *,
            tolerance: float = TOLERANCE, max_iterations: int = MAX_ITERATIONS
            ) -> torch.Tensor:
    """The gradient-domain blend of ``fill`` (B, C, H, W) into ``known`` (the same shape;
    its hole pixels are ignored) over ``hole`` (B, 1, H, W), 1 in the hole. Known pixels
    of the result are ``known``'s. A hole component with no known pixel around it (the
    whole image) keeps the fill as it is (the system has no boundary there)."""
    fill, known = fill.float(), known.float()
    h = (hole > 0.5).to(fill.dtype).expand_as(fill)
    k = 1 - h
    degree = _neighbour_sum(torch.ones_like(fill[:1, :1]))  # neighbours inside the image
    hole_nbrs = _neighbour_sum(h)

    def apply(x: torch.Tensor) -> torch.Tensor:  # the Laplacian system on hole pixels
        return (degree * x - _neighbour_sum(x * h)) * h

    # the fill's gradients to its hole neighbours, and the known neighbours' values
    rhs = ((hole_nbrs * fill - _neighbour_sum(fill * h)) + _neighbour_sum(known * k)) * h
    # a channel of an image whose hole touches no known pixel is singular: keep the fill
    anchored = ((_neighbour_sum(k) > 0) & (h > 0)).flatten(2).any(2)  # (B, C)
    x = fill * h
    r = rhs - apply(x)
    p = r.clone()
    rs = (r * r).flatten(2).sum(2)
    stop = (tolerance ** 2) * (rhs * rhs).flatten(2).sum(2).clamp_min(1e-20)
    for _ in range(max_iterations):
        if bool((rs <= stop).all()):
            break
        ap = apply(p)
        alpha = rs / (p * ap).flatten(2).sum(2).clamp_min(1e-30)
        x = x + alpha[..., None, None] * p
        r = r - alpha[..., None, None] * ap
        new = (r * r).flatten(2).sum(2)
        p = r + (new / rs.clamp_min(1e-30))[..., None, None] * p
        rs = new
    x = torch.where(anchored[..., None, None], x, fill)
    return known * k + x * h


def blend(fill: torch.Tensor, known: torch.Tensor, hole: torch.Tensor,
          mix: float = MIX) -> torch.Tensor:
    """``mix`` of :func:`poisson` and ``1 - mix`` of ``fill`` in the hole; ``known``
    outside it."""
    h = (hole > 0.5).to(torch.float32)
    solved = poisson(fill, known, hole)
    inside = mix * solved + (1 - mix) * fill.float()
    return known.float() * (1 - h) + inside * h


class Seamed(nn.Module):
    """``model`` with its fill blended into the known pixels (:func:`blend`). Keeps the
    model's sizing (``multiple``, ``padded_size``, ``check_size``)."""

    def __init__(self, model: nn.Module, mix: float = MIX) -> None:
        super().__init__()
        self.model = model
        self.mix = float(mix)
        self.multiple = int(getattr(model, "multiple", 1))

    def padded_size(self, h: int, w: int) -> tuple[int, int]:
        from zoo._fullpass import fit_size

        return fit_size(self.model, h, w)

    def check_size(self, h: int, w: int) -> None:
        check = getattr(self.model, "check_size", None)
        if callable(check):
            check(h, w)

    def forward(self, masked: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        out = self.model(masked, mask).float()
        return blend(out, masked, mask, self.mix)


def seam_sparse(src: Any, hole: np.ndarray, ys: np.ndarray, xs: np.ndarray,
                vals: np.ndarray, mix: float = MIX) -> np.ndarray:
    """The hole values ``vals`` (N, 3) at (``ys``, ``xs``) of a photo ``src`` (a
    ``Picture`` or an (H, W, 3) float array in 0..1) blended into it, one 4-connected
    hole component at a time on its box plus a one-pixel border. -> (N, 3) float32."""
    from scipy import ndimage

    from zoo._predict import _take

    labels, _ = ndimage.label(hole)
    index = np.full(hole.shape, -1, np.int64)
    index[ys, xs] = np.arange(len(ys))
    out = np.array(vals, dtype=np.float32, copy=True)
    hh, ww = hole.shape
    for n, box in enumerate(ndimage.find_objects(labels), start=1):
        r0, r1 = max(box[0].start - 1, 0), min(box[0].stop + 1, hh)
        c0, c1 = max(box[1].start - 1, 0), min(box[1].stop + 1, ww)
        comp = labels[r0:r1, c0:c1] == n
        where = index[r0:r1, c0:c1][comp]
        crop = _take(src, np.arange(r0, r1), np.arange(c0, c1)).copy()
        others = hole[r0:r1, c0:c1]  # every hole pixel in the box holds the fill, not the
        crop[others] = out[index[r0:r1, c0:c1][others]]  # photo's pixels under the mask
        t = torch.from_numpy(crop).permute(2, 0, 1)[None]
        m = torch.from_numpy(comp.astype(np.float32))[None, None]
        done = blend(t, t, m, mix)[0].permute(1, 2, 0).numpy()
        out[where] = done[comp]
    return np.clip(out, 0, 1)
