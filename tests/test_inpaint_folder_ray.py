"""`zoo inpaint --address/--workers`: a folder through Ray Data on a two-node local cluster
(one model per worker, a bad image reported by name without stopping the
rest), reruns that skip complete outputs, and the refusals made before any worker starts."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from zoo.cli import main
from zoo.config import TrainConfig

SIZES = [(32, 32), (48, 40), (64, 64), (40, 56), (32, 48), (56, 32)]


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory) -> Path:
    from zoo.train import train

    out = tmp_path_factory.mktemp("run")
    config = TrainConfig(dataset="synthetic", epochs=1, train_limit=32, val_limit=8,
                         test_limit=8, unet={"widths": [8, 16, 32]}, device="cpu", threads=1,
                         mask="square")
    return Path(train(config, out, final_eval=False)["checkpoint"])


@pytest.fixture()
def folder(cifar_dir: Path, tmp_path: Path) -> Path:
    """Six real CIFAR-10 photos (32..64 px) with LaMa masks beside them, and bad.png."""
    x = np.load(cifar_dir / "test-0.npz")["x"]
    images = tmp_path / "images"
    images.mkdir()
    for i, (w, h) in enumerate(SIZES):
        Image.fromarray(x[i]).resize((w, h)).save(images / f"p{i}.png")
        m = np.zeros((h, w), np.uint8)
        m[h // 4:h // 2, w // 3:w // 3 + 8] = 255
        Image.fromarray(m).save(images / f"p{i}_mask.png")
    (images / "bad.png").write_bytes(b"\x89PNG\r\n\x1a\n not a picture")
    return images


def _check_output(images: Path, out: Path, stem: str) -> None:
    src = np.asarray(Image.open(images / f"{stem}.png"))
    res = np.asarray(Image.open(out / f"{stem}.png"))
    hole = np.asarray(Image.open(images / f"{stem}_mask.png")) > 127
    assert res.shape == src.shape
    assert np.array_equal(res[~hole], src[~hole]), "a known pixel changed"
    assert not np.array_equal(res[hole], src[hole] * 0), "the hole was not filled"


def _flat(text: str) -> str:
    """Console text with rich's line wrapping undone."""
    return " ".join(text.split())


def _cli(checkpoint: Path, images: Path, out: Path, *extra: str) -> int:
    return main(["inpaint", "--model", str(checkpoint), "--image", str(images),
                 "--out", str(out), "--device", "cpu", *extra])


def test_folder_over_a_two_node_cluster(checkpoint, folder, tmp_path, capsys) -> None:
    import ray
    from ray.cluster_utils import Cluster

    from zoo.batch import Settings, inpaint_folder, tasks

    out = tmp_path / "out"
    cluster = Cluster(initialize_head=True, head_node_args={"num_cpus": 1})
    cluster.add_node(num_cpus=1)
    cluster.wait_for_nodes()
    try:
        # more workers than the cluster's CPUs: refused before any worker starts
        assert _cli(checkpoint, folder, out, "--address", cluster.address,
                    "--workers", "3") == 2
        assert "needs 3 CPUs" in _flat(capsys.readouterr().err) and not out.exists()

        assert _cli(checkpoint, folder, out, "--address", cluster.address,
                    "--workers", "2") == 1  # one bad image: exit 1, the rest written
        err = _flat(capsys.readouterr().err)
        assert "1 of 7 images failed: bad.png (" in err, err
        for i in range(len(SIZES)):
            _check_output(folder, out, f"p{i}")
        assert not (out / "bad.png").exists()
        assert not [p for p in out.iterdir() if p.name.startswith(".tmp-")]

        # a rerun skips complete outputs; a cut-short file and a stray temp file are redone
        before = {p.name: p.stat().st_mtime_ns for p in out.iterdir()}
        (out / "p1.png").write_bytes((out / "p1.png").read_bytes()[:-12])
        (out / ".tmp-0123456789ab-p2.png").write_bytes(b"partial")
        assert _cli(checkpoint, folder, out, "--address", cluster.address,
                    "--workers", "2") == 1
        text = capsys.readouterr()
        assert "skipped 5 image(s) whose output is already complete" in _flat(text.out)
        assert "1 of 2 images failed: bad.png" in _flat(text.err), text.err
        _check_output(folder, out, "p1")
        for i in (0, 2, 3, 4, 5):
            assert (out / f"p{i}.png").stat().st_mtime_ns == before[f"p{i}.png"]

        # the library, on the cluster's nodes, each worker loading the model once
        ray.init(address=cluster.address)
        todo = [t for t in tasks(folder, out) if t.image.name != "bad.png"]
        got = list(inpaint_folder(checkpoint.parent, todo,
                                  Settings(str(out), device="cpu"), workers=2))
        assert sorted(o.image.name for o in got) == sorted(t.image.name for t in todo)
        assert all(o.status == "written" for o in got)
        # which actor takes which image is Ray Data's choice (the first actor ready can take
        # them all on a loaded machine): every image was done on a node of this cluster
        nodes = {n["NodeID"] for n in ray.nodes() if n["Alive"]}
        assert len(nodes) == 2 and {o.node for o in got} <= nodes, [o.node for o in got]
    finally:
        ray.shutdown()
        cluster.shutdown()


def test_local_rerun_skips_complete_outputs(checkpoint, folder, tmp_path, capsys) -> None:
    (folder / "bad.png").unlink()
    out = tmp_path / "out"
    assert _cli(checkpoint, folder, out) == 0
    first = {p.name: p.stat().st_mtime_ns for p in out.iterdir()}
    assert len(first) == len(SIZES)
    capsys.readouterr()
    assert _cli(checkpoint, folder, out) == 0
    assert "skipped 6 image(s) whose output is already complete" in _flat(
        capsys.readouterr().out)
    assert {p.name: p.stat().st_mtime_ns for p in out.iterdir()} == first
    os.utime(out / "p0.png", ns=(1, 1))
    assert _cli(checkpoint, folder, out, "--overwrite") == 0
    assert (out / "p0.png").stat().st_mtime_ns != 1
    _check_output(folder, out, "p0")


@pytest.mark.parametrize("extra, message", [
    (["--workers", "0"], "--workers 0: give 1 or more"),
    (["--address", "127.0.0.1:9"], "--address 127.0.0.1:9: no Ray head node answers"),
])
def test_refused_before_any_worker(checkpoint, folder, tmp_path, capsys, extra,
                                   message) -> None:
    assert _cli(checkpoint, folder, tmp_path / "out", *extra) == 2
    err = _flat(capsys.readouterr().err)
    assert message in err, err
    assert not (tmp_path / "out").exists()


def test_folder_with_no_images(checkpoint, tmp_path, capsys) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    (empty / "notes.txt").write_text("no pictures here")
    assert _cli(checkpoint, empty, tmp_path / "out", "--workers", "2") == 2
    assert f"no images in {empty}" in _flat(capsys.readouterr().err)
