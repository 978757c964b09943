"""Files zoo reads from others (model folders, configs, images, YAML): refused with one line,
before they can hang zoo, fill its memory or run for minutes."""

from __future__ import annotations

import json
import os
import threading
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file, save_file

from zoo.modelfolder.checkpoint import load_model, save_checkpoint
from zoo.cli import main
from zoo.config import TrainConfig
from zoo.errors import ZooError
from zoo.model import build_model

TINY = dict(dataset="synthetic", epochs=1, encoder="convmixer",
            encoder_args={"width": 8, "depth": 1}, unet={"widths": [8, 16, 32]},
            device="cpu", threads=1, mask="square")


def _flat(text: str) -> str:
    return "".join(text.split())


@pytest.fixture
def folder(tmp_path) -> Path:
    """An untrained tiny model folder (no training: only its files matter here)."""
    cfg = TrainConfig(**TINY)
    out = tmp_path / "model"
    save_checkpoint(out, {"config": cfg, "model": build_model(cfg).state_dict()})
    return out


def test_model_json_only_from_small_regular_files(folder, tmp_path) -> None:
    meta = folder / "zoo.json"
    saved = meta.read_bytes()
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    cases = {"fifo": fifo, "device": Path("/dev/zero")}
    for name, target in cases.items():
        meta.unlink()
        meta.symlink_to(target)
        done: list[str] = []

        def load() -> None:
            try:
                load_model(folder)
            except ZooError as exc:
                done.append(str(exc))

        t = threading.Thread(target=load, daemon=True)
        t.start()
        t.join(10)
        assert done and "not valid JSON" in done[0] and "not a regular file" in done[0], name
    meta.unlink()
    meta.write_bytes(saved)
    texts = {"deep": "[" * 100_000 + "]" * 100_000, "long int": '{"a": ' + "9" * 5000 + "}",
             "huge": " " * (17 * 1024 * 1024) + "{}", "not utf-8": b'{"a": "\xff"}'}
    for name, text in texts.items():
        (folder / "config.json").write_bytes(text if isinstance(text, bytes) else text.encode())
        with pytest.raises(ZooError, match="not valid JSON"):
            load_model(folder)


@pytest.mark.parametrize("version", [0, -5, True, "2"])
def test_bad_format_versions_refused(folder, version) -> None:
    meta = json.loads((folder / "zoo.json").read_text())
    meta["version"] = version
    (folder / "zoo.json").write_text(json.dumps(meta))
    with pytest.raises(ZooError, match="no valid format version"):
        load_model(folder)


@pytest.mark.parametrize("key,value,message", [
    ("bottleneck_blocks", 10_000_000, "unet.bottleneck_blocks must be in [1, 64]"),
    ("convs_per_level", 1_000_000, "unet.convs_per_level must be in [1, 64]"),
    ("widths", [1_000_000, 16, 32], "unet.widths must be in [1, 4096]"),
    ("depth", 40, "unet.depth must be <= 8")])
def test_config_json_values_are_bounded(folder, key, value, message, capsys) -> None:
    cfg = json.loads((folder / "config.json").read_text())
    cfg["unet"][key] = value
    (folder / "config.json").write_text(json.dumps(cfg))
    assert main(["eval", str(folder)]) == 2
    assert _flat(message) in _flat(capsys.readouterr().err)


def test_weight_decay_must_be_finite_and_not_negative(capsys) -> None:
    for bad in (-1, float("nan"), float("inf")):
        with pytest.raises(ZooError, match="weight_decay must be a finite number >= 0"):
            TrainConfig(**{**TINY, "weight_decay": bad})
    space = Path(__file__).parents[1] / "search_spaces" / "smoke.yaml"
    assert main(["tune", str(space), "--dry-run", "--set", "weight_decay=-1"]) == 2
    assert "weight_decay" in capsys.readouterr().err


def _edit_weights(folder: Path, edit) -> None:
    path = folder / "model.safetensors"
    from safetensors import safe_open

    with safe_open(str(path), framework="pt") as f:
        meta = f.metadata()
    tensors = load_file(path)
    edit(tensors)
    save_file(tensors, str(path), metadata=meta)


