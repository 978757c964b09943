"""The leaderboard's columns, schema and row helpers: what ``Leaderboard`` (``db.py``)
stores and how a value becomes a column and a row becomes a dict again."""

from __future__ import annotations

import hashlib
import json
import math
import sqlite3
import statistics
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from zoo._json import from_jsonable, to_jsonable
from zoo.errors import ZooError, unknown
from zoo.leaderboard.scores import SCHEMA as _SCORES_SCHEMA
from zoo.metrics import REFERENCE_METRICS, TABLE

SCHEMA_VERSION = 1
# stopped: pruned early by the scheduler; interrupted: the search was stopped (Ctrl-C) while
# the trial ran, `zoo tune --resume` continues it
STATUSES = ("completed", "stopped", "failed", "running", "interrupted")
# the row columns that hold paths: stored relative to the leaderboard's folder when inside it
PATH_COLUMNS = ("checkpoint", "grid_png", "curves_png")

# metric -> True when higher is better (zoo.metrics.TABLE); also the sortable metric columns
METRICS: dict[str, bool] = {name: m.higher_is_better for name, m in TABLE.items()}
# sort key -> default descending; newest first for created_at
SORT_KEYS: dict[str, bool] = {**METRICS, "epochs": True, "created_at": True}
# what a row says about cost and origin (kept in its metrics JSON; see zoo.cost, zoo.provenance)
COST_KEYS = ("gflops", "latency_ms", "latency_device", "provenance")

_TEXT, _REAL, _INT = "TEXT", "REAL", "INTEGER"
_CORE_COLUMNS = ("search", "trial_id", "status", "config", "config_hash")
TRIAL_COLUMNS: dict[str, str] = {
    "search": _TEXT, "trial_id": _TEXT, "status": _TEXT, "encoder": _TEXT,
    "plugin_version": _TEXT, "config": _TEXT, "config_hash": _TEXT, "dataset": _TEXT,
    "mask": _TEXT, "seed": _INT, "epochs": _INT,
    **{m: _REAL for m in REFERENCE_METRICS},
    "metrics": _TEXT, "params": _INT, "train_time_s": _REAL, "train_images_per_s": _REAL,
    "device": _TEXT, "workers": _INT, "checkpoint": _TEXT, "grid_png": _TEXT, "curves_png": _TEXT,
    "error": _TEXT, "eval_id": _TEXT, "created_at": _TEXT, "updated_at": _TEXT,
}
REFERENCE_COLUMNS: dict[str, str] = {
    "eval_id": _TEXT, "name": _TEXT, "dataset": _TEXT, "mask": _TEXT,
    **{m: _REAL for m in REFERENCE_METRICS}, "metrics": _TEXT, "updated_at": _TEXT,
}
_JSON_COLUMNS = ("config", "metrics")

_SCHEMA = f"""
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS trials (
    {", ".join(f"{c} {t}" for c, t in TRIAL_COLUMNS.items())},
    PRIMARY KEY (search, trial_id)
);
CREATE INDEX IF NOT EXISTS trials_config_hash ON trials (config_hash);
CREATE INDEX IF NOT EXISTS trials_trial_id ON trials (trial_id);
CREATE TABLE IF NOT EXISTS refs (
    {", ".join(f"{c} {t}" for c, t in REFERENCE_COLUMNS.items())},
    PRIMARY KEY (eval_id, name)
);
{_SCORES_SCHEMA}
"""


def default_db_path(storage: str | Path) -> Path:
    """``<storage>/leaderboard.sqlite`` for a local storage folder (made absolute)."""
    text = str(storage)
    if text.startswith("file://"):
        text = text[len("file://"):]
    elif "://" in text:
        raise ZooError(
            f"storage '{storage}' is not a local folder, and the leaderboard is a local SQLite "
            "file; pass --db PATH with a local path for it (e.g. --db ./leaderboard.sqlite)"
        )
    return Path(text).expanduser().resolve() / "leaderboard.sqlite"


def _dumps(value: Any) -> str:
    return json.dumps(to_jsonable(value), sort_keys=True, allow_nan=False)


def _num(value: Any) -> float | None:
    if value is None or isinstance(value, (str, bool)):
        return None
    try:
        value = float(value)
    except (TypeError, ValueError):
        return None
    return None if math.isnan(value) else value


def _int(value: Any) -> int | None:
    number = _num(value)
    return None if number is None or math.isinf(number) else int(number)


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="microseconds")


def _dict_hash(config: dict[str, Any]) -> str:
    """The group key of a config that is not a trained TrainConfig's (a trial that reported
    none: its sampled settings), from the dict as it is: the store builds no config."""
    d = {k: v for k, v in config.items() if k != "seed"}
    return hashlib.sha256(_dumps(d).encode()).hexdigest()[:12]


def _defaults() -> dict[str, Any]:
    import dataclasses

    from zoo.config import TrainConfig

    return {f.name: f.default for f in dataclasses.fields(TrainConfig)
            if f.default is not dataclasses.MISSING}


def _epochs_done(result: dict) -> int | None:
    for key in ("epochs_done", "epoch", "training_iteration"):
        if _int(result.get(key)) is not None:
            return _int(result.get(key))
    return None


def _str(value: Any) -> str | None:
    return None if value is None else str(value)


def _where(**filters: Any) -> tuple[str, list[Any]]:
    used = {k: v for k, v in filters.items() if v is not None}
    clause = " AND ".join(f"{k} = ?" for k in used)
    return (f"WHERE {clause}" if clause else ""), list(used.values())


def _direction(sort: str, descending: bool | None) -> bool:
    if sort not in SORT_KEYS:
        raise unknown("sort metric", sort, SORT_KEYS)
    return SORT_KEYS[sort] if descending is None else bool(descending)


def _top(top: int) -> int:
    if int(top) < 1:
        raise ZooError(f"--top must be >= 1, got {top}")
    return int(top)


def _decode(row: sqlite3.Row) -> dict:
    out = dict(row)
    for col in _JSON_COLUMNS:
        if out.get(col) is not None:
            out[col] = from_jsonable(json.loads(out[col]))
    return out


def _summarize(members: list[dict]) -> dict:
    first = members[0]
    group: dict[str, Any] = {
        "config_hash": first["config_hash"], "eval_id": first["eval_id"],
        "encoder": first["encoder"], "dataset": first["dataset"], "mask": first["mask"],
        "epochs": first["epochs"], "n": len(members),
        "seeds": sorted(m["seed"] for m in members if m["seed"] is not None),
        "trial_ids": [m["trial_id"] for m in members],
        "members": [[m["search"], m["trial_id"]] for m in members],
        "member_seeds": [m["seed"] for m in members],  # in the order of members
        # cost and provenance: the same config costs the same; the newest seed's record
        **{k: (members[-1].get("metrics") or {}).get(k) for k in COST_KEYS},
        "searches": sorted({m["search"] for m in members}),
        "config": first["config"],
    }
    for metric in METRICS:
        values = [m[metric] for m in members if m[metric] is not None]
        group[f"{metric}_mean"] = statistics.fmean(values) if values else None
        # stdev cannot take inf (the ceiling's psnr); a spread is meaningless there anyway
        finite = len(values) >= 2 and all(math.isfinite(v) for v in values)
        group[f"{metric}_std"] = statistics.stdev(values) if finite else None
    return group
