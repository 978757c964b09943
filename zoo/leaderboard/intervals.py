"""Intervals on leaderboard rows, and which rows the data cannot tell from the best.

A trial's interval resamples its test images; a ``--group`` row with several seeds
takes seeds and images as random effects (a t interval, ``zoo.stats``). The first row of each eval set is the best
by the ranking metric; every other row is compared with it image by image (a paired
bootstrap) and marked ``same_as_best`` when the interval of the difference holds 0: on
these data the two cannot be ranked. Rows without per-image scores (recorded by an older
zoo) get no interval and no mark.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from zoo.leaderboard.scores import reference_scores, trial_scores
from zoo.metrics import BINNED, TABLE
from zoo.scores import MODEL

N_RESAMPLES = 1000  # per row and metric: a table of 50 rows stays within seconds


def _members(row: dict) -> list[tuple[str, str]]:
    if "members" in row:
        return [tuple(m) for m in row["members"]]
    return [(row["search"], row["trial_id"])]


def _seeds(row: dict) -> list[Any]:
    if "members" in row:
        return list(row.get("member_seeds") or [None] * len(row["members"]))
    return [row.get("seed")]


def _matrix(board: Any, row: dict, metric: str, with_seeds: bool = False) -> Any:
    """``(n_seeds, n_images)`` of the row's stored scores (None without them); with
    ``with_seeds``, ``(matrix, seed of each matrix row)``."""
    found = [(trial_scores(board, s, t), seed) for (s, t), seed in zip(_members(row),
                                                                        _seeds(row))]
    found = [(f, seed) for f, seed in found if f is not None and f.eval_id == row.get("eval_id")]
    if not found or len({f.n_images for f, _ in found}) != 1:
        return (None, []) if with_seeds else None
    x = np.stack([f.get(MODEL, metric) for f, _ in found])
    return (x, [seed for _, seed in found]) if with_seeds else x


def annotate(board: Any, rows: list[dict], rank_metric: str = "psnr_hole") -> None:
    """Add ``<metric>_ci`` ([lo, hi]) for the hole metrics and ``same_as_best`` (True, False;
    None for the best row itself or without scores) to ``rows`` (trials or groups, ranked),
    and to each trial its cost and provenance (``COST_KEYS``) at the top level."""
    from zoo.stats import compare_scores, mean_interval

    from zoo.leaderboard.db import COST_KEYS

    metric = rank_metric if rank_metric in BINNED else "psnr_hole"
    best: dict[Any, tuple[np.ndarray, list[Any]]] = {}
    for row in rows:
        if "members" not in row:  # a trial: cost and provenance from its metrics
            row.update({k: (row.get("metrics") or {}).get(k) for k in COST_KEYS})
        for m in BINNED:
            x = _matrix(board, row, m)
            row[f"{m}_ci"] = None if x is None else list(mean_interval(
                x, n_resamples=N_RESAMPLES)[1:])
        row["same_as_best"] = None
        x, seeds = _matrix(board, row, metric, with_seeds=True)
        if x is None or row.get("status", "completed") != "completed":
            continue
        top, top_seeds = best.setdefault(row.get("eval_id"), (x, seeds))
        if top is not x and top.shape[1] == x.shape[1]:
            c = compare_scores(top, x, metric=metric, higher_is_better=TABLE[metric].higher_is_better,
                               n_resamples=N_RESAMPLES, seeds=(top_seeds, seeds))
            row["same_as_best"] = not c.separable


def annotate_references(board: Any, refs: list[dict]) -> None:
    """``<metric>_ci`` on reference rows (baselines, the ceiling) from their stored scores."""
    from zoo.stats import mean_interval

    for ref in refs:
        scores = reference_scores(board, ref.get("eval_id"), ref.get("name"))
        for m in BINNED:
            ref[f"{m}_ci"] = (None if scores is None else
                              list(mean_interval(scores.get(ref["name"], m),
                                                 n_resamples=N_RESAMPLES)[1:]))