def test_weights_checked_against_the_config_before_the_model_is_built(folder,
                                                                      monkeypatch) -> None:
    key = next(k for k, v in load_file(folder / "model.safetensors").items() if v.ndim == 4)
    _edit_weights(folder, lambda t: t.update({key: torch.zeros(3, 3, 3, 3)}))
    built = []
    import zoo.model

    real = zoo.model.build_model
    monkeypatch.setattr(zoo.model, "build_model",
                        lambda cfg: built.append(torch.empty(0).device.type) or real(cfg))
    with pytest.raises(ZooError) as exc:
        load_model(folder)
    assert key in str(exc.value) and "[3, 3, 3, 3]" in str(exc.value)
    assert "cpu" not in built  # refused from the meta build, before any real allocation


@pytest.mark.parametrize("dtype", [torch.int8, torch.bool])
def test_integer_or_bool_weights_are_refused(folder, dtype) -> None:
    key = next(k for k, v in load_file(folder / "model.safetensors").items() if v.ndim == 4)
    _edit_weights(folder, lambda t: t.update({key: t[key].to(dtype)}))
    with pytest.raises(ZooError, match=f"{key} is {str(dtype)[6:]} in the weights"):
        load_model(folder)


def test_config_and_header_naming_different_encoders(folder) -> None:
    meta = json.loads((folder / "zoo.json").read_text())
    meta["requires"]["encoder"]["name"] = "vit"
    (folder / "zoo.json").write_text(json.dumps(meta))
    with pytest.raises(ZooError, match="names the encoder 'convmixer' but zoo.json was"):
        load_model(folder)


def _hub_api(monkeypatch, uploads: list, fail: Exception | None = None) -> None:
    import huggingface_hub

    class Api:
        def __init__(self, token=None) -> None:
            pass

        def create_repo(self, repo_id, **kw):
            if fail is not None:
                raise fail

        def upload_folder(self, folder_path, allow_patterns, **kw):
            uploads.extend(p.name for p in Path(folder_path).iterdir() if p.name in allow_patterns)
            return "https://huggingface.co/x/commit/1"

    monkeypatch.setattr(huggingface_hub, "HfApi", Api)


def test_push_refuses_links_in_the_folder(folder, tmp_path, monkeypatch, capsys) -> None:
    secret = tmp_path / "secret.txt"
    secret.write_text("ssh key")
    (folder / "grid.png").symlink_to(secret)
    uploads: list[str] = []
    _hub_api(monkeypatch, uploads)
    assert main(["push", str(folder), "alice/tiny"]) == 2
    assert "grid.png" in capsys.readouterr().err and uploads == []
    (folder / "grid.png").unlink()
    assert main(["push", str(folder), "alice/tiny"]) == 0 and "model.safetensors" in uploads


def test_failed_push_is_one_line_and_keeps_the_card(folder, monkeypatch, capsys) -> None:
    card = (folder / "README.md").read_bytes()
    _hub_api(monkeypatch, [], fail=ConnectionError("Name or service not known"))
    assert main(["push", str(folder), "alice/tiny"]) == 2
    err = capsys.readouterr().err
    assert "pushingto'alice/tiny'failed" in _flat(err) and "Traceback" not in err
    assert (folder / "README.md").read_bytes() == card


def _png_header(path: Path, w: int, h: int) -> Path:
    """A tiny PNG file whose header declares a ``w`` x ``h`` RGB image (no real pixels)."""
    import struct
    import zlib

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + \
            struct.pack(">I", zlib.crc32(kind + data))

    ihdr = struct.pack(">IIBBBBB", w, h, 8, 2, 0, 0, 0)
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) +
                     chunk(b"IDAT", zlib.compress(b"\0" * 64)) + chunk(b"IEND", b""))
    return path


@pytest.mark.parametrize("side", [9500, 20000])  # under and over Pillow's own error limit
def test_inpaint_refuses_an_image_declaring_a_huge_size(folder, tmp_path, side, capsys) -> None:
    big = _png_header(tmp_path / "big.png", side, side)
    assert big.stat().st_size < 200
    out = tmp_path / "out"
    assert main(["inpaint", "--model", str(folder), "--image", str(big), "--mask-kind",
                 "square", "--out", str(out), "--device", "cpu"]) == 2
    err = capsys.readouterr().err
    assert "big.png" in err and ("ZOO_MAX_PIXELS" in _flat(err)) and "Traceback" not in err
    assert not (out / "big.png").exists()


