"""Ray Tune driver for ``zoo tune``: one trainable, a leaderboard callback, a live view.

The trainable is a module-level function of Tune's config that runs ``zoo.train.train``,
the same function as ``zoo train``. Data is put in Ray's object store once by the driver
(``tune.with_parameters``), so each node holds one copy that its trials share.

How a config travels from ``search_spaces/quick.yaml`` to its leaderboard row:

1. ``zoo.tune._yaml`` reads the file into a nested dict (with the line of every key);
   ``zoo.tune.space.load_space`` turns it, once, into a ``SearchSpec``: ``preset`` (a
   name), ``base`` (flat dotted keys) and ``space`` (key -> sampling kind). Validation
   builds the TrainConfig of every value it checks, in the driver, before Ray starts.
2. ``SearchSpec.param_space`` hands Tune one flat dotted dict (base values, domains,
   seed); Tune samples each trial's flat dict (its ``params.json``).
3. In the worker, :func:`trainable` builds the trial's one ``TrainConfig`` with
   ``SearchSpec.trial_config``: ``zoo.settings.build_config`` over the layers preset <
   base < sampled < ``epochs`` < runtime (device, threads; the data folder is pinned
   into base by :func:`pin_data_dir`). ``zoo.train.train`` reads its fields; each
   checkpoint save (``zoo.modelfolder.checkpoint.save_checkpoint``) writes that dataclass's
   ``to_dict()`` as it is.
4. Every ``tune.report`` carries that dict (``zoo.tune._store.TRAINED_KEY``) and its hash.
   The driver's ``zoo.tune._record.LeaderboardWriter`` puts it on the row unchanged
   (``zoo.tune._store.trial_result``, then ``zoo.leaderboard.db.Leaderboard.record_trial``,
   which stores JSON and builds nothing). Until a trial reports, its row holds the
   settings it was sampled with (``SearchSpec.sampled``, a merged dict, not a config).
5. ``zoo.tune._store.rebuild`` (``--resume``, ``zoo leaderboard rebuild``) reads the same
   dict back from Tune's ``result.json``, so a refilled row is the row it replaces.
"""

from __future__ import annotations

import functools
import logging
import math
import os
import shutil
import signal
import tempfile
import time
import warnings
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from zoo.modelfolder.checkpoint import copy_model
from zoo.errors import ZooError
from zoo.tune._record import LeaderboardWriter, SealState, SearchOutcome, outcome
from zoo.tune._store import TRAINED_KEY
from zoo.tune._connect import init_ray as _init_ray

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
    from ray import tune

    ctx = tune.get_context()
    resources = ctx.get_trial_resources().required_resources
    cfg = spec.trial_config(config, runtime={  # Ray sets OMP_NUM_THREADS=1: use the trial's CPUs
        "threads": max(1, int(resources.get("CPU", 1))),
        "device": "cuda" if resources.get("GPU", 0) > 0 else "cpu"})
    key, arrays = data if data is not None else (None, None)
    splits = _splits_from_numpy(arrays) if key == _data_key(cfg) else None

    # Train into a private folder outside the trial's folder (which Tune syncs to storage:
    # a work folder there would be copied beside each checkpoint, and deleting it raced
    # with that sync). tune.report copies the checkpoint to storage before it returns.
    if int(spec.resources.get("workers", 1)) > 1:  # Ray Train workers, rank 0 reports
        from zoo._ddp import tune_trial

        return tune_trial(spec, cfg, ctx)
    work = Path(tempfile.mkdtemp(prefix=f"zoo-{ctx.get_trial_id()}-"))
    try:
        _run_trial(spec, cfg, work, splits)
    finally:
        shutil.rmtree(work, ignore_errors=True)


def _run_trial(spec: Any, cfg: Any, work: Path, splits: Any) -> None:
    import ray
    from ray import tune

    from zoo.train import TrainingDiverged, train

    restored = tune.get_checkpoint()
    if restored is not None:
        with restored.as_directory() as d:
            copy_model(d, work)  # the model folder: weights, JSON, resume state
    # every report carries the config trained, which the trial's row keeps as it is
    node = {"node_id": ray.get_runtime_context().get_node_id(),
            TRAINED_KEY: cfg.to_dict(), "config_hash": cfg.hash()}

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


