"""Checkpoints that rebuild their own model: the config travels with the weights."""

from __future__ import annotations

import dataclasses
import os
import pickle
import tempfile
import zipfile
from pathlib import Path
from typing import Any

import torch

from zoo.config import TrainConfig
from zoo.errors import ZooError

FORMAT = "zoo-checkpoint"
CHECKPOINT_NAME = "checkpoint.pt"  # the file a run folder (or a Tune checkpoint) holds
VERSION = 1


def save_checkpoint(path: str | Path, payload: dict[str, Any]) -> Path:
    """Write ``payload`` atomically (temp file + rename): an interrupted save never leaves
    a truncated checkpoint behind, and the previous one stays valid until the rename."""
    path = Path(path).resolve()
    path.parent.mkdir(parents=True, exist_ok=True)
    payload = {"format": FORMAT, "version": VERSION, **payload}
    fd, tmp = tempfile.mkstemp(prefix=".tmp-", suffix=".pt", dir=path.parent)
    os.close(fd)
    try:
        torch.save(payload, tmp)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    return path


def checkpoint_file(path: str | Path) -> Path:
    """The checkpoint file itself for a file or a run folder."""
    path = Path(path)
    if path.is_dir():
        if not (path / CHECKPOINT_NAME).exists():
            raise ZooError(f"no {CHECKPOINT_NAME} in folder {path}")
        return path / CHECKPOINT_NAME
    return path


def read_checkpoint(path: str | Path) -> dict[str, Any]:
    """Read and validate a checkpoint file; ZooError says what is wrong with it."""
    path = checkpoint_file(path)
    if not path.exists():
        raise ZooError(f"checkpoint {path} does not exist")
    try:
        payload = torch.load(path, map_location="cpu", weights_only=False)
    except (RuntimeError, EOFError, pickle.UnpicklingError, zipfile.BadZipFile, OSError) as exc:
        raise ZooError(f"checkpoint {path} is corrupt or not a torch file ({exc})") from None
    if not isinstance(payload, dict) or payload.get("format") != FORMAT:
        raise ZooError(f"{path} is not a zoo checkpoint (no '{FORMAT}' header); "
                       "zoo eval/inpaint need a checkpoint written by `zoo train` or `zoo tune`")
    if payload.get("version", 0) > VERSION:
        raise ZooError(f"checkpoint {path} has format version {payload['version']}, newer than "
                       f"this zoo understands ({VERSION}); upgrade zoo")
    for key in ("config", "model"):
        if key not in payload:
            raise ZooError(f"checkpoint {path} is incomplete: missing '{key}'")
    return payload


def load_model(path: str | Path, device: str | torch.device = "cpu") -> tuple[Any, TrainConfig,
                                                                             dict[str, Any]]:
    """Rebuild the model stored in a checkpoint: ``(model in eval mode, config, payload)``."""
    from zoo.model import build_model

    payload = read_checkpoint(path)
    config = TrainConfig.from_dict(payload["config"])
    # The checkpoint's weights replace any initial ones: rebuild without fetching those
    # again (offline machines, moved weight files).
    initial = {"pretrained": False, "weights": None}
    args = {k: initial.get(k, v) for k, v in config.encoder_args.items()}
    model = build_model(dataclasses.replace(config, encoder_args=args))
    try:
        model.load_state_dict(payload["model"])
    except RuntimeError as exc:
        first = str(exc).splitlines()[0]
        raise ZooError(f"checkpoint {path} does not match the model its config builds "
                       f"(encoder '{config.encoder}'; plugin version changed?): {first}") from None
    return model.to(device).eval(), config, payload
