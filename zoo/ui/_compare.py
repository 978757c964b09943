"""The Compare tab's work, with no Gradio in it: the grid of `zoo compare` on the frozen
test holes (``zoo.cli.compare.frozen_grid``, the command's own function) for models the
server offers, or two models and Telea on a client's photo (the Inpaint tab's ``fill``)."""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

from zoo.errors import ZooError

MAX_ROWS = 16  # test images in one grid: enough to judge, small enough to send


def frozen(catalog: Any, names: list[str], n: int, out_root: Path,
           baselines: tuple[str, ...] = ("telea",)) -> tuple[str, list[list[str]], str]:
    """(grid PNG path, [[method, hole PSNR, hole SSIM, hole L1], ...], title) of the named
    models on the first ``n`` frozen test holes of the first one's dataset and mask kind."""
    from zoo.cli.compare import _labels, frozen_grid
    from zoo.viz import render_grid

    names = list(dict.fromkeys(catalog.check(name) for name in names or []))
    if len(names) < 2:
        raise ZooError("pick two or more models to compare")
    if not 1 <= int(n) <= MAX_ROWS:
        raise ZooError(f"the grid shows 1 to {MAX_ROWS} test images, not {n}")
    models = [catalog.get(name) for name in names]
    configs = [m.config for m in models]
    grid = frozen_grid(_labels(names, configs), [m.net for m in models], configs,
                       list(baselines), int(n))
    out = Path(tempfile.mkdtemp(prefix="compare-", dir=out_root)) / "compare.png"
    path = render_grid(grid.columns, out)
    return str(path), grid.rows(), grid.title


def header() -> list[str]:
    """The score table's columns, as `zoo compare` prints them."""
    from zoo.cli.compare import Grid

    return Grid.header()


def on_photo(catalog: Any, picture: Any, hole: Any, names: list[str], stem: str,
             out_root: Path) -> list[tuple[str, str]]:
    """Two models and Telea on a client's photo and hole (``zoo.ui._inpaint.fill``)."""
    from zoo.ui._inpaint import fill

    names = list(dict.fromkeys(catalog.check(name) for name in names or []))
    if len(names) != 2:
        raise ZooError(f"a photo is compared between exactly two models; {len(names)} picked")
    return fill(catalog, picture, hole, names, stem, out_root)
