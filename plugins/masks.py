"""Built-in mask generators: ``paper``, ``square`` and ``irregular``.

Every generator returns a float tensor ``(n, 1, h, w)`` of 0/1 (1 = hole), drawn with the
given ``torch.Generator`` on ``device`` and vectorised over the batch: masks are made on
the GPU next to the model each step, so a per-image Python loop would be the bottleneck.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import Tensor

import zoo
from zoo.errors import ZooError
from zoo.hookspecs import MaskSpec

REF = 32  # the paper's image side; the `paper` mask is defined at this size


def _check(ok: bool, message: str) -> None:
    if not ok:
        raise ZooError(message)


def _grid(h: int, w: int, device: torch.device | str) -> tuple[Tensor, Tensor]:
    rows = torch.arange(h, device=device).view(1, h, 1)
    cols = torch.arange(w, device=device).view(1, 1, w)
    return rows, cols


def _box(top: Tensor, left: Tensor, bh: Tensor, bw: Tensor, h: int, w: int,
         device: torch.device | str) -> Tensor:
    """Filled boxes, one per image: rows top..top+bh-1, cols left..left+bw-1 -> (n, 1, h, w)."""
    rows, cols = _grid(h, w, device)
    top, left, bh, bw = (t.view(-1, 1, 1) for t in (top, left, bh, bw))
    inside = (rows >= top) & (rows < top + bh) & (cols >= left) & (cols < left + bw)
    return inside.unsqueeze(1).float()


# --- paper ---------------------------------------------------------------------------------


@dataclass
class PaperMaskConfig:
    """The reference code's mask: a filled ``size`` x ``size`` square at (r, r) on the diagonal."""

    size: int = 11  # cv2.rectangle((r, r), (r + 10, r + 10)) is inclusive: 11 pixels a side
    low: int = 2  # smallest r at 32x32
    high: int = 19  # largest r at 32x32 (inclusive): the square ends at row 29 at most

    def __post_init__(self) -> None:
        _check(self.size >= 1, "mask_args.size must be >= 1")
        _check(0 <= self.low <= self.high, "mask_args.low must be in 0..high")
        _check(self.high + self.size <= REF,
               f"mask_args.high + size must be <= {REF} (the square must fit a 32x32 image), "
               f"got {self.high} + {self.size}")


def paper_masks(config: PaperMaskConfig, n: int, h: int, w: int,
                generator: torch.Generator | None = None,
                device: torch.device | str = "cpu") -> Tensor:
    """Paper masks. At 32x32 exactly the reference geometry; other sizes scale it: the side and
    the range of r scale with each axis, and r is drawn once so the square stays diagonal."""
    r = torch.randint(config.low, config.high + 1, (n,), generator=generator, device=device)
    if h == REF and w == REF:
        side = torch.full_like(r, config.size)
        return _box(r, r, side, side, h, w, device)

    def axis(length: int) -> tuple[Tensor, Tensor]:
        side = max(1, round(config.size * length / REF))
        pos = torch.div(r * length, REF, rounding_mode="floor").clamp(0, max(0, length - side))
        return pos, torch.full_like(pos, min(side, length))

    top, bh = axis(h)
    left, bw = axis(w)
    return _box(top, left, bh, bw, h, w, device)


# --- square --------------------------------------------------------------------------------


@dataclass
class SquareMaskConfig:
    """A square of random side (a fraction of the shorter image side) at a random position."""

    min_frac: float = 0.25  # 8 px on CIFAR: smaller holes are trivial for any method
    max_frac: float = 0.5  # 16 px on CIFAR: a quarter of the image

    def __post_init__(self) -> None:
        _check(0.0 < self.min_frac <= self.max_frac <= 1.0,
               "mask_args needs 0 < min_frac <= max_frac <= 1, "
               f"got min_frac={self.min_frac}, max_frac={self.max_frac}")


def square_masks(config: SquareMaskConfig, n: int, h: int, w: int,
                 generator: torch.Generator | None = None,
                 device: torch.device | str = "cpu") -> Tensor:
    """Random squares fully inside the image; the side is uniform over whole pixels."""
    short = min(h, w)
    lo = max(1, math.ceil(config.min_frac * short - 1e-9))
    hi = max(lo, math.floor(config.max_frac * short + 1e-9))
    side = torch.randint(lo, hi + 1, (n,), generator=generator, device=device)
    u = torch.rand(2, n, generator=generator, device=device)
    top = torch.floor(u[0] * (h - side + 1)).long()
    left = torch.floor(u[1] * (w - side + 1)).long()
    return _box(top, left, side, side, h, w, device)


# --- irregular -----------------------------------------------------------------------------


