"""Ray Tune driver for ``zoo tune``: one trainable, a leaderboard callback, a live view.

The trainable is a module-level function of Tune's config that runs ``zoo.train.train``,
the same function as ``zoo train``. Data is put in Ray's object store once by the driver
(``tune.with_parameters``), so each node holds one copy that its trials share.
"""

from __future__ import annotations

import logging
import math
import os
import shutil
import time
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ray.tune import Callback

from zoo.checkpoint import CHECKPOINT_NAME, copy_model
from zoo.errors import ZooError

log = logging.getLogger(__name__)

DATA_FIELDS = ("dataset", "data_dir", "image_size", "train_limit", "val_limit", "test_limit")


def _data_key(config: Any) -> tuple:
    return tuple(getattr(config, f) for f in DATA_FIELDS)


def _splits_to_numpy(splits: Any) -> dict[str, np.ndarray]:
    # numpy arrays are zero-copy from the object store; torch tensors would be unpickled.
    return {k: getattr(splits, k).numpy() for k in ("train", "val", "test")}


def _splits_from_numpy(arrays: dict[str, np.ndarray]) -> Any:
    from zoo.data import Splits

    with warnings.catch_warnings():  # read-only shared memory; we never write to it
        warnings.simplefilter("ignore", UserWarning)
        return Splits(**{k: torch.from_numpy(v) for k, v in arrays.items()})


def trainable(config: dict[str, Any], spec: Any = None, data: Any = None) -> None:
    """One Tune trial: build the TrainConfig, restore, train, report each epoch."""
    import ray
    from ray import tune

    from zoo.train import TrainingDiverged, train

    ctx = tune.get_context()
    resources = ctx.get_trial_resources().required_resources
    cfg = spec.trial_config(config)
    cfg.threads = max(1, int(resources.get("CPU", 1)))  # Ray sets OMP_NUM_THREADS=1
    cfg.device = "cuda" if resources.get("GPU", 0) > 0 else "cpu"
    key, arrays = data if data is not None else (None, None)
    splits = _splits_from_numpy(arrays) if key == _data_key(cfg) else None

    # Train into a private folder; Tune copies each epoch's checkpoint to storage.
    work = Path(ctx.get_trial_dir()) / "work"  # removed with the trial's own folder
    work.mkdir(parents=True, exist_ok=True)
    restored = tune.get_checkpoint()
    if restored is not None:
        with restored.as_directory() as d:
            copy_model(d, work)  # the model folder: weights, JSON, resume state
    node = {"node_id": ray.get_runtime_context().get_node_id()}

    def on_epoch(record: dict[str, Any], ckpt: Path) -> None:
        if record["epoch"] < cfg.epochs:  # the last epoch reports with the test metrics
            tune.report({**record, **node}, checkpoint=tune.Checkpoint.from_directory(work))

    try:
        result = train(cfg, work, resume=True, splits=splits, on_epoch=on_epoch)
    except TrainingDiverged as exc:
        worst = -math.inf if spec.mode == "max" else math.inf
        tune.report({spec.metric: worst, "diverged": True, "error": str(exc), **node})
        return
    last = result["history"][-1]
    final = {k: v for k, v in result.items() if k not in ("history", "checkpoint", "config")}
    tune.report({**last, **final, **node, "final": True},
                checkpoint=tune.Checkpoint.from_directory(work))
    shutil.rmtree(work, ignore_errors=True)  # Tune keeps its copy in the checkpoint folder


def _status_and_error(trial: Any) -> tuple[str, str | None]:
    result = trial.last_result or {}
    if result.get("diverged"):
        return "failed", result.get("error")
    if result.get("final"):
        return "completed", None
    return "stopped", "stopped early by the scheduler"


def _trial_error(trial: Any) -> str:
    path = trial.error_file
    if path and os.path.exists(path):
        lines = [ln for ln in Path(path).read_text().splitlines() if ln.strip()]
        return lines[-1][:500] if lines else "trial failed"
    return "trial failed"


class LeaderboardWriter(Callback):
    """Writes one leaderboard row per trial as it starts and ends; upserts keyed by
    (search, trial id) keep re-runs and resumes free of duplicates."""

    def __init__(self, spec: Any, db_path: Path) -> None:
        self.spec, self.db_path, self._board = spec, Path(db_path), None

    def __getstate__(self) -> dict[str, Any]:  # Tune pickles its run config; sqlite can't be
        return {**self.__dict__, "_board": None}

    @property
    def board(self) -> Any:
        from zoo.leaderboard.db import Leaderboard

        if self._board is None:
            self._board = Leaderboard(self.db_path)
        return self._board

    def _config(self, trial: Any) -> dict[str, Any]:
        return self.spec.trial_config(trial.config).to_dict()

    def _write(self, trial: Any, status: str, error: str | None) -> None:
        result = dict(trial.last_result or {})
        if trial.checkpoint is not None:  # the copy in storage; the trial's own folder is gone
            saved = trial.checkpoint.path
            result["checkpoint"] = os.path.join(saved, CHECKPOINT_NAME)
            for key, name in (("grid_png", "grid.png"), ("curves_png", "curves.png")):
                if result.get(key) or os.path.exists(os.path.join(saved, name)):
                    result[key] = os.path.join(saved, name)
        # Tune overwrites result["config"] with the sampled values; rebuild the full one.
        config = result["config"] = self._config(trial)
        # (the row's baselines and eval_id also record the reference rows)
        self.board.record_trial(self.spec.name, trial.trial_id, status, result or None, config,
                                error=error)

    def _safely(self, write: Any, trial: Any) -> None:
        # An exception in a Tune callback aborts the whole search: a leaderboard that is
        # locked or full must cost one row (logged), not every running trial.
        try:
            write()
        except Exception:  # noqa: BLE001
            log.exception("could not record trial %s in %s", trial.trial_id, self.db_path)

    def on_trial_start(self, iteration: int, trials: list, trial: Any, **info: Any) -> None:
        self._safely(lambda: self.board.record_trial(
            self.spec.name, trial.trial_id, "running", None, self._config(trial)), trial)

    def on_trial_complete(self, iteration: int, trials: list, trial: Any, **info: Any) -> None:
        self._safely(lambda: self._write(trial, *_status_and_error(trial)), trial)

    def on_trial_error(self, iteration: int, trials: list, trial: Any, **info: Any) -> None:
        self._safely(lambda: self._write(trial, "failed", _trial_error(trial)), trial)


