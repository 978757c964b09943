"""CIFAR-10 with the paper's split: 45,000 train / 5,000 validation / 10,000 test.

Sources, first found wins: ``data_dir``, then ``$ZOO_DATA_DIR`` (both by
``zoo.data.data_folder``), then torchvision's download into ``~/.cache/zoo/cifar10``. A folder may hold the offline npz shards
(``train-0.npz`` .. ``train-4.npz``, ``test-0.npz``; array ``x`` uint8 ``[N, 32, 32, 3]``)
or torchvision's ``cifar-10-batches-py/``.
"""

from __future__ import annotations

import functools
import os
from pathlib import Path

import numpy as np
import torch

from zoo.data._folder import ENV_DATA_DIR, data_folder
from zoo.data._splits import Splits
from zoo.errors import ZooError

CACHE_DIR = Path("~/.cache/zoo/cifar10")
TRAIN_SHARDS = tuple(f"train-{i}.npz" for i in range(5))
TEST_SHARDS = ("test-0.npz",)
TORCHVISION_DIR = "cifar-10-batches-py"
N_TRAIN = 45_000  # the paper's split: the last 5,000 training images are validation
N_TEST = 10_000  # CIFAR-10's test images: every one is scored unless test_limit says fewer


def _expected(where: Path) -> str:
    return (f"no CIFAR-10 in {where}: expected the npz shards "
            f"{', '.join(TRAIN_SHARDS + TEST_SHARDS)} (array x, uint8 [N, 32, 32, 3]) or "
            f"torchvision's {TORCHVISION_DIR}/ folder. Point --data DIR (or ${ENV_DATA_DIR}) "
            f"at such a folder, or leave both unset to download CIFAR-10 with torchvision")


def _to_tensor(x: np.ndarray) -> torch.Tensor:
    if x.dtype != np.uint8 or x.ndim != 4 or x.shape[-1] != 3:
        raise ZooError(f"CIFAR-10 arrays must be uint8 [N, H, W, 3], got {x.dtype} {x.shape}")
    return torch.from_numpy(np.ascontiguousarray(x)).permute(0, 3, 1, 2).contiguous()


@functools.lru_cache(maxsize=4)
def _load_folder(path: str, download: bool) -> tuple[torch.Tensor, torch.Tensor]:
    """(train 50k, test 10k) as uint8 (N, 3, 32, 32), decoded once per process and folder."""
    root = Path(path)
    if all((root / s).is_file() for s in TRAIN_SHARDS + TEST_SHARDS):
        def read(names: tuple[str, ...]) -> np.ndarray:
            arrays = []
            for name in names:
                with np.load(root / name) as shard:
                    if "x" not in shard:
                        raise ZooError(f"{root / name} has no array 'x'; {_expected(root)}")
                    arrays.append(shard["x"])
            return np.concatenate(arrays)

        return _to_tensor(read(TRAIN_SHARDS)), _to_tensor(read(TEST_SHARDS))
    if (root / TORCHVISION_DIR).is_dir() or download:
        return _load_torchvision(root, download)
    raise ZooError(_expected(root))


def _load_torchvision(root: Path, download: bool) -> tuple[torch.Tensor, torch.Tensor]:
    from torchvision.datasets import CIFAR10

    try:
        train = CIFAR10(str(root), train=True, download=download)
        test = CIFAR10(str(root), train=False, download=download)
    except RuntimeError as exc:  # torchvision: "Dataset not found or corrupted"
        raise ZooError(f"{_expected(root)} (torchvision said: {exc})") from None
    except OSError as exc:  # no network, no disk space
        raise ZooError(f"could not download CIFAR-10 to {root}: {exc}. Download it elsewhere "
                       f"and pass --data DIR or set ${ENV_DATA_DIR}") from None
    return _to_tensor(train.data), _to_tensor(test.data)


def load_cifar10(data_dir: str | os.PathLike | None = None, download: bool = True) -> Splits:
    """The paper's split of CIFAR-10 as uint8 ``(N, 3, 32, 32)`` tensors.

    train = the first 45,000 training images, val = the last 5,000, test = the 10,000 test
    images. The decoded arrays are cached per process: the tensors returned are shared
    between calls, so treat them as read-only.
    """
    given = data_folder(data_dir, check=False)  # missing: said below, with what was expected
    if given is None:
        root, from_user = CACHE_DIR.expanduser().resolve(), False
    else:
        root, from_user = Path(given), True
        if not root.is_dir():
            raise ZooError(f"CIFAR-10 folder {root} does not exist; {_expected(root)}")
    # A folder the user named is never downloaded into: missing files there are a mistake.
    train, test = _load_folder(str(root), download and not from_user)
    if train.shape[0] <= N_TRAIN:
        raise ZooError(f"{root} holds {train.shape[0]} training images; the paper's split "
                       f"needs all 50,000. {_expected(root)}")
    return Splits(train=train[:N_TRAIN], val=train[N_TRAIN:], test=test)
