"""`zoo leaderboard`: rank recorded trials, beside the classical baselines and the ceiling.

    zoo leaderboard [--db PATH | --storage DIR] [--sort METRIC] [--search S] [--encoder E]
                    [--dataset D] [--mask M] [--status S] [--top N] [--group]
                    [--format table|csv|json|markdown]
    zoo leaderboard show TRIAL [--db PATH | --storage DIR] [--format table|json]
    zoo leaderboard searches [--db PATH | --storage DIR] [--format table|json]
    zoo leaderboard rm SEARCH [--db PATH | --storage DIR] [--yes]
    zoo leaderboard rebuild [--storage DIR] [--db PATH] [--search S]

The file is ``--db PATH``, else ``<--storage DIR>/leaderboard.sqlite``, else
``./results/leaderboard.sqlite`` (``zoo tune`` writes there by default). Reading never
creates it. TRIAL is a trial id (``quick-3``: the search's name and a number) or a unique prefix.
``rebuild`` refills the file from the results Tune stored in ``--storage`` (after it was
deleted, or when a search could not write to it); ``rm`` deletes a search's rows (its
results in storage stay, so ``rebuild`` can bring them back).

Output shapes:

- ``table``: a rich table, best first, with the reference rows (ceiling, telea, mean_fill,
  ...) of the mask sets shown as a dimmed section at the bottom.
- ``csv``: one header line then one line per trial (or per group with ``--group``); no
  references. ``config`` is a JSON string; inf is written ``inf``.
- ``markdown``: the trials table, then a "References" table.
- ``json``: ``{"trials": [row, ...], "references": [ref, ...]}``, or with ``--group``
  ``{"groups": [group, ...], "references": [...]}``. A row has every leaderboard column
  (``config`` and ``metrics`` as objects); a group has ``config_hash``, ``eval_id``, ``n``,
  ``seeds``, ``trial_ids`` and ``<metric>_mean`` / ``<metric>_std``; a reference has
  ``eval_id``, ``name``, ``dataset``, ``mask`` and its metrics. Infinity (the ceiling's
  ``psnr_hole``) is the string ``"inf"``, NaN is ``null``: the output is strict JSON.
  ``show --format json`` prints one row plus ``"references"`` for its mask set.
"""

from __future__ import annotations

import argparse
import csv
import math
import sys
from pathlib import Path
from typing import Any

from zoo._json import dumps
from zoo.errors import ZooError, unknown
from zoo.leaderboard import (
    DEFAULT_STORAGE,
    METRICS,
    REFERENCE_METRICS,
    SORT_KEYS,
    STATUSES,
    Leaderboard,
    resolve_db_path,
)
from zoo.leaderboard.intervals import annotate, annotate_references
from zoo.leaderboard.plot import X_CHOICES, plot_rows
from zoo.metrics import BINNED

LIST_FORMATS = ("table", "csv", "json", "markdown")
ACTIONS = ("show", "searches", "rm", "rebuild")
SHOW_FORMATS = ("table", "json")
# the metrics every table shows; the sort metric is added when it is not one of them
TABLE_METRICS = ("psnr_hole", "ssim_hole", "l1_hole", "dice")
CSV_TRIAL_COLUMNS = (
    "rank", "search", "trial_id", "status", "encoder", "plugin_version", "dataset", "mask",
    "seed", "epochs", *REFERENCE_METRICS, "params", "gflops", "train_time_s", "train_images_per_s",
    "device", "config_hash", "eval_id", "checkpoint", "grid_png", "curves_png", "error",
    "created_at", "updated_at", "config",
)