def resolve_storage(storage: str) -> str:
    """Absolute local path, or a URI (s3://, gs://, ...) passed to Ray unchanged."""
    if "://" in storage:
        return storage
    return str(Path(storage).expanduser().resolve())


def _check_storage(storage: str) -> None:
    if "://" in storage:
        return
    path = Path(storage)
    for parent in (path, *path.parents):
        if parent.exists():
            if not parent.is_dir():
                raise ZooError(f"--storage {storage}: {parent} is a file, not a folder; pass "
                               "a folder for the results (default ./results)")
            if not os.access(parent, os.W_OK | os.X_OK):
                raise ZooError(f"--storage {storage}: cannot write in {parent}; pass a folder "
                               "you can write to")
            return


def pin_data_dir(spec: Any) -> None:
    """Record where CIFAR-10 comes from: ``$ZOO_DATA_DIR`` (made absolute) becomes the
    search's ``data_dir``, so its trials, checkpoints and rows name their data and later
    commands need no environment variable."""
    from zoo.data import data_folder

    space = getattr(spec, "space", {})
    given = spec.base.get("data_dir")
    # a relative folder from the YAML is pinned (the trials run in other working folders);
    # without one, $ZOO_DATA_DIR only for a CIFAR-10 search that does not vary its data
    env = not ("data_dir" in space or "dataset" in space) and \
        spec.base.get("dataset", "cifar10") == "cifar10"
    path = data_folder(str(given) if given else None, env=env, fix="it comes from the search "
                       "space or --set: pass --data DIR or fix base.data_dir")
    if path:
        spec.base["data_dir"] = path


def prepare_search(spec: Any, storage: str, *, resume: bool = False,
                   db_path: str | Path | None = None,
                   trust_state: bool = False) -> tuple[str, Path, Any]:
    """Every check that needs no Ray: storage, leaderboard, resume rules, data location,
    and (on ``resume``, unless ``trust_state``) the seal of the Ray state to restore.

    Returns (storage, leaderboard path, Leaderboard). Raises ZooError before anything runs.
    """
    from ray import tune

    from zoo.leaderboard.db import Leaderboard, default_db_path
    from zoo.tune._guard import check_seal
    from zoo.tune._store import check_resume, read_record, rebuild

    storage = resolve_storage(storage)
    _check_storage(storage)
    db_path = Path(db_path).expanduser().absolute() if db_path else default_db_path(storage)
    board = Leaderboard(db_path)  # a folder, a non-SQLite file, no write access: refused here
    exp_path = f"{storage.rstrip('/')}/{spec.name}"
    exists = tune.Tuner.can_restore(exp_path)
    if resume and not exists:
        raise ZooError(f"nothing to resume: no search '{spec.name}' in {storage}; "
                       "run it without --resume first")
    if not resume and exists:
        raise ZooError(f"search '{spec.name}' already exists in {storage}; use --resume to "
                       "continue it, --name NEW to start another, or another --storage")
    local = "://" not in storage
    if resume:
        stored = read_record(Path(exp_path)) if local else None
        if local and not trust_state:
            check_seal(Path(exp_path), stored)
        if stored is not None:
            # the data location the search ran with, unless --data names it again
            if "data_dir" not in spec.base and stored.get("base", {}).get("data_dir"):
                spec.base["data_dir"] = stored["base"]["data_dir"]
            check_resume(spec, stored, Path(exp_path))
            rebuild(Path(storage), board, search=spec.name)  # a deleted leaderboard refills
    else:
        if board.trials(search=spec.name):
            raise ZooError(f"search '{spec.name}' already has rows in {board.path}; start "
                           f"another with --name NEW, or delete them first: zoo leaderboard "
                           f"rm {spec.name} --db {board.path}")
        pin_data_dir(spec)
    return storage, board.path, board


