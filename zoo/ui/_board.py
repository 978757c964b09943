"""The Leaderboard tab's work, with no Gradio in it: the tables of `zoo leaderboard` (one
per eval set, its references beside it, the hole-PSNR interval and the ≈ mark of the
paired test, from ``zoo.cli.leaderboard._list.listing``), filtered by a search, and one
trial's config, model card and pictures."""

from __future__ import annotations

import argparse
import re
from pathlib import Path
from typing import Any

from zoo.errors import ZooError

SORT = "psnr_hole"  # the ranking `zoo leaderboard` uses by default
CARD_FRONT_MATTER = re.compile(r"\A---\n.*?\n---\n", re.S)  # the card's YAML metadata


def _args(sort: str = SORT) -> argparse.Namespace:
    """The flags of a plain `zoo leaderboard` listing."""
    return argparse.Namespace(sort=sort, search=None, encoder=None, dataset=None, mask=None,
                              status=None, top=None, group=False, columns=None)


def tables(db: Path | None, sort: str = SORT) -> list[Any]:
    """``EvalSetTable``s of the leaderboard file ``db``, as `zoo leaderboard` lists them
    (an empty list when there is no file)."""
    from zoo.cli.leaderboard._list import listing
    from zoo.leaderboard import Leaderboard

    if db is None or not db.exists():
        return []
    return listing(Leaderboard(db, create=False), _args(sort))


def matches(cells: list[str], query: str) -> bool:
    """Whether every word of ``query`` is in one of ``cells`` (case-insensitive)."""
    text = " ".join(cells).lower()
    return all(word in text for word in query.lower().split())


def table_view(table: Any, query: str = "") -> tuple[list[str], list[list[str]],
                                                      list[list[str]], str]:
    """(header, trial rows that match ``query``, reference rows, note) of one eval set's
    table; columns that hold one value in every row move to the note, as the terminal
    table moves them to its caption (``_fold_constant``)."""
    from zoo.cli.leaderboard._formats import _fold_constant

    header, body, ref_body, same = _fold_constant(table.header, table.body, table.ref_body)
    body = [cells for cells in body if matches(cells, query or "")]
    return header, body, ref_body, "; ".join(f"{k}: {v}" for k, v in same.items())


def trial_id_of(header: list[str], cells: list[Any]) -> str | None:
    """The trial id in a row of the trials table (the ``trial`` column; a mixed listing
    writes ``search/trial``)."""
    if "trial" not in header or len(cells) <= header.index("trial"):
        return None
    text = str(cells[header.index("trial")])
    return text.rsplit("/", 1)[-1] or None


def _picture(path: Any) -> Any:
    """A PNG the leaderboard recorded (grid.png, curves.png) as a PIL image, or None."""
    from zoo.inpaint import read_image

    if not path or not Path(path).is_file():
        return None
    try:
        return read_image(path).to_pil()
    except ZooError:
        return None


def _card(db: Path, trial: str) -> str:
    """The model card of ``trial``'s model folder, its YAML metadata left out."""
    from zoo.modelfolder.refs import resolve_trial

    try:
        readme = resolve_trial(trial, db=db) / "README.md"
    except ZooError as exc:
        return f"*(no model card: {exc})*"
    if not readme.is_file():
        return "*(no model card in the model folder)*"
    return CARD_FRONT_MATTER.sub("", readme.read_text(errors="replace"), count=1)


def details(db: Path, trial: str) -> dict[str, Any]:
    """One trial of ``db`` in full: ``config`` (dict), ``card`` (the model card's markdown,
    metadata left out), ``grid`` and ``curves`` (PIL images or None), ``title``."""
    from zoo.leaderboard import Leaderboard
    from zoo.modelfolder.refs import model_title

    row = Leaderboard(db, create=False).get(trial)
    card = _card(db, row["trial_id"]) if row.get("checkpoint") else "*(no model folder)*"
    score = row.get("psnr_hole")
    title = (f"### {row['trial_id']}: {model_title(row.get('encoder') or 'none')}, "
             f"{row.get('status')}" + (f", {score:.2f} dB in the hole" if score else ""))
    return {"title": title, "config": row.get("config") or {}, "card": card,
            "grid": _picture(row.get("grid_png")), "curves": _picture(row.get("curves_png"))}