def add_parser(sub: argparse._SubParsersAction, name: str) -> None:
    """Register `zoo leaderboard` (and its `show TRIAL` form)."""
    p = sub.add_parser(name, help="rank recorded trials beside baselines and the ceiling",
                       description=__doc__.split("\n\n")[0],
                       formatter_class=argparse.RawDescriptionHelpFormatter,
                       epilog="examples:\n  zoo leaderboard --top 10\n"
                              "  zoo leaderboard --group --format markdown\n"
                              "  zoo leaderboard searches\n"
                              "  zoo leaderboard show quick-1\n"
                              "  zoo leaderboard --columns lr,unet.fusion_merge\n"
                              "  zoo leaderboard rm quick --yes\n"
                              "  zoo leaderboard rebuild --storage results")
    # the actions are an optional positional rather than subparsers, so the plain listing
    # keeps its flags without a sub-command word
    p.add_argument("action", nargs="?", choices=list(ACTIONS),
                   help="show TRIAL: one trial in full; searches: list the searches; "
                        "rm SEARCH: delete a search's rows; rebuild: refill from --storage")
    p.add_argument("trial", nargs="?", metavar="TRIAL|SEARCH",
                   help="with show: a trial id or unique prefix; with rm: a search name")
    p.add_argument("--db", help="the leaderboard file (default STORAGE/leaderboard.sqlite)")
    p.add_argument("--storage", help=f"a tune storage folder holding leaderboard.sqlite and "
                                     f"the searches' results (default: ./{DEFAULT_STORAGE})")
    p.add_argument("--sort", default="psnr_hole",
                   help=f"metric to rank by (default psnr_hole): {', '.join(SORT_KEYS)}")
    p.add_argument("--search", help="only this search")
    p.add_argument("--encoder", help="only this encoder")
    p.add_argument("--dataset", help="only this dataset")
    p.add_argument("--mask", help="only this mask generator")
    p.add_argument("--status", help=f"only this status: {', '.join(STATUSES)}")
    p.add_argument("--top", type=int, help="show the best N")
    p.add_argument("--group", action="store_true", help="mean ± std across seeds per config")
    p.add_argument("--format", default="table", help=f"{', '.join(LIST_FORMATS)} (default table)")
    p.add_argument("--columns", metavar="A,B",
                   help="extra columns: any metric (e.g. psnr_hole@0-10, val_ssim_hole) or "
                        "config option (e.g. lr, unet.fusion_merge) of the trials")
    p.add_argument("--plot", metavar="PNG", help="also draw hole PSNR (with its interval) "
                                                 "against a cost, Pareto front marked")
    p.add_argument("--x", default="gflops", metavar="COST",
                   help="the cost for --plot: gflops (default), latency_ms, params, "
                        "train_time_s")
    p.add_argument("--yes", "-y", action="store_true", help="with rm: do not ask")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """List the leaderboard, show one trial, list or delete searches, or rebuild the file."""
    if args.action == "rebuild":
        return _rebuild(args)
    lb = Leaderboard(resolve_db_path(args.db, args.storage), create=False)
    if args.action == "searches":
        return _searches(lb, args)
    if args.action == "rm":
        return _rm(lb, args)
    if args.action == "show":
        if not args.trial:
            raise ZooError("`zoo leaderboard show` needs a trial id (or a unique prefix); "
                           "`zoo leaderboard` lists them")
        return _show(lb, args)
    if args.trial:
        raise ZooError(f"unexpected argument '{args.trial}'; did you mean "
                       f"`zoo leaderboard show {args.trial}`?")
    return _list(lb, args)


# -- listing ---------------------------------------------------------------------------


def _list(lb: Leaderboard, args: argparse.Namespace) -> int:
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
        _write_json(rows, refs, sets, left_out, args.group)
    elif args.format == "csv":
        _write_csv(rows, args.group, extras)
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


def _write_json(rows: list[dict], refs: list[dict], sets: list[tuple[str | None, list[dict]]],
                left_out: dict[str, int], group: bool) -> None:
    out: dict[str, Any] = {"groups" if group else "trials": rows, "references": refs,
                           "eval_sets": [{"eval_id": e, "n": len(members)}
                                         for e, members in sets]}
    if left_out:
        out["not_grouped"] = left_out
    sys.stdout.write(dumps(out, indent=2) + "\n")


def _write_eval_sets(lb: Leaderboard, sets: list[tuple[str | None, list[dict]]],
                     args: argparse.Namespace, extras: list[str]) -> None:
    """One table (rich or markdown) per eval set, each with that set's own references:
    scores on different masks are never ranked together."""
    for n, (eval_key, members) in enumerate(sets):
        set_refs = lb.references(eval_id=eval_key) if eval_key else []
        annotate_references(lb, set_refs)
        header, body, ref_body, status = _cells(members, set_refs, args.sort, args.group, extras)
        label = _eval_label(eval_key)
        if args.format == "markdown":
            _write_markdown(header, body, ref_body, label if len(sets) > 1 else None, n)
        else:
            _print_table(header, body, ref_body, status, args.sort, args.group, lb, label)


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


