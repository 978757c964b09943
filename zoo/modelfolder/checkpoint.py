"""Model folders: checkpoints with no code in them, that rebuild their own model.

A model is a folder, as ``save_pretrained`` writes one in the Hugging Face ecosystem::

    model.safetensors   the weights to use for inference (safetensors: tensors only)
    config.json         the TrainConfig that rebuilds the model
    zoo.json            format header, plugin requirements, epoch and other plain facts
    metrics.json        test metrics beside the baselines and ceiling (after the final eval)
    history.json        one record per epoch
    README.md           the model card (YAML front matter for the Hub)
    training_state.pt   resume-only state (optimizer, extra state dicts, RNG tensors):
                        tensors and plain containers, read only with weights_only=True
    grid.png, curves.png

Nothing here is ever unpickled: safetensors and JSON hold no code, and the resume state
goes through ``torch.load(..., weights_only=True)``, which refuses any Python object.
Checkpoints of the old format (a pickled ``checkpoint.pt``) are refused with the command
that converts them (``zoo convert``, itself weights_only).

Every file is written through ``zoo._atomic`` (temp file + rename). A save stages all its
files first and renames them at the end, ``zoo.json`` last; each file records the save's
id, so a folder mixing two saves (a crash between two renames) is refused, not misread.

Beside this module: ``_plain`` (plain data and JSON in and out of the files) and ``_fit``
(the plugins a model needs, weights against the model its config builds).
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import os
import uuid
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import torch

from zoo._json import from_jsonable
from zoo.config import TrainConfig
from zoo.settings import build_config
from zoo.errors import ZooError
from zoo.scores import SCORES_NAME  # per-image test scores: what intervals need
from zoo.modelfolder._fit import (CONFIG_NAME, META_NAME, check_plugins,  # noqa: F401
                                  check_weights, plugin_requirements)
from zoo.modelfolder._plain import (_dump_json, _is_json, _load_plain, _plain, _read_json,
                                    _read_weights, _tensors)

log = logging.getLogger(__name__)

FORMAT = "zoo-model"
VERSION = 2
WEIGHTS_NAME = "model.safetensors"
CHECKPOINT_NAME = WEIGHTS_NAME  # what a run folder (or a Tune checkpoint) holds; train.py uses it
METRICS_NAME = "metrics.json"
HISTORY_NAME = "history.json"
STATE_NAME = "training_state.pt"
CARD_NAME = "README.md"
PICTURES = ("grid.png", "curves.png")
# What a shared model consists of (`zoo push`, Hub downloads): no resume state.
SHARED_FILES = (WEIGHTS_NAME, CONFIG_NAME, META_NAME, METRICS_NAME, HISTORY_NAME, CARD_NAME,
                *PICTURES, SCORES_NAME)
MODEL_FILES = (*SHARED_FILES, STATE_NAME)

LEGACY_NAME = "checkpoint.pt"
LEGACY_FORMAT = "zoo-checkpoint"
LEGACY_SUFFIXES = (".pt", ".pth", ".ckpt", ".bin")

# payload keys with a file of their own; every other key is resume state
_OWN_FILES = ("config", "model", "metrics", "history")
_HEADER = ("format", "version")
_LOCAL_PATHS = ("checkpoint", "grid_png", "curves_png")  # train's result paths, not metrics


# ---- naming ---------------------------------------------------------------------------------


def legacy_error(path: Path) -> ZooError:
    """The refusal of an old pickled checkpoint, naming the command that converts it."""
    file = path / LEGACY_NAME if path.is_dir() else path
    out = file.parent if file.name == LEGACY_NAME else file.with_suffix("")  # its run folder
    return ZooError(
        f"{file} is an old-format checkpoint (a pickle, which could run code when opened), so "
        f"zoo no longer opens it; convert it once with `zoo convert {file} {out}` "
        "(reads only tensors and plain data) and use the model folder it writes")


def model_dir(path: str | Path) -> Path:
    """The model folder for a folder or a file inside one; a ZooError says what is wrong."""
    p = Path(path)
    if p.is_dir():
        if (p / WEIGHTS_NAME).is_file():
            return p
        if (p / LEGACY_NAME).is_file():
            raise legacy_error(p)
        raise ZooError(f"{p} is not a zoo model folder (no {WEIGHTS_NAME}); give a folder "
                       "written by `zoo train`, `zoo tune` or `zoo convert`")
    if p.is_file():
        if p.name in MODEL_FILES and (p.parent / WEIGHTS_NAME).is_file():
            return p.parent
        if p.suffix.lower() in LEGACY_SUFFIXES:
            raise legacy_error(p)
        raise ZooError(f"{p} is not part of a zoo model folder; give the folder (or its "
                       f"{WEIGHTS_NAME})")
    raise ZooError(f"model {p} does not exist; give a model folder, its {WEIGHTS_NAME}, a "
                   "trial id from `zoo leaderboard` or a Hub id (hf-hub:org/name)")


def checkpoint_file(path: str | Path) -> Path:
    """The weights file of a model folder (or of the folder a file belongs to)."""
    return model_dir(path) / WEIGHTS_NAME


def has_checkpoint(folder: str | Path) -> bool:
    """True when ``folder`` holds a model; refuses a legacy checkpoint.pt there (train's
    resume check), so an old pickle is never silently ignored nor opened."""
    folder = Path(folder)
    if (folder / WEIGHTS_NAME).is_file():
        return True
    if (folder / LEGACY_NAME).is_file():
        raise legacy_error(folder)
    _refuse_foreign(folder)
    return False


def _refuse_foreign(folder: Path) -> None:
    """A folder with no model yet must not hold files by the names a save writes: they are
    someone else's, and zoo never silently replaces a file the user did not name."""
    if (folder / WEIGHTS_NAME).exists():
        return
    found = [n for n in (CONFIG_NAME, META_NAME, METRICS_NAME, HISTORY_NAME, STATE_NAME)
             if (folder / n).exists() or (folder / n).is_symlink()]
    if found:
        raise ZooError(f"{folder} holds {', '.join(found)} but no {WEIGHTS_NAME}: not a zoo "
                       "model folder, and zoo will not replace those files; use another --out "
                       "(or an empty folder)")