def test_folder_dataset_refuses_a_decompression_bomb(tmp_path, monkeypatch) -> None:
    from zoo.data.folder import load_folder

    data = tmp_path / "photos"
    data.mkdir()
    for i in range(3):
        _png_header(data / f"bomb{i}.png", 30000, 30000)
    with pytest.raises(ZooError, match="bomb"):
        load_folder(data, size=32)
    monkeypatch.setenv("ZOO_MAX_PIXELS", "-3")
    with pytest.raises(ZooError, match="ZOO_MAX_PIXELS='-3' must be"):
        load_folder(data, size=32)


def test_weights_file_has_the_usual_permissions(folder) -> None:
    umask = os.umask(0)
    os.umask(umask)
    mode = (folder / "model.safetensors").stat().st_mode & 0o777
    assert mode == (folder / "config.json").stat().st_mode & 0o777 == 0o666 & ~umask


@pytest.mark.parametrize("size", ["0", "-32", "100000"])
def test_export_size_out_of_range(folder, tmp_path, size, capsys) -> None:
    assert main(["export", str(folder), "--format", "torchscript", "--out",
                 str(tmp_path / "m.pt"), "--size", size]) == 2
    assert "from4to4096" in _flat(capsys.readouterr().err)
    assert not (tmp_path / "m.pt").exists()


@pytest.mark.parametrize("text,message", [
    (b"", "is empty"),
    (b"# only a comment\n", "is empty"),
    (b"name: \xff\xfe\n", "not UTF-8"),
    (b"space: " + b"[" * 5000 + b"]" * 5000 + b"\n", "not valid YAML"),
    (b"a: &a [x, x, x, x, x, x, x, x, x]\n" + b"".join(
        b"%c: &%c [*%c, *%c, *%c, *%c, *%c, *%c, *%c, *%c, *%c]\n" % ((ord("b") + i,) * 2 +
                                                                        (ord("a") + i,) * 9)
        for i in range(8)), "alias bomb")])
def test_bad_search_yaml_is_one_line_and_quick(tmp_path, text, message, capsys) -> None:
    import time

    space = tmp_path / "space.yaml"
    space.write_bytes(text)
    start = time.monotonic()
    assert main(["tune", str(space), "--dry-run"]) == 2
    err = capsys.readouterr().err
    assert _flat(message) in _flat(err) and "Traceback" not in err
    assert time.monotonic() - start < 10


def test_leaderboard_writes_never_go_through_a_link(tmp_path, capsys) -> None:
    import hashlib

    from zoo.leaderboard import Leaderboard

    real = tmp_path / "lb.sqlite"
    board = Leaderboard(real)
    cfg = TrainConfig(**TINY)
    board.record_trial("s1", "t1", "completed", {"psnr_hole": 20.0, "config": cfg.to_dict()},
                       cfg.to_dict())
    link = tmp_path / "link.sqlite"
    link.symlink_to(real)
    before = hashlib.sha256(real.read_bytes()).hexdigest()
    assert main(["leaderboard", "rm", "s1", "--yes", "--db", str(link)]) == 2
    assert "symboliclink" in _flat(capsys.readouterr().err)
    from zoo.leaderboard import resolve_db_path

    with pytest.raises(ZooError, match="symbolic link"):  # what rebuild opens
        Leaderboard(resolve_db_path(str(link)))
    assert hashlib.sha256(real.read_bytes()).hexdigest() == before
    assert main(["leaderboard", "--db", str(link)]) == 0  # reading through it is fine


