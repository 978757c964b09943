"""The display strings of leaderboard rows: the header, trial and reference cells that
the table and markdown formats share (each number as the metric table formats it)."""

from __future__ import annotations

import math
from typing import Any

from zoo._dicts import flatten
from zoo._json import dumps
from zoo.leaderboard import METRICS
from zoo.metrics import BINNED, TABLE, Metric

_PLAIN = Metric("value", True, "value", 4, 4, reference=False)  # any other number
# the metrics every table shows; the sort metric is added when it is not one of them
TABLE_METRICS = (*BINNED, "dice")


# run-time settings and what the table shows anyway: never "searched settings" columns
_NOT_SETTINGS = ("seed", "epochs", "data_dir", "device", "threads", "eval_batch_size",
                 "compile", "channels_last", "encoder", "loss", "dataset", "mask", "amp")
MAX_SETTING_COLUMNS = 6


def _varying(rows: list[dict]) -> list[str]:
    """The config options whose value differs between the rows (the searched settings)."""
    flats = [flatten(r.get("config")) for r in rows]
    keys = list(dict.fromkeys(k for f in flats for k in f))
    out = []
    for key in keys:
        if key in _NOT_SETTINGS or key.split(".")[0] in ("data_dir",):
            continue
        values = {dumps(f.get(key), sort_keys=True) for f in flats}
        if len(values) > 1:
            out.append(key)
    return out[:MAX_SETTING_COLUMNS]


def value_of(row: dict, key: str) -> Any:
    """A column of a trial row: a row field, a metric it recorded, or a config option."""
    if key in row and key not in ("config", "metrics"):
        return row[key]
    metrics = row.get("metrics") or {}
    if key in metrics:
        return metrics[key]
    flat = flatten(row.get("config"))
    return flat.get(key)


def cell(key: str, value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, float):
        if key in METRICS or key.startswith(("psnr", "val_psnr")):
            return fmt(key if key in METRICS else "psnr_hole", value)  # a bin's, validation's
        return f"{value:.4g}"
    if isinstance(value, (list, tuple)):
        return ",".join(str(v) for v in value)
    return str(value)


CI_HEADER = "95% CI"  # of the ranking hole metric (psnr_hole unless --sort names another)
VS_HEADER = "vs #1"  # ≈: the paired test cannot tell the row from the first of its set


def _ci_metric(sort: str) -> str:
    return sort if sort in BINNED else "psnr_hole"


def _ci(row: dict, sort: str) -> str:
    metric = _ci_metric(sort)
    ci = row.get(f"{metric}_ci")
    if not ci or ci[0] is None:
        return "-"
    return f"[{fmt(metric, ci[0])}, {fmt(metric, ci[1])}]"


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


def row_cells(rows: list[dict], refs: list[dict], sort: str, group: bool, extras: list[str]
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
                 cell("loss", flatten(r.get("config")).get("loss")),
                 *(cell(k, flatten(r.get("config")).get(k)) for k in settings), _data(r),
                 fmt("epochs", r["epochs"]), f"{r['n']} ({','.join(map(str, r['seeds']))})",
                 *(_mean_std(m, r[f"{m}_mean"], r[f"{m}_std"]) for m in metrics),
                 _ci(r, sort), _vs_best(r), *(cell(k, value_of(r, k)) for k in extras),
                 fmt("params", r["params_mean"]), _gflops(r), _latency(r),
                 fmt("train_time_s", r["train_time_s_mean"])]
                for i, r in enumerate(rows, 1)]
        pad = 1 + len(settings)  # loss and the settings: references have none
        ref_body = [["", ref["name"], "reference", *([""] * pad), _data(ref), "", "",
                     *(fmt(m, ref.get(m)) for m in metrics), _ci(ref, sort), "",
                     *([""] * len(extras)), "", "", "", ""] for ref in refs]
        return header, body, ref_body, [None] * len(body)
    settings = [k for k in _varying(rows) if k not in extras]
    # the validation hole PSNR the search ranked by: the only score of a stopped trial
    header = ["#", "trial", "status", "encoder", "loss", *settings, "data", "seed", "epochs",
              *metrics, CI_HEADER, VS_HEADER, "val_psnr_hole", *extras, "params", "GFLOPs",
              "ms/img", "time/s", "device"]
    body = [[str(i), _trial_name(r, rows), r["status"], r["encoder"] or "-",
             cell("loss", flatten(r.get("config")).get("loss")),
             *(cell(k, flatten(r.get("config")).get(k)) for k in settings), _data(r),
             fmt("seed", r["seed"]), fmt("epochs", r["epochs"]),
             *(fmt(m, r[m]) for m in metrics), _ci(r, sort), _vs_best(r),
             fmt("psnr_hole", (r.get("metrics") or {}).get("val_psnr_hole")),
             *(cell(k, value_of(r, k)) for k in extras),
             fmt("params", r["params"]), _gflops(r), _latency(r),
             fmt("train_time_s", r["train_time_s"]), r["device"] or "-"]
            for i, r in enumerate(rows, 1)]
    ref_body = [["", ref["name"], "reference", "-", "", *([""] * len(settings)), _data(ref), "",
                 "", *(fmt(m, ref.get(m)) for m in metrics), _ci(ref, sort), "", "",
                 *([""] * len(extras)), "", "", "", "", ""] for ref in refs]
    return header, body, ref_body, [r["status"] for r in rows]


def _trial_name(row: dict, rows: list[dict]) -> str:
    # the search name only matters when the listing mixes searches
    mixed = len({r["search"] for r in rows}) > 1
    if not mixed or str(row["trial_id"]).startswith(f"{row['search']}-"):
        return row["trial_id"]  # readable ids (quick-3) name their search already
    return f"{row['search']}/{row['trial_id']}"


def _data(row: dict) -> str:
    return f"{row.get('dataset') or '?'}/{row.get('mask') or '?'}"


def fmt(name: str, value: Any) -> str:
    """A number of column ``name`` as the leaderboard shows it: the metric table's
    decimals (any other PSNR as psnr_hole, any other number with 4), counts as integers."""
    if name in ("seed", "epochs") and value is not None and \
            not (isinstance(value, float) and math.isinf(value)):
        return str(int(value))
    return (TABLE.get(name) or (TABLE["psnr_hole"] if name.startswith("psnr") else _PLAIN)
            ).format(value)


def _mean_std(name: str, mean: float | None, std: float | None) -> str:
    if mean is None:
        return "-"
    return fmt(name, mean) if std is None else f"{fmt(name, mean)} ± {fmt(name, std)}"
