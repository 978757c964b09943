"""Training throughput: zoo's device-resident loop against a plain PyTorch DataLoader loop.

Both loops train the same model (the ``paper`` preset with ``--encoder``) with the same batch
size, optimiser (Adam 1e-3), loss (MSE), AMP / channels_last / compile settings, warm-up and
number of images:

(a) ``zoo``: ``zoo.train.train(config, out_dir, final_eval=False, splits=...)``; the figure is
    its ``train_images_per_s`` (epoch loop only: validation and checkpointing excluded).
(b) ``reference``: a torchvision-style ``Dataset`` (uint8 HWC array -> PIL -> ToTensor) that
    cuts the paper's 11x11 diagonal square per image in ``__getitem__`` (numpy), a
    ``DataLoader`` (``--workers``; pin_memory on GPU), then the same step.

Each loop runs in its own subprocess by default, so its peak memory is its own (CPU: peak
RSS via getrusage; GPU: torch.cuda.max_memory_allocated). Timed regions start after
``--warmup-steps`` steps on a separate warm-up pass (plus one batch of the timed epoch's
short last-batch size) and end with a CUDA synchronize.

``--paper-run`` instead times one full paper run end to end (5 epochs of 45k at the zoo's
default batch 64, per-epoch validation and the final test evaluation with baselines
included), after start-up (imports, data loaded, CUDA up, model built once).

Usage::

    python benchmarks/bench_train.py                       # CPU: 1,280 images, batch 64
    python benchmarks/bench_train.py --encoder convmixer --workers 2
    python benchmarks/bench_train.py --device cuda         # batch 4096, 45,000 images
    python benchmarks/bench_train.py --device cuda --compile
    python benchmarks/bench_train.py --paper-run --device cuda --encoder convmixer
    python benchmarks/bench_train.py --smoke               # CI: a few CPU steps (+ --paper-run)

Data: ``--data DIR`` or $ZOO_DATA_DIR (the CIFAR-10 npz shards); without either, synthetic
images of the same shape (the output says so). Output: a table and one line
``BENCH_TRAIN {json}`` (``BENCH_PAPER_RUN {json}`` for ``--paper-run``).
"""

from __future__ import annotations

import argparse
import json
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import (apply_smoke, load_splits, machine, peak_memory, print_json,  # noqa: E402
                     print_table, rss_now_mb, sync)

from zoo.config import TrainConfig, preset  # noqa: E402
from zoo.settings import build_config  # noqa: E402
from zoo.data import Splits  # noqa: E402
from zoo.losses import build_loss  # noqa: E402
from zoo.device import resolve_device, set_threads  # noqa: E402
from zoo.train import train  # noqa: E402