# run-time settings and what the table shows anyway: never "searched settings" columns
_NOT_SETTINGS = ("seed", "epochs", "data_dir", "device", "threads", "eval_batch_size",
                 "compile", "channels_last", "encoder", "loss", "dataset", "mask", "amp")
MAX_SETTING_COLUMNS = 6


def _flat(config: dict | None, prefix: str = "") -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in (config or {}).items():
        if isinstance(value, dict):
            out.update(_flat(value, f"{prefix}{key}."))  # an empty mapping sets nothing
        else:
            out[f"{prefix}{key}"] = value
    return out


def _varying(rows: list[dict]) -> list[str]:
    """The config options whose value differs between the rows (the searched settings)."""
    flats = [_flat(r.get("config")) for r in rows]
    keys = list(dict.fromkeys(k for f in flats for k in f))
    out = []
    for key in keys:
        if key in _NOT_SETTINGS or key.split(".")[0] in ("data_dir",):
            continue
        values = {dumps(f.get(key), sort_keys=True) for f in flats}
        if len(values) > 1:
            out.append(key)
    return out[:MAX_SETTING_COLUMNS]


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
        known |= set(_flat(row.get("config")))
    for col in extras:
        if col not in known:
            raise unknown("column for --columns (a metric or config option of these trials)",
                          col, known)


def _value(row: dict, key: str) -> Any:
    """A column of a trial row: a row field, a metric it recorded, or a config option."""
    if key in row and key not in ("config", "metrics"):
        return row[key]
    metrics = row.get("metrics") or {}
    if key in metrics:
        return metrics[key]
    flat = _flat(row.get("config"))
    return flat.get(key)


def _cell(key: str, value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, float):
        if key in METRICS or key.startswith(("psnr", "val_psnr")):
            return _fmt(key if key in METRICS else "psnr_hole" if "psnr" in key else key, value)
        return f"{value:.4g}"
    if isinstance(value, (list, tuple)):
        return ",".join(str(v) for v in value)
    return str(value)


def _eval_key(row: dict) -> str | None:
    """The frozen evaluation set a row was (or would be) scored on: its ``eval_id``, else
    the one its config names (stopped and failed trials have no test score)."""
    if row.get("eval_id"):
        return row["eval_id"]
    cfg = row.get("config") or {}
    dataset, mask = cfg.get("dataset", "cifar10"), cfg.get("mask", "paper")
    limit = cfg.get("test_limit")
    n = min(limit, 10000) if dataset == "cifar10" and limit else 10000 if dataset == "cifar10" \
        else limit
    if not n:
        return None
    args = ",".join(f"{k}={v}" for k, v in sorted((cfg.get("mask_args") or {}).items()))
    size = "" if dataset == "cifar10" else f"/{cfg.get('image_size', 32)}px"
    return f"{dataset}{size}/{mask}{'(' + args + ')' if args else ''}/n{n}/s2024"


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


CI_HEADER = "95% CI"  # of the ranking hole metric (psnr_hole unless --sort names another)
VS_HEADER = "vs #1"  # ≈: the paired test cannot tell the row from the first of its set


def _ci_metric(sort: str) -> str:
    return sort if sort in BINNED else "psnr_hole"


def _ci(row: dict, sort: str) -> str:
    metric = _ci_metric(sort)
    ci = row.get(f"{metric}_ci")
    if not ci or ci[0] is None:
        return "-"
    return f"[{_fmt(metric, ci[0])}, {_fmt(metric, ci[1])}]"


def _gflops(row: dict) -> str:
    value = row.get("gflops")
    return "-" if not isinstance(value, (int, float)) else f"{value:.3g}"


def _latency(row: dict) -> str:
    """ms per image at batch 64 (batch 1 in the JSON), where the row was scored."""
    value = (row.get("latency_ms") or {}).get("batch64")
    return "-" if not isinstance(value, (int, float)) else f"{value:.3g}"


def _vs_best(row: dict) -> str:
    mark = row.get("same_as_best")
    return "-" if mark is None else "≈" if mark else "<"


def _metric_columns(sort: str) -> list[str]:
    cols = list(TABLE_METRICS)
    if sort in METRICS and sort not in cols and sort not in ("params", "train_time_s"):
        cols.insert(0, sort)
    return cols


