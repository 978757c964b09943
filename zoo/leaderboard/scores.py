"""Per-image scores in the leaderboard file: one blob per trial, one per reference.

The blobs are ``zoo.scores.ImageScores`` in safetensors format (arrays and a text header;
nothing in them can run code). A trial's blob holds its model's scores on its eval set;
the references (Telea, the ceiling, ...) of that eval set are kept once per eval set.
"""

from __future__ import annotations

import sqlite3
from typing import Any

from zoo.scores import MODEL, ImageScores

SCHEMA = """
CREATE TABLE IF NOT EXISTS image_scores (
    search TEXT, trial_id TEXT, eval_id TEXT NOT NULL, data BLOB NOT NULL,
    PRIMARY KEY (search, trial_id)
);
CREATE TABLE IF NOT EXISTS ref_image_scores (
    eval_id TEXT, name TEXT, data BLOB NOT NULL, PRIMARY KEY (eval_id, name)
)
"""


def record_scores(board: Any, search: str, trial_id: str, scores: ImageScores) -> None:
    """Keep ``scores``: the model's under (search, trial_id), each reference's under its
    eval set (a reference scored again on the same frozen set replaces the old blob)."""
    with board._connect(write=True) as conn:
        if MODEL in scores.scorers:
            own = ImageScores(scores.eval_id, scores.bins, {MODEL: scores.scorers[MODEL]},
                              scores.masks_sha256)
            conn.execute("INSERT OR REPLACE INTO image_scores VALUES (?, ?, ?, ?)",
                         (search, trial_id, scores.eval_id, own.to_bytes()))
        for name, metrics in scores.scorers.items():
            if name == MODEL:
                continue
            ref = ImageScores(scores.eval_id, scores.bins, {name: metrics}, scores.masks_sha256)
            conn.execute("INSERT OR REPLACE INTO ref_image_scores VALUES (?, ?, ?)",
                         (scores.eval_id, name, ref.to_bytes()))


def _one(board: Any, sql: str, params: tuple, where: str) -> ImageScores | None:
    try:
        with board._connect() as conn:
            row = conn.execute(sql, params).fetchone()
    except sqlite3.OperationalError as exc:
        if "no such table" in str(exc):  # a leaderboard from before per-image scores
            return None
        raise
    return None if row is None else ImageScores.from_bytes(bytes(row[0]), where)


def trial_scores(board: Any, search: str, trial_id: str) -> ImageScores | None:
    """The per-image scores of one trial's model (scorer ``model``), or None."""
    return _one(board, "SELECT data FROM image_scores WHERE search = ? AND trial_id = ?",
                (search, trial_id), f"scores of {trial_id} in {board.path}")


def reference_scores(board: Any, eval_id: str, name: str) -> ImageScores | None:
    """The per-image scores of reference ``name`` (telea, ceiling, ...) on ``eval_id``."""
    return _one(board, "SELECT data FROM ref_image_scores WHERE eval_id = ? AND name = ?",
                (eval_id, name), f"scores of {name} on {eval_id} in {board.path}")


def delete_search_scores(conn: sqlite3.Connection, search: str) -> None:
    try:
        conn.execute("DELETE FROM image_scores WHERE search = ?", (search,))
    except sqlite3.OperationalError:
        pass  # no table yet: nothing to delete
