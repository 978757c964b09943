"""Rich rendering of one evaluation: the model beside the ceiling and classical baselines."""

from __future__ import annotations

import math
from typing import Any

from rich.table import Table

from zoo.metrics import REFERENCE_METRICS, TABLE

# (key, header, decimals) of the brief metrics, from the one metric table
COLUMNS = tuple((k, TABLE[k].label, TABLE[k].short) for k in REFERENCE_METRICS if TABLE[k].brief)


def _fmt(value: Any, digits: int) -> str:
    if value is None:
        return "-"
    if isinstance(value, float) and math.isinf(value):
        return "inf"
    return f"{value:.{digits}f}"


def metrics_table(result: dict[str, Any], title: str, name: str = "model") -> Table:
    """One row for the model, then one per reference (ceiling, baselines), same masks."""
    table = Table(title=title)
    table.add_column("")
    for _, header, _ in COLUMNS:
        table.add_column(header, justify="right")
    if any(k in result for k, _, _ in COLUMNS):
        table.add_row(f"[bold]{name}[/]", *(_fmt(result.get(k), d) for k, _, d in COLUMNS))
    for ref, metrics in (result.get("baselines") or {}).items():
        table.add_row(f"[dim]{ref}[/]", *(_fmt(metrics.get(k), d) for k, _, d in COLUMNS),
                      style="dim")
    return table


def area_table(result: dict[str, Any], title: str, name: str = "model") -> Table | None:
    """Hole PSNR / SSIM per hole-area bin (``psnr_hole@10-20`` ...), the model beside the
    references on the same masks; None when the evaluation had one size of hole."""
    bins = [k.split("@", 1)[1] for k in result if k.startswith("n@")]
    if not bins:
        return None
    table = Table(title=title)
    table.add_column("hole area")
    table.add_column("images", justify="right")
    refs = {r: m for r, m in (result.get("baselines") or {}).items() if r != "ceiling"}
    for who in (name, *refs):
        table.add_column(f"{who} PSNR / SSIM", justify="right")
    for b in bins:
        cells = [f"{b} %", str(result[f"n@{b}"])]
        for metrics in (result, *refs.values()):
            cells.append(f"{_fmt(metrics.get(f'psnr_hole@{b}'), 2)} / "
                         f"{_fmt(metrics.get(f'ssim_hole@{b}'), 3)}")
        table.add_row(*cells)
    return table