def _cells(rows: list[dict], refs: list[dict], sort: str, group: bool, extras: list[str]
           ) -> tuple[list[str], list[list[str]], list[list[str]], list[str | None]]:
    """Header, trial rows, reference rows (display strings, shared by table and markdown),
    and each trial row's status."""
    metrics = _metric_columns(sort)
    if group:
        settings = [k for k in _varying(rows) if k not in extras]
        header = ["#", "config", "encoder", "loss", *settings, "data", "epochs", "seeds",
                  *metrics, CI_HEADER, VS_HEADER, *extras, "params", "GFLOPs", "ms/img",
                  "time/s"]
        body = [[str(i), r["config_hash"] or "-", r["encoder"] or "-",
                 _cell("loss", _flat(r.get("config")).get("loss")),
                 *(_cell(k, _flat(r.get("config")).get(k)) for k in settings), _data(r),
                 _fmt("epochs", r["epochs"]), f"{r['n']} ({','.join(map(str, r['seeds']))})",
                 *(_mean_std(m, r[f"{m}_mean"], r[f"{m}_std"]) for m in metrics),
                 _ci(r, sort), _vs_best(r), *(_cell(k, _value(r, k)) for k in extras),
                 _fmt("params", r["params_mean"]), _gflops(r), _latency(r),
                 _fmt("train_time_s", r["train_time_s_mean"])]
                for i, r in enumerate(rows, 1)]
        pad = 1 + len(settings)  # loss and the settings: references have none
        ref_body = [["", ref["name"], "reference", *([""] * pad), _data(ref), "", "",
                     *(_fmt(m, ref.get(m)) for m in metrics), _ci(ref, sort), "",
                     *([""] * len(extras)), "", "", "", ""] for ref in refs]
        return header, body, ref_body, [None] * len(body)
    settings = [k for k in _varying(rows) if k not in extras]
    # the validation hole PSNR the search ranked by: the only score of a stopped trial
    header = ["#", "trial", "status", "encoder", "loss", *settings, "data", "seed", "epochs",
              *metrics, CI_HEADER, VS_HEADER, "val_psnr_hole", *extras, "params", "GFLOPs",
              "ms/img", "time/s", "device"]
    body = [[str(i), _trial_name(r, rows), r["status"], r["encoder"] or "-",
             _cell("loss", _flat(r.get("config")).get("loss")),
             *(_cell(k, _flat(r.get("config")).get(k)) for k in settings), _data(r),
             _fmt("seed", r["seed"]), _fmt("epochs", r["epochs"]),
             *(_fmt(m, r[m]) for m in metrics), _ci(r, sort), _vs_best(r),
             _fmt("psnr_hole", (r.get("metrics") or {}).get("val_psnr_hole")),
             *(_cell(k, _value(r, k)) for k in extras),
             _fmt("params", r["params"]), _gflops(r), _latency(r),
             _fmt("train_time_s", r["train_time_s"]), r["device"] or "-"]
            for i, r in enumerate(rows, 1)]
    ref_body = [["", ref["name"], "reference", "-", "", *([""] * len(settings)), _data(ref), "",
                 "", *(_fmt(m, ref.get(m)) for m in metrics), _ci(ref, sort), "", "",
                 *([""] * len(extras)), "", "", "", "", ""] for ref in refs]
    return header, body, ref_body, [r["status"] for r in rows]


