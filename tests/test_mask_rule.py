"""One mask rule for files and arrays (0/1 or 0/255), a mask with no hole is refused or
skipped, and messages name models readably (issue 16: findings 6 and 20)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image


from zoo.cli import main
from zoo.errors import ZooError
from zoo.inpaint import read_mask


def _photo(path: Path, seed: int = 0) -> Path:
    rng = np.random.default_rng(seed)
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(rng.integers(0, 256, (20, 24, 3), dtype=np.uint8)).save(path)
    return path


def _mask(path: Path, value: int) -> Path:
    m = np.zeros((20, 24), np.uint8)
    m[5:12, 6:15] = value
    Image.fromarray(m).save(path)
    return path


def test_files_and_arrays_follow_one_rule(tmp_path, model_folder) -> None:
    from zoo.api import to_hole

    expected = np.zeros((20, 24), bool)
    expected[5:12, 6:15] = True
    for value in (1, 255):  # 0/1 and 0/255 masks both mark the hole
        path = _mask(tmp_path / f"m{value}.png", value)
        assert np.array_equal(read_mask(path), expected), value
        assert np.array_equal(to_hole(Image.open(path), (20, 24)), expected), value
        assert np.array_equal(to_hole(np.asarray(Image.open(path)), (20, 24)), expected)
    soft = np.where(expected, 200, 100).astype(np.uint8)  # a grey mask: > 127 is hole
    Image.fromarray(soft).save(tmp_path / "soft.png")
    assert np.array_equal(read_mask(tmp_path / "soft.png"), expected)
    assert np.array_equal(to_hole(soft, (20, 24)), expected)


def test_a_zero_one_mask_file_is_inpainted(tmp_path, model_folder, capsys) -> None:
    img = _photo(tmp_path / "in" / "p.png")
    mask = _mask(tmp_path / "p_mask01.png", 1)
    out = tmp_path / "out"
    assert main(["inpaint", "--model", str(model_folder), "--image", str(img), "--mask",
                 str(mask), "--out", str(out), "--device", "cpu"]) == 0
    before, after = np.asarray(Image.open(img)), np.asarray(Image.open(out / "p.png"))
    hole = read_mask(mask)
    assert np.array_equal(before[~hole], after[~hole])
    assert not np.array_equal(before[hole], after[hole])  # the hole was filled


def test_a_mask_with_no_hole_is_refused_for_one_image(tmp_path, model_folder, capsys) -> None:
    from zoo.api import load

    img = _photo(tmp_path / "in" / "p.png")
    mask = _mask(tmp_path / "empty.png", 0)
    out = tmp_path / "out"
    assert main(["inpaint", "--model", str(model_folder), "--image", str(img), "--mask",
                 str(mask), "--out", str(out), "--device", "cpu"]) == 2
    err = " ".join(capsys.readouterr().err.split())
    assert "marks no hole pixel" in err and "Traceback" not in err
    assert not out.exists() or not any(out.iterdir())
    with pytest.raises(ZooError, match="marks no hole pixel"):
        load(model_folder, device="cpu").inpaint(Image.open(img), np.zeros((20, 24), bool))


def test_images_whose_mask_has_no_hole_are_skipped_and_counted(tmp_path, model_folder,
                                                               capsys) -> None:
    images = tmp_path / "in"
    _photo(images / "a.png", 1)
    _photo(images / "b.png", 2)
    _mask(images / "a_mask.png", 255)
    _mask(images / "b_mask.png", 0)
    out = tmp_path / "out"
    assert main(["inpaint", "--model", str(model_folder), "--image", str(images), "--out",
                 str(out), "--device", "cpu"]) == 0
    text = " ".join(capsys.readouterr().out.split())
    assert "skipped 1 image(s) whose mask marks no hole pixel: b.png" in text
    assert "inpainted 1 image(s)" in text
    assert sorted(p.name for p in out.iterdir()) == ["a.png"]


# ---- messages ----------------------------------------------------------------------------


@pytest.fixture
def trial_db(tmp_path, model_folder) -> Path:
    from zoo.leaderboard import Leaderboard

    db = tmp_path / "lb.sqlite"
    config = __import__("json").loads((model_folder / "config.json").read_text())
    result = {"checkpoint": str(model_folder / "model.safetensors"), "encoder": "none",
              "config": config}
    Leaderboard(db).record_trial("quick", "quick-1", "completed", result, config)
    return db


def test_inpaint_names_the_model_readably(tmp_path, model_folder, trial_db, capsys) -> None:
    img = _photo(tmp_path / "in" / "p.png")
    mask = _mask(tmp_path / "hole.png", 255)
    assert main(["inpaint", "--model", "quick-1", "--db", str(trial_db), "--image", str(img),
                 "--mask", str(mask), "--out", str(tmp_path / "out"), "--device", "cpu"]) == 0
    text = " ".join(capsys.readouterr().out.split())
    assert "inpainted 1 image(s) with the vanilla U-Net (trial quick-1)" in text
    from zoo.modelfolder.refs import model_title

    assert model_title("convmixer") == "ConvMixer-fused U-Net"


def test_compare_labels_name_encoder_and_trial(tmp_path, model_folder, trial_db,
                                               capsys) -> None:
    assert main(["compare", "quick-1", "--db", str(trial_db), "--n", "2", "--baselines", "",
                 "--out", str(tmp_path / "g.png"), "--device", "cpu"]) == 0
    assert "vanilla quick-1" in capsys.readouterr().out


def test_load_outside_the_repo_names_the_python_arguments(tmp_path, monkeypatch) -> None:
    from zoo.api import load

    monkeypatch.chdir(tmp_path)
    with pytest.raises(ZooError) as info:
        load("quick-1")
    msg = str(info.value)
    assert "storage=DIR or db=PATH" in msg and "--storage" not in msg
