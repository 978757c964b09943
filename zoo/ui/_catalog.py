"""The models a `zoo serve` server offers: fixed when it starts, loaded once each.

A client names a model only by one of the names listed here (a trial id of the storage's
completed trials, or the short name of a ``--model`` ref); a name is never read as a path,
so no client can make the server open a file it was not started with. A Hub id
(``hf-hub:org/name``) from a client is fetched only when the server runs with
``--allow-hub``.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from zoo.errors import ZooError, unknown

log = logging.getLogger(__name__)


@dataclass
class Entry:
    """One model the server offers: the name clients use, a label for menus, its folder."""

    name: str
    label: str
    folder: Path


class Catalog:
    """Names -> model folders, fixed at start; ``get(name)`` loads a model on first use and
    hands out the same ``zoo.api.Inpainter`` after that (one lock: loads never race)."""

    def __init__(self, entries: list[Entry], *, allow_hub: bool = False,
                 device: str = "auto") -> None:
        if not entries:
            raise ZooError("no models to serve: give --model REF (a model folder, a trial id "
                           "or hf-hub:org/name) or --storage DIR with completed trials "
                           "(`zoo tune` writes them)")
        self.entries = {e.name: e for e in entries}
        self.allow_hub, self.device = allow_hub, device
        self._loaded: dict[str, Any] = {}
        self._lock = threading.Lock()
        self.loads = 0  # how many times a model was read from disk (tests check caching)

    @property
    def names(self) -> list[str]:
        return list(self.entries)

    def choices(self) -> list[tuple[str, str]]:
        """``(label, name)`` pairs for Gradio menus, in the order offered (the first is the
        default)."""
        return [(e.label, e.name) for e in self.entries.values()]

    def check(self, name: str | None) -> str:
        """The name of an offered model (the first for None or ""); a ZooError listing the
        names otherwise. A Hub id is accepted only with ``allow_hub``."""
        from zoo.modelfolder.hub import is_hub_ref

        name = (name or "").strip() or self.names[0]
        if name in self.entries:
            return name
        if is_hub_ref(name):
            if not self.allow_hub:
                raise ZooError(f"this server does not fetch Hub models ('{name}'); it offers: "
                               f"{', '.join(self.names)} (its operator can start it with "
                               "--allow-hub, or --model {name})")
            return name
        raise ZooError(f"{unknown('model', name, self.names)} (a server offers only the "
                       "models it was started with)")

    def get(self, name: str | None) -> Any:
        """The loaded model ``name`` names (see ``check``), loaded once."""
        name = self.check(name)
        with self._lock:
            if name not in self._loaded:
                self._loaded[name] = self._load(name)
            return self._loaded[name]

    def _load(self, name: str) -> Any:
        from zoo.api import load

        self.loads += 1
        if name in self.entries:
            return load(self.entries[name].folder, device=self.device)
        model = load(name, device=self.device)  # a Hub id, with --allow-hub only
        self.entries[name] = Entry(name, f"{name} (Hub)", model.folder)
        return model


def _trial_label(row: dict) -> str:
    from zoo.modelfolder.refs import model_title

    score = row.get("psnr_hole")
    score_text = f", {score:.2f} dB in the hole" if isinstance(score, (int, float)) else ""
    return f"{row['trial_id']} ({model_title(row.get('encoder') or 'none')}{score_text})"


def trial_entries(db: Path) -> list[Entry]:
    """The completed trials of the leaderboard ``db`` that have a model folder, best hole
    PSNR first; a trial whose folder is gone is left out with a warning."""
    from zoo.leaderboard import Leaderboard
    from zoo.modelfolder.refs import resolve_trial

    if not db.exists():
        return []
    entries = []
    for row in Leaderboard(db, create=False).trials(status="completed", sort="psnr_hole"):
        try:
            folder = resolve_trial(row["trial_id"], db=db)
        except ZooError as exc:
            log.warning("not serving trial %s: %s", row["trial_id"], exc)
            continue
        entries.append(Entry(row["trial_id"], _trial_label(row), folder))
    return entries


def ref_entries(refs: list[str], *, storage: str | None = None,
                db: str | None = None) -> list[Entry]:
    """The ``--model`` refs as entries (any name zoo takes; an error stops the start)."""
    from zoo.modelfolder.refs import label, model_title, resolve_model

    entries = []
    for ref in refs:
        folder = resolve_model(ref, storage=storage, db=db)
        name = label(ref, folder)
        entries.append(Entry(name, f"{name} ({_encoder_title(folder, model_title)})", folder))
    return entries


def _encoder_title(folder: Path, title: Any) -> str:
    from zoo._json import load_file  # size-capped, regular files only
    from zoo.modelfolder.checkpoint import CONFIG_NAME

    try:
        encoder = load_file(folder / CONFIG_NAME).get("encoder", "none")
    except (OSError, ValueError, AttributeError):
        return "model folder"
    return title(str(encoder))


def build_catalog(refs: list[str], storage: str | None, db: str | None, *,
                  allow_hub: bool = False, device: str = "auto") -> Catalog:
    """The ``--model`` refs first (in the order given), then the storage's completed
    trials, best first; a name given twice is offered once."""
    from zoo.leaderboard import resolve_db_path

    entries = ref_entries(refs, storage=storage, db=db)
    entries += trial_entries(resolve_db_path(db, storage))
    unique: dict[str, Entry] = {}
    for e in entries:
        unique.setdefault(e.name, e)
    return Catalog(list(unique.values()), allow_hub=allow_hub, device=device)