def _print_table(header: list[str], body: list[list[str]], ref_body: list[list[str]],
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
        table.add_row(*map(_shown, cells), style="red" if row == "failed" else None)
    if ref_body:
        table.add_section()
        for cells in ref_body:
            table.add_row(*map(_shown, cells), style="dim")
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


def _shown(text: str) -> str:
    """A table cell from the leaderboard's text: one line, markup and control characters
    escaped (an error message or name never styles, clears or retitles the terminal)."""
    from zoo.cli._console import escape, printable

    return escape(printable(text, one_line=True))


def _write_markdown(header: list[str], body: list[list[str]], ref_body: list[list[str]],
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


def _write_csv(rows: list[dict], group: bool, extras: list[str] = ()) -> None:
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
        out = {**row, "rank": i, "loss": _flat(row.get("config")).get("loss"),
               **{c: _value(row, c) for c in extras},
               **{f"{m}_ci_{end}": (row.get(f"{m}_ci") or [None, None])[k]
                  for m in BINNED for k, end in enumerate(("lo", "hi"))}}
        for key in ("config", "seeds", "trial_ids"):
            if key in out and out[key] is not None:
                out[key] = dumps(out[key], sort_keys=True)
        # a spreadsheet's fields hold any text, but a terminal that shows them must not run it
        writer.writerow({k: printable(v) if isinstance(v, str) else v for k, v in out.items()})


# -- one trial ---------------------------------------------------------------------------


def _rebuild(args: argparse.Namespace) -> int:
    from zoo.checkpoint import CHECKPOINT_NAME
    from zoo.cli._console import console, escape
    from zoo.tune._store import rebuild, searches_in

    if args.trial:
        raise ZooError(f"unexpected argument '{args.trial}'; pick a search with --search")
    storage = Path(args.storage or DEFAULT_STORAGE).expanduser().resolve()
    if not storage.is_dir():
        raise ZooError(f"--storage {storage} is not a folder; pass the folder `zoo tune "
                       "--storage` wrote its results to (default ./results)")
    if not searches_in(storage):
        raise ZooError(f"no zoo search results in {storage} (a search folder holds "
                       "zoo_search.json); pass the folder `zoo tune --storage` wrote to")
    lb = Leaderboard(resolve_db_path(args.db, storage))
    written = rebuild(storage, lb, search=args.search, checkpoint_name=CHECKPOINT_NAME)
    for name, n in written.items():
        console.print(f"{escape(name)}: {n} trials recorded", highlight=False)
    console.print(f"leaderboard: {escape(str(lb.path))}", highlight=False, soft_wrap=True)
    return 0


def _searches(lb: Leaderboard, args: argparse.Namespace) -> int:
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
                      escape(r["best"] or "-"), _fmt("psnr_hole", r["best_psnr_hole"]),
                      escape(", ".join(r["eval_ids"]) or "-"),
                      r["updated_at"][:16].replace("T", " "))
    console.print(table)
    return 0


def _rm(lb: Leaderboard, args: argparse.Namespace) -> int:
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


def _show(lb: Leaderboard, args: argparse.Namespace) -> int:
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
            info.add_row(key, escape(_fmt(key, row[key]) if key in METRICS else str(row[key])))
    extra = {k: v for k, v in (row.get("metrics") or {}).items()
             if k not in REFERENCE_METRICS and "@" in k}
    for key, value in sorted(extra.items()):  # e.g. psnr_hole@0-10: per hole-area bin
        info.add_row(escape(key), _cell(key, value))
    console.print(info)
    _print_paths(row)
    scores = Table(title="metrics" + (" beside the references on the same masks" if refs else ""))
    scores.add_column("metric")
    scores.add_column("this trial", justify="right", style="bold")
    for ref in refs:
        scores.add_column(escape(ref["name"]), justify="right", style="dim")
    for m in REFERENCE_METRICS:
        scores.add_row(m, _fmt(m, row.get(m)), *(_fmt(m, ref.get(m)) for ref in refs))
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


# -- formatting ----------------------------------------------------------------------------


def _trial_name(row: dict, rows: list[dict]) -> str:
    # the search name only matters when the listing mixes searches
    mixed = len({r["search"] for r in rows}) > 1
    if not mixed or str(row["trial_id"]).startswith(f"{row['search']}-"):
        return row["trial_id"]  # readable ids (quick-3) name their search already
    return f"{row['search']}/{row['trial_id']}"


def _data(row: dict) -> str:
    return f"{row.get('dataset') or '?'}/{row.get('mask') or '?'}"


def _fmt(name: str, value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, float) and math.isinf(value):
        return "inf" if value > 0 else "-inf"
    if name == "params":
        value = float(value)
        return f"{value / 1e6:.2f}M" if value >= 1e5 else f"{value / 1e3:.1f}k"
    if name in ("seed", "epochs"):
        return str(int(value))
    if name.startswith("psnr"):
        return f"{value:.2f}"
    if name in ("train_time_s",):
        return f"{value:.1f}"
    if name == "train_images_per_s":
        return f"{value:.0f}"
    return f"{value:.4f}"


def _mean_std(name: str, mean: float | None, std: float | None) -> str:
    if mean is None:
        return "-"
    return _fmt(name, mean) if std is None else f"{_fmt(name, mean)} ± {_fmt(name, std)}"
