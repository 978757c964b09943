"""The leaderboard: every Ray Tune trial recorded in one SQLite file, and the reference
methods (classical baselines, the ceiling) scored on the same frozen mask sets.

``zoo tune --storage DIR`` writes ``DIR/leaderboard.sqlite``; ``zoo leaderboard`` reads it.
Both default to ``DEFAULT_STORAGE`` (``./results``, resolved against the working directory).
"""

from __future__ import annotations

from pathlib import Path

from zoo.leaderboard.db import (
    METRICS,
    REFERENCE_METRICS,
    SCHEMA_VERSION,
    SORT_KEYS,
    STATUSES,
    Leaderboard,
    default_db_path,
)
from zoo._json import to_jsonable

DEFAULT_STORAGE = "results"  # shared with `zoo tune`; relative to the working directory


def resolve_db_path(db: str | Path | None = None, storage: str | Path | None = None) -> Path:
    """The leaderboard file: ``db``, else ``<storage or ./results>/leaderboard.sqlite``."""
    if db is not None:
        return Path(db).expanduser().absolute()  # not resolved: a link stays visible
    return default_db_path(storage if storage is not None else DEFAULT_STORAGE)


__all__ = [
    "DEFAULT_STORAGE", "METRICS", "REFERENCE_METRICS", "SCHEMA_VERSION", "SORT_KEYS",
    "STATUSES", "Leaderboard", "default_db_path", "resolve_db_path", "to_jsonable",
]
