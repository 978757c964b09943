"""`zoo leaderboard --plot`: hole PSNR with its interval against a cost, Pareto front marked.

A config on the front is one no other row beats on both quality and cost; Telea's score on
the same masks is drawn as a line, so the picture says at a glance what each step of cost
buys over the classical method. ``--x texture_hole`` draws the other trade-off: hole PSNR
against zoo's texture ratio (1.0 is the truth's detail; Telea a point). There the front
ranks a ratio by its distance from 1.0 on a log scale, either way: a fill with twice the
truth's high-frequency energy is noise, no more detailed than one with half of it.
"""

from __future__ import annotations

import math
import os
from collections.abc import Sequence
from pathlib import Path

from zoo.errors import ZooError, unknown

X_CHOICES = ("gflops", "latency_ms", "params", "train_time_s", "texture_hole")
X_LABELS = {"gflops": "GFLOPs per image", "latency_ms": "inference ms per image (batch 64)",
            "params": "parameters", "train_time_s": "training time (s)",
            "texture_hole": "texture ratio in the hole (zoo's own; truth = 1.0)"}
HIGHER_IS_BETTER = {"texture_hole"}  # the other axes are costs
TARGET_ONE = {"texture_hole"}  # best at 1.0 (the truth's), worse away from it either way


def cost_of(row: dict, x: str) -> float | None:
    """The row's cost ``x`` (group rows use their mean), or None when not recorded."""
    if x == "latency_ms":
        value = (row.get("latency_ms") or {}).get("batch64")
    else:
        value = row.get(x, row.get(f"{x}_mean"))
        value = row.get(f"{x}_mean") if value is None else value
    return float(value) if isinstance(value, (int, float)) else None


def pareto(points: Sequence[tuple[float, float]], higher_x: bool = False) -> list[int]:
    """Indices of the points no other point beats: lower-or-equal cost and higher score
    (``higher_x``: higher-or-equal x, for an axis that is a quality rather than a cost)."""
    if higher_x:
        return pareto([(-c, s) for c, s in points])
    front = []
    for i, (cost, score) in enumerate(points):
        if not any((c <= cost and s > score) or (c < cost and s >= score)
                   for j, (c, s) in enumerate(points) if j != i):
            front.append(i)
    return front


def front_of(points: Sequence[tuple[float, float]], x: str) -> list[int]:
    """The Pareto front of ``(x value, hole PSNR)`` points for axis ``x``: a cost is better
    lower; a texture ratio is better nearer 1.0, ``|log ratio|`` acting as its cost (a ratio
    of 0 or below, no detail at all, is the farthest)."""
    if x in TARGET_ONE:
        return pareto([(abs(math.log(c)) if c > 0 else math.inf, s) for c, s in points])
    return pareto(points, x in HIGHER_IS_BETTER)


def plot_rows(rows: list[dict], refs: list[dict], path: str | os.PathLike, x: str = "gflops",
              title: str = "") -> Path:
    """Write the PNG; rows need ``psnr_hole`` (or ``psnr_hole_mean``) and the cost ``x``."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    from zoo._atomic import write_with

    if x not in X_CHOICES:
        raise unknown("cost for --x", x, X_CHOICES)
    pts, labels, cis = [], [], []
    for r in rows:
        score = r.get("psnr_hole", r.get("psnr_hole_mean"))
        cost = cost_of(r, x)
        if isinstance(score, (int, float)) and math.isfinite(score) and cost is not None:
            pts.append((cost, float(score)))
            labels.append(r.get("trial_id") or r.get("config_hash") or "?")
            cis.append(r.get("psnr_hole_ci"))
    if not pts:
        raise ZooError(f"no row has both psnr_hole and {x}; rows recorded by an older zoo have "
                       "no gflops or latency_ms: choose --x params or --x train_time_s")
    fig = Figure(figsize=(7, 4.5), dpi=110)
    FigureCanvasAgg(fig)
    ax = fig.add_subplot(1, 1, 1)
    for (cost, score), ci in zip(pts, cis):
        err = None if not ci or ci[0] is None else [[score - ci[0]], [ci[1] - score]]
        ax.errorbar([cost], [score], yerr=err, fmt="o", color="tab:blue", capsize=3)
    front = sorted(front_of(pts, x), key=lambda i: pts[i][0])
    if x in TARGET_ONE:
        ax.axvline(1.0, color="tab:green", linestyle=":", label="the truth's detail (1.0)")
    # ringed as well as joined: a front of one point (best and cheapest) is still seen
    ax.plot([pts[i][0] for i in front], [pts[i][1] for i in front], "-", color="tab:red",
            marker="o", markersize=12, markerfacecolor="none", markeredgewidth=1.5,
            label="Pareto front", zorder=0)
    for (cost, score), label in zip(pts, labels):
        ax.annotate(label, (cost, score), textcoords="offset points", xytext=(4, 4), fontsize=7)
    for ref in refs:
        if ref.get("name") != "telea" or not isinstance(ref.get("psnr_hole"), (int, float)):
            continue
        ref_x = cost_of(ref, x) if x in HIGHER_IS_BETTER else None
        if ref_x is not None:  # Telea has a texture ratio too: a point of the same picture
            ax.plot([ref_x], [ref["psnr_hole"]], "x", color="tab:gray", markersize=9,
                    label=f"Telea {ref['psnr_hole']:.2f} dB, texture {ref_x:.2f}")
        else:
            ax.axhline(ref["psnr_hole"], color="tab:gray", linestyle="--",
                       label=f"Telea {ref['psnr_hole']:.2f} dB")
    ax.set_xlabel(X_LABELS[x])
    ax.set_ylabel("hole PSNR (dB), 95% interval")
    ax.set_title(title, fontsize=9)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8, loc="best")
    fig.tight_layout()
    return write_with(path, lambda tmp: fig.savefig(tmp, format="png"))