# ---- writing --------------------------------------------------------------------------------

def save_checkpoint(path: str | Path, payload: dict[str, Any]) -> Path:
    """Write ``payload`` as a model folder at ``path`` (a folder, or its ``model.safetensors``)
    and return the weights file.

    ``payload``: ``config`` (the run's TrainConfig, or a TrainConfig dict, validated),
    ``model`` (the state dict used for inference), optional ``metrics`` and ``history``;
    every other key (``optimizer``,
    ``epoch``, ``ema``, ``scheduler``, ...) is resume state and must hold tensors and plain
    values only (dicts, lists, tuples, str, numbers, None), so it loads with weights_only.
    """
    from zoo._version import __version__

    p = Path(path)
    folder = p.parent if p.name in MODEL_FILES or p.suffix == ".safetensors" else p
    for key in ("config", "model"):
        if key not in payload:
            raise ZooError(f"a checkpoint needs '{key}'; got keys {sorted(payload)}")
    config = payload["config"]
    if not isinstance(config, (TrainConfig, dict)):
        raise ZooError("checkpoint 'config' must be a mapping (TrainConfig.to_dict())")
    # a run saves its TrainConfig every epoch: written as it is, never rebuilt per save
    cfg = config if isinstance(config, TrainConfig) else build_config(config, plugins=False)
    config = cfg.to_dict() if config is cfg else config
    weights = _tensors(payload["model"], "model")
    state = _plain({k: v for k, v in payload.items()
                    if k not in (*_OWN_FILES, *_HEADER, "requires")}, "payload")
    save_id = uuid.uuid4().hex
    meta = {"format": FORMAT, "version": VERSION, "save_id": save_id, "zoo_version": __version__,
            "requires": payload.get("requires") or plugin_requirements(cfg),
            "info": {k: v for k, v in state.items() if _is_json(v)},
            "state_keys": sorted(state)}
    metrics, history = payload.get("metrics"), payload.get("history")
    if isinstance(metrics, dict):  # where the run lay on the training machine: not shared
        metrics = {k: v for k, v in metrics.items() if k not in _LOCAL_PATHS}
    folder.mkdir(parents=True, exist_ok=True)
    _refuse_foreign(folder)
    texts = _text_files(folder, save_id, meta, cfg, config, metrics, history)
    _write_staged(folder, save_id, texts, state, weights)
    _remove_stale(folder, {METRICS_NAME: metrics is not None, HISTORY_NAME: history is not None,
                           STATE_NAME: bool(state)})
    return folder / WEIGHTS_NAME


def _text_files(folder: Path, save_id: str, meta: dict[str, Any], cfg: TrainConfig,
                config: dict[str, Any], metrics: dict[str, Any] | None,
                history: list[Any] | None) -> Iterator[tuple[str, str]]:
    """``(name, text)`` of a save's text files, ``zoo.json`` first; lazily, so that each is
    made only once the ones before it are staged."""
    from zoo.modelfolder.card import model_card, owns_card

    yield META_NAME, _dump_json(meta)
    card = folder / CARD_NAME
    if owns_card(card):
        yield CARD_NAME, model_card(cfg, meta, metrics, history, folder)
    else:
        log.warning("%s exists and was not written by zoo; the model card is not written", card)
    yield CONFIG_NAME, _dump_json(config)
    if metrics is not None:
        yield METRICS_NAME, _dump_json({"save_id": save_id, **metrics})
    if history is not None:
        yield HISTORY_NAME, _dump_json({"save_id": save_id, "history": history})