def check_address(address: str | None, timeout_s: float = 5.0) -> None:
    """A HOST:PORT that nothing answers on is refused at once (Ray would retry for
    minutes, logging each attempt)."""
    import socket

    if not address or address in ("auto", "local") or "://" in address:
        return
    host, sep, port = address.rpartition(":")
    if not sep or not port.isdigit() or not host:
        raise ZooError(f"--address {address}: expected HOST:PORT of a Ray head node (e.g. "
                       "10.0.0.5:6379) or auto")
    try:
        with socket.create_connection((host.strip("[]"), int(port)), timeout=timeout_s):
            pass
    except OSError as exc:
        raise ZooError(f"--address {address}: no Ray head node answers there ({exc}); check "
                       "the host and port (`ray status` on the head node shows them), or leave "
                       "--address out to run on this machine") from None


def run_search(spec: Any, storage: str, *, address: str | None = None, resume: bool = False,
               db_path: str | Path | None = None, callbacks: Sequence[Any] = (),
               ray_init_kwargs: dict[str, Any] | None = None,
               trust_state: bool = False,
               on_ready: Callable[[str], None] | None = None) -> SearchOutcome:
    """Run (or resume) ``spec`` on local Ray or the cluster at ``address``.

    Everything that can be checked is checked before Ray starts (:func:`prepare_search`).
    Refuses to start over an existing search of the same name (``resume=True`` continues
    it), so nothing already done is lost, and refuses a search another process is running
    (:func:`zoo.tune._guard.search_lock`). ``callbacks`` are more Tune callbacks, e.g. the
    CLI's live table; ``on_ready(storage)`` runs once every check passed, before Ray
    starts. ``trust_state`` resumes Ray state without its seal. SIGTERM stops the search
    as Ctrl-C does. The library prints nothing; the CLI quiets Ray's own console output (``zoo.cli.tune.quiet_ray``).
    """
    from zoo.tune._guard import search_lock

    stop_on_sigterm()
    storage = resolve_storage(storage)
    _check_storage(storage)  # a file or an unwritable folder, named before the lock's error
    with search_lock(storage, spec.name):
        storage, db_path, board = prepare_search(spec, storage, resume=resume,
                                                 db_path=db_path, trust_state=trust_state)
        check_address(address)
        if on_ready is not None:
            on_ready(storage)
        return _run_locked(spec, storage, address, resume, board, callbacks,
                           ray_init_kwargs)


def _run_locked(spec: Any, storage: str, address: str | None, resume: bool, board: Any,
                callbacks: Sequence[Any], ray_init_kwargs: dict[str, Any] | None
                ) -> SearchOutcome:
    from ray.tune.logger import JsonLoggerCallback

    db_path = board.path
    exp_path = f"{storage.rstrip('/')}/{spec.name}"
    _init_ray(address, {"include_dashboard": False, "log_to_driver": False,
                        "configure_logging": False, **(ray_init_kwargs or {})})
    stop_on_sigterm()  # ray.init made SIGTERM a sys.exit, which Ray's core turns into an abort
    _check_gpus(spec)
    _check_workers(spec)
    fn = _trainable_with_data(spec, storage, exp_path, resume)
    writer = LeaderboardWriter(spec, Path(db_path))
    sealer = [] if "://" in storage else [SealState(Path(exp_path))]
    # The leaderboard is the record; of Tune's loggers only the JSON log is kept (for
    # ResultGrid): its TensorBoard/CSV ones warn about the ceiling's infinite PSNR.
    tuner = _tuner(spec, fn, storage, exp_path, resume,
                   [writer, JsonLoggerCallback(), *sealer, *callbacks])
    grid = None
    try:
        grid = _fit(tuner)
    finally:
        # trials still running when the search ended were interrupted (Ctrl-C, a crash)
        marked = board.mark_interrupted(
            spec.name, "the search was interrupted; `zoo tune SPACE --resume` continues it")
        for s in sealer:  # Tune's last state save is done: seal it
            s.refresh(force=True)
    return outcome(spec, storage, Path(db_path), board, grid, bool(marked),
                   writer.failed_writes)


def _as_sigint(signum: int, frame: Any) -> None:
    """SIGTERM (a timeout, a CI cancel, ``docker stop``) does what Ctrl-C does now: Tune's
    graceful stop while a search runs, else a KeyboardInterrupt."""
    handler = signal.getsignal(signal.SIGINT)
    if callable(handler):
        handler(signal.SIGINT, frame)
    else:
        raise KeyboardInterrupt


def stop_on_sigterm() -> None:
    """Make SIGTERM an interrupt (main thread only: elsewhere signals cannot be set)."""
    import threading

    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, _as_sigint)


