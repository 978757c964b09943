"""The config travels once (issue 17): a trial builds its TrainConfig once, in the worker,
and the dict it reports is what its leaderboard row (and a row refilled from Tune's files)
keeps. The trial runs in this process, with Ray Tune's worker calls faked, so that every
TrainConfig built on the way can be counted."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from zoo.config import TrainConfig

ROOT = Path(__file__).resolve().parents[1]
SMOKE = ROOT / "search_spaces" / "smoke.yaml"
TINY = {"dataset": "synthetic", "train_limit": 16, "val_limit": 8, "test_limit": 8,
        "batch_size": 8, "eval_batch_size": 8}


@pytest.fixture()
def built(monkeypatch: pytest.MonkeyPatch) -> list[TrainConfig]:
    """Every TrainConfig constructed while the test runs."""
    made: list[TrainConfig] = []
    post_init = TrainConfig.__post_init__

    def counting(self: TrainConfig) -> None:
        made.append(self)
        post_init(self)

    monkeypatch.setattr(TrainConfig, "__post_init__", counting)
    return made


class FakeTune:
    """Ray Tune's calls inside a trial, faked: each report is kept, with a copy of its
    checkpoint folder laid out as Tune stores it (``TRIAL/checkpoint_00000N``)."""

    def __init__(self, trial_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
        import ray
        from ray import tune

        self.trial_dir, self.reports = trial_dir, []
        trial_dir.mkdir(parents=True)
        ctx = SimpleNamespace(
            get_trial_resources=lambda: SimpleNamespace(required_resources={"CPU": 1}),
            get_trial_id=lambda: "abcde_00000")
        monkeypatch.setattr(tune, "get_context", lambda: ctx)
        monkeypatch.setattr(tune, "get_checkpoint", lambda: None)
        monkeypatch.setattr(tune, "report", self.report)
        monkeypatch.setattr(ray, "get_runtime_context",
                            lambda: SimpleNamespace(get_node_id=lambda: "node-1"))

    def report(self, metrics: dict[str, Any], checkpoint: Any = None) -> None:
        result = {**json.loads(json.dumps(metrics)), "trial_id": "abcde_00000",
                  "training_iteration": len(self.reports) + 1}
        self.reports.append(result)
        with (self.trial_dir / "result.json").open("a") as f:
            f.write(json.dumps(result) + "\n")
        if checkpoint is not None:
            shutil.copytree(checkpoint.path, self.trial_dir / f"checkpoint_{len(self.reports):06d}")

    def trial(self, params: dict[str, Any]) -> Any:
        """The driver's view of the trial once it ended (what LeaderboardWriter reads)."""
        ckpts = sorted(self.trial_dir.glob("checkpoint_*"))
        return SimpleNamespace(trial_id="abcde_00000", config=params,
                               last_result=self.reports[-1] if self.reports else None,
                               checkpoint=SimpleNamespace(path=str(ckpts[-1])) if ckpts else None,
                               error_file=None)


def _spec(tmp_path: Path, **extra: Any) -> Any:
    from zoo.tune.space import load_space

    spec = load_space(SMOKE, overrides={"base": {**TINY, **extra}, "max_epochs": 3})
    spec.space.pop("encoder")  # one trial: the vanilla U-Net
    return spec


def _run_trial(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, spec: Any
               ) -> tuple[FakeTune, dict[str, Any]]:
    from zoo.tune import runner

    fake = FakeTune(tmp_path / "results" / spec.name / f"{spec.name}-1", monkeypatch)
    params = {k: v for k, v in spec.base.items()} | {"seed": spec.seeds[0]}
    (fake.trial_dir / "params.json").write_text(json.dumps(params))
    runner.trainable(params, spec=spec, data=None)
    return fake, params


def _record(spec: Any, fake: FakeTune, params: dict[str, Any], db: Path) -> Any:
    """The driver's side: LeaderboardWriter's start and end of the trial."""
    from zoo.tune.runner import LeaderboardWriter

    writer = LeaderboardWriter(spec, db)
    trial = fake.trial(params)
    writer.on_trial_start(0, [], trial)
    writer.on_trial_complete(0, [], trial)
    assert writer.failed_writes == []
    return writer.board


def test_a_trial_builds_its_config_once_and_its_row_keeps_it(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, built: list[TrainConfig]) -> None:
    spec = _spec(tmp_path)
    built.clear()  # validating the space built some: those are the load's, not the trial's
    fake, params = _run_trial(tmp_path, monkeypatch, spec)
    in_worker = len(built)
    board = _record(spec, fake, params, tmp_path / "lb.sqlite")
    assert (in_worker, len(built)) == (1, 1), [c.device for c in built]
    row = board.get(f"{spec.name}-1")
    assert row["status"] == "completed"
    final = fake.reports[-1]
    # the config actually trained, runtime layer included: the device column agrees
    assert row["config"] == final["train_config"]
    assert row["device"] == "cpu" and row["config"]["device"] == "cpu"
    assert row["config"]["threads"] == 1 and row["config"]["epochs"] == 3
    assert row["config_hash"] == final["config_hash"]


