"""Where zoo runs: the torch device by name, the CPU threads, data placement, autocast.

Shared by training and inference (``zoo.load`` moves a model with :func:`resolve_device`),
so neither has to import the other.
"""

from __future__ import annotations

import contextlib
import logging
import os

import torch

from zoo.errors import ZooError

log = logging.getLogger(__name__)


def resolve_device(name: str = "auto") -> torch.device:
    """``auto`` -> cuda when available, else cpu; anything else must be a valid torch device."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        device = torch.device(name)
    except RuntimeError:
        raise ZooError(f"unknown device '{name}'; use auto, cpu, cuda or cuda:N") from None
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ZooError(f"device '{name}' requested but CUDA is not available; use --device cpu")
    if device.type == "cuda" and (device.index or 0) >= torch.cuda.device_count():
        raise ZooError(f"device '{name}' does not exist: this machine has "
                       f"{torch.cuda.device_count()} GPU(s), cuda:0 .. "
                       f"cuda:{torch.cuda.device_count() - 1}")
    return device


def set_threads(threads: int | None) -> int:
    """Give torch the CPUs this process may use (Ray sets OMP_NUM_THREADS=1 in workers)."""
    available = os.sched_getaffinity(0) if hasattr(os, "sched_getaffinity") else None
    n = threads or (len(available) if available else os.cpu_count() or 1)
    torch.set_num_threads(max(1, n))
    return torch.get_num_threads()


def place_on_device(data: torch.Tensor, device: torch.device) -> torch.Tensor:
    """The dataset, resident on ``device`` when it fits (then batches never cross the bus);
    otherwise kept in pinned host memory and copied one batch at a time."""
    if device.type != "cuda":
        return data
    try:
        return data.to(device)
    except torch.OutOfMemoryError:
        log.warning("dataset (%.0f MB) does not fit on %s; streaming batches from host memory",
                    data.numel() / 2**20, device)
        return data.pin_memory()


def autocast(device: torch.device, enabled: bool):
    """bfloat16 autocast on CUDA when ``enabled``; elsewhere a no-op context."""
    if enabled and device.type == "cuda":
        return torch.autocast("cuda", dtype=torch.bfloat16)
    return contextlib.nullcontext()
