"""Experiment trackers (``--log``): TensorBoard, MLflow, Weights & Biases, Aim.

``zoo tune`` logs through Ray Tune's own callbacks (:func:`tune_callbacks`); ``zoo train``,
which runs without Tune, logs the same records with each tracker's own library
(:class:`TrainLog`). Both log what a trial reports to Tune: every epoch record of
``zoo.train.train`` (``train_loss``, ``lr``, ``val_psnr_hole``, ...) and, at the last
epoch, the final test metrics under their own names (``psnr_hole``, ``dice``, ... as in
``zoo.metrics.TABLE``): :func:`scalars` is the one rule for which values are logged.

Each tracker's own settings apply (``MLFLOW_TRACKING_URI``, ``MLFLOW_EXPERIMENT_NAME``,
``WANDB_MODE``, ``WANDB_PROJECT``, ``WANDB_DIR``, ...); MLflow falls back to ``./mlruns``
(a local file store) only when no tracking URI is set.
"""

from __future__ import annotations

import importlib.util
import json
import math
import os
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from zoo.errors import ZooError

TRACKERS = ("tensorboard", "mlflow", "wandb", "aim")
# the module each tracker needs, which is also its extra's name in pyproject.toml
_MODULES = {"tensorboard": "tensorboardX", "mlflow": "mlflow", "wandb": "wandb", "aim": "aim"}
WANDB_PROJECT = "zoo"  # when $WANDB_PROJECT is not set
TRAIN_EXPERIMENT = "zoo-train"  # the MLflow / Aim experiment of `zoo train` runs


def install_hint(name: str) -> str:
    return (f"--log {name} needs the {name} extra: pip install 'zoo-inpaint[{name}]' "
            f"(from a checkout: pip install -e '.[{name}]')")


def check(names: Iterable[str] | None) -> list[str]:
    """``names`` without repeats, each one known and importable; else one ZooError line."""
    out: list[str] = []
    for name in names or ():
        if name not in _MODULES:
            raise ZooError(f"--log {name}: unknown tracker; choose from {', '.join(TRACKERS)}")
        if name in out:
            continue
        if importlib.util.find_spec(_MODULES[name]) is None:
            raise ZooError(install_hint(name))
        out.append(name)
    return out


def mlflow_uri() -> str:
    """``$MLFLOW_TRACKING_URI`` when set, else a file store in ``./mlruns`` (absolute:
    Tune changes the working folder). MLflow 3 opens a file store only with
    ``MLFLOW_ALLOW_FILE_STORE=true``: the CLI sets it for zoo's default store
    (:func:`store_environment`); a URI of the user's own is left as it is."""
    uri = os.environ.get("MLFLOW_TRACKING_URI")
    if uri:
        return uri
    return Path("mlruns").resolve().as_uri()


def store_environment(names: Iterable[str]) -> dict[str, str]:
    """The variables the CLI sets for zoo's default MLflow store (``./mlruns``, a file
    store, which MLflow 3 opens only with ``MLFLOW_ALLOW_FILE_STORE=true``); nothing when
    the user named a store or decided that variable. The library itself sets none."""
    if "mlflow" not in set(names) or os.environ.get("MLFLOW_TRACKING_URI") or \
            "MLFLOW_ALLOW_FILE_STORE" in os.environ:
        return {}
    return {"MLFLOW_ALLOW_FILE_STORE": "true"}


def scalars(result: Mapping[str, Any]) -> dict[str, float]:
    """The values a tracker logs from a record: its top-level finite numbers (nested
    dicts, strings, flags and the ceiling's infinite PSNR are left out)."""
    return {k: float(v) for k, v in result.items()
            if isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)}


def _clean(result: Mapping[str, Any]) -> dict[str, Any]:
    """A Tune result as the Tune callbacks get it: no nested dicts (the trained config is
    logged once as parameters) but Tune's own ``config``, no non-finite numbers."""
    return {k: v for k, v in result.items()
            if (k == "config" or not isinstance(v, Mapping))
            and not (isinstance(v, float) and not math.isfinite(v))}


def _finite(cls: type) -> type:
    """``cls`` (a Tune LoggerCallback) fed :func:`_clean` results."""
    def log_trial_result(self: Any, iteration: int, trial: Any, result: dict) -> None:
        cls.log_trial_result(self, iteration, trial, _clean(result))

    return type(cls.__name__, (cls,), {"log_trial_result": log_trial_result})