@dataclass
class IrregularMaskConfig:
    """Free-form masks of real use, after DeepFill v2 and LaMa: random-walk strokes of
    varying width plus boxes, with a controlled hole area.

    Lengths and widths are fractions of the shorter image side, so one config works at any
    size. Each image gets a target hole fraction, uniform in [min_hole, max_hole], and
    keeps the closest of ``candidates`` draws of 1..max_strokes strokes (and, with
    probability ``box_prob``, a box): hole areas then cover the whole range, which is what
    the per-area-bin evaluation (0-10 %, ..., 50-60 %) needs.
    """

    min_strokes: int = 1
    max_strokes: int = 10
    min_vertices: int = 2  # vertices per stroke; a stroke has vertices - 1 segments
    max_vertices: int = 5
    min_length: float = 0.1  # segment length
    max_length: float = 0.4
    min_width: float = 0.03  # stroke thickness (1 px on CIFAR: scratches)
    max_width: float = 0.25  # (8 px on CIFAR: blobs)
    max_turn: float = 2.0  # largest change of direction between segments, radians
    box_prob: float = 0.3  # chance that a draw also has a box (LaMa's mixed masks)
    min_box: float = 0.1  # box sides, fractions of the shorter side
    max_box: float = 0.5
    min_hole: float = 0.01  # target hole fraction, uniform in [min_hole, max_hole]
    max_hole: float = 0.6  # the largest bin of the usual evaluation tables is 50-60 %

    def __post_init__(self) -> None:
        _check(1 <= self.min_strokes <= self.max_strokes,
               "mask_args needs 1 <= min_strokes <= max_strokes")
        _check(2 <= self.min_vertices <= self.max_vertices,
               "mask_args needs 2 <= min_vertices <= max_vertices")
        _check(0 < self.min_length <= self.max_length, "mask_args needs 0 < min_length <= max_length")
        _check(0 < self.min_width <= self.max_width, "mask_args needs 0 < min_width <= max_width")
        _check(0.0 <= self.box_prob <= 1.0, "mask_args.box_prob must be in [0, 1]")
        _check(0 < self.min_box <= self.max_box <= 1.0, "mask_args needs 0 < min_box <= max_box <= 1")
        _check(0.0 <= self.min_hole <= self.max_hole <= 1.0,
               "mask_args needs 0 <= min_hole <= max_hole <= 1")


def _uniform(lo: float, hi: float, shape: tuple[int, ...], generator: torch.Generator | None,
             device: torch.device | str) -> Tensor:
    return lo + (hi - lo) * torch.rand(shape, generator=generator, device=device)


def _strokes(config: IrregularMaskConfig, hole: Tensor, target: Tensor,
             generator: torch.Generator | None) -> Tensor:
    """Add max_strokes strokes one after the other to ``hole`` (n, h, w) bool and keep, per
    image, the prefix of stroke segments (at least min_strokes strokes' worth) whose hole
    fraction is closest to ``target`` (n,) -> (n, h, w) bool."""
    n, h, w = hole.shape
    device = hole.device
    s, v = config.max_strokes, config.max_vertices
    short = min(h, w)
    n_vertices = torch.randint(config.min_vertices, v + 1, (n, s), generator=generator, device=device)
    start = torch.rand(n, s, 2, generator=generator, device=device) * torch.tensor(
        [h, w], device=device, dtype=torch.float32)  # (n, s, 2) as (y, x)
    angle0 = _uniform(0.0, 2 * math.pi, (n, s, 1), generator, device)
    turns = _uniform(-config.max_turn, config.max_turn, (n, s, v - 1), generator, device)
    angles = angle0 + torch.cumsum(turns, dim=-1)  # (n, s, v-1)
    lengths = _uniform(config.min_length, config.max_length, (n, s, v - 1), generator, device) * short
    steps = torch.stack((torch.sin(angles), torch.cos(angles)), dim=-1) * lengths.unsqueeze(-1)
    points = torch.cat((start.unsqueeze(2), start.unsqueeze(2) + torch.cumsum(steps, dim=2)), 2)
    limit = torch.tensor([h - 1, w - 1], device=device, dtype=torch.float32)
    points = torch.minimum(points.clamp(min=0.0), limit)  # (n, s, v, 2); walks stay inside
    half = _uniform(config.min_width, config.max_width, (n, s), generator, device) * short / 2

    ys = torch.arange(h, device=device, dtype=torch.float32).view(1, h, 1)
    xs = torch.arange(w, device=device, dtype=torch.float32).view(1, 1, w)
    best = hole.clone()
    best_gap = torch.full((n,), math.inf, device=device)
    # Loop over stroke/segment slots (a few dozen), never over images: each pass tests every
    # pixel of every image against one segment with the point-to-segment distance.
    for i in range(s):
        for j in range(v - 1):
            on = (j + 1 < n_vertices[:, i]).view(n, 1, 1)
            a, b = points[:, i, j], points[:, i, j + 1]  # (n, 2)
            d = b - a
            ay, ax = a[:, 0].view(n, 1, 1), a[:, 1].view(n, 1, 1)
            dy, dx = d[:, 0].view(n, 1, 1), d[:, 1].view(n, 1, 1)
            t = ((ys - ay) * dy + (xs - ax) * dx) / (dy * dy + dx * dx).clamp(min=1e-6)
            t = t.clamp(0.0, 1.0)
            dist2 = (ys - ay - t * dy) ** 2 + (xs - ax - t * dx) ** 2
            hole |= on & (dist2 <= half[:, i].view(n, 1, 1) ** 2)
            if i + 1 < config.min_strokes:
                continue
            # every segment is a candidate end point: a fine-grained control of the area
            area = hole.float().mean(dim=(1, 2))
            outside = (area < config.min_hole) | (area > config.max_hole)
            gap = (area - target).abs() + outside.float()  # inside the bounds comes first
            better = gap < best_gap
            best[better] = hole[better]
            best_gap = torch.where(better, gap, best_gap)
    return best


