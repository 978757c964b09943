"""Data-parallel training: the pieces ``zoo.train.train`` needs when it runs as one of N
Ray Train workers (``TorchTrainer``, DDP over gloo on CPU and NCCL on GPU).

The batch size stays the *global* batch: with N workers each takes ``batch_size / N``
images of every step. Every worker draws the same permutation and the same masks for the
whole global batch (one seeded generator, identical on every rank) and keeps its own
slice, so image i of a step meets the same hole whatever the number of workers. DDP
averages the gradients, which for equal shards is the gradient of the global batch's mean
loss. What still differs from one process: BatchNorm normalises each worker's shard with
that shard's statistics (as DDP does everywhere unless SyncBatchNorm is used), and the
float sums are taken in another order.

``workers: 1`` never imports this module's Ray side: ``zoo.train`` only asks
:func:`world` (rank 0 of 1 when torch.distributed is not initialised).
"""

from __future__ import annotations

import logging
import tempfile
from pathlib import Path
from typing import Any

from zoo._dist import (check_cluster, check_workers, local_slice, mean_over_workers,  # noqa: F401
                       refuse_trainable_terms, world, wrap)

log = logging.getLogger(__name__)


# ---- the Ray Train side ------------------------------------------------------------------


def _worker_fn(cfg: dict[str, Any]) -> None:
    """One Ray Train worker: ``zoo.train.train`` into a local folder, rank 0 reports each
    epoch with its checkpoint; every rank reports (Train's report is collective)."""
    import ray.train

    from zoo.modelfolder.checkpoint import copy_model, has_checkpoint
    from zoo.settings import build_config
    from zoo.train import train

    config = build_config(cfg["config"], plugins=True)
    rank = ray.train.get_context().get_world_rank()
    out = Path(cfg["out"]) if cfg.get("out") else Path(tempfile.mkdtemp(prefix="zoo-ddp-"))
    restored = ray.train.get_checkpoint()
    if restored is not None and not cfg.get("out"):
        with restored.as_directory() as d:
            copy_model(d, out)
    if cfg.get("out") and rank != 0:  # a shared folder: only rank 0 writes there
        out = Path(tempfile.mkdtemp(prefix="zoo-ddp-"))
        if has_checkpoint(Path(cfg["out"])):  # rank 0 writes none before all ranks start
            copy_model(Path(cfg["out"]), out)
    extra = {"workers": ray.train.get_context().get_world_size()}
    ckpt_dir = None if cfg.get("out") else out  # a shared --out folder is its own record

    def on_epoch(record: dict[str, Any], ckpt: Path) -> None:
        if record["epoch"] < config.epochs:
            _report({**record, **extra, **cfg.get("facts", {})}, ckpt_dir, rank)

    result = train(config, out, resume=True, on_epoch=on_epoch, final_eval=rank == 0)
    final = {k: v for k, v in result.items() if k not in ("checkpoint", "config")}
    _report({**result["history"][-1], **final, **extra, **cfg.get("facts", {}),
             "final": True}, ckpt_dir, rank)


def _report(metrics: dict[str, Any], out: Path | None, rank: int) -> None:
    import ray.train

    ckpt = ray.train.Checkpoint.from_directory(str(out)) if rank == 0 and out else None
    ray.train.report(metrics if rank == 0 else {}, checkpoint=ckpt)


def trainer(config: Any, workers: int, cpu: float, gpu: float, *, name: str,
            storage: str, out: str | None = None, facts: dict[str, Any] | None = None,
            callbacks: list[Any] | None = None) -> Any:
    """A ``ray.train.torch.TorchTrainer`` that runs ``config`` on ``workers`` workers of
    ``cpu``/``gpu`` each. ``out``: a shared folder rank 0 trains into (``zoo train``);
    without it each worker trains in a private folder and resumes from Train's checkpoint
    (a Tune trial). Train V2 resumes a run of the same ``name`` in ``storage``."""
    from ray.train import CheckpointConfig, RunConfig, ScalingConfig
    from ray.train.torch import TorchConfig, TorchTrainer

    per_worker = {"CPU": cpu, **({"GPU": gpu} if gpu else {})}
    return TorchTrainer(
        _worker_fn,
        train_loop_config={"config": config.to_dict(), "out": out, "facts": facts or {}},
        torch_config=TorchConfig(backend="nccl" if gpu else "gloo"),
        scaling_config=ScalingConfig(num_workers=workers, use_gpu=gpu > 0,
                                     resources_per_worker=per_worker),
        run_config=RunConfig(name=name, storage_path=storage, callbacks=callbacks or [],
                             checkpoint_config=CheckpointConfig(num_to_keep=1)))