PAPER_SIDE, PAPER_LOW, PAPER_HIGH = 11, 2, 19  # the reference code's cv2 square (PAPER.md)
PARTS = ("zoo", "reference")
# --smoke: what CI runs (tests/test_benchmarks.py), seconds on a loaded 2-core machine
SMOKE = {"device": "cpu", "images": 64, "batch_size": 32, "warmup_steps": 1, "workers": 0,
         "isolate": False, "threads": 1, "epochs": 1, "test_limit": 64, "val_limit": 64}


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """Command-line options; device-dependent defaults are filled in by ``finish_args``."""
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--device", default="auto", help="auto | cpu | cuda | cuda:N")
    p.add_argument("--encoder", default="none", help="fusion encoder: none | convmixer | ...")
    p.add_argument("--batch-size", type=int, help="default 64 on CPU, 4096 on GPU "
                   "(--paper-run: 64, the zoo's training default)")
    p.add_argument("--images", type=int, help="timed images: default 1,280 on CPU, 45,000 on "
                   "GPU (--paper-run: training images, default 45,000)")
    p.add_argument("--warmup-steps", type=int, help="untimed steps first, on the first images "
                   "(default 3 CPU, 5 GPU)")
    p.add_argument("--workers", type=int, help="reference DataLoader workers (default 0 on "
                   "CPU, 4 on GPU)")
    p.add_argument("--amp", action=argparse.BooleanOptionalAction, default=True,
                   help="bf16 autocast (CUDA only, as in zoo)")
    p.add_argument("--channels-last", action=argparse.BooleanOptionalAction, default=True,
                   help="channels_last memory format (CUDA only, as in zoo)")
    p.add_argument("--compile", action="store_true", help="torch.compile the model")
    p.add_argument("--threads", type=int, help="torch CPU threads (default: all allowed CPUs)")
    p.add_argument("--data", help="CIFAR-10 npz folder (default $ZOO_DATA_DIR)")
    p.add_argument("--part", choices=("both",) + PARTS, default="both",
                   help="which loop to run (default both)")
    p.add_argument("--no-isolate", dest="isolate", action="store_false",
                   help="run both loops in this process (peak CPU RSS is then shared)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--paper-run", action="store_true",
                   help="time one full paper run end to end instead")
    p.add_argument("--epochs", type=int, default=5, help="--paper-run epochs (default 5)")
    p.add_argument("--test-limit", type=int, help="--paper-run test images (default all 10k)")
    p.add_argument("--val-limit", type=int, default=1000,
                   help="--paper-run validation images (default 1,000)")
    p.add_argument("--smoke", action="store_true",
                   help="CI: a few steps on CPU (64 images, batch 32, one warm-up step, one "
                        "process) to show the script runs; its figures mean nothing")
    p.add_argument("--json-only", action="store_true", help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    return apply_smoke(p, args, SMOKE)


def finish_args(args: argparse.Namespace) -> torch.device:
    """Resolve the device and fill defaults that depend on it."""
    device = resolve_device(args.device)
    gpu = device.type == "cuda"
    if args.batch_size is None:
        args.batch_size = 64 if (args.paper_run or not gpu) else 4096
    if args.images is None:
        args.images = 45_000 if (args.paper_run or gpu) else 1_280
    if args.warmup_steps is None:
        args.warmup_steps = 5 if gpu else 3  # 5 x 4096 fits in CIFAR-10's 45k
    if args.workers is None:
        args.workers = 4 if gpu else 0
    return device


def make_config(args: argparse.Namespace, device: torch.device, **extra: Any) -> TrainConfig:
    """The paper preset with this run's encoder, batch size and speed settings."""
    return build_config({
        **preset("paper"), "encoder": args.encoder, "batch_size": args.batch_size,
        "device": str(device), "amp": args.amp, "channels_last": args.channels_last,
        "compile": args.compile, "threads": args.threads, "seed": args.seed,
        "data_dir": args.data, **extra})


def warmup_images(args: argparse.Namespace) -> int:
    """Full warm-up steps plus the timed epoch's short last batch, so every batch shape the
    timed epoch meets has been seen (a new shape makes torch.compile compile again)."""
    return args.warmup_steps * args.batch_size + args.images % args.batch_size


# --- (a) zoo's loop --------------------------------------------------------------------------


def run_zoo(args: argparse.Namespace, device: torch.device, splits: Splits) -> dict[str, Any]:
    """Warm up with one short train() call, then time one epoch over ``--images``."""
    config = make_config(args, device, epochs=1)
    n_warm = warmup_images(args)
    with tempfile.TemporaryDirectory(prefix="bench-zoo-") as tmp:
        warm = Splits(train=splits.train[:n_warm], val=splits.val, test=splits.test)
        train(config, Path(tmp) / "warm", resume=False, splits=warm, final_eval=False)
        rss_before = rss_now_mb()
        if device.type == "cuda":
            torch.cuda.reset_peak_memory_stats(device)
        timed = Splits(train=splits.train[:args.images], val=splits.val, test=splits.test)
        result = train(config, Path(tmp) / "timed", resume=False, splits=timed,
                       final_eval=False)
    return {"images_per_s": result["train_images_per_s"], "seconds": result["train_time_s"],
            "images": len(timed.train), "rss_before_mb": round(rss_before, 1),
            **peak_memory(device)}


# --- (b) the plain PyTorch reference -----------------------------------------------------------


class PaperMaskedImages(torch.utils.data.Dataset):
    """torchvision-style: one uint8 HWC image -> PIL -> ToTensor, then the paper's square
    hole cut in numpy, per image. Returns (masked, mask, target) as float tensors."""

    def __init__(self, images_hwc: np.ndarray) -> None:
        from torchvision import transforms

        self.data = images_hwc  # like torchvision.datasets.CIFAR10.data
        self.to_tensor = transforms.ToTensor()

    def __len__(self) -> int:
        return len(self.data)

    def __getitem__(self, i: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        from PIL import Image

        x = self.to_tensor(Image.fromarray(self.data[i]))  # (3, H, W) float 0..1
        # `random` is reseeded per worker by the DataLoader; numpy's global state is not.
        r = random.randint(PAPER_LOW, PAPER_HIGH)
        m = np.zeros((1, *x.shape[1:]), dtype=np.float32)
        m[:, r:r + PAPER_SIDE, r:r + PAPER_SIDE] = 1.0
        mask = torch.from_numpy(m)
        return x * (1 - mask), mask, x


def _reference_pass(model: torch.nn.Module, optimizer: torch.optim.Optimizer,
                    loader: torch.utils.data.DataLoader, config: TrainConfig,
                    device: torch.device) -> None:
    use_cl = config.channels_last and device.type == "cuda"
    amp = config.amp and device.type == "cuda"
    loss_fn = build_loss(config).to(device)  # the same weighted loss zoo's loop uses
    for masked, mask, target in loader:
        masked = masked.to(device, non_blocking=True)
        mask = mask.to(device, non_blocking=True)
        target = target.to(device, non_blocking=True)
        if use_cl:
            masked = masked.contiguous(memory_format=torch.channels_last)
        with torch.autocast("cuda", dtype=torch.bfloat16, enabled=amp):
            out = model(masked, mask)
        loss, _ = loss_fn(out.float(), target, mask)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()


def run_reference(args: argparse.Namespace, device: torch.device,
                  splits: Splits) -> dict[str, Any]:
    """The same model step fed by a per-image Dataset and a DataLoader."""
    from zoo.model import build_model

    config = make_config(args, device, epochs=1)
    set_threads(args.threads)
    torch.manual_seed(args.seed)
    images = splits.train[:args.images].permute(0, 2, 3, 1).contiguous().numpy()  # (N, H, W, 3)
    model = build_model(config).to(device)
    if config.channels_last and device.type == "cuda":
        model = model.to(memory_format=torch.channels_last)
    optimizer = torch.optim.Adam(model.parameters(), lr=config.lr)
    step_model = torch.compile(model) if config.compile else model
    model.train()

    def loader(n: int) -> torch.utils.data.DataLoader:
        return torch.utils.data.DataLoader(
            PaperMaskedImages(images[:n]), batch_size=args.batch_size, shuffle=True,
            num_workers=args.workers, pin_memory=device.type == "cuda",
            generator=torch.Generator().manual_seed(args.seed))

    _reference_pass(step_model, optimizer, loader(warmup_images(args)),
                    config, device)
    sync(device)
    rss_before = rss_now_mb()
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
    t0 = time.perf_counter()  # like zoo's epoch: includes starting the workers
    _reference_pass(step_model, optimizer, loader(len(images)), config, device)
    sync(device)
    seconds = time.perf_counter() - t0
    return {"images_per_s": len(images) / seconds, "seconds": seconds, "images": len(images),
            "rss_before_mb": round(rss_before, 1),
            **peak_memory(device, children=args.workers > 0)}


# --- driver ----------------------------------------------------------------------------------


def _run_isolated(part: str, argv: list[str]) -> dict[str, Any]:
    """Run one loop in a fresh interpreter so its peak memory is its own."""
    cmd = [sys.executable, str(Path(__file__).resolve()), *argv, "--part", part, "--json-only"]
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if proc.returncode != 0:
        sys.stderr.write(proc.stdout + proc.stderr)
        raise SystemExit(f"bench_train: the {part} loop failed (exit {proc.returncode})")
    line = [ln for ln in proc.stdout.splitlines() if ln.startswith("BENCH_PART ")][-1]
    return json.loads(line.split(" ", 1)[1])


def bench(args: argparse.Namespace, argv: list[str]) -> dict[str, Any]:
    """Run the parts asked for; return the record that is printed as JSON."""
    device = finish_args(args)
    set_threads(args.threads)
    parts = PARTS if args.part == "both" else (args.part,)
    isolate = args.isolate and args.part == "both"
    splits, source = None, None
    if not isolate:
        # Warm-up reuses the first images (45k CIFAR images hold no more than the timed set).
        splits, source = load_splits(args.data, args.images, 64, 64)
    record: dict[str, Any] = {
        **machine(device), "encoder": args.encoder, "batch_size": args.batch_size,
        "images": args.images, "warmup_steps": args.warmup_steps, "workers": args.workers,
        "amp": args.amp and device.type == "cuda",
        "channels_last": args.channels_last and device.type == "cuda",
        "compile": args.compile}
    for part in parts:
        if isolate:
            record[part] = _run_isolated(part, argv)
        else:
            record[part] = (run_zoo if part == "zoo" else run_reference)(args, device, splits)
            record[part]["data"] = source
    record["data"] = record[parts[0]]["data"]
    if len(parts) == 2:
        record["speedup"] = record["zoo"]["images_per_s"] / record["reference"]["images_per_s"]
    return record


def paper_run(args: argparse.Namespace) -> dict[str, Any]:
    """One full paper run, end to end, timed after start-up."""
    from zoo.model import build_model

    t_start = time.perf_counter()
    device = finish_args(args)
    if device.type == "cuda":
        torch.zeros(1, device=device)  # create the CUDA context now, not inside the timer
    config = make_config(args, device, epochs=args.epochs, train_limit=args.images,
                         val_limit=args.val_limit, test_limit=args.test_limit)
    splits, source = load_splits(args.data, args.images, args.val_limit, args.test_limit)
    build_model(config)  # imports and registers the plugins outside the timer
    startup = time.perf_counter() - t_start
    with tempfile.TemporaryDirectory(prefix="bench-paper-") as tmp:
        t0 = time.perf_counter()
        result = train(config, tmp, resume=False, splits=splits, final_eval=True)
        sync(device)
        wall = time.perf_counter() - t0
    base = result.get("baselines", {})
    return {**machine(device), "encoder": args.encoder, "batch_size": args.batch_size,
            "epochs": args.epochs, "train_images": len(splits.train),
            "test_images": len(splits.test), "data": source, "startup_s": startup,
            "wall_s": wall, "train_time_s": result["train_time_s"],
            "train_images_per_s": result["train_images_per_s"],
            "test_psnr_hole": result.get("psnr_hole"), "test_dice": result.get("dice"),
            "telea_psnr_hole": base.get("telea", {}).get("psnr_hole"),
            "amp": args.amp and device.type == "cuda", "compile": args.compile}


def main(argv: list[str] | None = None) -> dict[str, Any]:
    """Run the benchmark, print a table and one JSON line, return the record."""
    argv = list(sys.argv[1:] if argv is None else argv)
    args = parse_args(argv)
    if args.paper_run:
        rec = paper_run(args)
        print(f"data: {rec['data']}")
        print_table(f"paper run on {rec['device_name']} (torch {rec['torch']})",
                    ["encoder", "batch", "epochs x images", "start-up s", "wall s",
                     "train s", "img/s", "test PSNR hole"],
                    [[rec["encoder"], rec["batch_size"],
                      f"{rec['epochs']} x {rec['train_images']:,}", rec["startup_s"],
                      rec["wall_s"], rec["train_time_s"], rec["train_images_per_s"],
                      rec["test_psnr_hole"]]])
        print_json("BENCH_PAPER_RUN", rec)
        return rec
    rec = bench(args, argv)
    if args.json_only:
        print_json("BENCH_PART", rec[args.part])
        return rec
    print(f"data: {rec['data']}")
    mem = "peak_gpu_mb" if rec["device"].startswith("cuda") else "peak_rss_mb"
    rows = [[p, rec[p]["images"], rec[p]["seconds"], rec[p]["images_per_s"], rec[p][mem]]
            for p in PARTS if p in rec]
    print_table(f"{rec['device_name']}, torch {rec['torch']}, encoder={rec['encoder']}, "
                f"batch {rec['batch_size']}, workers {rec['workers']}, load {rec.get('load_avg_1m')}",
                ["loop", "images", "seconds", "img/s", mem.replace("_", " ")], rows)
    if "speedup" in rec:
        print(f"zoo / reference: {rec['speedup']:.2f}x")
    print_json("BENCH_TRAIN", rec)
    return rec


if __name__ == "__main__":
    main()
