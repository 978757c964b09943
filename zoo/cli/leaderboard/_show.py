"""`zoo leaderboard show TRIAL`: one trial in full, beside the references on its masks."""

from __future__ import annotations

import argparse
import sys

from zoo._json import dumps
from zoo.cli.leaderboard._cells import cell, fmt
from zoo.cli.leaderboard._formats import SHOW_FORMATS
from zoo.errors import unknown
from zoo.leaderboard import METRICS, REFERENCE_METRICS, Leaderboard


def run_show(lb: Leaderboard, args: argparse.Namespace) -> int:
    if args.format not in SHOW_FORMATS:
        raise unknown("format for show", args.format, SHOW_FORMATS)
    row = lb.get(args.trial, search=args.search)
    refs = lb.references(eval_id=row["eval_id"]) if row.get("eval_id") else []
    if args.format == "json":
        sys.stdout.write(dumps({**row, "references": refs}, indent=2) + "\n")
        return 0
    from rich.table import Table

    from zoo.cli._console import console, escape

    info = Table.grid(padding=(0, 2))
    info.add_column(style="bold", no_wrap=True)
    info.add_column(overflow="fold")
    for key in ("search", "trial_id", "status", "encoder", "plugin_version", "dataset", "mask",
                "seed", "epochs", "config_hash", "eval_id", "device", "params", "train_time_s",
                "train_images_per_s", "error", "created_at", "updated_at"):
        if row.get(key) is not None:
            info.add_row(key, escape(fmt(key, row[key]) if key in METRICS else str(row[key])))
    extra = {k: v for k, v in (row.get("metrics") or {}).items()
             if k not in REFERENCE_METRICS and "@" in k}
    for key, value in sorted(extra.items()):  # e.g. psnr_hole@0-10: per hole-area bin
        info.add_row(escape(key), cell(key, value))
    console.print(info)
    _print_paths(row)
    scores = Table(title="metrics" + (" beside the references on the same masks" if refs else ""))
    scores.add_column("metric")
    scores.add_column("this trial", justify="right", style="bold")
    for ref in refs:
        scores.add_column(escape(ref["name"]), justify="right", style="dim")
    for m in REFERENCE_METRICS:
        scores.add_row(m, fmt(m, row.get(m)), *(fmt(m, ref.get(m)) for ref in refs))
    console.print(scores)
    console.print("config:", style="bold")
    console.print_json(dumps(row.get("config") or {}, sort_keys=True))
    return 0


def _print_paths(row: dict) -> None:
    """A trial's paths, one per line and never wrapped by zoo (a narrow terminal folds the
    line, but a copied path is whole)."""
    from zoo.cli._console import console, escape

    paths = [(k, row.get(k)) for k in ("checkpoint", "grid_png", "curves_png")]
    paths.append(("data_dir", (row.get("config") or {}).get("data_dir")))
    width = max(len(k) for k, _ in paths)
    for key, path in paths:
        if path:
            console.print(f"[bold]{key:<{width}}[/]  {escape(path)}", soft_wrap=True,
                          highlight=False)
