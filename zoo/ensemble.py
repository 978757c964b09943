"""Inference options as a wrapper module: test-time flips and ensembles of models.

``Averaged(members, tta="flip")`` is an ``nn.Module`` with the ``model(masked, mask)``
signature every zoo model has, whose output is the mean of its members' outputs, each
also run on the left-right mirrored input (``tta="flip"``) and mirrored back. Because it
is a plain module it composes with every predict path (``zoo.inpaint``, ``zoo eval``, the
serve app): they call it as they call one model. The mean of fills is still a fill: the
known pixels of a compositing member are the input's, so their mean is too.

Names: ``label(refs, tta)`` is the one honest name of such a row (``ensemble(a,b)``,
``a+flip``), so a leaderboard row or a report never passes an averaged prediction off as
one model's.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
from torch import nn

from zoo.errors import ZooError

TTA_CHOICES = ("none", "flip")  # "flip": the mean of the input and its left-right mirror


def check_tta(tta: str | None) -> str:
    """``tta`` as one of :data:`TTA_CHOICES` (None: "none"); a ZooError naming them."""
    value = "none" if tta is None else str(tta)
    if value not in TTA_CHOICES:
        raise ZooError(f"unknown test-time option '{tta}'; choose one of "
                       f"{', '.join(TTA_CHOICES)}")
    return value


def split_refs(text: str) -> list[str]:
    """``"a,b,c"`` -> ``["a", "b", "c"]``; one clear error for an empty member."""
    parts = [p.strip() for p in str(text).split(",")]
    if not parts or any(not p for p in parts):
        raise ZooError(f"'{text}' has an empty model name; give one model or a "
                       "comma-separated list of models to average (a,b,c)")
    return parts


def label(refs: Sequence[str], tta: str | None = None, seam: str | None = None) -> str:
    """The row name of an averaged or blended prediction: ``a``, ``ensemble(a,b)``,
    ``a+flip``, ``a+poisson`` (``seam``: ``zoo.seam``)."""
    from zoo.seam import check_seam

    name = refs[0] if len(refs) == 1 else f"ensemble({','.join(refs)})"
    name = name if check_tta(tta) == "none" else f"{name}+{tta}"
    return name if check_seam(seam) == "none" else f"{name}+{seam}"


class Averaged(nn.Module):
    """The mean prediction of ``members`` (each ``model(masked, mask)``), over the flips
    ``tta`` names. Sizes: the input must suit every member (``padded_size`` asks them all)."""

    def __init__(self, members: Sequence[nn.Module], tta: str | None = None) -> None:
        super().__init__()
        if not members:
            raise ZooError("an ensemble needs at least one model")
        self.members = nn.ModuleList(members)
        self.tta = check_tta(tta)
        self.multiple = math.lcm(*(int(getattr(m, "multiple", 1)) for m in members))

    def padded_size(self, h: int, w: int) -> tuple[int, int]:
        """The smallest size at or above h x w that every member takes."""
        from zoo.inpaint import fit_size

        for _ in range(64):  # each pass only grows the size; members agree within a few
            sizes = [fit_size(m, h, w) for m in self.members]
            nh, nw = max(s[0] for s in sizes), max(s[1] for s in sizes)
            if (nh, nw) == (h, w):
                return h, w
            h, w = nh, nw
        raise ZooError(f"the ensemble's models take no common size near {h}x{w}; average "
                       "models of the same depth and encoder")

    def check_size(self, h: int, w: int) -> None:
        for m in self.members:
            check = getattr(m, "check_size", None)
            if callable(check):
                check(h, w)

    def forward(self, masked: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        views = [(masked, mask)]
        if self.tta == "flip":
            views.append((masked.flip(-1), mask.flip(-1)))
        total = None
        for model in self.members:
            for k, (x, m) in enumerate(views):
                out = model(x, m).float()
                out = out.flip(-1) if k else out
                total = out if total is None else total + out
        return total / (len(self.members) * len(views))


def wrap(members: Sequence[nn.Module], tta: str | None = None) -> nn.Module:
    """One model as itself (no tta), else an :class:`Averaged` of them."""
    if len(members) == 1 and check_tta(tta) == "none":
        return members[0]
    return Averaged(members, tta)
