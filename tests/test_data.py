"""Datasets: CIFAR-10 from the offline shards, folders of images, synthetic images."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from zoo.config import TrainConfig
from zoo.data import ENV_DATA_DIR, Splits, load_cifar10, load_dataset, load_folder, synthetic_splits
from zoo.errors import ZooError


def _check_uint8(s: Splits, size: int = 32) -> None:
    for x in (s.train, s.val, s.test):
        assert x.dtype == torch.uint8 and x.device.type == "cpu" and x.is_contiguous()
        assert x.shape[1:] == (3, size, size)


# --- CIFAR-10 ------------------------------------------------------------------------------


def test_cifar_paper_split(cifar_dir: Path) -> None:
    s = load_cifar10(cifar_dir)
    _check_uint8(s)
    assert (len(s.train), len(s.val), len(s.test)) == (45_000, 5_000, 10_000)
    # val is the last 5,000 training images (the end of train-4), in NCHW
    last = np.load(cifar_dir / "train-4.npz")["x"]
    assert torch.equal(s.val[0], torch.from_numpy(last[5000]).permute(2, 0, 1))
    assert torch.equal(s.val[-1], torch.from_numpy(last[-1]).permute(2, 0, 1))
    first = np.load(cifar_dir / "test-0.npz")["x"][0]
    assert torch.equal(s.test[0], torch.from_numpy(first).permute(2, 0, 1))
    # the standard per-channel test means (shards' README)
    mean = s.test.float().mean(dim=(0, 2, 3)) / 255
    assert torch.allclose(mean, torch.tensor([0.4942, 0.4851, 0.4504]), atol=1e-3)


def test_cifar_is_cached_per_process(cifar_dir: Path, monkeypatch) -> None:
    first = load_cifar10(cifar_dir)
    # the second load must not read a shard again (counted, not timed: the machine is shared)
    import zoo.data.cifar as cifar

    reads = []
    real_load = cifar.np.load
    monkeypatch.setattr(cifar.np, "load", lambda *a, **k: reads.append(a) or real_load(*a, **k))
    again = load_cifar10(str(cifar_dir))
    assert reads == []
    assert again.train.data_ptr() == first.train.data_ptr()


def test_relative_dir_resolved_immediately(cifar_dir: Path, monkeypatch) -> None:
    monkeypatch.chdir(cifar_dir.parent)
    s = load_cifar10(cifar_dir.name)
    monkeypatch.chdir("/")  # a later cwd change (as in Ray trials) must not matter
    assert s.test.shape[0] == 10_000


def test_load_dataset_limits_and_env(cifar_dir: Path, monkeypatch) -> None:
    monkeypatch.setenv(ENV_DATA_DIR, str(cifar_dir))
    s = load_dataset(TrainConfig(train_limit=100, val_limit=20, test_limit=30))
    assert (len(s.train), len(s.val), len(s.test)) == (100, 20, 30)
    full = load_cifar10(cifar_dir)
    assert torch.equal(s.train, full.train[:100]) and torch.equal(s.val, full.val[:20])
    _check_uint8(s)


def test_cifar_rejects_other_image_sizes(cifar_dir: Path) -> None:
    with pytest.raises(ZooError, match="image_size"):
        load_dataset(TrainConfig(data_dir=str(cifar_dir), image_size=64))


@pytest.mark.parametrize("make", ["missing", "empty", "bad_torchvision"])
def test_missing_cifar_names_the_fix(tmp_path: Path, make: str) -> None:
    where = tmp_path / "nope"
    if make != "missing":
        where.mkdir()
    if make == "bad_torchvision":
        (where / "cifar-10-batches-py").mkdir()
    with pytest.raises(ZooError) as err:
        load_cifar10(where)
    msg = str(err.value)
    assert "ZOO_DATA_DIR" in msg and "--data" in msg and "train-0.npz" in msg
    assert str(where) in msg


# --- folder --------------------------------------------------------------------------------


@pytest.fixture
def image_folder(tmp_path: Path) -> Path:
    rng = np.random.default_rng(0)
    (tmp_path / "sub").mkdir()
    for i in range(20):
        h, w = (10, 12) if i % 5 == 0 else (40 + i, 50)  # some smaller than the crop
        pixels = rng.integers(0, 256, (h, w, 3), dtype=np.uint8)
        where = tmp_path / "sub" if i % 2 else tmp_path
        Image.fromarray(pixels).save(where / f"img{i:02d}.{'png' if i % 3 else 'jpg'}")
    (tmp_path / "notes.txt").write_text("not an image")
    return tmp_path


def test_folder_split_and_crops(image_folder: Path) -> None:
    s = load_folder(image_folder, size=16, seed=1)
    _check_uint8(s, 16)
    assert (len(s.train), len(s.val), len(s.test)) == (18, 1, 1)
    again = load_folder(str(image_folder), size=16, seed=1)
    assert torch.equal(s.train, again.train) and torch.equal(s.test, again.test)
    other = load_folder(image_folder, size=16, seed=2)
    assert not torch.equal(s.train, other.train)


def test_folder_via_config(image_folder: Path) -> None:
    s = load_dataset(TrainConfig(dataset="folder", data_dir=str(image_folder), image_size=24,
                                 train_limit=5))
    assert s.train.shape == (5, 3, 24, 24) and len(s.val) == 1


@pytest.mark.parametrize("kind", ["unset", "missing", "empty"])
def test_folder_errors(tmp_path: Path, kind: str) -> None:
    where = {"unset": None, "missing": tmp_path / "nope", "empty": tmp_path}[kind]
    with pytest.raises(ZooError, match="--data|image"):
        load_folder(where, size=16)


# --- synthetic -----------------------------------------------------------------------------


def test_synthetic() -> None:
    s = synthetic_splits(n_train=10, n_val=4, n_test=6, size=24, seed=0)
    _check_uint8(s, 24)
    assert (len(s.train), len(s.val), len(s.test)) == (10, 4, 6)
    assert torch.equal(s.val, synthetic_splits(n_train=99, n_val=4, n_test=6, size=24).val)
    assert not torch.equal(s.train, synthetic_splits(10, 4, 6, 24, seed=1).train)
    # smooth: neighbouring pixels differ far less than random images' would (~85)
    diffs = (s.train[..., 1:].float() - s.train[..., :-1].float()).abs().mean()
    assert diffs < 10 and s.train.float().std() > 20


def test_synthetic_via_config() -> None:
    s = load_dataset(TrainConfig(dataset="synthetic", train_limit=8, val_limit=4, test_limit=2))
    assert (len(s.train), len(s.val), len(s.test)) == (8, 4, 2)


def test_data_folder_given_beats_the_variable(tmp_path: Path, monkeypatch) -> None:
    """One resolver for --data, a config's data_dir and $ZOO_DATA_DIR: a given folder wins,
    the variable is the fallback (unless env=False), each missing one names its fix."""
    from zoo.data import data_folder

    given, env = tmp_path / "given", tmp_path / "env"
    given.mkdir()
    env.mkdir()
    monkeypatch.setenv(ENV_DATA_DIR, str(env))
    monkeypatch.chdir(tmp_path)
    assert data_folder("given") == str(given)  # relative to the working directory, absolute
    assert data_folder(None) == str(env) and data_folder("") == str(env)
    assert data_folder(None, env=False) is None
    with pytest.raises(ZooError, match="data folder nope does not exist; pass --data DIR or "
                                       f"set {ENV_DATA_DIR}"):
        data_folder("nope")
    with pytest.raises(ZooError, match="does not exist; fix base.data_dir"):
        data_folder("nope", fix="fix base.data_dir")
    assert data_folder("nope", check=False) == str(tmp_path / "nope")
    monkeypatch.setenv(ENV_DATA_DIR, str(tmp_path / "gone"))
    with pytest.raises(ZooError, match=rf"\${ENV_DATA_DIR}=.*gone is not a folder"):
        data_folder()
    assert data_folder("given") == str(given)  # a given folder never reads the variable
    monkeypatch.delenv(ENV_DATA_DIR)
    assert data_folder() is None
