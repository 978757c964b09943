"""`zoo leaderboard` (the listing): filter, rank and group trials, one table per eval set
beside that set's references."""

from __future__ import annotations

import argparse
from dataclasses import dataclass

from zoo._dicts import flatten
from zoo.cli.leaderboard._cells import row_cells
from zoo.cli.leaderboard._formats import (LIST_FORMATS, print_table, write_csv, write_json,
                                          write_markdown)
from zoo.data.cifar import N_TEST
from zoo.errors import ZooError, unknown
from zoo.leaderboard import METRICS, SORT_KEYS, Leaderboard
from zoo.leaderboard.intervals import annotate, annotate_references
from zoo.leaderboard.plot import X_CHOICES, plot_rows
from zoo.masks import eval_id


def run_list(lb: Leaderboard, args: argparse.Namespace) -> int:
    if args.format not in LIST_FORMATS:
        raise unknown("format", args.format, LIST_FORMATS)
    if args.sort not in SORT_KEYS:
        raise unknown("sort metric", args.sort, SORT_KEYS)
    if args.plot and args.x not in X_CHOICES:
        raise unknown("cost for --x", args.x, X_CHOICES)
    extras = _extra_columns(args.columns)
    rows, left_out = _listed_rows(lb, args)
    _check_columns(extras, rows)
    annotate(lb, rows, args.sort)
    sets = _by_eval_set(rows)
    refs = _references_for(lb, rows, args.dataset, args.mask)
    annotate_references(lb, refs)
    if args.format == "json":
        write_json(rows, refs, sets, left_out, args.group)
    elif args.format == "csv":
        write_csv(rows, args.group, extras)
    elif not rows:
        if args.format != "markdown":  # an empty markdown table is an empty document
            _say_no_trials(lb)
    else:
        _write_eval_sets(lb, sets, args, extras)
        if args.group and left_out and args.format == "table":
            _say_left_out(left_out)
    if args.plot:
        _plot(rows, refs, sets, args)
    return 0


def _plot(rows: list[dict], refs: list[dict], sets: list[tuple[str | None, list[dict]]],
          args: argparse.Namespace) -> None:
    from zoo.cli._console import err_console

    if len(sets) > 1:
        raise ZooError(f"--plot draws one eval set, and these rows span {len(sets)} ("
                       f"{', '.join(str(e) for e, _ in sets)}); narrow them with --search, "
                       "--mask or --dataset")
    eval_id = sets[0][0] if sets else None
    path = plot_rows(rows, [r for r in refs if r.get("eval_id") == eval_id], args.plot,
                     args.x, title=f"{eval_id}: hole PSNR against {args.x}")
    err_console.print(f"plot: {path}")


def _listed_rows(lb: Leaderboard, args: argparse.Namespace
                 ) -> tuple[list[dict], dict[str, int]]:
    """The trials to list, or with ``--group`` their groups and how many trials of each
    status other than completed the groups leave out."""
    filters = dict(search=args.search, encoder=args.encoder, dataset=args.dataset, mask=args.mask)
    if not args.group:
        return lb.trials(**filters, status=args.status, sort=args.sort, top=args.top), {}
    if args.status not in (None, "completed"):
        raise ZooError("--group averages completed trials only; drop --status or use "
                       "--status completed (list the others without --group)")
    if args.sort not in METRICS:
        raise unknown("metric to sort groups by", args.sort, METRICS)
    rows = lb.grouped(**filters, sort=args.sort, top=args.top)
    left_out: dict[str, int] = {}
    for r in lb.trials(**filters):
        if r["status"] != "completed":
            left_out[r["status"]] = left_out.get(r["status"], 0) + 1
    return rows, left_out


@dataclass
class EvalSetTable:
    """One table of the listing: an eval set's trials (display cells and the rows they
    show) beside that set's references, as the table and markdown formats print them."""

    eval_id: str | None
    label: str
    header: list[str]
    body: list[list[str]]
    ref_body: list[list[str]]
    status: list[str | None]
    rows: list[dict]


def eval_set_tables(lb: Leaderboard, sets: list[tuple[str | None, list[dict]]], sort: str,
                    group: bool, extras: list[str]) -> list[EvalSetTable]:
    """The cells of one table per eval set (rows ``annotate``d), each with its references."""
    tables = []
    for eval_key, members in sets:
        set_refs = lb.references(eval_id=eval_key) if eval_key else []
        annotate_references(lb, set_refs)
        header, body, ref_body, status = row_cells(members, set_refs, sort, group, extras)
        tables.append(EvalSetTable(eval_key, _eval_label(eval_key), header, body, ref_body,
                                   status, members))
    return tables


