"""Model folders: no pickle anywhere, every way to name a model, bad input refused.

A malicious pickle (its ``__reduce__`` runs a shell command that creates a file) is planted
in every place zoo reads a model or a resume state; each command must refuse it with a
clear one-line error, and the file must never appear.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from pathlib import Path

import numpy as np
import pytest
from fixtures import require_missing_encoder
import torch
import yaml
from PIL import Image

from zoo.modelfolder.checkpoint import (
    CHECKPOINT_NAME,
    STATE_NAME,
    load_model,
    read_checkpoint,
    save_checkpoint,
)
from zoo.cli import main
from zoo.config import TrainConfig
from zoo.settings import build_config
from zoo.errors import ZooError

TINY = dict(dataset="synthetic", epochs=1, train_limit=32, val_limit=8, test_limit=8,
            batch_size=16, encoder="convmixer", encoder_args={"width": 8, "depth": 1},
            unet={"widths": [8, 16, 32]}, device="cpu", threads=1, mask="square")
TRAIN_ARGS = ["--encoder", "convmixer", "--epochs", "1", "--train-limit", "32",
              "--set", "dataset=synthetic", "--set", "unet.widths=[8,16,32]",
              "--set", "encoder_args.width=8", "--set", "encoder_args.depth=1",
              "--set", "val_limit=8", "--set", "mask=square", "--test-limit", "8",
              "--set", "threads=1", "--device", "cpu"]


class Evil:
    """Unpickling this runs a shell command that creates ``marker``."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


def _flat(text: str) -> str:
    """``text`` without whitespace: rich wraps long error lines (paths) anywhere."""
    return "".join(text.split())


def _tree(folder: Path) -> dict[str, str]:
    """Every file under ``folder`` with a hash of its bytes: 'nothing changed on disk'."""
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()}


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory) -> Path:
    from zoo.train import train

    out = tmp_path_factory.mktemp("run") / "convmixer-run"
    train(TrainConfig(**TINY), out)
    return out


@pytest.fixture
def model_copy(model_dir, tmp_path) -> Path:
    dst = tmp_path / "copy"
    shutil.copytree(model_dir, dst)
    return dst


@pytest.fixture
def photo(tmp_path) -> tuple[Path, Path]:
    rng = np.random.default_rng(0)
    img, mask = tmp_path / "img" / "p.png", tmp_path / "img" / "hole.png"
    img.parent.mkdir()
    Image.fromarray(rng.integers(0, 256, (20, 27, 3), dtype=np.uint8)).save(img)
    m = np.zeros((20, 27), np.uint8)
    m[5:12, 6:15] = 255
    Image.fromarray(m).save(mask)
    return img, mask


# ---- the format ----------------------------------------------------------------------------


def test_folder_layout_and_card(model_dir) -> None:
    names = {p.name for p in model_dir.iterdir()}
    assert {"model.safetensors", "config.json", "zoo.json", "metrics.json", "history.json",
            "README.md", "training_state.pt", "grid.png", "curves.png"} <= names
    assert not any(n.endswith(".pkl") or n == "checkpoint.pt" for n in names)
    meta = json.loads((model_dir / "zoo.json").read_text())
    assert meta["format"] == "zoo-model" and meta["requires"]["encoder"]["name"] == "convmixer"
    assert meta["requires"]["encoder"]["package"] == "zoo-inpaint"
    config = json.loads((model_dir / "config.json").read_text())
    assert build_config(config) == TrainConfig(**TINY)
    card = (model_dir / "README.md").read_text()
    front = yaml.safe_load(card.split("---\n")[1])
    assert front["license"] and front["library_name"] == "zoo-inpaint"
    assert front["zoo"]["eval_id"].startswith("synthetic/32px/square")
    assert front["zoo"]["requires"][0]["package"] == "zoo-inpaint"
    for fact in ("| this model |", "| telea |", "| ceiling |", "`convmixer`", "`square`",
                 "zoo.load(", '"encoder_args"'):
        assert fact in card, fact