def threads_per_worker(cpu: float) -> int:
    """Torch threads for a worker of ``cpu`` CPUs (at least one; Ray sets OMP to 1)."""
    return max(1, int(cpu))


def train_workers(config: Any, out: str | Path, workers: int, *, cpu: float | None = None,
                  gpu: float = 0.0, address: str | None = None) -> dict[str, Any]:
    """``zoo train --workers N``: ``config`` on ``workers`` Ray Train workers of a local
    Ray (or the cluster at ``address``), rank 0 training into ``out`` (resumed from its
    checkpoint as one process would). Returns rank 0's final result."""
    import ray

    from zoo.tune._connect import init_ray as _init_ray

    check_workers(workers, config.batch_size, mask_repeats=config.mask_repeats)
    out = Path(out).resolve()
    _init_ray(address, {"include_dashboard": False, "log_to_driver": False,
                        "configure_logging": False})
    cluster = ray.cluster_resources()
    if cpu is None:  # the cluster's CPUs shared out, at most one each
        cpu = min(1.0, float(cluster.get("CPU", 1)) / workers)
    check_cluster(workers, cpu, gpu, cluster, what="--workers")
    config = _runtime(config, cpu, gpu)
    fit = trainer(config, workers, cpu, gpu, name=f"zoo-train-{config.hash()}-s{config.seed}",
                  storage=tempfile.mkdtemp(prefix="zoo-train-ray-"), out=str(out)).fit()
    if fit.error is not None:
        raise fit.error
    # rank 0's record is the folder it trained into (Train V2 keeps metrics only beside
    # checkpoints it stored, and a shared --out is stored by no one else)
    from zoo.modelfolder.checkpoint import CHECKPOINT_NAME, read_checkpoint

    payload = read_checkpoint(out / CHECKPOINT_NAME)
    return {**payload.get("metrics", {}), "history": payload.get("history", []),
            "workers": workers, "checkpoint": str(out / CHECKPOINT_NAME)}


def _runtime(config: Any, cpu: float, gpu: float) -> Any:
    """``config`` with each worker's threads and device (the run-time fields)."""
    import dataclasses

    return dataclasses.replace(config, threads=threads_per_worker(cpu),
                               device="cuda" if gpu > 0 else "cpu")


def tune_trial(spec: Any, cfg: Any, ctx: Any) -> None:
    """One Tune trial on ``spec.resources.workers`` Ray Train workers (Train V2's pattern:
    the trial function starts a ``TorchTrainer``; ``TuneReportCallback`` hands rank 0's
    reports to Tune, so ASHA sees every epoch and can stop the trial). The Train run lives
    in the trial's folder under a fixed name, so a resumed trial resumes its Train run."""
    import ray
    from ray.tune.integration.ray_train import TuneReportCallback

    from zoo.tune._store import TRAINED_KEY

    res = spec.resources
    workers, cpu, gpu = int(res.get("workers", 1)), float(res.get("cpu", 1)), \
        float(res.get("gpu", 0))
    check_workers(workers, cfg.batch_size, where="resources.workers",
                  mask_repeats=cfg.mask_repeats)
    cfg = _runtime(cfg, cpu, gpu)
    facts = {"node_id": ray.get_runtime_context().get_node_id(),
             TRAINED_KEY: cfg.to_dict(), "config_hash": cfg.hash()}
    fit = trainer(cfg, workers, cpu, gpu, name="train", storage=str(ctx.get_trial_dir()),
                  facts=facts, callbacks=[TuneReportCallback()]).fit()
    if fit.error is not None:
        raise fit.error
