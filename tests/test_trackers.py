"""`--log TRACKER` on `zoo train` and `zoo tune`: records read back from each tracker's store.

MLflow writes to a file store in tmp_path (MLFLOW_TRACKING_URI), TensorBoard event files
are read back with tensorboardX's own protobufs, W&B runs with WANDB_MODE=offline. Aim is
not installed here: only its missing-extra error is tested.
"""

from __future__ import annotations

import importlib.util
import struct
from pathlib import Path

import pytest

from zoo.cli import main
from zoo.errors import ZooError
from zoo import trackers

from test_tune import SMOKE, board, zoo

TINY = ["--set", "dataset=synthetic", "--train-limit", "32", "--val-limit", "16",
        "--test-limit", "16", "--epochs", "2", "--batch-size", "16",
        "--set", "unet.widths=[8,16,32]", "--set", "threads=1"]


def events(folder: Path) -> dict[str, dict[int, float]]:
    """Every scalar in the TensorBoard event files under ``folder``: tag -> step -> value."""
    from tensorboardX.proto.event_pb2 import Event

    out: dict[str, dict[int, float]] = {}
    for path in folder.rglob("events.out.tfevents.*"):
        data, at = path.read_bytes(), 0
        while at < len(data):  # TFRecord: length, its CRC, the record, its CRC
            (n,) = struct.unpack("<Q", data[at:at + 8])
            event = Event.FromString(data[at + 12:at + 12 + n])
            at += 12 + n + 4
            for v in event.summary.value:
                out.setdefault(v.tag, {})[event.step] = v.simple_value
    return out


@pytest.fixture()
def mlflow_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    uri = (tmp_path / "mlruns").as_uri()
    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
    monkeypatch.setenv("MLFLOW_ALLOW_FILE_STORE", "true")  # MLflow 3's opt-in to file stores
    return uri


def _runs(uri: str, experiment: str) -> list:
    import mlflow

    mlflow.set_tracking_uri(uri)
    return mlflow.search_runs(experiment_names=[experiment], output_format="list")


def test_unknown_tracker_is_an_argparse_error_naming_the_choices(capsys) -> None:
    for command in (["tune", SMOKE, "--dry-run"], ["train"]):
        with pytest.raises(SystemExit) as exc:
            main([*command, "--log", "neptune"])
        assert exc.value.code == 2
        err = capsys.readouterr().err
        line = next(x for x in err.splitlines() if "error:" in x)
        assert "invalid choice: 'neptune'" in line
        assert all(name in line for name in trackers.TRACKERS), line


def test_missing_extra_is_one_line_naming_the_install(monkeypatch, capsys, tmp_path) -> None:
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec",
                        lambda name, *a: None if name == "mlflow" else real(name, *a))
    with pytest.raises(ZooError, match=r"pip install 'zoo-inpaint\[mlflow\]'"):
        trackers.check(["tensorboard", "mlflow"])
    if real("aim") is None:  # not installed here: the same error from the CLI, exit 2
        assert main(["train", *TINY, "--out", str(tmp_path / "run"), "--log", "aim"]) == 2
        msg = " ".join(capsys.readouterr().err.split())  # one message (rich wraps it)
        assert msg.startswith("error: --log aim needs") and "pip install -e '.[aim]'" in msg
        assert not (tmp_path / "run").exists()  # refused before any training


def test_scalars_keep_finite_numbers_only() -> None:
    got = trackers.scalars({"epoch": 2, "val_psnr_hole": 21.5, "ceiling": float("inf"),
                            "diverged": False, "encoder": "none", "refs": {"a": 1.0}})
    assert got == {"epoch": 2.0, "val_psnr_hole": 21.5}


