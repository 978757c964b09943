"""Where zoo runs: the torch device by name, the CPU threads, data placement, autocast.

Shared by training and inference (``zoo.load`` moves a model with :func:`resolve_device`),
so neither has to import the other.
"""

from __future__ import annotations

import contextlib
import functools
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


@functools.cache  # the CPU does not change under a running process
def cpu_has_bf16() -> bool:
    """Whether this CPU computes bfloat16 natively (AVX512-BF16 or AMX). Elsewhere torch
    emulates it, and a bf16 autocast is slower than float32."""
    try:
        return bool(torch.cpu._is_avx512_bf16_supported() or torch.cpu._is_amx_tile_supported())
    except AttributeError:  # a torch without these probes
        return False


def uses_bf16(device: torch.device, amp: bool, cpu_amp: bool = False) -> bool:
    """Whether a run computes in bfloat16: ``amp`` on CUDA, ``cpu_amp`` on a CPU that has
    native bf16 (float32 on any other CPU, where bf16 would only be slower)."""
    if device.type == "cuda":
        return amp
    return cpu_amp and device.type == "cpu" and cpu_has_bf16()


def autocast(device: torch.device, enabled: bool, cpu: bool = False):
    """bfloat16 autocast on CUDA when ``enabled``, on a CPU with native bf16 when ``cpu``
    (:func:`uses_bf16`); elsewhere a no-op context."""
    if uses_bf16(device, enabled, cpu):
        return torch.autocast(device.type, dtype=torch.bfloat16)
    return contextlib.nullcontext()