def resolve_storage(storage: str) -> str:
    """Absolute local path, or a URI (s3://, gs://, ...) passed to Ray unchanged."""
    if "://" in storage:
        return storage
    return str(Path(storage).expanduser().resolve())


def run_search(spec: Any, storage: str, *, address: str | None = None, resume: bool = False,
               db_path: str | Path | None = None, console: Any = None,
               ray_init_kwargs: dict[str, Any] | None = None) -> Any:
    """Run (or resume) ``spec`` on local Ray or the cluster at ``address``.

    Returns Tune's ResultGrid. Refuses to start over an existing search of the same name
    (``resume=True`` continues it), so nothing already done is lost.
    """
    import ray
    from ray import tune

    from zoo.data import load_dataset
    from zoo.leaderboard.db import default_db_path

    storage = resolve_storage(storage)
    db_path = db_path or default_db_path(storage)
    exp_path = f"{storage.rstrip('/')}/{spec.name}"
    exists = tune.Tuner.can_restore(exp_path)
    if resume and not exists:
        raise ZooError(f"nothing to resume: no search '{spec.name}' in {storage}; "
                       "run it without --resume first")
    if not resume and exists:
        raise ZooError(f"search '{spec.name}' already exists in {storage}; use --resume to "
                       "continue it, --name NEW to start another, or another --storage")

    base = spec.trial_config({})
    t0 = time.perf_counter()
    splits = load_dataset(base)  # once, in the driver; trials share it via the object store
    log.info("data loaded in %.1fs", time.perf_counter() - t0)

    os.environ.setdefault("RAY_AIR_NEW_OUTPUT", "0")
    # The leaderboard is the record; Tune's TensorBoard/CSV loggers only add noise (and
    # warn about the ceiling's infinite PSNR). Its JSON log stays for ResultGrid.
    os.environ.setdefault("TUNE_DISABLE_AUTO_CALLBACK_LOGGERS", "1")
    os.environ.setdefault("TUNE_WARN_EXCESSIVE_EXPERIMENT_CHECKPOINT_SYNC_THRESHOLD_S", "0")
    if not ray.is_initialized():
        kwargs = {"include_dashboard": False, "log_to_driver": False,
                  "configure_logging": False, **(ray_init_kwargs or {})}
        ray.init(address=address, **kwargs)
    gpus = ray.cluster_resources().get("GPU", 0)
    if spec.resources.get("gpu", 0) > 0 and gpus == 0:
        raise ZooError(f"search '{spec.name}' asks for {spec.resources['gpu']} GPU per trial but "
                       "this Ray cluster has no GPU (the trials would wait forever); "
                       "pass --gpus 0 to train on CPUs")
    fn = tune.with_parameters(trainable, spec=spec,
                              data=(_data_key(base), _splits_to_numpy(splits)))
    res = {"cpu": float(spec.resources.get("cpu", 1)),
           "gpu": float(spec.resources.get("gpu", 0))}
    fn = tune.with_resources(fn, res)
    from ray.tune.logger import JsonLoggerCallback

    callbacks: list[Any] = [LeaderboardWriter(spec, Path(db_path)), JsonLoggerCallback()]
    if console is not None:
        from zoo.tune._live import LiveView

        callbacks.append(LiveView(spec, console))
    if resume:
        tuner = tune.Tuner.restore(exp_path, trainable=fn, resume_unfinished=True,
                                   resume_errored=True, param_space=spec.param_space())
    else:
        tuner = tune.Tuner(
            fn,
            param_space=spec.param_space(),
            tune_config=tune.TuneConfig(
                metric=spec.metric, mode=spec.mode, num_samples=spec.num_samples,
                scheduler=spec.scheduler_obj(), search_alg=spec.search_alg(),
                max_concurrent_trials=spec.max_concurrent),
            run_config=tune.RunConfig(
                name=spec.name, storage_path=storage, verbose=0, callbacks=callbacks,
                failure_config=tune.FailureConfig(max_failures=spec.max_failures),
                checkpoint_config=tune.CheckpointConfig(num_to_keep=1)),
        )
    if resume:
        # Tuner.restore keeps the original run config; callbacks are not restored with it.
        tuner._local_tuner._run_config.callbacks = callbacks
    return tuner.fit()