def test_train_logs_to_mlflow_tensorboard_and_wandb(tmp_path: Path, mlflow_env: str,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WANDB_MODE", "offline")
    monkeypatch.setenv("WANDB_DIR", str(tmp_path))
    monkeypatch.setenv("WANDB_SILENT", "true")
    out = tmp_path / "runs" / "tiny"
    assert main(["train", *TINY, "--out", str(out), "--json",
                 "--log", "mlflow", "--log", "tensorboard", "--log", "wandb"]) == 0

    (run,) = _runs(mlflow_env, trackers.TRAIN_EXPERIMENT)
    assert run.info.status == "FINISHED" and run.info.run_name == "tiny"
    assert run.data.params["epochs"] == "2" and run.data.params["unet.widths"] == "[8, 16, 32]"
    metrics = run.data.metrics  # the last value of each: epoch 2's and the test metrics
    assert {"train_loss", "val_psnr_hole", "psnr_hole", "dice", "ssim_hole"} <= set(metrics)
    from mlflow.tracking import MlflowClient

    client = MlflowClient(mlflow_env)
    steps = [m.step for m in client.get_metric_history(run.info.run_id, "val_psnr_hole")]
    assert steps == [1, 2]
    files = {f.path for f in client.list_artifacts(run.info.run_id, "model")}
    assert {"model/model.safetensors", "model/config.json"} <= files, files

    tb = events(tmp_path / "runs" / "tensorboard" / "tiny")
    assert set(tb["val_psnr_hole"]) == {1, 2} and 2 in tb["psnr_hole"]
    assert tb["psnr_hole"][2] == pytest.approx(metrics["psnr_hole"], rel=1e-5)
    assert list(tmp_path.glob("wandb/offline-run-*/run-*.wandb")), "no offline W&B run"
    assert not list(out.glob("events.out.tfevents.*"))  # nothing added to the model folder


class _Trial:  # what Tune's logger callbacks read of a trial
    def __init__(self, name: str, folder: Path) -> None:
        self.name, self.local_path, self.config = name, str(folder), {"encoder": "none",
                                                                      "lr": 0.002}
        self.trial_id, self.experiment_dir_name = name, "smoke"
        self.evaluated_params = self.config

    def __str__(self) -> str:
        return self.name

    def init_local_path(self) -> None:
        Path(self.local_path).mkdir(parents=True, exist_ok=True)


def test_tune_callbacks_log_records_to_mlflow_and_tensorboard(tmp_path: Path,
                                                              mlflow_env: str) -> None:
    """Ray Tune's own callbacks, as zoo builds them, fed a trial's reports by hand."""
    folder = tmp_path / "smoke" / "smoke-1"
    (folder / "checkpoint_000001").mkdir(parents=True)
    (folder / "checkpoint_000001" / "model.safetensors").write_bytes(b"x")
    trial = _Trial("smoke-1", folder)
    cbs = trackers.tune_callbacks(["mlflow", "tensorboard", "mlflow"], "smoke")
    assert [type(c).__name__ for c in cbs] == ["MLflowLoggerCallback", "TBXLoggerCallback"]
    for cb in cbs:
        cb.setup()
        cb.log_trial_start(trial)
        for step in (1, 2):
            result = {"training_iteration": step, "val_psnr_hole": 10.0 + step,
                      "trained": {"lr": 0.002}, "config": trial.config}
            if step == 2:
                result.update(psnr_hole=12.5, ceiling_psnr=float("inf"))
            cb.log_trial_result(step, trial, result)
        cb.log_trial_end(trial)
    (run,) = _runs(mlflow_env, "smoke")
    assert run.info.status == "FINISHED" and run.data.params["encoder"] == "none"
    assert run.data.metrics["psnr_hole"] == 12.5 and "ceiling_psnr" not in run.data.metrics
    from mlflow.tracking import MlflowClient

    client = MlflowClient(mlflow_env)
    assert [m.step for m in client.get_metric_history(run.info.run_id, "val_psnr_hole")] \
        == [1, 2]
    inside = {f.path for f in client.list_artifacts(run.info.run_id, "checkpoint_000001")}
    assert "checkpoint_000001/model.safetensors" in inside, inside
    tb = events(folder)
    assert tb["ray/tune/val_psnr_hole"] == {1: 11.0, 2: 12.0}
    assert not any("ceiling" in tag or "trained" in tag for tag in tb), sorted(tb)


@pytest.mark.slow
def test_tune_smoke_logs_both_trials_to_mlflow_and_tensorboard(
        tmp_path: Path, cifar_dir: Path, mlflow_env: str) -> None:
    storage = tmp_path / "results"
    env = {"ZOO_DATA_DIR": str(cifar_dir), "XDG_CONFIG_HOME": str(tmp_path / "config")}
    run = zoo("tune", SMOKE, "--storage", str(storage), "--no-live",
              "--log", "mlflow", "--log", "tensorboard", env=env)
    assert run.returncode == 0, run.stderr[-3000:]
    assert f"mlflow: {mlflow_env}" in run.stderr
    rows = {t["trial_id"]: t for t in board(storage)["trials"]}
    assert set(rows) == {"smoke-1", "smoke-2"}

    runs = {r.info.run_name: r for r in _runs(mlflow_env, "smoke")}
    assert set(runs) == set(rows)
    from mlflow.tracking import MlflowClient

    client = MlflowClient(mlflow_env)
    for trial, row in rows.items():
        r = runs[trial]
        assert r.info.status == "FINISHED"
        assert r.data.params["encoder"] == row["config"]["encoder"]
        assert r.data.metrics["psnr_hole"] == pytest.approx(row["psnr_hole"], rel=1e-6)
        steps = [m.step for m in client.get_metric_history(r.info.run_id, "val_psnr_hole")]
        assert steps == [1, 2]
        arts = [f.path for f in client.list_artifacts(r.info.run_id)]
        ckpt = [p for p in arts if p.startswith("checkpoint_")]
        assert ckpt, arts  # the trial folder, with its model folder
        inside = {Path(f.path).name for f in client.list_artifacts(r.info.run_id, ckpt[0])}
        assert "model.safetensors" in inside, inside

        tb = events(storage / "smoke" / trial)
        assert set(tb["ray/tune/val_psnr_hole"]) == {1, 2}, sorted(tb)
        assert tb["ray/tune/psnr_hole"][2] == pytest.approx(row["psnr_hole"], rel=1e-5)