def test_round_trip_of_extra_training_state(tmp_path) -> None:
    """Keys the training loop may add (EMA weights, a discriminator, a scheduler, RNG,
    tuples and JSON values) come back exactly, with no pickle of Python objects."""
    from zoo.model import build_model

    config = TrainConfig(**TINY)
    model = build_model(config)
    opt = torch.optim.Adam(model.parameters())
    model(torch.rand(2, 3, 32, 32), torch.zeros(2, 1, 32, 32)).mean().backward()
    opt.step()
    sched = torch.optim.lr_scheduler.StepLR(opt, 3)
    payload = {"config": config.to_dict(), "model": model.state_dict(),
               "optimizer": opt.state_dict(), "epoch": 3, "history": [{"epoch": 1, "x": 0.5}],
               "plugin": "0.1.0", "ema": {k: v * 2 for k, v in model.state_dict().items()},
               "disc": {"w": torch.ones(3)}, "scheduler": sched.state_dict(),
               "rng": torch.get_rng_state(), "betas": (0.9, 0.99), "note": None,
               "best": np.float64(0.25),
               "metrics": {"psnr_hole": 20.5, "baselines": {"ceiling": {"psnr": float("inf")}}}}
    path = save_checkpoint(tmp_path / "m", payload)
    assert path == tmp_path / "m" / CHECKPOINT_NAME
    back = read_checkpoint(tmp_path / "m")
    assert back["epoch"] == 3 and back["betas"] == (0.9, 0.99) and back["note"] is None
    assert back["best"] == 0.25 and type(back["best"]) is float
    assert back["metrics"]["baselines"]["ceiling"]["psnr"] == float("inf")
    assert back["history"] == payload["history"]
    assert torch.equal(back["rng"], payload["rng"])
    for key in ("model", "ema", "disc"):
        assert back[key].keys() == payload[key].keys()
        assert all(torch.equal(back[key][k], payload[key][k]) for k in payload[key])
    assert back["scheduler"] == payload["scheduler"]
    opt2 = torch.optim.Adam(build_model(config).parameters())
    opt2.load_state_dict(back["optimizer"])  # a real optimizer takes it back
    # inference never opens the resume state
    assert "optimizer" not in read_checkpoint(tmp_path / "m", state=False)
    # a value that would need pickle is refused at save time, nothing written
    from collections import defaultdict

    for bad in (Evil(tmp_path / "x"), defaultdict(int), {"deep": [object()]}):
        with pytest.raises(ZooError, match="cannot be stored without pickle"):
            save_checkpoint(tmp_path / "n", {**payload, "obj": bad})
    assert not (tmp_path / "n").exists()


def test_a_copied_folder_resumes_where_it_stopped(tmp_path) -> None:
    """What a Tune restore does: copy the trial's model folder into a fresh work folder
    (zoo.modelfolder.checkpoint.copy_model) and resume there, from the resume state."""
    from zoo.modelfolder.checkpoint import copy_model
    from zoo.train import train

    config = TrainConfig(**{**TINY, "epochs": 2})

    def stop(record, ckpt):
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        train(config, tmp_path / "a", on_epoch=stop, final_eval=False)
    copy_model(tmp_path / "a", tmp_path / "b")
    assert (tmp_path / "b" / STATE_NAME).exists() and (tmp_path / "b" / "curves.png").exists()
    seen = []
    result = train(config, tmp_path / "b", on_epoch=lambda r, c: seen.append(r["epoch"]),
                   final_eval=False)
    assert seen == [2] and [r["epoch"] for r in result["history"]] == [1, 2]


def test_legacy_checkpoint_converts_safely(model_dir, tmp_path, capsys) -> None:
    """An old plain checkpoint.pt is refused with the convert command, and `zoo convert`
    (weights_only) turns it into a folder that predicts exactly as before."""
    payload = read_checkpoint(model_dir)
    legacy = {"format": "zoo-checkpoint", "version": 1,
              **{k: v for k, v in payload.items() if k not in ("format", "version",
                                                                "requires")}}
    run = tmp_path / "old-run"
    run.mkdir()
    torch.save(legacy, run / "checkpoint.pt")
    assert main(["eval", str(run / "checkpoint.pt")]) == 2
    err = _flat(capsys.readouterr().err)
    assert _flat(f"zoo convert {run / 'checkpoint.pt'} {run}") in err and "pickle" in err
    assert main(["convert", str(run / "checkpoint.pt"), str(run)]) == 0
    old_model, _, _ = load_model(model_dir)
    new_model, config, converted = load_model(run)
    assert converted["metrics"]["psnr_hole"] == pytest.approx(payload["metrics"]["psnr_hole"])
    x, m = torch.rand(2, 3, 32, 32), torch.zeros(2, 1, 32, 32)
    m[..., 4:12, 4:12] = 1
    with torch.no_grad():
        assert torch.equal(old_model(x, m), new_model(x, m))
    assert read_checkpoint(run)["epoch"] == payload["epoch"]  # resume state converted too
    assert main(["convert", str(run / "checkpoint.pt"), str(run)]) == 2  # no silent replace
    assert "alreadyholdsazoomodel" in _flat(capsys.readouterr().err)


