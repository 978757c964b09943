"""`zoo compare A B --stats`: the paired test, printed as a table or one JSON object."""

from __future__ import annotations

import argparse
import math
from typing import Any

from zoo.errors import ZooError
from zoo.metrics import TABLE


def _fmt(value: float, digits: int) -> str:
    return "nan" if math.isnan(value) else f"{value:+.{digits}f}"


def _p(value: float) -> str:
    if math.isnan(value):
        return "n/a"
    return "<1e-4" if value < 1e-4 else f"{value:.4f}"


def run_stats(args: argparse.Namespace) -> int:
    from zoo._json import dumps
    from zoo.evidence import check_side, compare_sides, side
    from zoo.device import resolve_device

    if len(args.models) != 2:
        raise ZooError(f"--stats compares exactly two sides, A and B; got {len(args.models)} "
                       "(list the seeds of one config with commas: A1,A2 B1,B2)")
    for text in args.models:
        check_side(text)
    device = str(resolve_device(args.device))
    overrides = {"mask": args.mask, "test_limit": args.test_limit}
    if args.test_limit is not None and args.test_limit < 1:
        raise ZooError("--test-limit must be >= 1")
    common = {"storage": args.storage, "db": args.db, "data": args.data, "device": device,
              "overrides": overrides}
    first, second = args.models
    if first.startswith("baseline:") and not second.startswith("baseline:"):
        b, config = side(second, **common)
        a, _ = side(first, like=config, **common)
    else:
        a, config = side(first, **common)
        b, _ = side(second, like=config, **common)
    results = compare_sides(a, b)
    if args.json:
        main = results["psnr_hole"].to_dict()
        print(dumps({**main, "a": a.label, "b": b.label, "eval_id": a.eval_id,
                     "metrics": {m: c.to_dict() for m, c in results.items()}}))
        return 0
    _print(a, b, results)
    return 0


def _print(a: Any, b: Any, results: dict[str, Any]) -> None:
    from rich.table import Table

    from zoo.cli._console import console, escape

    first = results["psnr_hole"]
    table = Table(title=f"A = {escape(a.label)}   B = {escape(b.label)}\n{first.n_images} "
                        f"images of {escape(a.eval_id)}, seeds {first.n_seeds[0]} vs "
                        f"{first.n_seeds[1]}" + (" (paired: the same seeds)"
                                                 if first.paired_seeds else ""))
    for col in ("metric", "A - B", "95% interval", "p", "P(A better)", "verdict"):
        table.add_column(col, justify="left" if col in ("metric", "verdict") else "right")
    for metric, c in results.items():
        digits = TABLE[metric].short + 1  # a difference needs a digit more than a score
        better = (c.mean_diff > 0) == c.higher_is_better
        verdict = (("A better" if better else "B better") if c.separable
                   else "not separable")
        table.add_row(metric, _fmt(c.mean_diff, digits),
                      f"[{_fmt(c.ci[0], digits)}, {_fmt(c.ci[1], digits)}]", _p(c.p_value),
                      f"{c.prob_better:.3f}", verdict)
    console.print(table)
    if first.by_bin:
        bins = Table(title="hole PSNR, A - B by hole area")
        for col in ("hole area %", "images", "A - B", "95% interval"):
            bins.add_column(col, justify="right")
        for name, part in first.by_bin.items():
            bins.add_row(name, str(part["n_images"]), _fmt(part["mean_diff"], 3),
                         f"[{_fmt(part['ci'][0], 3)}, {_fmt(part['ci'][1], 3)}]")
        console.print(bins)
    if first.paired_seeds:
        how = ("Student t of the per-seed differences, seeds and images random effects "
               "(both sides are the same seeds)")
    elif max(first.n_seeds) > 1:
        how = "Student t with seeds and images random effects: seed variation included"
    else:
        how = "paired bootstrap over images (BCa)"
    console.print(f"interval: {how}; p: {first.p_test}. 'not separable': the interval "
                  "holds 0, so these data cannot rank A and B")
