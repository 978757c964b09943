"""Shared fixtures. Real data comes from $ZOO_DATA_DIR (CI points it at ../shared/data/cifar10)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

SHARDS = ("train-0.npz", "test-0.npz")


def _cifar_dir() -> Path | None:
    candidates = [os.environ.get("ZOO_DATA_DIR"),
                  Path(__file__).resolve().parents[1].parent / "shared" / "data" / "cifar10"]
    for c in candidates:
        if c and all((Path(c) / s).exists() for s in SHARDS):
            return Path(c).resolve()
    return None


@pytest.fixture(scope="session")
def cifar_dir() -> Path:
    """The offline CIFAR-10 npz folder; skip without it, except in CI where it must exist."""
    found = _cifar_dir()
    if found is None:
        msg = ("CIFAR-10 npz shards not found: set ZOO_DATA_DIR to a folder with "
               "train-0.npz .. test-0.npz (e.g. ../shared/data/cifar10)")
        if os.environ.get("CI") == "true":
            pytest.fail(msg)
        pytest.skip(msg)
    return found