def listing(lb: Leaderboard, args: argparse.Namespace) -> list[EvalSetTable]:
    """The listing's tables for the filters, sort and grouping of ``args`` (the flags of
    `zoo leaderboard`): what the table format prints, as data (for `zoo serve`)."""
    if args.sort not in SORT_KEYS:
        raise unknown("sort metric", args.sort, SORT_KEYS)
    extras = _extra_columns(args.columns)
    rows, _ = _listed_rows(lb, args)
    _check_columns(extras, rows)
    annotate(lb, rows, args.sort)
    return eval_set_tables(lb, _by_eval_set(rows), args.sort, args.group, extras)


def _write_eval_sets(lb: Leaderboard, sets: list[tuple[str | None, list[dict]]],
                     args: argparse.Namespace, extras: list[str]) -> None:
    """One table (rich or markdown) per eval set, each with that set's own references:
    scores on different masks are never ranked together."""
    tables = eval_set_tables(lb, sets, args.sort, args.group, extras)
    for n, t in enumerate(tables):
        if args.format == "markdown":
            write_markdown(t.header, t.body, t.ref_body, t.label if len(sets) > 1 else None, n)
        else:
            print_table(t.header, t.body, t.ref_body, t.status, args.sort, args.group, lb,
                        t.label)


def _say_no_trials(lb: Leaderboard) -> None:
    from zoo.cli._console import console, escape

    searches = ", ".join(lb.searches()) or "(none yet)"
    console.print(f"no trials match in {escape(str(lb.path))}; searches there: "
                  f"{escape(searches)} (`zoo leaderboard searches` lists them). `zoo tune` "
                  "records trials as they run", style="yellow", highlight=False)


def _say_left_out(left_out: dict[str, int]) -> None:
    from zoo.cli._console import console

    what = ", ".join(f"{v} {k}" for k, v in sorted(left_out.items()))
    console.print(f"not in the groups: {what} (a group averages completed trials over "
                  "seeds; list the others without --group, e.g. --status stopped)",
                  style="yellow", highlight=False)


def _extra_columns(text: str | None) -> list[str]:
    if not text:
        return []
    cols = [c.strip() for c in text.split(",") if c.strip()]
    if not cols:
        raise ZooError("--columns expects names separated by commas, e.g. "
                       "--columns lr,psnr_hole@0-10")
    return cols


def _check_columns(extras: list[str], rows: list[dict]) -> None:
    """A --columns name that no listed trial has is a typo: say so, with the names known."""
    if not extras or not rows:
        return
    known: set[str] = set()
    for row in rows:
        known |= {k for k in row if k not in ("config", "metrics")}
        known |= set((row.get("metrics") or {}))
        known |= set(flatten(row.get("config")))
    for col in extras:
        if col not in known:
            raise unknown("column for --columns (a metric or config option of these trials)",
                          col, known)


def _eval_key(row: dict) -> str | None:
    """The frozen evaluation set a row was (or would be) scored on: its ``eval_id``, else
    the one its config names (stopped and failed trials have no test score)."""
    if row.get("eval_id"):
        return row["eval_id"]
    cfg = row.get("config") or {}
    dataset, limit = cfg.get("dataset", "cifar10"), cfg.get("test_limit")
    # CIFAR-10 scores its whole test split unless test_limit says fewer
    n = min(limit or N_TEST, N_TEST) if dataset == "cifar10" else limit
    if not n:
        return None
    if cfg.get("test_mask") or cfg.get("test_mask_args") is not None:  # scored on another
        mask = cfg.get("test_mask") or cfg.get("mask", "paper")
        args = cfg.get("test_mask_args")
        args = args if args is not None else (
            cfg.get("mask_args") if mask == cfg.get("mask", "paper") else None)
    else:
        mask, args = cfg.get("mask", "paper"), cfg.get("mask_args")
    return eval_id(dataset, mask, args, n, cfg.get("image_size", 32))


def _by_eval_set(rows: list[dict]) -> list[tuple[str | None, list[dict]]]:
    """Rows split by evaluation set, in the order of each set's best row."""
    sets: dict[str | None, list[dict]] = {}
    for row in rows:
        sets.setdefault(_eval_key(row), []).append(row)
    return list(sets.items())


def _eval_label(key: str | None) -> str:
    if not key:
        return "eval set: unknown (no test score)"
    parts = key.split("/")
    n = next((p[1:] for p in parts if p.startswith("n") and p[1:].isdigit()), None)
    return f"eval set {key}" + (f" ({int(n):,} test images)" if n else "")


def _references_for(lb: Leaderboard, rows: list[dict], dataset: str | None,
                    mask: str | None) -> list[dict]:
    """References of the mask sets the rows were scored on (or of the filters, with no rows)."""
    eval_ids = list(dict.fromkeys(r["eval_id"] for r in rows if r.get("eval_id")))
    if not eval_ids:
        return lb.references(dataset=dataset, mask=mask) if not rows else []
    return [ref for e in eval_ids for ref in lb.references(eval_id=e)]
