"""Hub ids (``hf-hub:org/name``) through huggingface_hub, offline: its own cache layout
(``models--org--name/snapshots/<commit>/`` + ``refs/<branch>``) with HF_HUB_OFFLINE=1, so
no test touches the network. `zoo push` is checked against a recording HfApi."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import yaml
from fixtures import require_missing_encoder
from PIL import Image

import zoo
from zoo.modelfolder.checkpoint import SHARED_FILES
from zoo.cli import main
from zoo.config import TrainConfig
from zoo.errors import ZooError

COMMIT = "0123456789abcdef0123456789abcdef01234567"
TINY = dict(dataset="synthetic", epochs=1, train_limit=32, val_limit=8, test_limit=8,
            batch_size=16, encoder="convmixer", encoder_args={"width": 8, "depth": 1},
            unet={"widths": [8, 16, 32]}, device="cpu", threads=1, mask="square")


def _flat(text: str) -> str:
    return "".join(text.split())


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory) -> Path:
    from zoo.train import train

    out = tmp_path_factory.mktemp("hubrun") / "run"
    train(TrainConfig(**TINY), out)
    return out


def _plant(cache: Path, repo_id: str, folder: Path, commit: str = COMMIT,
           ref: str = "main") -> Path:
    """Put ``folder``'s shared files in huggingface_hub's cache as a snapshot of repo_id."""
    repo = cache / ("models--" + repo_id.replace("/", "--"))
    snap = repo / "snapshots" / commit
    snap.mkdir(parents=True, exist_ok=True)
    for name in SHARED_FILES:
        if (folder / name).is_file():
            shutil.copy(folder / name, snap / name)
    (repo / "refs").mkdir(exist_ok=True)
    (repo / "refs" / ref).write_text(commit)
    return snap


@pytest.fixture
def hub(tmp_path, monkeypatch, model_dir) -> Path:
    """An offline huggingface_hub cache holding alice/tiny-inpainter."""
    from huggingface_hub import constants

    cache = tmp_path / "hf" / "hub"
    monkeypatch.setenv("HF_HUB_CACHE", str(cache))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(cache))
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)
    _plant(cache, "alice/tiny-inpainter", model_dir)
    return cache


def test_hub_id_in_every_command(hub, model_dir, tmp_path, capsys, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    ref = "hf-hub:alice/tiny-inpainter"
    rng = np.random.default_rng(1)
    img = tmp_path / "p.png"
    Image.fromarray(rng.integers(0, 256, (23, 31, 3), dtype=np.uint8)).save(img)
    hole = np.zeros((23, 31), bool)
    hole[4:12, 9:20] = True
    Image.fromarray(hole.astype(np.uint8) * 255).save(tmp_path / "m.png")

    assert main(["inpaint", "--model", ref, "--image", str(img), "--mask",
                 str(tmp_path / "m.png"), "--out", str(tmp_path / "out")]) == 0
    a, b = np.asarray(Image.open(img)), np.asarray(Image.open(tmp_path / "out" / "p.png"))
    assert a.shape == b.shape and np.array_equal(a[~hole], b[~hole])
    capsys.readouterr()
    assert main(["eval", ref, "--json"]) == 0
    scored = json.loads(capsys.readouterr().out)
    assert main(["eval", str(model_dir), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["psnr_hole"] == scored["psnr_hole"]
    assert main(["compare", ref, str(model_dir), "--out", str(tmp_path / "c.png"),
                 "--n", "2"]) == 0
    assert "alice/tiny-inpainter" in capsys.readouterr().out
    assert main(["export", ref, "--format", "torchscript"]) == 0
    assert (tmp_path / "tiny-inpainter.torchscript.pt").exists()  # cwd, not the Hub cache
    snap = hub / "models--alice--tiny-inpainter" / "snapshots" / COMMIT
    assert sorted(p.name for p in snap.iterdir()) == sorted(
        n for n in SHARED_FILES if (model_dir / n).exists())


def test_python_api_from_the_hub(hub) -> None:
    model = zoo.load("hf-hub:alice/tiny-inpainter", device="cpu")
    assert model.config.encoder == "convmixer" and model.metrics["psnr_hole"] > 0
    rng = np.random.default_rng(2)
    hole = np.zeros((41, 37), bool)
    hole[10:25, 5:30] = True
    # PIL RGBA of an odd size: same size and mode, alpha and known pixels kept
    rgba = Image.fromarray(rng.integers(0, 256, (41, 37, 4), dtype=np.uint8), "RGBA")
    out = model.inpaint(rgba, Image.fromarray(hole.astype(np.uint8) * 255))
    assert out.size == rgba.size and out.mode == "RGBA"
    a, b = np.asarray(rgba), np.asarray(out)
    assert np.array_equal(a[~hole], b[~hole]) and np.array_equal(a[..., 3], b[..., 3])
    assert not np.array_equal(a[hole][:, :3], b[hole][:, :3])
    # numpy: 16-bit grayscale (H, W) and uint8 RGB, 0/1 masks and bool masks
    g16 = rng.integers(0, 65536, (41, 37), dtype=np.uint16)
    o16 = model.inpaint(g16, hole.astype(np.uint8))
    assert o16.shape == g16.shape and o16.dtype == np.uint16
    assert np.array_equal(o16[~hole], g16[~hole])
    rgb = rng.integers(0, 256, (41, 37, 3), dtype=np.uint8)
    orgb = model.inpaint(rgb, hole)
    assert orgb.shape == rgb.shape and orgb.dtype == np.uint8
    assert np.array_equal(orgb[~hole], rgb[~hole])
    with pytest.raises(ZooError, match="mask is 37x40 but the image is 37x41"):
        model.inpaint(rgb, hole[:40])
    with pytest.raises(ZooError, match="uint8 or uint16"):
        model.inpaint(rgb.astype(np.float32), hole)


def test_revisions_and_missing_ids_offline(hub, model_dir, capsys) -> None:
    other = "fedcba9876543210fedcba9876543210fedcba98"
    _plant(hub, "alice/tiny-inpainter", model_dir, commit=other, ref="v1")
    assert zoo.load("hf-hub:alice/tiny-inpainter@v1").folder.name == other
    assert zoo.load(f"hf-hub:alice/tiny-inpainter@{COMMIT}").folder.name == COMMIT
    assert main(["eval", "hf-hub:bob/never-downloaded"]) == 2
    err = _flat(capsys.readouterr().err)
    assert "'hf-hub:bob/never-downloaded'isnotinthelocalcache" in err
    assert "HF_HUB_OFFLINE=1forbidsdownloadingit" in err and "Traceback" not in err
    with pytest.raises(ZooError, match="is not a Hub id"):
        zoo.load("hf-hub:not a/valid id")


def test_hub_model_needing_a_missing_plugin(hub, model_dir, tmp_path) -> None:
    fake = tmp_path / "fancy"
    shutil.copytree(model_dir, fake)
    require_missing_encoder(fake, "2.0")
    _plant(hub, "carol/fancy", fake)
    with pytest.raises(ZooError, match=r"pip install 'zoo-fancy-encoders==2.0'"):
        zoo.load("hf-hub:carol/fancy")


def test_env_vars_alone_select_the_offline_cache(hub, tmp_path) -> None:
    """A fresh process sees HF_HUB_CACHE/HF_HUB_OFFLINE as huggingface_hub reads them."""
    env = {**os.environ, "HF_HUB_CACHE": str(hub), "HF_HUB_OFFLINE": "1"}
    code = ("import zoo; m = zoo.load('hf-hub:alice/tiny-inpainter', device='cpu'); "
            "print(m.folder)")
    done = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True,
                          text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip().endswith(COMMIT)


def test_push_is_a_thin_use_of_hfapi(model_dir, tmp_path, monkeypatch, capsys) -> None:
    import huggingface_hub

    folder = tmp_path / "m"
    shutil.copytree(model_dir, folder)
    calls = []

    class Recorder:
        def __init__(self, token=None) -> None:
            calls.append(("init", token))

        def create_repo(self, repo_id, **kw):
            calls.append(("create_repo", repo_id, kw))

        def create_branch(self, repo_id, **kw):
            calls.append(("create_branch", repo_id, kw))

        def upload_folder(self, **kw):
            calls.append(("upload_folder", kw))
            return type("Info", (), {"commit_url": "https://huggingface.co/x/commit/1"})()

    monkeypatch.setattr(huggingface_hub, "HfApi", Recorder)
    assert main(["push", str(folder), "alice/tiny", "--private", "--license", "mit"]) == 0
    assert calls[1] == ("create_repo", "alice/tiny",
                        {"private": True, "exist_ok": True, "repo_type": "model"})
    upload = calls[-1][1]
    assert upload["repo_id"] == "alice/tiny" and Path(upload["folder_path"]) == folder
    assert "training_state.pt" not in upload["allow_patterns"]
    assert {"model.safetensors", "config.json", "README.md"} <= set(upload["allow_patterns"])
    card = (folder / "README.md").read_text()
    front = yaml.safe_load(card.split("---\n")[1])
    assert front["license"] == "mit" and "hf-hub:alice/tiny" in card
    # a README the user wrote is never replaced nor uploaded as the card
    (folder / "README.md").write_text("my notes")
    assert main(["push", str(folder), "alice/tiny"]) == 2
    assert "wasnotwrittenbyzoo" in _flat(capsys.readouterr().err)
    assert (folder / "README.md").read_text() == "my notes"


def test_pickle_in_a_hub_repo_never_runs(hub, model_dir, tmp_path, capsys) -> None:
    import torch

    marker = tmp_path / "PWNED"

    class Evil:
        def __reduce__(self):
            return (os.system, (f"touch {marker}",))

    fake = tmp_path / "evil"
    shutil.copytree(model_dir, fake)
    torch.save({"w": Evil()}, fake / "model.safetensors")
    _plant(hub, "mallory/evil", fake)
    for args in (["eval", "hf-hub:mallory/evil"],
                 ["export", "hf-hub:mallory/evil", "--out", str(tmp_path / "x.pt"),
                  "--format", "torchscript"]):
        assert main(args) == 2
        assert "notasafetensorsfile" in _flat(capsys.readouterr().err)
    with pytest.raises(ZooError, match="not a safetensors file"):
        zoo.load("hf-hub:mallory/evil")
    assert not marker.exists() and not (tmp_path / "x.pt").exists()


def test_no_network_is_a_clear_error(tmp_path) -> None:
    """Online mode with the Hub unreachable (an endpoint on a closed local port: no traffic
    leaves the machine) and nothing cached: one line naming the id and the offline setting."""
    env = {**os.environ, "HF_ENDPOINT": "http://127.0.0.1:9", "HF_HUB_OFFLINE": "0",
           "HF_HUB_CACHE": str(tmp_path / "empty"), "HF_HUB_ETAG_TIMEOUT": "2"}
    done = subprocess.run([sys.executable, "-m", "zoo", "eval", "hf-hub:bob/nothing"],
                          env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 2
    err = _flat(done.stderr)
    assert "'hf-hub:bob/nothing'isnotinthelocalcache" in err
    assert "theHubcannotbereached" in err and "HF_HUB_OFFLINE=1" in err
    assert "Traceback" not in done.stderr
