"""The output formats of `zoo leaderboard`: json, csv, markdown and the rich table (with
its column folding and fitting to the terminal)."""

from __future__ import annotations

import csv
import sys
from typing import Any

from zoo._dicts import flatten
from zoo._json import dumps
from zoo.cli.leaderboard._cells import value_of
from zoo.leaderboard import METRICS, REFERENCE_METRICS, SORT_KEYS, Leaderboard
from zoo.metrics import BINNED


LIST_FORMATS = ("table", "csv", "json", "markdown")


SHOW_FORMATS = ("table", "json")


CSV_TRIAL_COLUMNS = (
    "rank", "search", "trial_id", "status", "encoder", "plugin_version", "dataset", "mask",
    "seed", "epochs", *REFERENCE_METRICS, "params", "gflops", "train_time_s", "train_images_per_s",
    "device", "config_hash", "eval_id", "checkpoint", "grid_png", "curves_png", "error",
    "created_at", "updated_at", "config",
)


def write_json(rows: list[dict], refs: list[dict], sets: list[tuple[str | None, list[dict]]],
                left_out: dict[str, int], group: bool) -> None:
    out: dict[str, Any] = {"groups" if group else "trials": rows, "references": refs,
                           "eval_sets": [{"eval_id": e, "n": len(members)}
                                         for e, members in sets]}
    if left_out:
        out["not_grouped"] = left_out
    sys.stdout.write(dumps(out, indent=2) + "\n")


def print_table(header: list[str], body: list[list[str]], ref_body: list[list[str]],
                 status_of: list[str | None], sort: str, group: bool, lb: Leaderboard,
                 label: str) -> None:
    from rich.table import Table

    from zoo.cli._console import console, escape

    better = "higher" if SORT_KEYS[sort] else "lower"
    n = len(body)
    what = (f"config{'s' if n != 1 else ''} (mean ± std over seeds)" if group
            else f"trial{'s' if n != 1 else ''}")
    header, body, ref_body, same = _fold_constant(header, body, ref_body)
    header, body, ref_body, widths, hidden = _fit(header, body, ref_body, console.width,
                                                  keep=sort)
    notes = [f"{k}: {v}" for k, v in same.items()] + [str(lb.path)]
    if ref_body:
        notes.append("dimmed: reference methods on the same masks")
    if hidden:
        notes.append(f"hidden to fit the terminal: {', '.join(hidden)} (see --format markdown)")
    table = Table(title=escape(f"{label}: {n} {what}, by {sort} ({better} first)"),
                  caption=escape("; ".join(notes)))
    for name, width in zip(header, widths):
        # fixed widths from _fit: numbers stay whole, names and headers may be cut instead
        table.add_column(escape(name), justify="left" if name in _TEXT_COLUMNS or
                         name not in _NUMERIC and not name.startswith(_NUMERIC) else "right",
                         style="bold" if name == sort else None, width=width, no_wrap=True)
    for row, cells in zip(status_of, body):
        # cells of the leaderboard's text: one line, markup and control characters escaped
        # (an error message or name never styles, clears or retitles the terminal)
        table.add_row(*(escape(c, one_line=True) for c in cells),
                      style="red" if row == "failed" else None)
    if ref_body:
        table.add_section()
        for cells in ref_body:
            table.add_row(*(escape(c, one_line=True) for c in cells), style="dim")
    console.print(table)


_NUMERIC = ("#", "seed", "epochs", "params", "GFLOPs", "ms/img", "time/s", "val_psnr_hole",
            "psnr", "ssim", "l1", "dice", *METRICS)


# columns that say nothing when every row agrees; the table moves them to its caption
_FOLDABLE = ("data", "epochs", "device", "loss")  # status always stays visible


def _fold_constant(header: list[str], body: list[list[str]], ref_body: list[list[str]]
                   ) -> tuple[list[str], list[list[str]], list[list[str]], dict[str, str]]:
    """Drop foldable columns that hold one value in every row; return what was dropped."""
    same: dict[str, str] = {}
    keep = []
    for i, name in enumerate(header):
        values = {cells[i] for cells in body}
        if name == "data":  # references name their mask set too: fold only if they agree
            values |= {cells[i] for cells in ref_body}
        values.discard("-")  # a failed trial's missing value does not disagree
        if name in _FOLDABLE and body and len(values) == 1:
            same[name] = values.pop()
        else:
            keep.append(i)
    pick = lambda rows: [[cells[i] for i in keep] for cells in rows]  # noqa: E731
    return [header[i] for i in keep], pick(body), pick(ref_body), same


_TEXT_COLUMNS = ("trial", "config", "status", "encoder", "data", "device", "loss")


