"""`zoo train`: one training run with a progress bar, checkpoints and final metrics."""

from __future__ import annotations

import argparse
import os
from typing import Any
from pathlib import Path

from zoo.cli._common import add_data_args, config_from_args
from zoo.cli.tune import add_log_arg
from zoo.errors import ZooError


def add_parser(sub: argparse._SubParsersAction, name: str) -> None:
    p = sub.add_parser(name, help="train one model and score it on the frozen test masks",
                       description="Train one model. Options: preset < --config < flags < --set.",
                       epilog=_options_epilog(),
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--encoder", help="fusion encoder (see `zoo plugins`); default none")
    p.add_argument("--preset", choices=_presets(), help="paper: the paper's model and recipe; "
                   "strong: the recipe zoo recommends (strong-v2 with each image under two "
                   "masks a step); strong-v2: the winner of a search; strong-v1: the "
                   "hand-picked first (see docs/training.md)")
    p.add_argument("--config", metavar="YAML", help="a YAML file of TrainConfig options")
    p.add_argument("--epochs", type=int)
    p.add_argument("--batch-size", type=int)
    p.add_argument("--lr", type=float)
    p.add_argument("--train-limit", type=int, metavar="N", help="cap on training images")
    p.add_argument("--val-limit", type=int, metavar="N", help="validation images per epoch")
    p.add_argument("--mask", metavar="KIND", help="mask generator: paper, square, irregular")
    p.add_argument("--seed", type=int)
    p.add_argument("--compile", action="store_true", default=None,
                   help="torch.compile the model (CUDA; inductor caches the compiled graph)")
    p.add_argument("--out", metavar="DIR", help="run folder (default runs/ENCODER-HASH-sSEED)")
    p.add_argument("--no-resume", action="store_true",
                   help="start over even if --out holds a checkpoint of this config")
    p.add_argument("--workers", type=int, default=1, metavar="N",
                   help="data-parallel Ray Train workers (DDP; gloo on CPU, NCCL on GPU); "
                   "--batch-size stays the global batch, batch/N per worker; 1: one process")
    p.add_argument("--worker-cpu", type=float, metavar="C",
                   help="CPUs per worker (fractions like 0.5 work; default: the CPUs shared out)")
    p.add_argument("--set", action="append", metavar="KEY=VALUE",
                   help="any config field, e.g. unet.depth=3 or encoder_args.width=128")
    add_log_arg(p)
    add_data_args(p)
    p.set_defaults(func=run)


def _options_epilog() -> str:
    """Every TrainConfig option with its default, for --set (and YAML) users."""
    import dataclasses

    from zoo.config import TrainConfig, UNetConfig

    def lines(cls: type, prefix: str) -> list[str]:
        out = []
        for f in dataclasses.fields(cls):
            if dataclasses.is_dataclass(f.type) or f.name == "unet":
                continue
            default = f.default if f.default is not dataclasses.MISSING else f.default_factory()
            out.append(f"  {prefix}{f.name} = {default!r}")
        return out

    return "\n".join(["options for --set KEY=VALUE (and --config YAML), with defaults:",
                      *lines(TrainConfig, ""), *lines(UNetConfig, "unet."),
                      "  encoder_args.*, mask_args.*: see `zoo plugins`"])


def run(args: argparse.Namespace) -> int:
    from zoo.train import train

    config = config_from_args(args, {
        "encoder": args.encoder, "epochs": args.epochs, "batch_size": args.batch_size,
        "lr": args.lr, "train_limit": args.train_limit, "val_limit": args.val_limit,
        "test_limit": args.test_limit, "mask": args.mask, "seed": args.seed,
        "data_dir": args.data, "device": args.device, "compile": args.compile})
    out = Path(args.out or f"runs/{config.encoder}-{config.hash()}-s{config.seed}").resolve()
    for parent in (out, *out.parents):  # refuse before any work, not after an epoch
        if parent.exists():
            if not parent.is_dir():
                raise ZooError(f"--out {args.out or out}: {parent} is a file, not a folder; "
                               "pass a folder for the run (checkpoint, pictures)")
            break
    from zoo._atomic import check_writable

    check_writable(out)
    from zoo.trackers import TrainLog, store_environment

    os.environ.update(store_environment(args.log or ()))  # zoo's default MLflow store
    if args.workers != 1:
        from zoo._ddp import check_workers, train_workers

        check_workers(args.workers, config.batch_size)  # before Ray starts
        if args.no_resume:
            raise ZooError("--no-resume with --workers: the workers always resume --out's "
                           "checkpoint; pass a new --out to start over")
        gpu = 1.0 if str(config.device or "").startswith("cuda") else 0.0
        with TrainLog(args.log, config, out) as logs:
            _say_where(logs)
            result = train_workers(config, out, args.workers, cpu=args.worker_cpu, gpu=gpu)
            result = {**result, "workers": args.workers}
            for rec in result.get("history") or []:  # rank 0's epochs, logged after the run
                logs.epoch(rec)
            logs.finish(result)
        return _show(args, config, result)
    with _Progress(config, quiet=args.json) as progress, TrainLog(args.log, config, out) as logs:
        _say_where(logs)

        def on_epoch(rec: dict[str, Any], ckpt: Path) -> None:
            progress.on_epoch(rec, ckpt)
            logs.epoch(rec)

        result = train(config, out, resume=not args.no_resume, on_step=progress.on_step,
                       on_epoch=on_epoch)
        logs.finish(result)
    return _show(args, config, result)


def _say_where(logs: Any) -> None:
    from zoo.cli._console import err_console, escape

    for line in logs.where():
        err_console.print(escape(line), highlight=False, soft_wrap=True)


def _show(args: argparse.Namespace, config: Any, result: dict[str, Any]) -> int:
    from zoo._json import dumps
    from zoo.cli._console import console
    from zoo.cli._report import area_table, metrics_table

    if args.json:
        print(dumps({k: v for k, v in result.items() if k != "history"}))
    else:
        console.print(metrics_table(result, title=f"{config.encoder} on {config.dataset} "
                                                  f"test ({config.scoring().mask} masks)"))
        by_area = area_table(result, title="hole PSNR / SSIM by hole area")
        if by_area is not None:
            console.print(by_area)
        console.print(f"checkpoint: {result['checkpoint']}")
    return 0


class _Progress:
    """A progress bar over each epoch's steps on stderr, a line per epoch, and a notice
    before the final evaluation (minutes on a CPU); ``quiet`` (--json) shows nothing."""

    def __init__(self, config: Any, quiet: bool) -> None:
        from rich.progress import (BarColumn, MofNCompleteColumn, Progress, TextColumn,
                                   TimeRemainingColumn)

        from zoo.cli._console import err_console

        self.config, self.quiet, self.epoch = config, quiet, 0
        self.bar = Progress(TextColumn("[bold]{task.description}"), BarColumn(),
                            MofNCompleteColumn(), TimeRemainingColumn(), console=err_console,
                            transient=True, disable=quiet)
        self.task = self.bar.add_task("epoch 1", total=None)

    def __enter__(self) -> _Progress:
        self.bar.__enter__()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.bar.__exit__(*exc)

    def on_step(self, step: int, total: int) -> None:
        if step == 1:
            self.epoch += 1
            self.bar.reset(self.task, total=total, description=f"epoch {self.epoch}")
        self.bar.update(self.task, completed=step)

    def on_epoch(self, rec: dict[str, Any], ckpt: Path) -> None:
        config, self.epoch = self.config, rec["epoch"]
        if not self.quiet:
            self.bar.console.print(
                f"epoch {rec['epoch']}/{config.epochs}  loss {rec['train_loss']:.4f}  "
                f"val hole PSNR {rec['val_psnr_hole']:.2f} dB  "
                f"{rec['train_images_per_s']:.0f} img/s")
        if rec["epoch"] >= config.epochs:
            # the final evaluation scores the model, the ceiling and the classical
            # baselines on the whole test set: minutes on a CPU, so say so
            n = config.test_limit or "all"
            self.bar.reset(self.task, total=None,
                           description=f"scoring {n} test images (model, telea, mean fill)")
            if not self.quiet:
                self.bar.console.print(f"final evaluation: {n} test images with the frozen "
                                       "masks, beside telea and mean fill ...")


def _presets() -> list[str]:
    from zoo.config import PRESETS

    return sorted(PRESETS)
