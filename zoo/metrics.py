"""Inpainting metrics: the paper's Dice, and PSNR / SSIM / L1 in the hole and overall.

Conventions: images are float ``(B, 3, H, W)`` in 0..1, masks ``(B, 1, H, W)`` with 1 = hole.
Every metric except Dice is computed per image and then averaged over images (so a
perfect image gives PSNR = inf, and the mean is then inf too: reported honestly; Python's
``json`` writes it as ``Infinity``). Hole metrics skip images without a hole.

Dice is the paper's figure exactly as Keras computed it with batch size 2:
``2 * sum(y * p) / sum(y + p)`` over each consecutive pair of images, flattened, then the
mean over pairs. It is a whole-image overlap score that never reaches 1 (a perfect
prediction scores ``sum(y^2) / sum(y)``), kept only for comparison with the paper.

SSIM uses a 7x7 Gaussian window with sigma 1.5 (the usual sigma; 7 rather than 11 pixels
because on 32x32 images an 11-pixel window would mix a paper-sized 11x11 hole with as
much known context as hole), reflect padding so the map has the image's size, and the
usual constants C1 = 0.01^2, C2 = 0.03^2 for a data range of 1. The per-pixel map is
averaged over channels, then over the image (``ssim``) or over hole pixels (``ssim_hole``).

``texture_hole`` is zoo's own statistic (no published metric, no download): the detail in
the fill against the truth's, ``sum_hole (x - blur_hole(x))^2`` for the fill over the same
for the truth, per image, then the mean over images. ``blur_hole`` is the SSIM window's
Gaussian taken over hole pixels only (a normalised convolution), so the statistic sees the
detail inside the fill and not the step at the hole's edge: a flat fill scores near 0
however badly it meets its surroundings (that step is PSNR's and SSIM's to count). 1.0 is
as detailed as the truth, below 1 blurrier, above 1 noisier. It ranks neither way on its
own: a fill can have the right amount of the wrong detail.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

from zoo.errors import ZooError

SSIM_WINDOW = 7
SSIM_SIGMA = 1.5
_C1, _C2 = 0.01**2, 0.03**2
KEYS = ("dice", "psnr_hole", "ssim_hole", "l1_hole", "texture_hole", "psnr", "ssim", "l1",
        "n_images")
# Hole-area bins of the AOT-GAN / MMagic tables: 0-10 %, 10-20 %, ..., 50-60 % (and 60+).
AREA_BINS = tuple((lo / 100, (lo + 10) / 100) for lo in range(0, 60, 10)) + ((0.6, 1.0),)
BINNED = ("psnr_hole", "ssim_hole", "l1_hole")
IMAGE_METRICS = (*BINNED, "texture_hole")  # kept per image (zoo.scores)
_TEXTURE_EPS = 1e-6  # per hole pixel and channel: a flat truth and a flat fill score 1.0


@dataclass(frozen=True)
class Metric:
    """One row of the metric table: how a score is named, ranked and shown. Every view
    (leaderboard, compare, intervals, reports, cards) picks its rows from :data:`TABLE`."""

    name: str
    higher_is_better: bool
    label: str  # a column header in words
    digits: int  # decimals in the leaderboard ("si": 123.5k / 1.23M, for counts)
    short: int  # decimals in the one-screen reports (`zoo eval`, `zoo compare`)
    reference: bool = True  # scored for the baselines and the ceiling too
    brief: bool = True  # shown in the one-screen views (`zoo eval`'s report, model cards)

    def format(self, value: Any, short: bool = False) -> str:
        """``value`` for a table: ``-`` when missing, ``inf`` / ``-inf`` as such."""
        if value is None:
            return "-"
        if isinstance(value, float) and math.isinf(value):
            return "inf" if value > 0 else "-inf"
        if self.digits == SI:
            value = float(value)
            return f"{value / 1e6:.2f}M" if value >= 1e5 else f"{value / 1e3:.1f}k"
        return f"{value:.{self.short if short else self.digits}f}"


SI = -1  # Metric.digits for counts shown as 123.5k / 1.23M
# Ranking order: the hole metrics first (psnr_hole is the default rank), Dice, the
# whole-image metrics, then the run facts a leaderboard ranks by. Lower is better only for
# errors and costs.
TABLE: dict[str, Metric] = {m.name: m for m in (
    Metric("psnr_hole", True, "PSNR hole", 2, 2),
    Metric("ssim_hole", True, "SSIM hole", 4, 3),
    Metric("l1_hole", False, "L1 hole", 4, 3),
    Metric("dice", True, "Dice (paper)", 4, 4),
    # zoo's own: detail in the fill / in the truth (1.0 = as detailed; "higher" only
    # because a blur is the usual failure, not a rank: see the module docstring)
    Metric("texture_hole", True, "texture (zoo)", 3, 3),
    Metric("psnr", True, "PSNR", 2, 2),
    Metric("ssim", True, "SSIM", 4, 3),
    Metric("l1", False, "L1", 4, 3, brief=False),  # beside l1_hole it adds little
    Metric("params", False, "params", SI, SI, reference=False),
    Metric("train_time_s", False, "time/s", 1, 1, reference=False),
    Metric("train_images_per_s", True, "images/s", 0, 0, reference=False),
)}
# what a reference row (baseline, ceiling) carries, in the order MetricAccumulator reports
REFERENCE_METRICS = tuple(k for k in KEYS if k in TABLE and TABLE[k].reference)


def metric(name: str) -> Metric:
    """The table's row for ``name``; a per-bin (``psnr_hole@10-20``) or validation
    (``val_ssim_hole``) score reads the row of the metric it is a part of."""
    base = name.split("@")[0].removeprefix("val_")
    if base not in TABLE:
        from zoo.errors import unknown

        raise unknown("metric", name, TABLE)
    return TABLE[base]


def bin_name(lo: float, hi: float) -> str:
    """``(0.1, 0.2)`` -> ``"10-20"``; the last bin is ``"60+"``."""
    return f"{round(lo * 100)}+" if hi >= 1.0 else f"{round(lo * 100)}-{round(hi * 100)}"


def area_bin(fraction: Tensor) -> Tensor:
    """The bin index of each hole fraction ``(B,)`` (a hole of exactly 10 % is in 10-20)."""
    edges = torch.tensor([hi for _, hi in AREA_BINS[:-1]], dtype=fraction.dtype,
                         device=fraction.device)
    return torch.bucketize(fraction, edges, right=True)


def _check(target: Tensor, pred: Tensor, mask: Tensor) -> None:
    if target.shape != pred.shape or target.dim() != 4:
        raise ZooError(f"metrics need target and pred of one shape (B, C, H, W), got "
                       f"{tuple(target.shape)} and {tuple(pred.shape)}")
    b, _, h, w = target.shape
    if tuple(mask.shape) != (b, 1, h, w):
        raise ZooError(f"metrics need a mask of shape {(b, 1, h, w)}, got {tuple(mask.shape)}")


def dice_pairs(target: Tensor, pred: Tensor) -> Tensor:
    """The paper's Dice for each consecutive pair of images -> ``(ceil(B / 2),)``; an odd last
    image is scored alone, as Keras scores a final batch of one."""
    b = target.shape[0]
    y, p = target.reshape(b, -1).double(), pred.reshape(b, -1).double()
    inter, total = (y * p).sum(1), (y + p).sum(1)  # per image; sums over a pair add up
    if b % 2:
        inter, total = F.pad(inter, (0, 1)), F.pad(total, (0, 1))
    inter, total = inter.view(-1, 2).sum(1), total.view(-1, 2).sum(1)
    return 2 * inter / total.clamp(min=1e-12)


def _psnr(mse: Tensor) -> Tensor:
    """PSNR for a data range of 1; mse 0 gives inf, and a NaN mse stays NaN (a broken
    prediction must never score as perfect)."""
    return torch.where(mse == 0, torch.full_like(mse, math.inf),
                       -10 * torch.log10(mse.clamp(min=1e-30)))


def _gaussian_taps() -> list[float]:
    x = torch.arange(SSIM_WINDOW, dtype=torch.float64) - (SSIM_WINDOW - 1) / 2
    g = torch.exp(-(x**2) / (2 * SSIM_SIGMA**2))
    return (g / g.sum()).tolist()


_TAPS = _gaussian_taps()


def _blur(x: Tensor) -> Tensor:
    """Separable Gaussian blur, same size via reflect padding. Written as a weighted sum of
    shifted slices: on small images that beats conv2d on the CPU and matches it on GPU."""
    pad = SSIM_WINDOW // 2
    h, w = x.shape[-2:]
    x = F.pad(x, (pad, pad, pad, pad), mode="reflect")
    rows = x[..., 0:h, :] * _TAPS[0]
    for k in range(1, SSIM_WINDOW):
        rows.add_(x[..., k:k + h, :], alpha=_TAPS[k])
    out = rows[..., 0:w] * _TAPS[0]
    for k in range(1, SSIM_WINDOW):
        out.add_(rows[..., k:k + w], alpha=_TAPS[k])
    return out


def ssim_map(target: Tensor, pred: Tensor) -> Tensor:
    """Per-pixel SSIM averaged over channels -> ``(B, 1, H, W)`` (see the module docstring)."""
    x, y = target, pred
    mx, my, xx, yy, xy = _blur(torch.cat((x, y, x * x, y * y, x * y))).chunk(5)
    vx, vy, cov = xx - mx * mx, yy - my * my, xy - mx * my
    s = ((2 * mx * my + _C1) * (2 * cov + _C2)) / ((mx * mx + my * my + _C1) * (vx + vy + _C2))
    return s.mean(dim=1, keepdim=True)


def texture_ratio(target: Tensor, pred: Tensor, mask: Tensor) -> Tensor:
    """Per image ``(B,)``: the fill's high-frequency energy in the hole over the truth's
    (the module docstring's ``texture_hole``); nan for an image without a hole pixel."""
    _check(target, pred, mask)
    target, pred, mask = target.float(), pred.float(), mask.float()
    x, m = torch.cat((target, pred)), torch.cat((mask, mask))
    # the blur of the hole's pixels alone: what lies outside the hole (and the step to it)
    # does not enter; a hole pixel always weighs in its own blur, so the division is safe
    weight = _blur(mask).clamp_min(1e-6).repeat(2, 1, 1, 1)  # the same for truth and fill
    high = x - _blur(x * m) / weight
    energy = (high**2 * m).sum(dim=(1, 2, 3))
    truth, fill = energy.chunk(2)
    hole = mask.sum(dim=(1, 2, 3))
    eps = _TEXTURE_EPS * hole * target.shape[1]
    ratio = (fill + eps) / (truth + eps)
    return torch.where(hole > 0, ratio, torch.full_like(ratio, math.nan))


def hole_mse(target: Tensor, pred: Tensor, mask: Tensor) -> Tensor:
    """Per-image mean squared error over the hole's pixels and channels ``(B,)``; 0 for an
    image without a hole pixel (``per_image`` reports nan there, the ``psnr_hole`` loss
    term adds nothing)."""
    n = (mask.sum(dim=(1, 2, 3)) * target.shape[1]).clamp(min=1)
    return ((pred - target) ** 2 * mask).sum(dim=(1, 2, 3)) / n


def per_image(target: Tensor, pred: Tensor, mask: Tensor) -> dict[str, Tensor]:
    """Per-image metrics ``(B,)``: psnr/ssim/l1 over the whole image and in the hole, and
    the hole's texture ratio. Hole values are nan for images without a hole pixel."""
    _check(target, pred, mask)
    target, pred, mask = target.float(), pred.float(), mask.float()
    c = target.shape[1]
    err = pred - target
    hole_px = mask.sum(dim=(1, 2, 3))  # (B,) pixels, each with c channels
    has_hole = hole_px > 0

    def hole_mean(x: Tensor, channels: int) -> Tensor:
        v = (x * mask).sum(dim=(1, 2, 3)) / (hole_px * channels).clamp(min=1)
        return torch.where(has_hole, v, torch.full_like(v, math.nan))

    ssim = ssim_map(target, pred)
    return {
        "psnr_hole": torch.where(has_hole, _psnr(hole_mse(target, pred, mask)),
                                 torch.full_like(hole_px, math.nan)),
        "ssim_hole": hole_mean(ssim, 1),
        "l1_hole": hole_mean(err.abs(), c),
        "texture_hole": texture_ratio(target, pred, mask),
        "psnr": _psnr((err**2).mean(dim=(1, 2, 3))),
        "ssim": ssim.mean(dim=(1, 2, 3)),
        "l1": err.abs().mean(dim=(1, 2, 3)),
    }


class MetricAccumulator:
    """Accumulates metrics over batches; ``compute()`` gives the means over all images.

    Dice pairs run across ``update()`` calls in order: an odd image left over from one
    batch is paired with the first image of the next, so the result does not depend on
    how the test set was batched (a final odd image is scored alone).
    """

    def __init__(self) -> None:
        self._sums = {k: 0.0 for k in KEYS if k not in ("dice", "n_images")}
        self._counts = dict.fromkeys(self._sums, 0)
        self._dice_sum = 0.0
        self._dice_n = 0
        self._left: tuple[Tensor, Tensor] | None = None  # the unpaired (target, pred) image
        self.n_images = 0
        # per hole-area bin: sums and counts of the hole metrics
        self._bin_sums = torch.zeros(len(AREA_BINS), len(BINNED), dtype=torch.float64)
        self._bin_counts = torch.zeros(len(AREA_BINS), dtype=torch.long)
        self._images: list[Tensor] = []  # per batch: (B, len(BINNED)) hole metrics per image
        self._bins: list[Tensor] = []  # per batch: (B,) hole-area bin, -1 without a hole

    @torch.no_grad()
    def update(self, target: Tensor, pred: Tensor, mask: Tensor) -> None:
        """Add a batch: target/pred float ``(B, 3, H, W)`` in 0..1, mask ``(B, 1, H, W)``."""
        _check(target, pred, mask)
        if target.shape[0] == 0:
            return
        values_by_key = per_image(target, pred, mask)
        frac = mask.float().mean(dim=(1, 2, 3))  # (B,) hole fraction
        has_hole = frac > 0
        for key, values in values_by_key.items():
            # Hole metrics skip images without a hole; a NaN from a broken prediction is
            # kept, so the mean is NaN too (never a score that ranks).
            ok = has_hole if key in IMAGE_METRICS else torch.ones_like(has_hole)
            self._sums[key] += float(values[ok].double().sum())
            self._counts[key] += int(ok.sum())
        bins = torch.where(has_hole, area_bin(frac), torch.full_like(frac, -1, dtype=torch.long))
        self._images.append(torch.stack([values_by_key[k].double().cpu()
                                         for k in IMAGE_METRICS], 1))
        self._bins.append(bins.cpu())
        ok = has_hole.cpu()
        if ok.any():
            vals = self._images[-1][ok][:, :len(BINNED)]
            finite = ~torch.isinf(vals).any(1)  # a perfect (inf) PSNR is left out of bins
            hole_bins = bins.cpu()[ok]
            self._bin_sums.index_add_(0, hole_bins[finite], vals[finite])
            self._bin_counts += torch.bincount(hole_bins[finite], minlength=len(AREA_BINS))
        self.n_images += target.shape[0]
        y, p = target.detach(), pred.detach()
        if self._left is not None:
            y = torch.cat((self._left[0].to(y.device), y))
            p = torch.cat((self._left[1].to(p.device), p))
            self._left = None
        if y.shape[0] % 2:
            self._left = (y[-1:].clone(), p[-1:].clone())
            y, p = y[:-1], p[:-1]
        if y.shape[0]:
            dice = dice_pairs(y, p)
            self._dice_sum += float(dice.sum())
            self._dice_n += dice.numel()

    def compute(self) -> dict[str, float | int]:
        """Means over all images so far (the pending odd image, if any, counts as a pair of
        one). Keys: dice, psnr_hole, ssim_hole, l1_hole, texture_hole, psnr, ssim, l1, n_images. Values may
        be inf (a perfect PSNR) or nan (no images, or no holes)."""
        dice_sum, dice_n = self._dice_sum, self._dice_n
        if self._left is not None:
            dice_sum += float(dice_pairs(*self._left).sum())
            dice_n += 1
        out: dict[str, float | int] = {"dice": dice_sum / dice_n if dice_n else math.nan}
        for key in ("psnr_hole", "ssim_hole", "l1_hole", "texture_hole", "psnr", "ssim", "l1"):
            n = self._counts[key]
            out[key] = self._sums[key] / n if n else math.nan
        out["n_images"] = self.n_images
        out.update(self.binned())
        return out

    def binned(self) -> dict[str, float | int]:
        """Hole metrics per hole-area bin (``psnr_hole@10-20``, ..., ``n@10-20``), only when
        the masks span more than one bin (a fixed-size hole has nothing to split)."""
        if int((self._bin_counts > 0).sum()) < 2:
            return {}
        out: dict[str, float | int] = {}
        for i, (lo, hi) in enumerate(AREA_BINS):
            n = int(self._bin_counts[i])
            if n == 0:
                continue
            name = bin_name(lo, hi)
            for j, key in enumerate(BINNED):
                out[f"{key}@{name}"] = float(self._bin_sums[i, j]) / n
            out[f"n@{name}"] = n
        return out


    def image_scores(self) -> dict[str, np.ndarray]:
        """The hole metrics of every image so far, in order: ``psnr_hole``, ``ssim_hole``,
        ``l1_hole``, ``texture_hole`` (float64, NaN for an image without a hole) and ``bin`` (the hole-area
        bin index into ``AREA_BINS``, -1 without a hole). These are what intervals and
        paired tests resample (``zoo.stats``)."""
        vals = (torch.cat(self._images) if self._images
                else torch.zeros(0, len(IMAGE_METRICS), dtype=torch.float64)).numpy()
        bins = torch.cat(self._bins).numpy() if self._bins else np.zeros(0, np.int64)
        return {**{k: vals[:, j].copy() for j, k in enumerate(IMAGE_METRICS)},
                "bin": bins.astype(np.int8)}


def score(target: Tensor, pred: Tensor, mask: Tensor) -> dict[str, float | int]:
    """One-shot convenience: ``MetricAccumulator`` over a single batch."""
    acc = MetricAccumulator()
    acc.update(target, pred, mask)
    return acc.compute()
