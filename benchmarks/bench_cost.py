"""What each preset's model costs: parameters, GFLOPs per image, inference latency, and
with ``--train-images N`` its training speed.

The same figures a leaderboard row carries (``zoo.cost``), measured here on a quiet
machine with more repeats, for the presets a user picks between. Latency is ms per image
at batch 1 and batch 64 (32x32 CIFAR images), on the device named beside it.

``--train-images N`` also trains each preset, with its whole recipe (batch size, masks,
losses, EMA, schedule), for one epoch of N CIFAR-10 images (``zoo.train.train``, validation
and checkpoints outside the timer), after an untimed warm-up of two batches. The presets
take turns, ``--rounds`` times (A B A B ...), so a machine that slows down or speeds up
mid-run slows them alike; the figure is each preset's median images/s, its time for
10,000 images x 3 epochs at that speed, and its ratio to the first preset's time (a
compute budget stated as a ratio to a preset, as the issues do, is checked with it).

    python benchmarks/bench_cost.py                      # paper, strong, vanilla
    python benchmarks/bench_cost.py --presets strong --repeats 20
    python benchmarks/bench_cost.py --presets strong-v1,strong --train-images 2000
    python benchmarks/bench_cost.py --smoke              # tiny, for CI: proves it runs
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import torch  # noqa: E402

from _common import (apply_smoke, load_splits, machine, print_json, print_table,  # noqa: E402
                     split_presets)

SMOKE = {"presets": "tiny", "repeats": 1}
TINY = {"encoder": "none", "unet": {"widths": [8, 16, 32]}, "batch_size": 16}
BUDGET_IMAGES = 10_000 * 3  # the issues' training budget: 10,000 images x 3 epochs


def config_of(name: str, **extra: Any):
    """A preset's TrainConfig (``NAME`` or ``NAME+KEY=VALUE+KEY=VALUE``, as bench_quality
    names them; ``tiny`` for the smoke run), with ``extra`` fields set."""
    from zoo.config import preset
    from zoo.settings import build_config

    from zoo.cli._common import parse_sets

    base, *more = name.split("+")
    sets = parse_sets(more)  # YAML values, as --set's: +unet.widths=[64,128,256]
    layer = (TINY if base == "tiny" else preset(base))
    return build_config({**layer, **extra}, sets)


def build(name: str):
    """A preset's model (see :func:`config_of`)."""
    from zoo.model import build_model

    return build_model(config_of(name))


def train_speeds(names: list[str], n_images: int, rounds: int, threads: int | None,
                 data: str | None, device: torch.device) -> list[dict[str, Any]]:
    """Each preset's training speed: one epoch of ``n_images``, the presets taking turns."""
    from zoo.data import Splits
    from zoo.train import train

    splits, source = load_splits(data, n_images, 64, 64)
    print(f"training data: {source}", flush=True)
    speeds: dict[str, list[float]] = {name: [] for name in names}
    with tempfile.TemporaryDirectory(prefix="bench-cost-") as tmp:
        for r in range(rounds):
            for i, name in enumerate(names):
                common = {"epochs": 1, "val_limit": 64, "device": str(device),
                          "threads": threads, "seed": r}
                config = config_of(name, **common)
                if r == 0:  # untimed warm-up: allocator, kernels, first batches
                    warm = splits.train[:2 * config.batch_size]
                    train(config, Path(tmp) / f"warm{i}", resume=False, final_eval=False,
                          splits=Splits(train=warm, val=splits.val, test=splits.test))
                result = train(config, Path(tmp) / f"r{r}p{i}", resume=False,
                               final_eval=False, splits=splits)
                speeds[name].append(result["train_images_per_s"])
                print(f"  round {r + 1}/{rounds} {name}: "
                      f"{result['train_images_per_s']:.1f} images/s", flush=True)
    records = []
    for name in names:
        per_s = statistics.median(speeds[name])
        records.append({"preset": name, "train_images_per_s": per_s,
                        "rounds": speeds[name], "images": n_images,
                        "budget_s": BUDGET_IMAGES / per_s})
    for rec in records:
        rec["time_vs_first"] = rec["budget_s"] / records[0]["budget_s"]
    return records


def main(argv: list[str] | None = None) -> int:
    from zoo import cost

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--presets", default="paper,strong,strong+encoder=none")
    parser.add_argument("--repeats", type=int, default=10, help="timed forwards per batch size")
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads (all)")
    parser.add_argument("--train-images", type=int, default=0,
                        help="also time training: one epoch of N images per preset and round")
    parser.add_argument("--rounds", type=int, default=2,
                        help="with --train-images: turns each preset takes (median)")
    parser.add_argument("--data", help="CIFAR-10 npz folder (default $ZOO_DATA_DIR)")
    parser.add_argument("--smoke", action="store_true")
    args = parser.parse_args(argv)
    args = apply_smoke(parser, args, SMOKE)
    if args.train_images < 0 or args.rounds < 1:
        parser.error("--train-images must be >= 0 and --rounds >= 1")
    if args.threads:
        torch.set_num_threads(args.threads)
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    facts = machine(device)
    print_json("machine", facts)
    cost.REPEATS = {1: args.repeats, 64: max(1, args.repeats // 2)}
    rows = []
    for name in split_presets(args.presets):
        model = build(name).to(device)
        figures = cost.model_cost(model, (32, 32))
        params = sum(p.numel() for p in model.parameters())
        record = {"preset": name, "params": params, **figures}
        print_json("cost", record)
        rows.append([name, params, figures["gflops"], figures["latency_ms"]["batch1"],
                     figures["latency_ms"]["batch64"], figures["latency_device"]])
    print_table(f"model cost on {facts['device_name']}",
                ["preset", "params", "GFLOPs/img", "ms/img b1", "ms/img b64", "measured on"],
                rows)
    if args.train_images:
        names = split_presets(args.presets)
        records = train_speeds(names, args.train_images, args.rounds, args.threads, args.data,
                               device)
        for rec in records:
            print_json("train_cost", rec)
        print_table(f"training speed on {facts['device_name']} ({args.train_images} images, "
                    f"median of {args.rounds} rounds; load {facts.get('load_avg_1m')} at start)",
                    ["preset", "train images/s", "10k x 3 epochs (s)", f"time / {names[0]}'s"],
                    [[r["preset"], r["train_images_per_s"], r["budget_s"], r["time_vs_first"]]
                     for r in records])
    return 0


if __name__ == "__main__":
    sys.exit(main())