# what goes first when the terminal is too narrow for every column
_DROP_ORDER = ("device", "ms/img", "GFLOPs", "time/s", "params", "seed", "seeds", "data",
               "epochs", "loss", "dice", "val_psnr_hole", "ssim_hole", "l1_hole")


def _width(i: int, body: list[list[str]], ref_body: list[list[str]]) -> int:
    return max((len(cells[i]) for cells in body + ref_body), default=1)


def _fit(header: list[str], body: list[list[str]], ref_body: list[list[str]], width: int,
         keep: str) -> tuple[list[str], list[list[str]], list[list[str]], list[int], list[str]]:
    """Pick the columns and their widths so the table fits ``width`` without cropping.

    Numbers and trial ids always get their full width; other names get at least 8
    characters. Columns of ``_DROP_ORDER`` go first when even that does not fit; room
    left over widens names, then headers.
    """
    full = [_width(i, body, ref_body) for i in range(len(header))]
    # ids are what `show` takes, so they stay whole; a number column keeps a readable header
    least = [min(32, w) if h in ("trial", "config") else min(8, w) if h in _TEXT_COLUMNS
             else max(w, len(h) if h == keep else min(len(h), 5)) for h, w in zip(header, full)]

    def needed(cols: list[int]) -> int:
        return 1 + sum(3 + least[i] for i in cols)  # 3: the padding and rule of a cell

    cols = list(range(len(header)))
    hidden = []
    for name in _DROP_ORDER:
        if needed(cols) <= width:
            break
        if name in header and name != keep:
            cols.remove(header.index(name))
            hidden.append(name)
    widths = {i: least[i] for i in cols}
    spare = width - needed(cols)
    for target in (full, [max(f, len(h)) for f, h in zip(full, header)]):
        for i in cols:
            grow = min(max(target[i] - widths[i], 0), max(spare, 0))
            widths[i] += grow
            spare -= grow
    pick = lambda rows: [[cells[i] for i in cols] for cells in rows]  # noqa: E731
    return ([header[i] for i in cols], pick(body), pick(ref_body), [widths[i] for i in cols],
            hidden)


def write_markdown(header: list[str], body: list[list[str]], ref_body: list[list[str]],
                    label: str | None = None, index: int = 0) -> None:
    from zoo.cli._console import printable

    def table(head: list[str], rows: list[list[str]]) -> str:
        head = [printable(h, one_line=True).replace("|", "\\|") for h in head]
        lines = ["| " + " | ".join(head) + " |", "|" + "|".join("---" for _ in head) + "|"]
        lines += ["| " + " | ".join(printable(c, one_line=True).replace("|", "\\|")
                                    for c in row) + " |" for row in rows]
        return "\n".join(lines) + "\n"

    out = ("\n" if index else "") + (f"**{printable(label, one_line=True)}**\n\n" if label else "") + table(header, body)
    if ref_body:
        # the reference table reuses the trial header but names the method in column 2
        ref_head = [h if i != 1 else "reference" for i, h in enumerate(header)]
        out += "\n**References** (same mask sets)\n\n" + table(ref_head, ref_body)
    sys.stdout.write(out)


def write_csv(rows: list[dict], group: bool, extras: list[str] = ()) -> None:
    from zoo.cli._console import printable

    if group:
        cols = ["rank", "config_hash", "eval_id", "encoder", "loss", "dataset", "mask", "epochs",
                "n", "seeds", "trial_ids", *(f"{m}_{s}" for m in METRICS for s in ("mean", "std"))]
    else:
        cols = list(CSV_TRIAL_COLUMNS)
        cols.insert(cols.index("dataset"), "loss")
    cols += [c for c in extras if c not in cols]
    cols += [f"{m}_ci_{end}" for m in BINNED for end in ("lo", "hi")] + ["same_as_best"]
    writer = csv.DictWriter(sys.stdout, fieldnames=cols, extrasaction="ignore", lineterminator="\n")
    writer.writeheader()
    for i, row in enumerate(rows, 1):
        out = {**row, "rank": i, "loss": flatten(row.get("config")).get("loss"),
               **{c: value_of(row, c) for c in extras},
               **{f"{m}_ci_{end}": (row.get(f"{m}_ci") or [None, None])[k]
                  for m in BINNED for k, end in enumerate(("lo", "hi"))}}
        for key in ("config", "seeds", "trial_ids"):
            if key in out and out[key] is not None:
                out[key] = dumps(out[key], sort_keys=True)
        # a spreadsheet's fields hold any text, but a terminal that shows them must not run it
        writer.writerow({k: printable(v) if isinstance(v, str) else v for k, v in out.items()})
