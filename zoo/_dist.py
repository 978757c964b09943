"""Data-parallel training, the worker side: what ``zoo.train.train`` asks when it runs as
one of N Ray Train workers (rank and world size, this rank's slice of a global batch, DDP
wrapping, the mean of a value over workers), and the checks on ``workers`` made before any
worker starts. No Ray here: ``zoo._ddp`` starts the workers.

With one process (no ``torch.distributed`` process group) :func:`world` is (0, 1) and
every helper is the identity.
"""

from __future__ import annotations

from typing import Any

import torch

from zoo.errors import ZooError


def world() -> tuple[int, int]:
    """(rank, world size) of this process: (0, 1) outside a process group."""
    import torch.distributed as dist

    if dist.is_available() and dist.is_initialized():
        return dist.get_rank(), dist.get_world_size()
    return 0, 1


def step_samples(images: int, mask_repeats: float) -> int:
    """The masked samples of a step of ``images`` under ``mask_repeats`` (each image shown
    again under a new mask until there are this many): what the workers split."""
    return round(images * mask_repeats)


def check_workers(workers: Any, batch_size: int, where: str = "--workers",
                  mask_repeats: float = 1) -> int:
    """``workers`` as an int >= 1 that divides the global batch (and the step's
    ``round(batch_size x mask_repeats)`` masked samples), else one clear line."""
    if isinstance(workers, bool) or not isinstance(workers, (int, float)) or \
            not float(workers).is_integer() or workers < 1:
        raise ZooError(f"{where} must be a whole number >= 1 (1: one process, no Ray Train), "
                       f"got {workers!r}")
    workers = int(workers)
    if batch_size % workers:
        raise ZooError(f"{where} {workers}: batch_size {batch_size} is the global batch and "
                       f"must split evenly over the workers; use a batch size divisible by "
                       f"{workers} (e.g. {batch_size - batch_size % workers or workers})")
    samples = step_samples(batch_size, mask_repeats)
    if samples % workers:
        raise ZooError(f"{where} {workers}: mask_repeats {mask_repeats} makes each step "
                       f"{samples} masked samples ({batch_size} images), which must split "
                       f"evenly over the workers; use a whole mask_repeats or one that "
                       f"gives a multiple of {workers}")
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