def _write_staged(folder: Path, save_id: str, texts: Iterable[tuple[str, str]],
                  state: dict[str, Any], weights: dict[str, torch.Tensor]) -> None:
    """Write every file of one save to a temp file, then rename them all, the first staged
    last: nothing is renamed unless every file was written."""
    from safetensors.torch import save_file

    from zoo._atomic import atomic_path

    with contextlib.ExitStack() as stack:
        def stage(name: str) -> Path:
            return stack.enter_context(atomic_path(folder / name))

        # ExitStack renames in reverse: zoo.json, staged first, is renamed last.
        for name, text in texts:
            stage(name).write_text(text)
        if state:
            torch.save({"format": FORMAT, "save_id": save_id, "state": state},
                       stage(STATE_NAME))
        tmp = stage(WEIGHTS_NAME)
        save_file(weights, str(tmp),
                  metadata={"format": "pt", "zoo_format": FORMAT, "zoo_save_id": save_id})
        _usual_mode(tmp)


def _usual_mode(path: Path) -> None:
    """Give ``path`` the permissions of a file created under the umask (0644 usually), as
    every other file of the folder has: safetensors writes its own file 0600."""
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(path, 0o666 & ~umask)


def _remove_stale(folder: Path, written: dict[str, bool]) -> None:
    """Remove the optional files this save did not write (``written[name]`` false): they are
    from an earlier save of this folder and would not match this one."""
    for name, present in written.items():
        stale = folder / name
        if not present and stale.is_file() and not stale.is_symlink():
            stale.unlink()


# ---- reading --------------------------------------------------------------------------------


def read_state(folder: Path, save_id: str) -> dict[str, Any]:
    """The resume state (``training_state.pt``), loaded with weights_only=True only."""
    path = folder / STATE_NAME
    data = _load_plain(path, "delete it to keep only the weights, or use another --out",
                       "delete it to keep only the weights, or copy the folder again")
    if not isinstance(data, dict) or data.get("format") != FORMAT or \
            not isinstance(data.get("state"), dict):
        raise ZooError(f"{path} is not zoo resume state; delete it or copy the folder again")
    if data.get("save_id") != save_id:
        raise ZooError(f"{path} belongs to another save than {folder / META_NAME} (a save was "
                       "interrupted?); delete it to keep only the weights, or use another --out")
    return data["state"]


def read_checkpoint(path: str | Path, *, state: bool = True) -> dict[str, Any]:
    """Read a model folder into a payload dict (``config`` as a dict, ``model`` state dict,
    ``metrics``, ``history``, ``requires`` and, with ``state``, the resume state).

    ZooError says what is wrong with it; nothing is unpickled."""
    folder = model_dir(path)
    meta = _read_json(folder / META_NAME, "zoo's header")
    if meta.get("format") != FORMAT:
        raise ZooError(f"{folder / META_NAME} is not a zoo model header (no format "
                       f"'{FORMAT}'); give a folder written by `zoo train`, `zoo tune` or "
                       "`zoo convert`")
    version = meta.get("version")
    if type(version) is not int or version < 1:
        raise ZooError(f"{folder / META_NAME} has no valid format version (got {version!r}, "
                       f"want 1 to {VERSION}); copy the folder again")
    if version > VERSION:
        raise ZooError(f"model {folder} has format version {version}, newer than this zoo "
                       f"understands ({VERSION}); upgrade zoo")
    save_id = meta.get("save_id")
    config = _read_json(folder / CONFIG_NAME, "the model's TrainConfig")
    weights, wmeta = _read_weights(folder / WEIGHTS_NAME)
    if wmeta.get("zoo_save_id") != save_id:
        raise ZooError(f"{folder / WEIGHTS_NAME} and {folder / META_NAME} come from different "
                       "saves (a save was interrupted, or files were mixed); copy the folder "
                       "again or retrain into another --out")
    payload: dict[str, Any] = {"format": FORMAT, "version": version}
    info = meta.get("info")
    payload.update(info if isinstance(info, dict) else {})
    payload.update({"config": config, "model": weights,
                    "requires": meta.get("requires") if isinstance(meta.get("requires"), dict)
                    else {}})
    for name, key in ((METRICS_NAME, "metrics"), (HISTORY_NAME, "history")):
        if (folder / name).is_file():
            data = from_jsonable(_read_json(folder / name, key))  # "inf" -> inf
            if data.pop("save_id", save_id) != save_id:
                raise ZooError(f"{folder / name} belongs to another save than the weights; "
                               "copy the folder again")
            payload[key] = data["history"] if key == "history" else data
    keys = meta.get("state_keys") or []
    needs_state = any(k not in payload for k in keys)
    if state and needs_state:
        if not (folder / STATE_NAME).is_file():
            raise ZooError(f"model {folder} has no {STATE_NAME} (shared and downloaded models "
                           "hold only the weights), so training cannot resume from it; train "
                           "into another --out")
        payload.update(read_state(folder, save_id))
    return payload