# ---- malicious pickles everywhere -----------------------------------------------------------


def _evil_legacy(path: Path, marker: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save({"format": "zoo-checkpoint", "version": 1, "config": {}, "model": Evil(marker)},
               path)


def test_malicious_pickle_never_runs(model_dir, tmp_path, photo, capsys, monkeypatch) -> None:
    marker = tmp_path / "PWNED"
    monkeypatch.chdir(tmp_path)
    img, mask = photo
    evil_run = tmp_path / "evil-run"
    _evil_legacy(evil_run / "checkpoint.pt", marker)
    evil_file = tmp_path / "evil.pt"
    _evil_legacy(evil_file, marker)
    # a model folder whose weights file is really a pickle
    fake = tmp_path / "fake"
    shutil.copytree(model_dir, fake)
    torch.save({"w": Evil(marker)}, fake / "model.safetensors")
    # a model folder whose resume state is a pickle of an object
    evil_state = tmp_path / "evil-state"
    shutil.copytree(model_dir, evil_state)
    torch.save({"format": "zoo-model", "state": {"optimizer": Evil(marker)}},
               evil_state / STATE_NAME)
    # a leaderboard row (someone else's file) pointing at the pickle
    from zoo.leaderboard import Leaderboard

    db = tmp_path / "lb.sqlite"
    Leaderboard(db).record_trial("s", "evil0001", "completed",
                                 {"checkpoint": str(evil_run / "checkpoint.pt")}, {})
    before = _tree(tmp_path)

    out = str(tmp_path / "out")
    cases = []
    for ref in (str(evil_file), str(evil_run), str(evil_run / "checkpoint.pt"), str(fake)):
        cases += [["eval", ref], ["export", ref, "--format", "torchscript"],
                  ["compare", ref, "--out", str(tmp_path / "g.png")],
                  ["inpaint", "--model", ref, "--image", str(img), "--mask", str(mask),
                   "--out", out]]
    cases += [["inpaint", "--trial", "evil", "--db", str(db), "--image", str(img), "--mask",
               str(mask), "--out", out],
              ["eval", "evil0001", "--db", str(db)],
              ["train", *TRAIN_ARGS, "--out", str(evil_run)],
              ["train", *TRAIN_ARGS, "--out", str(evil_state)],
              ["convert", str(evil_file), str(tmp_path / "converted")],
              ["push", str(evil_run), "alice/evil"]]
    for args in cases:
        assert main(args) == 2, args
        err = capsys.readouterr().err
        assert "Traceback" not in err and err.strip(), args
        text = _flat(err)
        assert any(_flat(hint) in text for hint in ("zoo convert", "Python objects",
                                                    "not a safetensors file")), (args, err)
        assert not marker.exists(), f"{args} ran the pickle"
    assert _tree(tmp_path) == before, "a refused model changed files on disk"
    with pytest.raises(ZooError, match="zoo convert"):
        import zoo

        zoo.load(evil_run)
    # the weights of a folder with a bad resume state still load for inference: inference
    # never opens training_state.pt
    assert main(["eval", str(evil_state), "--json"]) == 0
    assert not marker.exists()
    # a Tune restore copies the trial's folder into its work dir, then resumes from it
    from zoo.modelfolder.checkpoint import copy_model
    from zoo.train import train

    work = tmp_path / "tune-work"
    copy_model(evil_state, work)
    with pytest.raises(ZooError, match="Python objects"):
        train(TrainConfig(**TINY), work)
    assert not marker.exists()
    # control: the planted payload is live; the old loader would have run it
    torch.load(evil_file, weights_only=False)
    assert marker.exists()


# ---- bad input -----------------------------------------------------------------------------


def test_truncated_foreign_and_damaged_files(model_copy, tmp_path, capsys) -> None:
    weights = model_copy / "model.safetensors"
    data = weights.read_bytes()
    weights.write_bytes(data[: len(data) // 2])
    foreign = tmp_path / "notes.txt"
    foreign.write_text("hello")
    cases = [([str(model_copy)], "truncated or not a safetensors file"),
             ([str(foreign)], "not part of a zoo model folder"),
             ([str(tmp_path / "nope")], "does not exist")]
    for args, message in cases:
        before = _tree(tmp_path)
        assert main(["eval", *args]) == 2
        assert _flat(message) in _flat(capsys.readouterr().err)
        assert _tree(tmp_path) == before
    weights.write_bytes(data)
    (model_copy / "config.json").write_text("[1, 2, 3]")
    assert main(["eval", str(model_copy)]) == 2
    assert "mustholdamapping" in _flat(capsys.readouterr().err)
    (model_copy / "config.json").write_text('{"encoder": "convmixer", "unet": 3}')
    assert main(["eval", str(model_copy)]) == 2
    assert "config.json" in capsys.readouterr().err


def test_interrupted_save_is_refused(model_dir, model_copy, tmp_path) -> None:
    other = tmp_path / "other"
    shutil.copytree(model_dir, other)
    save_checkpoint(other, read_checkpoint(other))  # a second save: a new save id
    shutil.copy(other / "model.safetensors", model_copy / "model.safetensors")
    with pytest.raises(ZooError, match="different saves"):
        load_model(model_copy)


def test_missing_or_filtered_plugin_names_the_fix(model_copy, monkeypatch) -> None:
    from zoo.plugin.registry import get_registry

    monkeypatch.setenv("ZOO_PLUGINS", "none,masks")
    get_registry(refresh=True)
    try:
        with pytest.raises(ZooError, match=r"ZOO_PLUGINS=none,masks leaves out; add "
                                           r"'convmixer' to ZOO_PLUGINS"):
            load_model(model_copy)
    finally:
        monkeypatch.delenv("ZOO_PLUGINS")
        get_registry(refresh=True)
    require_missing_encoder(model_copy, "1.2")
    before = _tree(model_copy)
    with pytest.raises(ZooError, match=r"'fancy' from package zoo-fancy-encoders 1.2, which "
                                       r"is not installed; pip install 'zoo-fancy-encoders==1.2'"):
        load_model(model_copy)
    assert _tree(model_copy) == before


def test_training_never_replaces_foreign_files(tmp_path, capsys) -> None:
    out = tmp_path / "mine"
    out.mkdir()
    (out / "config.json").write_text('{"my": "own config"}')
    (out / "README.md").write_text("my notes")
    assert main(["train", *TRAIN_ARGS, "--out", str(out)]) == 2
    assert "willnotreplace" in _flat(capsys.readouterr().err)
    assert sorted(p.name for p in out.iterdir()) == ["README.md", "config.json"]
    (out / "config.json").unlink()
    assert main(["train", *TRAIN_ARGS, "--out", str(out), "--json"]) == 0
    assert (out / "README.md").read_text() == "my notes"  # the card is not written over it
    assert (out / "model.safetensors").exists()


def test_atomic_writes_never_follow_a_link(tmp_path) -> None:
    from zoo._atomic import write_text, write_with

    target = tmp_path / "precious.txt"
    target.write_text("mine")
    link = tmp_path / "out.txt"
    link.symlink_to(target)
    with pytest.raises(ZooError, match="symbolic link"):
        write_text(link, "overwritten?")
    assert target.read_text() == "mine" and link.is_symlink()

    def failing(tmp: Path) -> None:
        tmp.write_text("half")
        raise OSError("disk full")

    with pytest.raises(ZooError, match="writing .*new.txt failed \\(disk full\\)"):
        write_with(tmp_path / "new.txt", failing)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.txt", "precious.txt"]


# ---- naming a model ------------------------------------------------------------------------


def test_every_name_of_a_model(model_dir, tmp_path, photo, monkeypatch, capsys) -> None:
    """A folder, its weights file, a trial id (relative path, results folder copied
    elsewhere) all resolve to the same model, in every command."""
    from zoo.leaderboard import Leaderboard
    from zoo.modelfolder.refs import resolve_model

    storage = tmp_path / "results"
    shutil.copytree(model_dir, storage / "search" / "trial_1" / "checkpoint_000000")
    Leaderboard(storage / "leaderboard.sqlite").record_trial(
        "search", "abcd1234_00001", "completed",
        {"checkpoint": "search/trial_1/checkpoint_000000/model.safetensors"}, {})
    moved = tmp_path / "elsewhere" / "results"
    shutil.copytree(storage, moved)
    shutil.rmtree(storage)  # the copy must not lean on the original
    expected = moved / "search" / "trial_1" / "checkpoint_000000"
    assert resolve_model("abcd", storage=moved) == expected
    assert resolve_model(expected / "model.safetensors") == expected
    assert resolve_model(expected / "README.md") == expected
    img, mask = photo
    monkeypatch.chdir(tmp_path / "elsewhere")  # ./results is the default storage
    for ref in (str(model_dir), str(model_dir / "model.safetensors"), "abcd"):
        out = tmp_path / f"out-{len(ref)}"
        assert main(["inpaint", "--model", ref, "--image", str(img), "--mask", str(mask),
                     "--out", str(out), "--device", "cpu"]) == 0
        a, b = np.asarray(Image.open(img)), np.asarray(Image.open(out / "p.png"))
        hole = np.asarray(Image.open(mask)) > 127
        assert a.shape == b.shape and np.array_equal(a[~hole], b[~hole])
        capsys.readouterr()
        assert main(["eval", ref, "--json"]) == 0
        assert json.loads(capsys.readouterr().out)["eval_id"].startswith("synthetic/32px/square")
    assert main(["compare", str(model_dir), "abcd", "--out", str(tmp_path / "c.png"),
                 "--n", "2"]) == 0
    assert (tmp_path / "c.png").exists()
    (tmp_path / "exp").mkdir()
    assert main(["export", "abcd", "--format", "torchscript", "--out",
                 str(tmp_path / "exp")]) == 0
    assert (tmp_path / "exp" / "model.torchscript.pt").exists()
    assert main(["eval", "zzzz"]) == 2
    assert "notrial'zzzz'" in _flat(capsys.readouterr().err)


def test_eval_on_another_mask_kind(model_dir, capsys) -> None:
    assert main(["eval", str(model_dir), "--json"]) == 0
    own = json.loads(capsys.readouterr().out)
    assert main(["eval", str(model_dir), "--mask", "irregular", "--json"]) == 0
    other = json.loads(capsys.readouterr().out)
    assert "/irregular/" in other["eval_id"] and "/square/" in own["eval_id"]
    assert other["psnr_hole"] != own["psnr_hole"]
    assert main(["eval", str(model_dir), "--mask", "square", "--mask-args",
                 '{"max_frac": 0.2}', "--mask-arg", "min_frac=0.1", "--json"]) == 0
    tuned = json.loads(capsys.readouterr().out)
    assert "max_frac=0.2" in tuned["eval_id"] and "min_frac=0.1" in tuned["eval_id"]
    assert main(["eval", str(model_dir), "--mask-args", "[1]"]) == 2
    assert "JSONobject" in _flat(capsys.readouterr().err)
    assert main(["eval", str(model_dir), "--mask", "irregullar"]) == 2
    assert "didyoumean'irregular'" in _flat(capsys.readouterr().err)


def test_export_card_never_replaces_a_foreign_file(model_dir, tmp_path, capsys) -> None:
    out = tmp_path / "exp"
    out.mkdir()
    (out / "MODEL_CARD.md").write_text("my own notes")
    assert main(["export", str(model_dir), "--format", "torchscript", "--out", str(out)]) == 2
    assert "wasnotwrittenby`zooexport`" in _flat(capsys.readouterr().err)
    assert (out / "MODEL_CARD.md").read_text() == "my own notes"
    assert sorted(p.name for p in out.iterdir()) == ["MODEL_CARD.md"]
    (out / "MODEL_CARD.md").unlink()
    (out / "MODEL_CARD.md").symlink_to(tmp_path / "elsewhere.md")
    assert main(["export", str(model_dir), "--format", "torchscript", "--out", str(out)]) == 2
    assert not (tmp_path / "elsewhere.md").exists()
    (out / "MODEL_CARD.md").unlink()
    for _ in range(2):  # zoo's own card is rewritten by the next export
        assert main(["export", str(model_dir), "--format", "torchscript", "--out",
                     str(out)]) == 0
    assert "# Model card" in (out / "MODEL_CARD.md").read_text()


def test_resume_counts_epochs_from_the_checkpoint_not_the_history(tmp_path) -> None:
    """The epoch to resume at is the checkpoint's own; a lost history.json costs the
    curve, not a restart (which would step a one-cycle schedule past its end)."""
    from zoo.train import train

    config = TrainConfig(**{**TINY, "epochs": 2, "lr_schedule": "onecycle"})

    def stop(record, ckpt):
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        train(config, tmp_path / "a", on_epoch=stop, final_eval=False)
    (tmp_path / "a" / "history.json").unlink()
    seen = []
    train(config, tmp_path / "a", on_epoch=lambda r, c: seen.append(r["epoch"]),
          final_eval=False)
    assert seen == [2] and read_checkpoint(tmp_path / "a")["epoch"] == 2
