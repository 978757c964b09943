"""Ray Tune packing: wall time and summed training img/s with 1 vs N concurrent trials.

Each setting runs one search through ``zoo.tune.runner.run_search`` (the code ``zoo tune``
runs) in which every trial trains the same config (the ``paper`` preset with ``--encoder``;
trials differ only in seed), all at once:

- GPU (``--gpu-fractions 1,0.5,0.25``): a fraction f per trial, 1/f trials sharing one GPU.
- CPU (``--cpus 2,1``): c CPUs per trial, ``total // c`` trials (2 cores: 1x2 vs 2x1).

Printed per setting: trials, search wall time (Tune start-up, trial start, training,
per-epoch validation and the final test evaluation all included), the sum over trials of
each trial's own ``train_images_per_s`` (epoch loops only), and trained images / wall time.
Ray is started once before the first timed setting, so its start-up is in no row.

Usage::

    python benchmarks/bench_tune.py                            # CPU, tiny: 512 images, 1 epoch
    python benchmarks/bench_tune.py --cpus 2,1 --images 2048
    python benchmarks/bench_tune.py --device cuda              # gpu 1, 0.5, 0.25; batch 512
    python benchmarks/bench_tune.py --device cuda --gpu-fractions 1,0.25,0.125 --epochs 2
    python benchmarks/bench_tune.py --space search_spaces/NAME.yaml   # a YAML space instead
    python benchmarks/bench_tune.py --smoke                    # CI: one tiny trial

Data: ``--data DIR`` or $ZOO_DATA_DIR (CIFAR-10 npz shards), else synthetic images.
Output: a table and one line ``BENCH_TUNE {json}``.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import apply_smoke, machine, print_json, print_table  # noqa: E402

from zoo.config import preset  # noqa: E402
from zoo.data import data_folder  # noqa: E402
from zoo.data.cifar import TEST_SHARDS, TRAIN_SHARDS  # noqa: E402
from zoo.device import resolve_device  # noqa: E402
from zoo.tune.space import SearchSpec, load_space  # noqa: E402


def fixed_spec(name: str, base: dict[str, Any], trials: int, epochs: int,
               resources: dict[str, float]) -> SearchSpec:
    """The search ``run_search`` runs, as the same ``SearchSpec`` type ``zoo tune`` builds
    from YAML: a fixed config, ``trials`` seeds as a grid, FIFO (every trial its whole
    budget), no retries."""
    flat = {k: v for k, v in base.items() if k not in ("unet", "epochs", "seed")}
    flat.update({f"unet.{k}": v for k, v in (base.get("unet") or {}).items()})
    return SearchSpec(name=name, path=__file__, description="bench_tune fixed config",
                      max_epochs=epochs, num_samples=1, seeds=list(range(trials)),
                      scheduler={"type": "fifo"}, search={"type": "random"},
                      resources=dict(resources), max_failures=0, base=flat)


# --smoke: what CI runs (tests/test_benchmarks.py); Ray's start-up is most of its time
SMOKE = {"device": "cpu", "cpus": "1", "total_cpus": 1, "batch_size": 32, "images": 64,
         "val_images": 16, "test_images": 16}


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """Command-line options; device-dependent defaults are filled in by ``finish_args``."""
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--device", default="auto", help="auto | cpu | cuda")
    p.add_argument("--encoder", default="none", help="fusion encoder: none | convmixer | ...")
    p.add_argument("--gpu-fractions", default="1,0.5,0.25",
                   help="GPU share per trial, one setting each (GPU only)")
    p.add_argument("--cpus", default=None, help="CPUs per trial, one setting each (CPU only; "
                   "default: all CPUs, then 1)")
    p.add_argument("--total-cpus", type=int, help="CPUs given to Ray (default: all allowed)")
    p.add_argument("--batch-size", type=int, help="default 64 on CPU, 512 on GPU")
    p.add_argument("--images", type=int, help="training images per trial (default 512 on "
                   "CPU, 45,000 on GPU)")
    p.add_argument("--epochs", type=int, default=1, help="epochs per trial (default 1)")
    p.add_argument("--val-images", type=int, help="default 64 on CPU, 1,000 on GPU")
    p.add_argument("--test-images", type=int, help="default 64 on CPU, 1,000 on GPU")
    p.add_argument("--amp", action=argparse.BooleanOptionalAction, default=True)
    p.add_argument("--channels-last", action=argparse.BooleanOptionalAction, default=True)
    p.add_argument("--compile", action="store_true")
    p.add_argument("--data", help="CIFAR-10 npz folder (default $ZOO_DATA_DIR)")
    p.add_argument("--space", help="a search_spaces/*.yaml to run instead of the fixed config "
                   "(loaded with zoo.tune.space.load_space; trials then differ in config)")
    p.add_argument("--storage", help="where searches are written (default: a temporary dir)")
    p.add_argument("--smoke", action="store_true",
                   help="CI: one CPU setting, one trial of 64 images (batch 32, 16 val/test "
                        "images) to show the script runs; its figures mean nothing")
    args = p.parse_args(argv)
    return apply_smoke(p, args, SMOKE)


def finish_args(args: argparse.Namespace) -> torch.device:
    """Resolve the device and fill defaults that depend on it."""
    device = resolve_device(args.device)
    gpu = device.type == "cuda"
    args.total_cpus = args.total_cpus or len(os.sched_getaffinity(0))
    if args.cpus is None:
        args.cpus = ",".join(dict.fromkeys([str(args.total_cpus), "1"]))
    args.batch_size = args.batch_size or (512 if gpu else 64)
    args.images = args.images or (45_000 if gpu else 512)
    args.val_images = args.val_images or (1_000 if gpu else 64)
    args.test_images = args.test_images or (1_000 if gpu else 64)
    return device


def settings(args: argparse.Namespace, device: torch.device) -> list[dict[str, Any]]:
    """(label, trials, resources per trial) for each setting to compare."""
    out = []
    if device.type == "cuda":
        for frac in (float(f) for f in args.gpu_fractions.split(",")):
            trials = max(1, round(1 / frac))
            cpu = max(1, args.total_cpus // trials)
            out.append({"label": f"gpu {frac:g} x {trials}", "trials": trials,
                        "resources": {"cpu": cpu, "gpu": frac}})
    else:
        for cpu in (int(c) for c in args.cpus.split(",")):
            trials = max(1, args.total_cpus // cpu)
            out.append({"label": f"cpu {cpu} x {trials}", "trials": trials,
                        "resources": {"cpu": cpu, "gpu": 0}})
    return out


def base_config(args: argparse.Namespace) -> tuple[dict[str, Any], str]:
    """The trials' config, and a line naming the data source."""
    found = data_folder(args.data, check=False)
    root = Path(found) if found else None
    real = root is not None and all((root / s).is_file() for s in TRAIN_SHARDS + TEST_SHARDS)
    base = {**preset("paper"), "encoder": args.encoder, "batch_size": args.batch_size,
            "epochs": args.epochs, "train_limit": args.images, "val_limit": args.val_images,
            "test_limit": args.test_images, "amp": args.amp,
            "channels_last": args.channels_last, "compile": args.compile,
            "dataset": "cifar10" if real else "synthetic",
            "data_dir": str(root) if real else None}
    source = (f"CIFAR-10 from {root}" if real else
              "SYNTHETIC images (no CIFAR-10 npz shards found via --data / $ZOO_DATA_DIR)")
    return base, source