# ---- the model ------------------------------------------------------------------------------


def load_model(path: str | Path, device: str | torch.device = "cpu") -> tuple[Any, TrainConfig,
                                                                             dict[str, Any]]:
    """Rebuild the model stored in a model folder: ``(model in eval mode, config, payload)``.
    Reads only the inference files (never the resume state)."""
    from zoo.model import build_model

    folder = model_dir(path)
    payload = read_checkpoint(folder, state=False)
    try:
        config = build_config(payload["config"], plugins=False)
    except ZooError as exc:
        raise ZooError(f"{folder / CONFIG_NAME}: {exc}") from None
    check_plugins(config, payload.get("requires") or {}, folder)
    # The saved weights replace any initial ones: the encoder's plugin says how to rebuild
    # without fetching those again (offline machines, moved weight files).
    from zoo.plugin.registry import get_registry

    reload_args = get_registry().encoder(config.encoder).spec.reload_args
    args = dict(config.encoder_args)
    if reload_args is not None:
        args = reload_args(args)
    config_to_build = dataclasses.replace(config, encoder_args=args)
    where = f"model {folder} does not match the model its config builds (encoder " \
            f"'{config.encoder}'; plugin version changed?)"
    check_weights(config_to_build, payload["model"], where)
    model = build_model(config_to_build)
    try:
        model.load_state_dict(payload["model"])
    except RuntimeError as exc:
        first = str(exc).splitlines()[0]
        raise ZooError(f"{where}: {first}") from None
    return model.to(device).eval(), config, payload


# ---- the old format -------------------------------------------------------------------------


def convert_legacy(old: str | Path, out_dir: str | Path) -> Path:
    """Convert an old pickled ``checkpoint.pt`` into a model folder at ``out_dir``, reading
    it with ``torch.load(weights_only=True)`` only: a plain payload of tensors, dicts,
    lists, strings and numbers converts; anything holding Python objects is refused."""
    p = Path(old)
    if p.is_dir():
        p = p / LEGACY_NAME
    if not p.is_file():
        raise ZooError(f"{p} does not exist; give the old checkpoint.pt (or its run folder)")
    out = Path(out_dir)
    if out.exists() and not out.is_dir():
        raise ZooError(f"{out} is a file; give a folder to write the model into")
    if (out / WEIGHTS_NAME).exists():
        raise ZooError(f"{out} already holds a zoo model; choose an empty or new folder")
    payload = _load_plain(p, "it cannot be converted safely; ask its author for a model "
                             "folder")
    if not isinstance(payload, dict) or payload.get("format") != LEGACY_FORMAT:
        raise ZooError(f"{p} is not a zoo checkpoint (no '{LEGACY_FORMAT}' header); only "
                       "checkpoints written by an older `zoo train`/`zoo tune` convert")
    for key in ("config", "model"):
        if key not in payload:
            raise ZooError(f"checkpoint {p} is incomplete: missing '{key}'")
    if not isinstance(payload["config"], dict):
        raise ZooError(f"checkpoint {p} has a config that is not a mapping; it cannot convert")
    payload = {k: v for k, v in payload.items() if k not in _HEADER}
    return save_checkpoint(out, payload).parent


def copy_model(src: str | Path, dst: str | Path, names: tuple[str, ...] = MODEL_FILES) -> Path:
    """Copy a model folder's files (regular files only, never links) into ``dst``, each
    atomically; ``zoo.json`` last, so a half-done copy is refused rather than misread."""
    import shutil

    from zoo._atomic import write_with

    src, dst = model_dir(src), Path(dst)
    dst.mkdir(parents=True, exist_ok=True)
    for name in sorted(names, key=lambda n: n == META_NAME):
        f = src / name
        if f.is_file() and not f.is_symlink():
            write_with(dst / name, lambda tmp, f=f: shutil.copyfile(f, tmp))
    return dst