def _with_model(cls: type) -> type:
    """``cls`` (Ray's MLflowLoggerCallback, made :func:`_finite`) that also uploads the
    trial's last checkpoint, its model folder, as the artifact ``checkpoint_*``: Ray's own
    upload takes the trial's local staging folder, which holds no checkpoint when the
    results live in ``--storage``."""
    def log_trial_end(self: Any, trial: Any, failed: bool = False) -> None:
        ckpt, run_id = getattr(trial, "checkpoint", None), self._trial_runs.get(trial)
        if self.should_save_artifact and ckpt is not None and run_id is not None and \
                Path(ckpt.path).is_dir():
            from mlflow.tracking import MlflowClient

            MlflowClient(self.tracking_uri).log_artifacts(run_id, ckpt.path,
                                                          Path(ckpt.path).name)
        cls.log_trial_end(self, trial, failed)

    return type(cls.__name__, (cls,), {"log_trial_end": log_trial_end})


def tune_callbacks(names: Iterable[str], search: str) -> list[Any]:
    """Ray Tune's callbacks for ``names`` (checked with :func:`check`) in search ``search``.

    tensorboard: event files in each trial's folder; mlflow: one run per trial in the
    experiment ``$MLFLOW_EXPERIMENT_NAME`` or ``search``, with the trial folder (its model
    folder, ``checkpoint_*``) as artifacts; wandb: one run per trial, grouped by
    ``search``; aim: a repo in the search's folder.
    """
    out: list[Any] = []
    for name in check(names):
        if name == "tensorboard":
            from ray.tune.logger import TBXLoggerCallback
            out.append(_finite(TBXLoggerCallback)())
        elif name == "mlflow":
            from ray.air.integrations.mlflow import MLflowLoggerCallback
            out.append(_with_model(_finite(MLflowLoggerCallback))(
                tracking_uri=mlflow_uri(), save_artifact=True,
                experiment_name=os.environ.get("MLFLOW_EXPERIMENT_NAME") or search))
        elif name == "wandb":
            from ray.air.integrations.wandb import WandbLoggerCallback
            out.append(_finite(WandbLoggerCallback)(
                project=os.environ.get("WANDB_PROJECT") or WANDB_PROJECT, group=search,
                log_config=True))
        else:
            from ray.tune.logger.aim import AimLoggerCallback
            out.append(_finite(AimLoggerCallback)(experiment_name=search))
    return out


def where(names: Iterable[str], events: str, aim_repo: str | None = None) -> list[str]:
    """One line per tracker saying where its records go, for the CLI to print: ``events``
    is the TensorBoard folder, ``aim_repo`` the Aim repo (None: Aim's default)."""
    uri, project = mlflow_uri(), os.environ.get("WANDB_PROJECT") or WANDB_PROJECT
    lines = {
        "tensorboard": f"tensorboard: event files in {events} (tensorboard --logdir {events})",
        "mlflow": f"mlflow: {uri} (mlflow ui --backend-store-uri {uri})",
        "wandb": f"wandb: project {project}, mode {os.environ.get('WANDB_MODE') or 'online'}",
        "aim": f"aim: repo {aim_repo or os.environ.get('AIM_REPO') or 'the default (.aim)'}"}
    return [lines[n] for n in names]


