"""Shared fixtures. Real data comes from $ZOO_DATA_DIR (CI points it at ../shared/data/cifar10)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

# a fixture of the plugin tests, here so that their modules need not import it
from fixtures import plugin_env  # noqa: F401

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


@pytest.fixture(scope="module")
def model_folder(tmp_path_factory) -> Path:
    """A tiny trained model folder (vanilla U-Net on synthetic data, about 2 s)."""
    from zoo.config import TrainConfig
    from zoo.train import train

    out = tmp_path_factory.mktemp("run") / "none-run"
    config = TrainConfig(dataset="synthetic", epochs=1, train_limit=16, val_limit=8,
                         test_limit=8, unet={"widths": [8, 16, 32]}, device="cpu", threads=1,
                         mask="square")
    train(config, out, final_eval=False)
    return out


@pytest.fixture(scope="session")
def storage(tmp_path_factory) -> Path:
    """A results folder with two completed trials of tiny models, tiny-1 and tiny-2 (trained
    in ~2 s each), once per session for the serve tests and the browser test."""
    from zoo.config import TrainConfig
    from zoo.leaderboard import Leaderboard
    from zoo.train import train

    root = tmp_path_factory.mktemp("results")
    lb = Leaderboard(root / "leaderboard.sqlite")
    for seed in (0, 1):
        config = TrainConfig(dataset="synthetic", epochs=1, train_limit=32, val_limit=8,
                             test_limit=8, batch_size=16, unet={"widths": [8, 16, 32]},
                             device="cpu", threads=1, mask="square", seed=seed)
        result = train(config, root / "tiny" / f"tiny-{seed + 1}")
        lb.record_trial("tiny", f"tiny-{seed + 1}", "completed", result, result["config"])
    return root