def make_spec(args: argparse.Namespace, base: dict[str, Any], setting: dict[str, Any],
              name: str) -> SearchSpec:
    """The programmatic spec, or the YAML one from --space with this setting's resources."""
    if not args.space:
        return fixed_spec(name, base, setting["trials"], args.epochs, setting["resources"])
    return load_space(args.space, overrides={
        "name": name, "resources": setting["resources"], "num_samples": setting["trials"],
        "max_epochs": args.epochs, "base": base})


def run_setting(args: argparse.Namespace, base: dict[str, Any], setting: dict[str, Any],
                storage: Path) -> dict[str, Any]:
    """One search; wall time, and img/s summed over the trials that finished."""
    from zoo.tune.runner import run_search

    name = "bench-" + setting["label"].replace(" ", "").replace(".", "p")
    spec = make_spec(args, base, setting, name)
    t0 = time.perf_counter()
    grid = run_search(spec, storage=str(storage), db_path=storage / "leaderboard.db")
    wall = time.perf_counter() - t0
    done = [r for r in grid if r.error is None and "train_images_per_s" in (r.metrics or {})]
    images = sum(r.metrics.get("epochs_done", 0) * args.images for r in done)
    return {**setting, "wall_s": wall, "trials_done": len(done),
            "errors": [str(r.error)[:300] for r in grid if r.error is not None],
            "summed_images_per_s": sum(r.metrics["train_images_per_s"] for r in done),
            "trained_images_per_wall_s": images / wall}


def main(argv: list[str] | None = None) -> dict[str, Any]:
    """Run every setting, print a table and one JSON line, return the record."""
    import ray

    args = parse_args(argv)
    device = finish_args(args)
    base, source = base_config(args)
    logging.getLogger("ray").setLevel(logging.ERROR)
    from zoo.cli.tune import quiet_ray

    quiet_ray()  # Ray's console output, as `zoo tune` sets it
    record: dict[str, Any] = {
        **machine(device), "encoder": args.encoder, "batch_size": args.batch_size,
        "images_per_trial": args.images, "epochs": args.epochs, "data": source,
        "total_cpus": args.total_cpus, "amp": args.amp and device.type == "cuda",
        "compile": args.compile, "space": args.space, "settings": []}
    t0 = time.perf_counter()
    ray.init(num_cpus=args.total_cpus, num_gpus=1 if device.type == "cuda" else 0,
             include_dashboard=False, log_to_driver=False, configure_logging=False)
    record["ray_start_s"] = time.perf_counter() - t0
    try:
        with tempfile.TemporaryDirectory(prefix="bench-tune-") as tmp:
            storage = Path(args.storage or tmp).resolve()
            for setting in settings(args, device):
                record["settings"].append(run_setting(args, base, setting, storage))
    finally:
        ray.shutdown()
    print(f"data: {source}")
    print_table(f"{record['device_name']}, torch {record['torch']}, encoder={args.encoder}, "
                f"batch {args.batch_size}, {args.epochs} x {args.images:,} images per trial, "
                f"load {record.get('load_avg_1m')}, Ray start {record['ray_start_s']:.1f} s",
                ["setting", "trials", "done", "wall s", "summed img/s", "trained img / wall s"],
                [[s["label"], s["trials"], s["trials_done"], s["wall_s"],
                  s["summed_images_per_s"], s["trained_images_per_wall_s"]]
                 for s in record["settings"]])
    for s in record["settings"]:
        for err in s["errors"]:
            print(f"  {s['label']}: trial error: {err}")
    print_json("BENCH_TUNE", record)
    return record


if __name__ == "__main__":
    main()
