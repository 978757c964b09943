"""The `zoo leaderboard` and `zoo tune --dry-run` examples of the docs and of `--help`
run as written (on a small leaderboard and results folder made here, no Ray search)."""

from __future__ import annotations

import json
import re
import shlex
from pathlib import Path

import pytest

from zoo.cli import build_parser, main

ROOT = Path(__file__).resolve().parents[1]


def _block_after(heading: str, page: str) -> list[str]:
    text = (ROOT / page).read_text()
    section = text[text.index(heading):]
    block = re.search(r"```bash\n(.*?)```", section, re.S).group(1)
    lines = []
    for line in block.splitlines():
        command = re.split(r"\s+#\s", line, maxsplit=1)[0].strip()
        if command:
            lines.append(command)
    return lines


def _help_examples(command: str) -> list[str]:
    sub = build_parser()._subparsers._group_actions[0].choices[command]
    return [ln.strip() for ln in (sub.epilog or "").splitlines()
            if ln.strip().startswith(f"zoo {command}")]


@pytest.fixture
def results(tmp_path: Path, monkeypatch) -> Path:
    """./results with a leaderboard of search 'quick' (quick-1..quick-4) and Tune-like
    trial folders beside it, so `rebuild` has something to read."""
    from zoo.leaderboard import Leaderboard
    from zoo.tune._store import write_record
    from zoo.tune.space import load_space

    monkeypatch.chdir(tmp_path)
    storage = tmp_path / "results"
    spec = load_space(ROOT / "search_spaces" / "quick.yaml")
    write_record(storage / "quick", spec)
    lb = Leaderboard(storage / "leaderboard.sqlite")
    states = []
    for i, (merge, lr, psnr) in enumerate([("add", 1e-3, 17.2), ("gated", 2e-3, 17.5),
                                           ("concat", 5e-4, None), ("add", 3e-3, None)], 1):
        params = {**spec.base, "encoder": "none", "unet.fusion_merge": merge, "lr": lr,
                  "seed": 0}
        config = spec.trial_config(params).to_dict()
        trial_dir = storage / "quick" / f"quick-{i}"
        (trial_dir / "checkpoint_000000").mkdir(parents=True)
        (trial_dir / "params.json").write_text(json.dumps(params))
        last = {"epoch": 3 if psnr else 1, "val_psnr_hole": 16.5, "trial_id": f"ab_{i - 1:05d}",
                **({"final": True, "psnr_hole": psnr, "eval_id": "cifar10/paper/n2000/s2024",
                    "baselines": {"telea": {"psnr_hole": 17.6}}} if psnr else {})}
        (trial_dir / "result.json").write_text(json.dumps(last) + "\n")
        status = "completed" if psnr else "stopped"
        states.append([json.dumps({"trial_id": f"ab_{i - 1:05d}", "status": "TERMINATED",
                                   "relative_logdir": f"quick-{i}"}), "{}"])
        lb.record_trial("quick", f"quick-{i}", status, {**last, "checkpoint": str(
            trial_dir / "checkpoint_000000")}, config)
    (storage / "quick" / "experiment_state-x.json").write_text(json.dumps(
        {"trial_data": states}))  # the trial states as Tune saves them
    return storage


def test_leaderboard_examples_run(results: Path, capsys) -> None:
    examples = _block_after("## Commands", "docs/leaderboard.md") + _help_examples("leaderboard")
    assert any("rebuild" in e for e in examples) and any("show quick-" in e for e in examples)
    for example in examples:
        argv = shlex.split(example)
        assert argv[0] == "zoo"
        if "--storage" in argv and argv[argv.index("--storage") + 1] == "DIR":
            argv[argv.index("--storage") + 1] = str(results)
        code = main(argv[1:])
        out, err = capsys.readouterr()
        assert code == 0, (example, err)
        if argv[1:3] == ["leaderboard", "rebuild"]:
            assert "quick: 4 trials recorded" in out
    # after the examples (rm, then rebuild), every trial is back
    code = main(["leaderboard", "--format", "json"])
    rows = json.loads(capsys.readouterr().out)["trials"]
    assert sorted(r["trial_id"] for r in rows) == ["quick-1", "quick-2", "quick-3", "quick-4"]
    assert {r["status"] for r in rows} == {"completed", "stopped"}


def test_tune_dry_run_examples_run(capsys, monkeypatch) -> None:
    monkeypatch.chdir(ROOT)
    examples = [e for e in _block_after("# Searching: `zoo tune`", "docs/searching.md") + _help_examples("tune")
                if "--dry-run" in e]
    assert len(examples) >= 3
    assert examples
    for example in examples:
        code = main(shlex.split(example)[1:])
        assert code == 0, (example, capsys.readouterr().err)


def _readme_command(number: int) -> str:
    """Command ``number`` (1 or 2) of the README's opening block, as written there."""
    block = re.search(r"```bash\n(.*?)```", (ROOT / "README.md").read_text(), re.S).group(1)
    lines = block.splitlines()
    start = next(i for i, ln in enumerate(lines) if ln.startswith(f"# {number}."))
    return lines[start + 1].strip()


def test_ci_runs_the_readmes_test_command() -> None:
    """CI must run the README's command 2 verbatim (relative ZOO_DATA_DIR included), not a
    cousin of it: a relative data path that broke tests once went unseen for that reason."""
    ci = (ROOT / ".ci" / "run").read_text().splitlines()
    command = _readme_command(2)
    assert "pytest" in command and "ZOO_DATA_DIR=../shared/data/cifar10" in command
    assert command in [ln.strip() for ln in ci if not ln.lstrip().startswith("#")]


def test_relative_data_dir_survives_a_change_of_directory(tmp_path, monkeypatch) -> None:
    """README command 2 sets ZOO_DATA_DIR=../shared/data/cifar10 (relative) and tests change
    directory: zoo pins the value to the directory it started in."""
    import zoo.data._folder as folder
    from zoo.data import data_folder

    monkeypatch.setenv("ZOO_DATA_DIR", "some/relative/dir")
    monkeypatch.setattr(folder, "_ENV_AT_START", folder._pin("some/relative/dir"))
    pinned = data_folder(check=False)
    assert pinned == str(Path("some/relative/dir").resolve())
    monkeypatch.chdir(tmp_path)
    assert data_folder(check=False) == pinned
    monkeypatch.setenv("ZOO_DATA_DIR", "other")  # changed since start: taken as it is now
    assert data_folder(check=False) == str(tmp_path / "other")
