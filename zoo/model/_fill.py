"""Push-pull hole filling: a smooth first guess for every hole pixel, from known pixels only.

Push: halve the image again and again, each coarse pixel the mean of its *known* children
(known when any child is), until nothing is a hole. Pull: from the coarsest level back to
full size, every hole pixel takes the (bilinearly) upsampled coarser value. Colours flow
into a hole from all its sides, like a cheap membrane fill; it is differentiable, batched,
and costs a few pooling calls, so the U-Net can start from it (``unet.prefill``) instead of
from zeros, and ``zoo.inpaint`` uses the same push for its coarse-to-fine pyramid.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F


def known_mean_pool(x: torch.Tensor, known: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Halve (B, C, H, W) ``x`` averaging only known pixels (``known`` (B, 1, H, W), 1 =
    known); a coarse pixel is known when any of its children is, so holes shrink by half at
    each level -> (x, known). Odd sides replicate their last row/column."""
    h, w = x.shape[-2:]
    ph, pw = h % 2, w % 2
    if ph or pw:
        x = F.pad(x, (0, pw, 0, ph), mode="replicate")
        known = F.pad(known, (0, pw, 0, ph), mode="replicate")
    weight = F.avg_pool2d(known, 2)  # (B, 1, H/2, W/2): the fraction of known children
    coarse = F.avg_pool2d(x * known, 2) / weight.clamp(min=1e-6)
    return coarse, (weight > 0).to(x.dtype)


def pushpull_fill(x: torch.Tensor, hole: torch.Tensor) -> torch.Tensor:
    """(B, C, H, W) ``x`` with its holes (``hole`` (B, 1, H, W), 1 = hole) filled smoothly
    from the known pixels; known pixels are returned as they are. An image with no known
    pixel at all comes back as zeros."""
    known = 1 - hole
    levels = [(x, known)]
    while min(levels[-1][0].shape[-2:]) > 1 and bool((levels[-1][1] == 0).any()):
        levels.append(known_mean_pool(*levels[-1]))
    filled = levels[-1][0] * levels[-1][1]
    for lx, lk in reversed(levels[:-1]):
        up = F.interpolate(filled, size=lx.shape[-2:], mode="bilinear", align_corners=False)
        filled = lx * lk + up * (1 - lk)
    return filled
