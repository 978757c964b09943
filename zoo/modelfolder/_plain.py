"""What a model folder's files hold, read and written without pickle: resume state
reduced to tensors and plain values (``torch.load(weights_only=True)`` reads it back),
state dicts as safetensors takes them, and the JSON files."""

from __future__ import annotations

import math
import pickle
import zipfile
from collections import OrderedDict
from pathlib import Path
from typing import Any

import torch

from zoo.errors import ZooError


_PLAIN_LEAVES = (str, int, float, bool, type(None))
_TORCH_LEAVES = (torch.Size, torch.dtype, torch.device)


def _plain(value: Any, where: str) -> Any:
    """``value`` as resume state that loads with weights_only=True: tensors, exact dicts,
    lists, tuples, str, numbers, None (numpy scalars become Python numbers); a ZooError
    names any other object, which would need pickle."""
    kind = type(value)
    if kind in (dict, OrderedDict):
        out = {}
        for k, v in value.items():
            if type(k) not in _PLAIN_LEAVES:
                raise ZooError(f"checkpoint key {where} has a {type(k).__name__} key; store "
                               "plain keys")
            out[k] = _plain(v, f"{where}.{k}")
        return OrderedDict(out) if kind is OrderedDict else out
    if kind in (list, tuple):
        return kind(_plain(v, f"{where}[{i}]") for i, v in enumerate(value))
    if kind in _PLAIN_LEAVES or isinstance(value, (torch.Tensor, *_TORCH_LEAVES)):
        return value
    if hasattr(value, "dtype") and hasattr(value, "item") and getattr(value, "ndim", 1) == 0:
        return value.item()  # a numpy scalar
    raise ZooError(f"checkpoint key {where} holds a {kind.__name__}, which cannot be stored "
                   "without pickle; store its state_dict() or plain values")


def _is_json(value: Any) -> bool:
    if isinstance(value, dict):
        return all(isinstance(k, str) and _is_json(v) for k, v in value.items())
    if isinstance(value, list):
        return all(_is_json(v) for v in value)
    if isinstance(value, float):
        return math.isfinite(value)
    return isinstance(value, (str, int, bool, type(None)))


def _tensors(state: Any, where: str) -> dict[str, torch.Tensor]:
    """A state dict as safetensors takes it: contiguous CPU tensors, none sharing memory."""
    if not isinstance(state, dict):
        raise ZooError(f"checkpoint '{where}' must be a state dict, got {type(state).__name__}")
    out, seen = {}, set()
    for k, v in state.items():
        if not isinstance(v, torch.Tensor):
            raise ZooError(f"checkpoint '{where}' entry {k} is a {type(v).__name__}, not a "
                           "tensor; safetensors stores tensors only")
        t = v.detach().to("cpu").contiguous()
        if t.numel() and t.untyped_storage().data_ptr() in seen:
            t = t.clone()  # shared (tied) storage: safetensors wants each tensor on its own
        seen.add(t.untyped_storage().data_ptr())
        out[str(k)] = t
    return out


def _dump_json(obj: Any) -> str:
    from zoo._json import dumps

    return dumps(obj, indent=2, sort_keys=False) + "\n"


def _read_json(path: Path, what: str) -> dict[str, Any]:
    from zoo._json import load_file

    try:
        data = load_file(path)
    except FileNotFoundError:
        raise ZooError(f"model folder {path.parent} is incomplete: no {path.name}; copy the "
                       "whole folder") from None
    except ValueError as exc:
        raise ZooError(f"{path} is not valid JSON ({exc}); the model folder is damaged, "
                       "copy it again") from None
    if not isinstance(data, dict):
        raise ZooError(f"{path} must hold a mapping ({what}), not a {type(data).__name__}; "
                       "the model folder is damaged, copy it again")
    return data


def _read_weights(path: Path) -> tuple[dict[str, torch.Tensor], dict[str, str]]:
    from safetensors import safe_open

    try:
        with safe_open(str(path), framework="pt", device="cpu") as f:
            meta = f.metadata() or {}
            tensors = {k: f.get_tensor(k) for k in f.keys()}
    except Exception as exc:  # SafetensorError, OSError, ...: truncated or foreign
        raise ZooError(f"{path} is truncated or not a safetensors file ({exc}); copy the "
                       "model folder again") from None
    return tensors, meta


def _unpickling_refused(path: Path, exc: Exception, fix: str) -> ZooError:
    """The ZooError for a file ``torch.load(weights_only=True)`` refused: Python objects in
    it (never loaded), or not a torch file at all. torch's own advice to retry with
    weights_only=False is left out on purpose."""
    lines = [ln.strip() for ln in str(exc).splitlines() if ln.strip()]
    detail = " ".join(ln for ln in lines if not ln.startswith(
        ("Weights only load failed", "Check the documentation", "Please file an issue")))[:300]
    if "GLOBAL" in detail or "global" in detail:
        return ZooError(f"{path} holds Python objects besides tensors and plain data, and zoo "
                        f"never unpickles those (they could run code): {detail}; {fix}")
    return ZooError(f"{path} is truncated or not a torch file ({detail or exc}); {fix}")


def _load_plain(path: Path, objects_fix: str, corrupt_fix: str = "") -> Any:
    """``torch.load(weights_only=True)``, the only way zoo opens a torch file: Python objects
    are refused (``objects_fix`` says what to do), a truncated or foreign file too."""
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as exc:
        raise _unpickling_refused(path, exc, objects_fix) from None
    except (RuntimeError, EOFError, zipfile.BadZipFile, OSError, ValueError) as exc:
        fix = f"; {corrupt_fix}" if corrupt_fix else ""
        raise ZooError(f"{path} is truncated or not a torch file ({exc}){fix}") from None
