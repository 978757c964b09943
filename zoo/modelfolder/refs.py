"""One way to name a model, resolved in one place for every command that takes one:

- a model folder (``runs/convmixer-1a2b3c-s0``, a Tune trial's checkpoint folder);
- a file inside it (``.../model.safetensors``);
- a trial id, or a unique prefix of one, from the leaderboard (``--storage``/``--db``);
- a Hugging Face Hub id, ``hf-hub:org/name`` (timm's spelling; ``@revision`` optional).

``resolve_model(ref)`` returns the local model folder;
``zoo.modelfolder.checkpoint.load_model`` and ``zoo.load`` take it from there.
"""

from __future__ import annotations

import os
from pathlib import Path

from zoo.errors import ZooError

HELP = ("a model folder, its model.safetensors, a trial id (or unique prefix) from "
        "`zoo leaderboard`, or a Hub id hf-hub:org/name")


def _looks_like_path(text: str) -> bool:
    return (os.sep in text or "/" in text or text.startswith((".", "~"))
            or Path(text).suffix.lower() in (".safetensors", ".json", ".pt", ".pth", ".ckpt"))


# how to name the leaderboard for trial ids, on the command line and in Python
LOOKUP_HINT = {"cli": "pass --storage DIR or --db PATH for trial ids",
               "python": "pass storage=DIR or db=PATH (zoo.load(ref, storage=..., db=...)) "
                         "for trial ids"}
# what a newcomer reads for an encoder's name ("none" is no encoder, not no model)
MODEL_TITLES = {"none": "vanilla U-Net", "convmixer": "ConvMixer-fused U-Net"}


def model_title(encoder: str) -> str:
    """A readable name for a model with fusion encoder ``encoder``: "vanilla U-Net" for
    ``none``, "ConvMixer-fused U-Net", "<name>-fused U-Net" for the others."""
    return MODEL_TITLES.get(encoder, f"{encoder}-fused U-Net")


def resolve_model(ref: str | os.PathLike, *, storage: str | os.PathLike | None = None,
                  db: str | os.PathLike | None = None, caller: str = "cli") -> Path:
    """The local model folder ``ref`` names (see the module doc); ZooError otherwise.
    ``caller`` ("cli" or "python") picks how errors name the leaderboard options."""
    from zoo.modelfolder import hub
    from zoo.modelfolder.checkpoint import model_dir

    text = os.fspath(ref).strip() if isinstance(ref, (str, os.PathLike)) else None
    if not text:
        raise ZooError(f"give a model: {HELP}")
    if hub.is_hub_ref(text):
        return model_dir(hub.download(text))
    path = Path(text).expanduser()
    if path.exists() or _looks_like_path(text):
        return model_dir(path)
    try:
        return resolve_trial(text, storage=storage, db=db, caller=caller)
    except ZooError as exc:
        if str(exc).startswith(f"'{text}' is not a model folder"):
            raise
        raise ZooError(f"'{text}' is no model folder or file here, nor a Hub id "
                       f"(hf-hub:org/name); as a trial id: {exc}") from None


def resolve_trial(trial: str, *, storage: str | os.PathLike | None = None,
                  db: str | os.PathLike | None = None, caller: str = "cli") -> Path:
    """The model folder a leaderboard trial recorded (its path may be relative to the
    leaderboard's folder, so a copied results folder keeps working)."""
    from zoo.modelfolder.checkpoint import model_dir
    from zoo.leaderboard import Leaderboard, resolve_db_path

    path = resolve_db_path(db, storage)
    if not path.exists():
        raise ZooError(f"'{trial}' is not a model folder, a file or a Hub id (hf-hub:org/name), "
                       f"and there is no leaderboard at {path} to look it up as a trial id; "
                       f"{LOOKUP_HINT[caller]}")
    row = Leaderboard(path, create=False).get(str(trial))
    recorded = row.get("checkpoint")
    if not recorded:
        raise ZooError(f"trial {row.get('trial_id')} has no checkpoint recorded (status "
                       f"{row.get('status')}); pick a completed trial from `zoo leaderboard`")
    ckpt = Path(recorded).expanduser()
    if not ckpt.is_absolute():
        ckpt = path.parent / ckpt  # relative to the storage folder the leaderboard lives in
    if not ckpt.exists():
        raise ZooError(f"trial {row.get('trial_id')}'s model {ckpt} does not exist (moved or "
                       "deleted?); copy the whole results folder, leaderboard included")
    return model_dir(ckpt)


def label(ref: str | os.PathLike, folder: Path) -> str:
    """A short name for a model in tables and grids: the run folder's name, the Hub id or
    the trial id as given."""
    text = os.fspath(ref)
    if text.startswith("hf-hub:"):
        return text[len("hf-hub:"):]
    path = Path(text)
    if path.exists():
        return folder.name or text
    return text


def described(ref: str | os.PathLike, folder: Path, trial: bool = False) -> str:
    """Where a model came from, for messages: "trial quick-1", "hf-hub:org/name" or its
    folder."""
    text = os.fspath(ref)
    if trial or not (text.startswith("hf-hub:") or Path(text).expanduser().exists()):
        return f"trial {text}"
    return text if text.startswith("hf-hub:") else str(folder)
