"""Datasets as uint8 tensors: CIFAR-10 (the paper's split), a folder of images, synthetic.

``load_dataset(config)`` is the one entry point the trainer uses; each split is a uint8 CPU
tensor ``(N, 3, H, W)``. Scaling to 0..1 and masking happen on the device, per batch.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from zoo.data._folder import ENV_DATA_DIR, data_folder
from zoo.data._splits import Splits
from zoo.data.cifar import load_cifar10
from zoo.data.folder import load_folder, synthetic_splits
from zoo.errors import ZooError

if TYPE_CHECKING:
    from zoo.config import TrainConfig

__all__ = ["ENV_DATA_DIR", "Splits", "data_folder", "load_cifar10", "load_dataset",
           "load_folder", "synthetic_splits"]

CIFAR_SIZE = 32


def load_dataset(config: TrainConfig) -> Splits:
    """The splits ``config.dataset`` names, cut to ``train_limit`` / ``val_limit`` /
    ``test_limit`` (the first N images of each)."""
    if config.dataset == "cifar10":
        if config.image_size != CIFAR_SIZE:
            raise ZooError(f"image_size={config.image_size} does not apply to cifar10 (its "
                           f"images are {CIFAR_SIZE}x{CIFAR_SIZE}); use image_size=32, or "
                           f"dataset=folder for other sizes")
        splits = load_cifar10(config.data_dir)
    elif config.dataset == "folder":
        # A fixed seed: every training seed is scored on the same test crops.
        splits = load_folder(config.data_dir, config.image_size, seed=0,
                             crops=config.crops_per_image)
    elif config.dataset == "synthetic":
        # Sized by the limits so smoke runs stay tiny; a fixed seed keeps val and test the
        # same across training seeds, as a real dataset would.
        splits = synthetic_splits(n_train=config.train_limit or 256,
                                  n_val=config.val_limit or 64,
                                  n_test=config.test_limit or 64,
                                  size=config.image_size, seed=0)
    else:  # TrainConfig validates the name; this guards configs built around it
        from zoo.config import DATASETS
        from zoo.errors import unknown

        raise unknown("dataset", config.dataset, DATASETS)
    return splits.limit(config.train_limit, config.val_limit, config.test_limit)