@pytest.mark.parametrize("create", [True, False])
def test_foreign_sqlite_with_a_trials_table_is_not_modified(tmp_path, create) -> None:
    import hashlib
    import sqlite3

    from zoo.leaderboard import Leaderboard

    path = tmp_path / "shop.sqlite"
    with sqlite3.connect(path) as conn:
        conn.execute("CREATE TABLE trials (id INTEGER, patient TEXT)")
    before = hashlib.sha256(path.read_bytes()).hexdigest()
    with pytest.raises(ZooError, match="SQLite file of something else"):
        Leaderboard(path, create=create)
    assert hashlib.sha256(path.read_bytes()).hexdigest() == before
    with sqlite3.connect(path) as conn:
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] != "wal"


def test_plugins_new_onto_a_dangling_link(tmp_path, capsys) -> None:
    (tmp_path / "zoo-mine").symlink_to(tmp_path / "nowhere")
    assert main(["plugins", "new", "mine", "--dir", str(tmp_path)]) == 2
    assert "alreadyexists" in _flat(capsys.readouterr().err)
    link = tmp_path / "dir-link"
    link.symlink_to(tmp_path / "gone")
    assert main(["plugins", "new", "mine", "--dir", str(link)]) == 2
    assert "linktonothing" in _flat(capsys.readouterr().err)
    assert not (tmp_path / "nowhere").exists() and not (tmp_path / "gone").exists()


def _cannot_write(command: list[str], capsys) -> str:
    assert main(command) == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err
    return _flat(err)


def test_unwritable_out_is_refused_before_the_work(folder, tmp_path, capsys) -> None:
    import numpy as np
    from PIL import Image

    img = tmp_path / "p.png"
    Image.fromarray(np.zeros((32, 32, 3), np.uint8)).save(img)
    blocked = Path("/sys/zoo-out")  # a read-only folder even for root (tests run as root)
    file_dir = tmp_path / "notes.txt"
    file_dir.write_text("x")
    train = ["train", "--encoder", "convmixer", "--epochs", "1", "--train-limit", "8",
             "--set", "dataset=synthetic", "--set", "unet.widths=[8,16,32]",
             "--set", "encoder_args.width=8", "--set", "encoder_args.depth=1",
             "--device", "cpu", "--out"]
    inpaint = ["inpaint", "--model", str(folder), "--image", str(img), "--mask-kind",
               "square", "--device", "cpu", "--out"]
    export = ["export", str(folder), "--format", "torchscript", "--out"]
    for command, out in ((train, blocked), (inpaint, blocked),
                         (export, blocked / "m.pt"), (inpaint, file_dir / "x")):
        err = _cannot_write([*command, str(out)], capsys)
        assert ("cannotwritein/sys" in err and "Permissiondenied" in err) or \
            "isafile,notafolder" in err, (command[0], err)


def test_a_full_disk_is_one_line_and_nothing_is_replaced(folder, monkeypatch) -> None:
    import errno

    import safetensors.torch

    before = (folder / "config.json").read_bytes()

    def full(*a, **k):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(safetensors.torch, "save_file", full)
    cfg = TrainConfig(**TINY)
    with pytest.raises(ZooError, match="No space left on device"):
        save_checkpoint(folder, {"config": cfg, "model": build_model(cfg).state_dict()})
    assert (folder / "config.json").read_bytes() == before
    assert not [p for p in folder.iterdir() if p.name.startswith(".tmp-")]


def test_a_read_only_leaderboard_can_be_viewed(tmp_path, monkeypatch, capsys) -> None:
    import sqlite3

    import zoo.leaderboard.db as db
    from zoo.leaderboard import Leaderboard

    path = tmp_path / "lb.sqlite"
    cfg = TrainConfig(**TINY)
    Leaderboard(path).record_trial("s1", "t1", "completed",
                                   {"psnr_hole": 20.0, "config": cfg.to_dict()}, cfg.to_dict())
    real = sqlite3.connect

    def read_only(target, *a, uri=False, **k):  # as SQLite behaves on a read-only folder
        if uri:
            return real(target, *a, uri=uri, **k)

        class NoShm:  # opens, then fails on the first query: WAL's -shm cannot be created
            def execute(self, *a, **k):
                raise sqlite3.OperationalError("unable to open database file")

            def close(self) -> None:
                pass
        return NoShm()

    monkeypatch.setattr(db.sqlite3, "connect", read_only)
    assert main(["leaderboard", "--db", str(path)]) == 0
    assert "t1" in capsys.readouterr().out