def test_a_checkpoint_save_writes_the_config_it_is_given(tmp_path: Path,
                                                         built: list[TrainConfig]) -> None:
    from zoo.modelfolder.checkpoint import read_checkpoint, save_checkpoint
    from zoo.model import build_model

    cfg = TrainConfig(unet={"depth": 1, "widths": [4, 8]}, device="cpu")
    weights = build_model(cfg).state_dict()
    built.clear()
    save_checkpoint(tmp_path / "m", {"config": cfg, "model": weights})
    assert built == []  # a TrainConfig is written as it is, not rebuilt
    assert read_checkpoint(tmp_path / "m")["config"] == cfg.to_dict()


# -- a search space can name a preset ---------------------------------------------------

# quick.yaml with the strong recipe copied into base by hand (as it was before it named
# its preset; since then it trains on the preset's mixed masks, scored on the paper's)
QUICK_HAND_COPIED = """\
name: quick
max_epochs: 3
seeds: [0, 1]
scheduler: {type: fifo}
search: {type: random, seed: 0}
base:
  dataset: cifar10
  train_limit: 3500
  val_limit: 500
  test_limit: 2000
  mask: mixed
  test_mask: paper
  batch_size: 16
  lr: 3.0e-3
  lr_schedule: onecycle
  ema: 0.995
  loss: mse
  unet: {mask_channel: true, composite: true, dropout: 0.0, skip_merge: concat,
         convs_per_level: 2, decoder_convs: 1, prefill: pushpull}
  encoder_args: {width: 128}
space:
  encoder: {grid: [none, convmixer]}
"""
# the config hashes of each space's trials, from `zoo tune SPACE --dry-run` before the
# spaces named their presets (trial ids follow Tune's order of these points)
PINNED_HASHES = {
    # quick's changed with its masks (mixed, scored on paper): e6a9255e2597 and 4a466f3da356
    # before; the others are unchanged by the test_mask field (left out at its default)
    "quick": ["106025e96f7a", "0e58d737a140", "106025e96f7a", "0e58d737a140"],
    "recipe": ["b0ba1834210c", "6b99f1fdd1f8", "fb5bd801c626", "f408ea33369e",
               "7dbaaf041393", "1faf7f27a3f7"],
    "paper": ["29dc15fe3eaa", "41d25cfbe375"] * 3,
}


def test_quick_naming_its_preset_resolves_the_same_trials(tmp_path: Path) -> None:
    from zoo.tune.space import load_space

    copied = tmp_path / "quick.yaml"
    copied.write_text(QUICK_HAND_COPIED)
    now, before = load_space(ROOT / "search_spaces" / "quick.yaml"), load_space(copied)
    assert now.preset == "strong-v1" and "batch_size" not in now.base
    plan_now, plan_before = now.plan(), before.plan()
    assert plan_now["points"] == plan_before["points"]
    assert plan_now["trials"] == plan_before["trials"]
    # trained on the preset's mixed masks, scored on the paper's (test_mask)
    assert {(t["mask"], t["test_mask"]) for t in plan_now["trials"]} == {("mixed", "paper")}


@pytest.mark.parametrize("name", sorted(PINNED_HASHES))
def test_spaces_that_name_a_preset_keep_their_config_hashes(name: str) -> None:
    from zoo.settings import build_config
    from zoo.tune.space import load_space

    spec = load_space(ROOT / "search_spaces" / f"{name}.yaml")
    assert spec.preset is not None
    hashes = [build_config(t, plugins=False).hash() for t in spec.plan()["trials"]]
    assert hashes == PINNED_HASHES[name]


def test_an_unknown_preset_is_refused_naming_the_valid_ones(tmp_path: Path) -> None:
    from zoo.errors import ZooError
    from zoo.tune.space import load_space

    path = tmp_path / "bad.yaml"
    path.write_text("name: bad\npreset: strnog\nspace:\n  lr: {choice: [0.001, 0.01]}\n")
    with pytest.raises(ZooError) as err:
        load_space(path)
    message = str(err.value)
    assert f"{path}:2: preset:" in message and "did you mean 'strong'" in message
    assert "valid: paper, strong, strong-v1" in message
    path.write_text("name: bad\npreset: [strong]\nspace:\n  lr: {choice: [0.001, 0.01]}\n")
    with pytest.raises(ZooError, match="preset: must be the name of a preset"):
        load_space(path)


