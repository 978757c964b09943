"""Classical inpainting baselines, scored beside every model.

A baseline is ``fn(masked, mask) -> filled``: float ``(B, 3, H, W)`` in 0..1 in and out,
``masked = image * (1 - mask)``, mask ``(B, 1, H, W)`` with 1 = hole. ``ceiling`` (the
target itself) needs the target, so ``evaluate_baselines`` handles it by name.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

import cv2
import numpy as np
import torch
from torch import Tensor

from zoo.errors import unknown
from zoo.metrics import MetricAccumulator

if TYPE_CHECKING:
    from zoo._picture import Picture

Baseline = Callable[[Tensor, Tensor], Tensor]
INPAINT_RADIUS = 3  # the radius PAPER.md's table used


def masked_input(masked: Tensor, mask: Tensor) -> Tensor:
    """The masked image itself (hole = 0): the floor any method must beat."""
    return masked.clone()


def mean_fill(masked: Tensor, mask: Tensor) -> Tensor:
    """Fill the hole with each image's mean colour over its known pixels (per channel)."""
    known = 1.0 - mask
    n_known = known.sum(dim=(2, 3), keepdim=True).clamp(min=1.0)  # (B, 1, 1, 1)
    mean = (masked * known).sum(dim=(2, 3), keepdim=True) / n_known  # (B, 3, 1, 1)
    return masked * known + mean * mask


def _cv2_inpaint(masked: Tensor, mask: Tensor, flag: int) -> Tensor:
    # cv2 works per image on uint8 HWC arrays; there is no batched form, and these images are
    # small, so the loop costs ~0.1 ms an image.
    images = (masked.detach().float().clamp(0, 1) * 255).round().to(torch.uint8)
    images = images.permute(0, 2, 3, 1).contiguous().cpu().numpy()  # (B, H, W, 3)
    holes = (mask.detach()[:, 0] > 0.5).to(torch.uint8).cpu().numpy()  # (B, H, W)
    out = np.empty_like(images)
    for i in range(images.shape[0]):
        out[i] = cv2.inpaint(images[i], holes[i], INPAINT_RADIUS, flag)
    filled = torch.from_numpy(out).permute(0, 3, 1, 2).float() / 255.0
    return filled.to(masked.device)


def telea(masked: Tensor, mask: Tensor) -> Tensor:
    """OpenCV's Telea fast-marching inpainting (radius 3) on uint8 images."""
    return _cv2_inpaint(masked, mask, cv2.INPAINT_TELEA)


def navier_stokes(masked: Tensor, mask: Tensor) -> Tensor:
    """OpenCV's Navier-Stokes inpainting (radius 3) on uint8 images."""
    return _cv2_inpaint(masked, mask, cv2.INPAINT_NS)


def push_pull(masked: Tensor, mask: Tensor) -> Tensor:
    """Push-pull: the hole filled from known-pixel means at coarser and coarser scales, the
    fill the strong preset's U-Net starts from (``unet.prefill``)."""
    from zoo.model._fill import pushpull_fill

    return pushpull_fill(masked * (1 - mask), mask)


BASELINES: dict[str, Baseline] = {
    "masked_input": masked_input,
    "mean_fill": mean_fill,
    "telea": telea,
    "navier_stokes": navier_stokes,
    "push_pull": push_pull,
}
CEILING = "ceiling"  # the target itself: the best any prediction can score
ALL = (CEILING, *BASELINES)


def evaluate_baselines(images_uint8: Tensor, masks: Tensor,
                       names: Sequence[str] = ("mean_fill", "telea", "ceiling"),
                       batch_size: int = 500, image_scores: dict | None = None
                       ) -> dict[str, dict[str, float | int]]:
    """Score baselines on ``images_uint8`` ``(N, 3, H, W)`` with ``masks`` ``(N, 1, H, W)``;
    returns ``{name: MetricAccumulator.compute()}`` in the order of ``names``. A dict given
    as ``image_scores`` receives each one's per-image scores (``image_scores()``)."""
    for name in names:
        if name not in ALL:
            raise unknown("baseline", name, ALL)
    if images_uint8.shape[0] != masks.shape[0]:
        raise ValueError(f"{images_uint8.shape[0]} images but {masks.shape[0]} masks")
    accs = {name: MetricAccumulator() for name in names}
    for start in range(0, images_uint8.shape[0], batch_size):
        mask = masks[start:start + batch_size].float()
        target = images_uint8[start:start + batch_size].to(mask.device).float() / 255.0
        masked = target * (1.0 - mask)
        for name in names:
            pred = target if name == CEILING else BASELINES[name](masked, mask)
            accs[name].update(target, pred, mask)
    if image_scores is not None:
        image_scores.update({name: acc.image_scores() for name, acc in accs.items()})
    return {name: acc.compute() for name, acc in accs.items()}


def fill_picture(name: str, picture: Picture, hole: np.ndarray) -> Picture:
    """A photo of any size and mode (``zoo.inpaint.Picture``) with its ``hole`` (H, W) bool
    filled by the baseline ``name``, with the guarantees of ``zoo inpaint``: same size,
    known pixels bit for bit, alpha and grayscale kept (``zoo.inpaint.composite``)."""
    from zoo.inpaint import composite

    if name not in BASELINES:
        raise unknown("baseline", name, BASELINES)
    x = torch.from_numpy(picture.rgb()).permute(2, 0, 1)[None]  # (1, 3, H, W)
    m = torch.from_numpy(np.ascontiguousarray(hole)).float()[None, None]  # (1, 1, H, W)
    pred = BASELINES[name](x * (1 - m), m)[0].permute(1, 2, 0).numpy()
    return composite(picture, pred, hole)
