"""What a model costs: parameters, GFLOPs per image, inference latency at batch 1 and 64.

FLOPs come from ``torch.utils.flop_counter.FlopCounterMode`` on one forward (a multiply-add
counts as 2 FLOPs, as torch counts them). Latency is measured on the scoring device, tagged
with that device and torch's version (as timm names its benchmark files), so a row says
where its figure holds: a latency measured on a laptop CPU is not one of an H100.
"""

from __future__ import annotations

import time
from typing import Any

import torch

LATENCY_BATCHES = (1, 64)
REPEATS = {1: 5, 64: 2}  # timed forwards after one warm-up: seconds in all on a CPU


def _inputs(batch: int, size: tuple[int, int], device: torch.device
            ) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(0)
    x = torch.rand(batch, 3, *size, generator=g)
    m = torch.zeros(batch, 1, *size)
    m[..., size[0] // 3:size[0] // 3 * 2, size[1] // 3:size[1] // 3 * 2] = 1
    return (x * (1 - m)).to(device), m.to(device)


@torch.no_grad()
def gflops(model: torch.nn.Module, size: tuple[int, int]) -> float:
    """Forward GFLOPs for one image of ``size`` (h, w)."""
    from torch.utils.flop_counter import FlopCounterMode

    device = next(model.parameters()).device
    was = model.training
    model.eval()
    try:
        counter = FlopCounterMode(display=False)
        with counter:
            model(*_inputs(1, size, device))
    finally:
        model.train(was)
    return counter.get_total_flops() / 1e9


@torch.no_grad()
def latency_ms(model: torch.nn.Module, size: tuple[int, int],
               batches: tuple[int, ...] = LATENCY_BATCHES) -> dict[str, float]:
    """Median wall time of one forward, in ms per image, at each batch size."""
    device = next(model.parameters()).device
    was = model.training
    model.eval()
    out: dict[str, float] = {}
    try:
        for batch in batches:
            x, m = _inputs(batch, size, device)
            model(x, m)  # warm-up: allocations, cudnn choice
            times = []
            for _ in range(REPEATS.get(batch, 2)):
                if device.type == "cuda":
                    torch.cuda.synchronize(device)
                t = time.perf_counter()
                model(x, m)
                if device.type == "cuda":
                    torch.cuda.synchronize(device)
                times.append(time.perf_counter() - t)
            out[f"batch{batch}"] = sorted(times)[len(times) // 2] * 1000 / batch
    finally:
        model.train(was)
    return out


def device_tag(device: torch.device) -> str:
    """``cpu-2t-pt2.14.1`` / ``cuda-NVIDIA_H200-pt2.14.1``: where a latency was measured."""
    if device.type == "cuda":
        name = torch.cuda.get_device_name(device).replace(" ", "_")
    else:
        name = f"cpu-{torch.get_num_threads()}t"
    return f"{name}-pt{torch.__version__.split('+')[0]}"


def model_cost(model: torch.nn.Module, size: tuple[int, int]) -> dict[str, Any]:
    """``gflops``, ``latency_ms`` ({batch1, batch64}) and ``latency_device`` of ``model``."""
    device = next(model.parameters()).device
    return {"gflops": gflops(model, size), "latency_ms": latency_ms(model, size),
            "latency_device": device_tag(device)}
