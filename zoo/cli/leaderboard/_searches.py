"""`zoo leaderboard searches` and `zoo leaderboard rm SEARCH`: the searches a file holds."""

from __future__ import annotations

import argparse
import sys

from zoo._json import dumps
from zoo.cli.leaderboard._cells import fmt
from zoo.cli.leaderboard._formats import SHOW_FORMATS
from zoo.errors import ZooError, unknown
from zoo.leaderboard import Leaderboard


def run_searches(lb: Leaderboard, args: argparse.Namespace) -> int:
    if args.format not in SHOW_FORMATS:
        raise unknown("format for searches", args.format, SHOW_FORMATS)
    rows = lb.search_summaries()
    if args.format == "json":
        sys.stdout.write(dumps({"searches": rows}, indent=2) + "\n")
        return 0
    from rich.table import Table

    from zoo.cli._console import console, escape

    if not rows:
        console.print(f"no searches in {escape(str(lb.path))} yet; `zoo tune` records them",
                      style="yellow", highlight=False)
        return 0
    table = Table(title=f"searches in {escape(str(lb.path))}")
    for col in ("search", "trials", "status", "best", "psnr_hole", "eval sets", "updated"):
        table.add_column(col, justify="right" if col in ("trials", "psnr_hole") else "left")
    for r in rows:
        table.add_row(escape(r["search"]), str(r["trials"]),
                      ", ".join(f"{n} {k}" for k, n in sorted(r["status"].items())),
                      escape(r["best"] or "-"), fmt("psnr_hole", r["best_psnr_hole"]),
                      escape(", ".join(r["eval_ids"]) or "-"),
                      r["updated_at"][:16].replace("T", " "))
    console.print(table)
    return 0


def run_rm(lb: Leaderboard, args: argparse.Namespace) -> int:
    from zoo.cli._console import console, err_console, escape

    if not args.trial:
        raise ZooError("`zoo leaderboard rm` needs a search name; `zoo leaderboard searches` "
                       "lists them")
    names = lb.searches()
    if args.trial not in names:
        raise unknown(f"search in {lb.path}", args.trial, names)
    n = len(lb.trials(search=args.trial))
    if not args.yes:
        if not sys.stdin.isatty():
            raise ZooError(f"`zoo leaderboard rm {args.trial}` would delete {n} trials; "
                           "confirm with --yes (no terminal to ask on)")
        answer = err_console.input(f"delete the {n} trials of search {escape(args.trial)} "
                                   f"from {escape(str(lb.path))}? [y/N] ")
        if answer.strip().lower() not in ("y", "yes"):
            err_console.print("nothing deleted")
            return 1
    deleted = lb.delete_search(args.trial)
    console.print(f"deleted {deleted} trials of search {escape(args.trial)}; its results in "
                  "storage are kept (`zoo leaderboard rebuild` restores the rows)",
                  highlight=False)
    return 0