def _check_gpus(spec: Any) -> None:
    import ray

    if spec.resources.get("gpu", 0) > 0 and ray.cluster_resources().get("GPU", 0) == 0:
        raise ZooError(f"search '{spec.name}' asks for {spec.resources['gpu']} GPU per trial but "
                       "this Ray cluster has no GPU (the trials would wait forever); "
                       "pass --gpus 0 to train on CPUs")


def _check_workers(spec: Any) -> None:
    """``resources.workers`` the cluster cannot hold, or a batch they cannot split: refused
    before any trial starts."""
    import ray

    from zoo._ddp import check_cluster, check_workers

    workers = int(spec.resources.get("workers", 1))
    if workers > 1:
        base = spec.trial_config({})
        check_workers(workers, base.batch_size, where="resources.workers",
                      mask_repeats=base.mask_repeats)
        check_cluster(workers, float(spec.resources.get("cpu", 1)),
                      float(spec.resources.get("gpu", 0)), ray.cluster_resources(),
                      what=f"search '{spec.name}' (resources.workers)")


def _trainable_with_data(spec: Any, storage: str, exp_path: str, resume: bool) -> Any:
    """The trial function with the data loaded once, in the driver (trials share it through
    Ray's object store) and the CPUs/GPUs each trial takes."""
    from ray import tune

    from zoo.data import load_dataset
    from zoo.tune._store import write_record

    base = spec.trial_config({})
    t0 = time.perf_counter()
    splits = load_dataset(base)
    log.info("data loaded in %.1fs", time.perf_counter() - t0)
    if "://" not in storage and not resume and hasattr(spec, "space"):
        write_record(Path(exp_path), spec)
    fn = tune.with_parameters(trainable, spec=spec,
                              data=(_data_key(base), _splits_to_numpy(splits)))
    if int(spec.resources.get("workers", 1)) > 1:
        # the trial only runs Train's controller; its workers ask for their own resources
        return tune.with_resources(fn, {"cpu": 0.01, "gpu": 0})
    return tune.with_resources(fn, {"cpu": float(spec.resources.get("cpu", 1)),
                                    "gpu": float(spec.resources.get("gpu", 0))})


def _tuner(spec: Any, fn: Any, storage: str, exp_path: str, resume: bool,
           callbacks: list[Any]) -> Any:
    from ray import tune

    from zoo.tune._store import trial_dirname

    if resume:
        tuner = tune.Tuner.restore(exp_path, trainable=fn, resume_unfinished=True,
                                   resume_errored=True)
        # Tuner.restore keeps the original run config; callbacks are not restored with it.
        tuner._local_tuner._run_config.callbacks = callbacks
        return tuner
    dirname = functools.partial(trial_dirname, spec.name)
    return tune.Tuner(
        fn,
        param_space=spec.param_space(),
        tune_config=tune.TuneConfig(
            metric=spec.metric, mode=spec.mode, num_samples=spec.num_samples,
            scheduler=spec.scheduler_obj(), search_alg=spec.search_alg(),
            max_concurrent_trials=spec.max_concurrent_trials(),
            trial_name_creator=dirname, trial_dirname_creator=dirname),
        run_config=tune.RunConfig(
            name=spec.name, storage_path=storage, verbose=0, callbacks=callbacks,
            failure_config=tune.FailureConfig(max_failures=spec.max_failures),
            checkpoint_config=tune.CheckpointConfig(num_to_keep=1)),
    )


def _fit(tuner: Any) -> Any:
    """``tuner.fit()`` without Tune's interrupt notice, which suggests Tuner.restore(...):
    the CLI names the zoo command instead."""
    # ray.tune.tune: the interrupt notice; experiment_analysis: "Failed to fetch metrics"
    # for trials of a resumed search, whose results zoo reads from the leaderboard instead
    quiet = {name: logging.getLogger(name) for name in (
        "ray.tune.tune", "ray.tune.analysis.experiment_analysis")}
    levels = {name: lg.level for name, lg in quiet.items()}
    for lg in quiet.values():
        lg.setLevel(logging.CRITICAL)
    try:
        return tuner.fit()
    finally:
        for name, lg in quiet.items():
            lg.setLevel(levels[name])
