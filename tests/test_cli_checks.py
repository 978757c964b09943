"""`zoo train` refuses bad input before any work, remembers where its data came from, and
prints errors through rich without losing brackets."""

from __future__ import annotations

import argparse
from pathlib import Path

from zoo.cli import main


def _err(capsys) -> str:
    return " ".join(capsys.readouterr().err.split())


def test_train_out_that_is_a_file(tmp_path: Path, capsys) -> None:
    a_file = tmp_path / "run.txt"
    a_file.write_text("x")
    for out in (a_file, a_file / "sub"):
        code = main(["train", "--out", str(out), "--set", "dataset=synthetic"])
        assert code == 2 and "is a file, not a folder" in _err(capsys)
    assert a_file.read_text() == "x"


def test_train_validates_eval_batch_size_and_lr(tmp_path: Path, capsys) -> None:
    for setting in ("eval_batch_size=0", "eval_batch_size=-5", "lr=.inf", "lr=.nan"):
        code = main(["train", "--out", str(tmp_path / "r"), "--set", setting])
        assert code == 2, setting
        assert "must be" in _err(capsys)
    assert not (tmp_path / "r").exists()


def test_train_records_zoo_data_dir(tmp_path: Path, monkeypatch) -> None:
    from zoo.cli._common import config_from_args

    monkeypatch.setenv("ZOO_DATA_DIR", str(tmp_path))
    monkeypatch.chdir(tmp_path.parent)
    config = config_from_args(argparse.Namespace(), {})
    assert config.data_dir == str(tmp_path.resolve())
    # a folder dataset never takes the CIFAR-10 variable
    config = config_from_args(argparse.Namespace(set=["dataset=synthetic"]), {})
    assert config.data_dir is None


def test_errors_keep_square_brackets(capsys, monkeypatch) -> None:
    from zoo.errors import ZooError

    def boom(args: argparse.Namespace) -> int:
        raise ZooError("needs onnxscript: pip install 'zoo-inpaint[export]'")

    import zoo.cli.leaderboard as lb

    monkeypatch.setattr(lb, "run", boom)
    code = main(["leaderboard"])
    assert code == 2 and "zoo-inpaint[export]" in _err(capsys)


def test_train_table_names_the_mask_it_was_scored_on(tmp_path: Path, capsys) -> None:
    """Trained on free-form holes, scored on the paper's squares: the table says paper."""
    code = main(["train", "--out", str(tmp_path / "r"), "--epochs", "1", "--train-limit", "16",
                 "--test-limit", "8", "--device", "cpu", "--set", "dataset=synthetic",
                 "--set", "unet.widths=[8,16,32]", "--set", "val_limit=8", "--set",
                 "mask=mixed", "--set", "test_mask=paper", "--set", "threads=1"])
    assert code == 0
    out = " ".join(capsys.readouterr().out.split())
    assert "(paper masks)" in out and "(mixed masks)" not in out