def test_a_preset_picks_the_encoder_a_space_does_not_sample(tmp_path: Path) -> None:
    from zoo.errors import ZooError
    from zoo.tune.space import load_space

    path = tmp_path / "strong.yaml"
    path.write_text("name: s\npreset: strong\nbase: {dataset: synthetic}\n"
                    "space:\n  encoder_args.width: {grid: [16, 32]}\n")
    spec = load_space(path)  # width is ConvMixer's option: the preset's encoder reads it
    assert [t["encoder_args"] for t in spec.plan()["trials"]] == [{"width": 16}, {"width": 32}]
    assert all(t["encoder"] == "convmixer" and t["ema"] == 0.998 for t in spec.plan()["trials"])
    path.write_text("name: s\npreset: strong\nbase: {encoder: none}\n"
                    "space:\n  encoder_args.width: {grid: [16, 32]}\n")
    with pytest.raises(ZooError, match="no encoder this search can pick has option 'width'"):
        load_space(path)


# -- rows refilled from Tune's files ----------------------------------------------------


def test_rows_refilled_by_resume_are_the_rows_they_replace(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from zoo.modelfolder.checkpoint import CHECKPOINT_NAME
    from zoo.leaderboard.db import Leaderboard
    from zoo.tune._store import rebuild, write_record

    spec = _spec(tmp_path)
    fake, params = _run_trial(tmp_path, monkeypatch, spec)
    storage = tmp_path / "results"
    write_record(storage / spec.name, spec)
    db = storage / "leaderboard.sqlite"
    board = _record(spec, fake, params, db)
    # a second trial that started and was interrupted before it reported anything
    from zoo.tune.runner import LeaderboardWriter

    unreported = SimpleNamespace(trial_id="abcde_00001", config={**params, "seed": 0})
    (storage / spec.name / f"{spec.name}-2").mkdir()
    (storage / spec.name / f"{spec.name}-2" / "params.json").write_text(
        json.dumps(unreported.config))
    LeaderboardWriter(spec, db).on_trial_start(0, [], unreported)
    board.mark_interrupted(spec.name, "the search was interrupted; `zoo tune SPACE --resume` "
                                      "continues it")
    stamps = ("created_at", "updated_at")
    before = [{k: v for k, v in r.items() if k not in stamps} for r in board.trials()]
    assert before[0]["checkpoint"].endswith(f"checkpoint_000003/{CHECKPOINT_NAME}")
    assert [r["status"] for r in before] == ["completed", "interrupted"]

    for f in storage.glob("leaderboard.sqlite*"):
        f.unlink()
    refilled = Leaderboard(db)
    rebuild(storage, refilled, search=spec.name)  # as `zoo tune --resume` calls it
    after = [{k: v for k, v in r.items() if k not in stamps} for r in refilled.trials()]
    assert after == before


def test_the_search_record_is_written_atomically_and_never_through_a_link(
        tmp_path: Path) -> None:
    import os

    from zoo.errors import ZooError
    from zoo.tune._store import SEARCH_FILE, read_record, write_record

    spec = _spec(tmp_path)
    written = write_record(tmp_path / "s", spec)
    assert read_record(tmp_path / "s")["name"] == spec.name
    assert [p.name for p in (tmp_path / "s").iterdir()] == [SEARCH_FILE]  # no temp file left
    # the usual permissions (zoo._atomic), not a private temp file's 0600
    umask = os.umask(0)
    os.umask(umask)
    assert written.stat().st_mode & 0o777 == 0o666 & ~umask
    target = tmp_path / "elsewhere.json"
    target.write_text("{}")
    written.unlink()
    written.symlink_to(target)
    with pytest.raises(ZooError, match="symbolic link"):
        write_record(tmp_path / "s", spec)
    assert target.read_text() == "{}" and written.is_symlink()


def test_a_running_row_takes_the_config_of_the_first_report(tmp_path: Path) -> None:
    from zoo.tune.runner import LeaderboardWriter

    spec = _spec(tmp_path)
    params = {**spec.base, "seed": 0}
    trial = SimpleNamespace(trial_id="abcde_00000", config=params)
    writer = LeaderboardWriter(spec, tmp_path / "lb.sqlite")
    writer.on_trial_start(0, [], trial)
    row = writer.board.get(f"{spec.name}-1")
    # before any report: the settings it was sampled with, as a nested dict (no config built)
    assert row["status"] == "running" and row["config"] == spec.sampled(params)
    assert row["config"]["unet"] == {"widths": [8, 16, 32]} and "device" not in row["config"]
    trained = spec.trial_config(params, runtime={"device": "cpu", "threads": 1})
    report = {"epoch": 1, "train_config": trained.to_dict(), "config_hash": trained.hash()}
    writer.on_trial_result(0, [], trial, report)
    row = writer.board.get(f"{spec.name}-1")
    assert row["status"] == "running" and row["config"] == trained.to_dict()
    assert row["config_hash"] == trained.hash() and row["metrics"] is None