def _boxes(config: IrregularMaskConfig, target: Tensor, h: int, w: int,
           generator: torch.Generator | None, device: torch.device | str) -> Tensor:
    """With probability box_prob per image, one box of random sides, no larger than the
    image's target hole area -> (n, 1, h, w)."""
    n = target.shape[0]
    short = min(h, w)
    sides = _uniform(config.min_box, config.max_box, (2, n), generator, device) * short
    shrink = (target * h * w / sides.prod(0).clamp(min=1e-6)).sqrt().clamp(max=1.0)
    sides = sides * shrink
    bh = sides[0].round().long().clamp(1, h)
    bw = sides[1].round().long().clamp(1, w)
    u = torch.rand(3, n, generator=generator, device=device)
    top = torch.floor(u[0] * (h - bh + 1)).long()
    left = torch.floor(u[1] * (w - bw + 1)).long()
    on = (u[2] < config.box_prob).float().view(n, 1, 1, 1)
    return _box(top, left, bh, bw, h, w, device) * on


_CHUNK_PIXELS = 2**23  # images per chunk x pixels: bounds the memory of a frozen set


def irregular_masks(config: IrregularMaskConfig, n: int, h: int, w: int,
                    generator: torch.Generator | None = None,
                    device: torch.device | str = "cpu") -> Tensor:
    """An optional box, then strokes until the hole is closest to its target fraction."""
    chunk = max(1, _CHUNK_PIXELS // (h * w))
    out = []
    for first in range(0, n, chunk):
        m = min(chunk, n - first)
        target = _uniform(config.min_hole, config.max_hole, (m,), generator, device)
        hole = _boxes(config, target, h, w, generator, device)[:, 0] > 0  # (m, h, w)
        out.append(_strokes(config, hole, target, generator))
    return torch.cat(out).unsqueeze(1).float() if out else torch.zeros(0, 1, h, w, device=device)


# --- mixed --------------------------------------------------------------------------------


@dataclass
class MixedMaskConfig:
    """Each image's mask from one of several registered kinds, picked at random: a model
    trained on it serves both the paper's squares and free-form holes of real use."""

    kinds: str = "paper,irregular"  # comma-separated registered mask kinds, each with defaults
    weights: str = ""  # comma-separated relative weights; empty: equal

    def __post_init__(self) -> None:
        names = [k.strip() for k in self.kinds.split(",") if k.strip()]
        _check(len(names) >= 1 and "mixed" not in names,
               "mask_args.kinds must name one or more mask kinds other than mixed")
        if self.weights:
            try:
                w = [float(x) for x in self.weights.split(",")]
            except ValueError:
                raise ZooError("mask_args.weights must be comma-separated numbers") from None
            _check(len(w) == len(names) and all(x >= 0 for x in w) and sum(w) > 0,
                   f"mask_args.weights needs {len(names)} non-negative numbers, one per kind")


def mixed_masks(config: MixedMaskConfig, n: int, h: int, w: int,
                generator: torch.Generator | None = None,
                device: torch.device | str = "cpu") -> Tensor:
    """Every kind draws n masks; each image keeps the one of its randomly picked kind."""
    from zoo.masks import make_masks

    names = [k.strip() for k in config.kinds.split(",") if k.strip()]
    weights = torch.tensor([float(x) for x in config.weights.split(",")] if config.weights
                           else [1.0] * len(names), device=device)
    pick = torch.multinomial(weights / weights.sum(), n, replacement=True,
                             generator=generator)  # (n,)
    out = torch.zeros(n, 1, h, w, device=device)
    for i, name in enumerate(names):
        masks = make_masks(name, None, n, h, w, generator=generator, device=device)
        out = torch.where((pick == i).view(n, 1, 1, 1), masks, out)
    return out


@zoo.hookimpl
def zoo_register_masks(register) -> None:
    """Register the built-in mask generators."""
    register(MaskSpec("paper", PaperMaskConfig, paper_masks,
                      "the reference code's 11x11 square at (r, r), r uniform in 2..19"))
    register(MaskSpec("square", SquareMaskConfig, square_masks,
                      "a square of random size (min_frac..max_frac of the side), random position"))
    register(MaskSpec("irregular", IrregularMaskConfig, irregular_masks,
                      "free-form strokes of varying width plus boxes, hole area uniform in 1-60 % "
                      "(DeepFill v2 / LaMa style)"))
    register(MaskSpec("mixed", MixedMaskConfig, mixed_masks,
                      "per image, a mask of one of several kinds (default: paper or irregular)"))