def _flat(d: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    out: dict[str, Any] = {}
    for k, v in d.items():
        if isinstance(v, Mapping):
            out.update(_flat(v, f"{prefix}{k}."))
        else:
            out[f"{prefix}{k}"] = v
    return out



class _TensorBoard:
    def __init__(self, out_dir: Path, config: dict[str, Any]) -> None:
        from tensorboardX import SummaryWriter

        self.w = SummaryWriter(logdir=str(out_dir.parent / "tensorboard" / out_dir.name))
        self.w.add_text("config", "```\n" + json.dumps(config, indent=1, default=str) + "\n```")

    def log(self, values: dict[str, float], step: int) -> None:
        for k, v in values.items():
            self.w.add_scalar(k, v, step)

    def close(self, out_dir: Path, failed: bool) -> None:
        self.w.close()


class _MLflow:
    def __init__(self, out_dir: Path, config: dict[str, Any]) -> None:
        from mlflow.entities import Param
        from mlflow.tracking import MlflowClient

        self.client = c = MlflowClient(tracking_uri=mlflow_uri())
        name = os.environ.get("MLFLOW_EXPERIMENT_NAME") or TRAIN_EXPERIMENT
        exp = c.get_experiment_by_name(name)
        exp_id = exp.experiment_id if exp else c.create_experiment(name)
        self.run_id = c.create_run(exp_id, run_name=out_dir.name).info.run_id
        params = [Param(k, str(v)[:6000]) for k, v in _flat(config).items()]
        for i in range(0, len(params), 100):  # MLflow takes 100 parameters per batch
            c.log_batch(self.run_id, params=params[i:i + 100])

    def log(self, values: dict[str, float], step: int) -> None:
        import time

        from mlflow.entities import Metric

        now = int(time.time() * 1000)
        metrics = [Metric(k, v, now, step) for k, v in values.items()]
        for i in range(0, len(metrics), 1000):
            self.client.log_batch(self.run_id, metrics=metrics[i:i + 1000])

    def close(self, out_dir: Path, failed: bool) -> None:
        if not failed:  # the model folder, as `zoo tune` logs each trial's folder
            self.client.log_artifacts(self.run_id, str(out_dir), "model")
        self.client.set_terminated(self.run_id, "FAILED" if failed else "FINISHED")


class _Wandb:
    def __init__(self, out_dir: Path, config: dict[str, Any]) -> None:
        import wandb

        self.run = wandb.init(project=os.environ.get("WANDB_PROJECT") or WANDB_PROJECT,
                              name=out_dir.name, config=config, reinit=True)

    def log(self, values: dict[str, float], step: int) -> None:
        self.run.log(values, step=step)

    def close(self, out_dir: Path, failed: bool) -> None:
        self.run.finish(exit_code=1 if failed else 0)


class _Aim:
    def __init__(self, out_dir: Path, config: dict[str, Any]) -> None:
        import aim

        self.run = aim.Run(experiment=TRAIN_EXPERIMENT)
        self.run["hparams"] = json.loads(json.dumps(config, default=str))

    def log(self, values: dict[str, float], step: int) -> None:
        for k, v in values.items():
            self.run.track(v, name=k, step=step)

    def close(self, out_dir: Path, failed: bool) -> None:
        self.run.close()


_TRAIN = {"tensorboard": _TensorBoard, "mlflow": _MLflow, "wandb": _Wandb, "aim": _Aim}


class TrainLog:
    """The trackers of one ``zoo train`` run in ``out_dir``: its config at the start,
    :meth:`epoch` after each epoch (``zoo.train.train``'s ``on_epoch`` record), then
    :meth:`finish` with the final result (the test metrics; MLflow also gets the model
    folder as the artifact ``model``). A context manager: a run that raised is closed
    as failed. TensorBoard's events go to ``OUT_PARENT/tensorboard/OUT_NAME``, outside
    the model folder."""

    def __init__(self, names: Iterable[str] | None, config: Any, out_dir: str | Path) -> None:
        self.out_dir, self.step = Path(out_dir).resolve(), 0
        self.names = check(names)
        cfg = config.to_dict() if hasattr(config, "to_dict") else dict(config)
        self.loggers: list[Any] = []
        try:
            for n in self.names:
                self.loggers.append(_TRAIN[n](self.out_dir, cfg))
        except BaseException:
            self.close(failed=True)
            raise

    def where(self) -> list[str]:
        return where(self.names, str(self.out_dir.parent / "tensorboard" / self.out_dir.name))

    def __enter__(self) -> TrainLog:
        return self

    def __exit__(self, exc_type: Any, *exc: Any) -> None:
        self.close(failed=exc_type is not None)

    def epoch(self, record: Mapping[str, Any], *_: Any) -> None:
        self.step = int(record.get("epoch", self.step + 1))
        for lg in self.loggers:
            lg.log(scalars(record), self.step)

    def finish(self, result: Mapping[str, Any]) -> None:
        final = scalars({k: v for k, v in result.items() if k != "history"})
        for lg in self.loggers:
            lg.log(final, self.step)

    def close(self, failed: bool = False) -> None:
        loggers, self.loggers = self.loggers, []
        for lg in loggers:
            lg.close(self.out_dir, failed)
