"""Where a result came from: versions, code, data and masks, device.

Recorded with every final test score (the leaderboard row and the model folder's
``metrics.json``), so a row can be traced to what produced it, as MMagic's metafiles
record config, data and hardware.
"""

from __future__ import annotations

import functools
import hashlib
import subprocess
from importlib import metadata
from pathlib import Path
from typing import Any

import torch

PACKAGES = ("zoo-inpaint", "torch", "ray", "timm")


def _version(package: str) -> str | None:
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return None


@functools.lru_cache(maxsize=1)
def git_commit() -> str | None:
    """The commit of the zoo checkout this runs from (with ``+dirty`` for local changes);
    None for an installed wheel or without git."""
    root = Path(__file__).resolve().parents[1]
    if not (root / ".git").exists():
        return None
    try:
        head = subprocess.run(["git", "-C", str(root), "rev-parse", "HEAD"], capture_output=True,
                              text=True, timeout=5, check=True).stdout.strip()
        dirty = subprocess.run(["git", "-C", str(root), "status", "--porcelain", "-uno"],
                               capture_output=True, text=True, timeout=5).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return None
    return head + ("+dirty" if dirty else "")


def fingerprint(tensor: torch.Tensor) -> str:
    """SHA-256 (first 16 hex digits) of a tensor's bytes: the same data gives the same id."""
    data = tensor.detach().cpu().contiguous().numpy().tobytes()
    return hashlib.sha256(data).hexdigest()[:16]


def provenance(*, train_data: torch.Tensor | None, eval_id: str, masks_sha256: str,
               device: str, plugins: dict[str, Any] | None = None) -> dict[str, Any]:
    """The provenance record of one scoring."""
    return {"versions": {p: _version(p) for p in PACKAGES}, "git_commit": git_commit(),
            "plugins": plugins or {},
            "train_data_sha256": None if train_data is None else fingerprint(train_data),
            "eval_id": eval_id, "masks_sha256": masks_sha256[:16], "device": device}
