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
import os
import tempfile
from pathlib import Path
from typing import Any

import torch

from zoo.errors import ZooError

log = logging.getLogger(__name__)


def world() -> tuple[int, int]:
    """(rank, world size) of this process: (0, 1) outside a process group."""
    import torch.distributed as dist

    if dist.is_available() and dist.is_initialized():
        return dist.get_rank(), dist.get_world_size()
    return 0, 1


def check_workers(workers: Any, batch_size: int, where: str = "--workers") -> int:
    """``workers`` as an int >= 1 that divides the global batch, else one clear line."""
    if isinstance(workers, bool) or not isinstance(workers, (int, float)) or \
            not float(workers).is_integer() or workers < 1:
        raise ZooError(f"{where} must be a whole number >= 1 (1: one process, no Ray Train), "
                       f"got {workers!r}")
    workers = int(workers)
    if batch_size % workers:
        raise ZooError(f"{where} {workers}: batch_size {batch_size} is the global batch and "
                       f"must split evenly over the workers; use a batch size divisible by "
                       f"{workers} (e.g. {batch_size - batch_size % workers or workers})")
    return workers


def check_cluster(workers: int, cpu: float, gpu: float, cluster: dict[str, float],
                  what: str = "a trial") -> None:
    """Refuse, before any worker starts, ``workers`` that the cluster cannot hold at once
    (Ray would wait for them forever). ``cpu``/``gpu`` are per worker."""
    for kind, per in (("CPU", cpu), ("GPU", gpu)):
        have = float(cluster.get(kind, 0))
        need = workers * per
        if per > 0 and need > have + 1e-9:
            raise ZooError(f"{what} asks for {workers} workers x {per:g} {kind} = {need:g} "
                           f"{kind}, but the Ray cluster has {have:g}; use fewer workers or a "
                           f"fraction per worker (resources: {{workers: {workers}, "
                           f"{kind.lower()}: {have / workers:g}}})")


def wrap(model: torch.nn.Module, device: torch.device) -> torch.nn.Module:
    """``model`` in DDP when this process is one of several workers, else ``model``."""
    if world()[1] == 1:
        return model
    from torch.nn.parallel import DistributedDataParallel

    ids = [device.index] if device.type == "cuda" else None
    return DistributedDataParallel(model, device_ids=ids)


def local_slice(n: int) -> slice:
    """This rank's part of a global batch of ``n`` items (equal parts; the last rank takes
    what is left when ``n`` does not divide, as a final short batch can)."""
    rank, size = world()
    per = -(-n // size)
    return slice(rank * per, min(n, (rank + 1) * per))


def mean_over_workers(value: torch.Tensor) -> torch.Tensor:
    """The mean of ``value`` over the workers (itself with one)."""
    import torch.distributed as dist

    if world()[1] == 1:
        return value
    out = value.detach().clone()
    dist.all_reduce(out, op=dist.ReduceOp.SUM)
    return out / world()[1]


def refuse_trainable_terms(loss: Any) -> None:
    """A loss with a trained term (a discriminator) is not data-parallel here: its own
    optimizer would drift apart on each worker."""
    if world()[1] > 1 and getattr(loss, "terms", None) is not None:
        from zoo.losses import term_optimizers

        if term_optimizers(loss):
            raise ZooError("a loss with a trained term (adversarial) runs on one worker only; "
                           "use workers: 1 or a loss without it")


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

    os.environ.setdefault("RAY_TRAIN_V2_ENABLED", "1")
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

    from zoo.tune.runner import _init_ray

    check_workers(workers, config.batch_size)
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
    check_workers(workers, cfg.batch_size, where="resources.workers")
    cfg = _runtime(cfg, cpu, gpu)
    facts = {"node_id": ray.get_runtime_context().get_node_id(),
             TRAINED_KEY: cfg.to_dict(), "config_hash": cfg.hash()}
    fit = trainer(cfg, workers, cpu, gpu, name="train", storage=str(ctx.get_trial_dir()),
                  facts=facts, callbacks=[TuneReportCallback()]).fit()
    if fit.error is not None:
        raise fit.error
