"""Result pictures: grids of inpainted test images and learning curves.

A grid has one row per test image and one column per method (masked input, model,
baselines, ground truth), every cell upscaled with nearest-neighbour so 32x32 CIFAR images
stay readable, and a label above each column. The same holes (the frozen test masks) are
used in every column, so the columns compare like with like.

Files are written atomically (temp file + rename): a crash never leaves a half PNG.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image, ImageDraw, ImageFont
from torch import Tensor

from zoo.errors import ZooError

SCALE = 4  # 32x32 -> 128x128 cells
PAD = 2  # pixels between cells and around the grid
LINE_H = 12  # one label line
BACKGROUND = (255, 255, 255)
HOLE_COLOUR = (255, 0, 255)  # magenta: visible on dark and light images alike
CURVES_SIZE = (9.0, 3.2)  # inches at CURVES_DPI -> 900 x 320 pixels
CURVES_DPI = 100

Method = Callable[[Tensor, Tensor], Tensor]  # (masked, mask) -> (B, 3, H, W) in 0..1


def save_png_atomic(image: Image.Image, path: str | os.PathLike, **save_args: Any) -> Path:
    """Save ``image`` as PNG at ``path`` via a temp file in the same folder and a rename
    (``zoo._atomic``: never over a symlink, no partial file on error)."""
    from zoo._atomic import write_with

    return write_with(path, lambda tmp: image.save(tmp, format="PNG", **save_args))


def grid_size(rows: int, cols: int, h: int, w: int, *, label_lines: int = 1,
              scale: int = SCALE) -> tuple[int, int]:
    """Pixel size ``(width, height)`` of a grid of ``rows`` x ``cols`` cells of h x w images."""
    header = label_lines * LINE_H + PAD
    return (cols * w * scale + (cols + 1) * PAD,
            header + rows * h * scale + (rows + 1) * PAD)


def _fit(draw: ImageDraw.ImageDraw, text: str, font: Any, width: int) -> str:
    """``text`` shortened with an ellipsis until it fits ``width`` pixels."""
    if draw.textlength(text, font=font) <= width:
        return text
    while text and draw.textlength(text + "…", font=font) > width:
        text = text[:-1]
    return text + "…"


def render_grid(columns: Sequence[tuple[str, Tensor]], path: str | os.PathLike, *,
                scale: int = SCALE) -> Path:
    """Write a PNG grid: ``columns`` is ``[(label, images (N, 3, H, W) float 0..1), ...]``,
    one column each, rows in image order. Labels may hold newlines (one per line)."""
    if not columns:
        raise ZooError("a grid needs at least one column")
    n, _, h, w = columns[0][1].shape
    for label, imgs in columns:
        if tuple(imgs.shape) != (n, 3, h, w):
            raise ZooError(f"grid column '{label}' has shape {tuple(imgs.shape)}, "
                           f"expected {(n, 3, h, w)} like the first column")
    lines = max(len(label.split("\n")) for label, _ in columns)
    size = grid_size(n, len(columns), h, w, label_lines=lines, scale=scale)
    canvas = Image.new("RGB", size, BACKGROUND)
    draw = ImageDraw.Draw(canvas)
    font = ImageFont.load_default()
    cell_w, cell_h = w * scale, h * scale
    top = lines * LINE_H + PAD
    for c, (label, imgs) in enumerate(columns):
        x0 = PAD + c * (cell_w + PAD)
        for i, text in enumerate(label.split("\n")):
            draw.text((x0, 1 + i * LINE_H), _fit(draw, text, font, cell_w), fill=(0, 0, 0),
                      font=font)
        cells = (imgs.detach().float().clamp(0, 1) * 255).round().to(torch.uint8).cpu()
        cells = cells.permute(0, 2, 3, 1).numpy()  # (N, H, W, 3)
        for r in range(n):
            big = cells[r].repeat(scale, axis=0).repeat(scale, axis=1)  # nearest upscaling
            canvas.paste(Image.fromarray(big),  # uint8 (h, w, 3): RGB
                         (x0, top + PAD + r * (cell_h + PAD)))
    return save_png_atomic(canvas, path)


def show_holes(masked: Tensor, mask: Tensor) -> Tensor:
    """The masked input with its hole painted magenta (black holes vanish in dark images)."""
    colour = torch.tensor(HOLE_COLOUR, dtype=masked.dtype, device=masked.device).view(1, 3, 1, 1)
    return masked * (1 - mask) + colour / 255 * mask


@torch.no_grad()
def predict_batch(model: torch.nn.Module, masked: Tensor, mask: Tensor) -> Tensor:
    """The model's output on the model's device, in eval mode, composited onto the known
    pixels (what `zoo inpaint` hands a user); returned on the CPU."""
    device = next(model.parameters()).device
    was_training = model.training
    model.eval()
    try:
        out = model(masked.to(device), mask.to(device)).float().clamp(0, 1).cpu()
    finally:
        model.train(was_training)
    return masked * (1 - mask) + out * mask


def save_eval_grid(model: torch.nn.Module, images_uint8: Tensor, masks: Tensor,
                   path: str | os.PathLike, n: int = 8,
                   extra: Mapping[str, Method] | None = None) -> Path:
    """PNG grid of the first ``n`` test images: masked input | model | extra methods (e.g.
    ``{"telea": BASELINES["telea"]}``) | ground truth. ``images_uint8`` (N, 3, H, W) uint8,
    ``masks`` (N, 1, H, W) with 1 = hole (pass the frozen test masks)."""
    x = images_uint8[:n].cpu().float() / 255  # (n, 3, H, W)
    m = masks[:n].cpu().float()  # (n, 1, H, W)
    if x.shape[0] == 0:
        raise ZooError("no test images to draw a grid of")
    masked = x * (1 - m)
    columns = [("masked", show_holes(masked, m)), ("model", predict_batch(model, masked, m))]
    for name, fn in (extra or {}).items():
        columns.append((name, fn(masked, m).float().cpu()))
    columns.append(("ground truth", x))
    return render_grid(columns, path)


def save_learning_curves(history: Sequence[Mapping[str, Any]], path: str | os.PathLike) -> Path:
    """PNG of training loss and validation hole PSNR per epoch (``train()``'s history)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    if not history:
        raise ZooError("no epochs in the history yet; nothing to plot")
    epochs = [int(r.get("epoch", i + 1)) for i, r in enumerate(history)]
    # Figure + Agg canvas directly, not pyplot: no global state, safe in Tune workers.
    fig = Figure(figsize=CURVES_SIZE, dpi=CURVES_DPI)
    FigureCanvasAgg(fig)
    panels = (("train_loss", "training loss", "tab:blue"),
              ("val_psnr_hole", "validation PSNR in the hole (dB)", "tab:orange"))
    for i, (key, title, colour) in enumerate(panels):
        ax = fig.add_subplot(1, 2, i + 1)
        points = [(e, float(r[key])) for e, r in zip(epochs, history)
                  if r.get(key) is not None and np.isfinite(float(r[key]))]
        if points:
            ax.plot(*zip(*points), marker="o", color=colour)
        else:
            ax.text(0.5, 0.5, f"no {key}", ha="center", va="center", transform=ax.transAxes)
        ax.set_title(title, fontsize=10)
        ax.set_xlabel("epoch")
        ax.grid(alpha=0.3)
        ax.xaxis.get_major_locator().set_params(integer=True)
    fig.tight_layout()
    from zoo._atomic import write_with

    return write_with(path, lambda tmp: fig.savefig(tmp, format="png", dpi=CURVES_DPI))
