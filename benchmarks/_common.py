"""What the benchmark scripts share: machine facts, data, memory readings, printing.

Not part of the ``zoo`` package: the scripts put this folder on ``sys.path`` themselves.
"""

from __future__ import annotations

import json
import os
import platform
import resource
import sys
from pathlib import Path
from typing import Any

import torch

from zoo.data import Splits, data_folder, load_cifar10, synthetic_splits
from zoo.errors import ZooError


def split_presets(text: str) -> list[str]:
    """``--presets`` as a list: split on the commas outside brackets and braces, so that a
    preset name may carry a list or a mapping, ``strong+unet.widths=[64,128,256]``."""
    names, depth, start = [], 0, 0
    for i, ch in enumerate(text):
        depth += (ch in "[{") - (ch in "]}")
        if ch == "," and depth == 0:
            names.append(text[start:i])
            start = i + 1
    return [n.strip() for n in [*names, text[start:]] if n.strip()]


def cpu_name() -> str:
    """The CPU model from /proc/cpuinfo (Linux), else whatever platform knows."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.lower().startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def machine(device: torch.device) -> dict[str, Any]:
    """Device name, cores and versions: every figure is printed next to these."""
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    facts: dict[str, Any] = {
        "device": str(device),
        "device_name": (torch.cuda.get_device_name(device) if device.type == "cuda"
                        else f"{cpu_name()} ({cores} cores)"),
        "cpu": cpu_name(), "cpu_cores": cores, "torch": torch.__version__,
        "python": platform.python_version(), "torch_threads": torch.get_num_threads(),
    }
    try:
        facts["load_avg_1m"] = round(os.getloadavg()[0], 2)  # a loaded machine reads slow
    except OSError:
        pass
    return facts


def load_splits(data: str | None, n_train: int, n_val: int, n_test: int | None
                ) -> tuple[Splits, str]:
    """Real CIFAR-10 from ``data`` / $ZOO_DATA_DIR, cut to the first N of each split; without
    it, synthetic images of the same shape. Returns (splits, a line naming the source)."""
    root = data_folder(data, check=False)
    if root is not None:
        try:
            splits = load_cifar10(str(root)).limit(n_train, n_val, n_test)
            if len(splits.train) >= n_train:
                return splits, f"CIFAR-10 from {root}"
            note = f"{root} holds only {len(splits.train)} training images"
        except ZooError as exc:
            note = str(exc)
    else:
        note = "no --data and no $ZOO_DATA_DIR"
    # Never fall through to torchvision's download: benchmarks must not touch the network.
    splits = synthetic_splits(n_train=n_train, n_val=n_val, n_test=n_test or 10_000, seed=0)
    return splits, f"SYNTHETIC images ({note}); speed is the same, metrics are meaningless"


def rss_now_mb() -> float:
    """Current resident memory of this process (Linux /proc; 0 elsewhere)."""
    try:
        pages = int(Path("/proc/self/statm").read_text().split()[1])
        return pages * os.sysconf("SC_PAGE_SIZE") / 2**20
    except (OSError, ValueError, IndexError):
        return 0.0


def peak_memory(device: torch.device, children: bool = False) -> dict[str, float]:
    """GPU: peak allocated by torch since the last reset. CPU: this process's peak RSS (a
    high-water mark since it started) and, with ``children``, the largest finished child's
    (DataLoader workers; any other subprocess a library started counts too)."""
    if device.type == "cuda":
        return {"peak_gpu_mb": round(torch.cuda.max_memory_allocated(device) / 2**20, 1)}
    scale = 1 if sys.platform == "darwin" else 1024  # ru_maxrss: bytes on macOS, KiB on Linux
    out = {"peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
                                * scale / 2**20, 1)}
    if children:
        kids = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss * scale / 2**20
        out["peak_worker_rss_mb"] = round(kids, 1)
    return out


def sync(device: torch.device) -> None:
    """Wait for queued GPU work, so a timer measures work done, not work launched."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def print_table(title: str, header: list[str], rows: list[list[Any]]) -> None:
    """A plain aligned table (no rich: output is pasted into BENCHMARKS.md and logs)."""
    cells = [header] + [[_fmt(c) for c in row] for row in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(header))]
    print(title)
    for k, row in enumerate(cells):
        print("  " + "  ".join(c.rjust(w) if k else c.ljust(w) for c, w in zip(row, widths)))
        if k == 0:
            print("  " + "  ".join("-" * w for w in widths))


def print_json(tag: str, record: dict[str, Any]) -> None:
    """One machine-readable line, prefixed so it can be grepped out of a log."""
    print(f"{tag} {json.dumps(record, sort_keys=True, default=str)}", flush=True)


def _fmt(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:,.1f}" if abs(value) >= 10 else f"{value:.3g}"
    return str(value)


def apply_smoke(parser: Any, args: Any, smoke: dict[str, Any]) -> Any:
    """With ``--smoke``, the ``smoke`` settings replace every option left at its default
    (explicit flags still win)."""
    if args.smoke:
        given = set(vars(parser.parse_args([])).items())
        for key, value in smoke.items():
            if (key, getattr(args, key)) in given:
                setattr(args, key, value)
    return args

