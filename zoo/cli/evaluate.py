"""`zoo eval`: score a checkpoint, or a classical baseline, on the frozen test masks."""

from __future__ import annotations

import argparse
from pathlib import Path

from zoo.cli._common import add_data_args, resolve_data_dir
from zoo.errors import ZooError


def add_parser(sub: argparse._SubParsersAction, name: str) -> None:
    p = sub.add_parser(name, help="score a checkpoint (or --baseline) on the frozen test masks")
    p.add_argument("checkpoint", nargs="?", help="checkpoint.pt or a run folder")
    p.add_argument("--baseline", metavar="NAME",
                   help="score a classical method instead: mean_fill, telea, navier_stokes")
    p.add_argument("--mask", default=None, help="mask kind for --baseline (default paper)")
    add_data_args(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from zoo._json import dumps
    from zoo.baselines import ALL, BASELINES
    from zoo.checkpoint import load_model
    from zoo.cli._console import console
    from zoo.cli._report import metrics_table
    from zoo.config import TrainConfig
    from zoo.data import load_dataset
    from zoo.errors import unknown
    from zoo.registry import mask_config
    from zoo.train import evaluate_checkpoint_model, resolve_device

    if bool(args.checkpoint) == bool(args.baseline):
        raise ZooError("give either a CHECKPOINT or --baseline NAME "
                       f"(baselines: {', '.join(sorted(BASELINES))})")
    overrides = {"test_limit": args.test_limit, "data_dir": resolve_data_dir(args.data)}
    if args.baseline:
        if args.baseline not in ALL:
            raise unknown("baseline", args.baseline, ALL)
        config = TrainConfig.from_dict({"mask": args.mask or "paper", **{
            k: v for k, v in overrides.items() if v is not None}})
        mask_config(config.mask, config.mask_args)  # a bad mask name fails before data loads
        splits = load_dataset(config)
        result = evaluate_checkpoint_model(None, config, splits.test,
                                           baselines=(args.baseline,))
        result.update(result["baselines"].pop(args.baseline))
        name = args.baseline
    else:
        device = resolve_device(args.device or "auto")
        model, saved, _ = load_model(args.checkpoint, device=device)
        data = saved.to_dict()
        if data.get("data_dir") and not Path(data["data_dir"]).is_dir():
            data["data_dir"] = None  # trained elsewhere: use --data or $ZOO_DATA_DIR here
        data.update({k: v for k, v in overrides.items() if v is not None})
        if args.mask:
            data["mask"], data["mask_args"] = args.mask, {}
        config = TrainConfig.from_dict(data)
        mask_config(config.mask, config.mask_args)
        splits = load_dataset(config)
        result = evaluate_checkpoint_model(model, config, splits.test)
        result["checkpoint"] = str(args.checkpoint)
        name = config.encoder
    if args.json:
        print(dumps(result))
    else:
        console.print(metrics_table(result, title=f"{name} on {config.dataset} test "
                                                  f"({config.mask} masks, {result['eval_id']})",
                                    name=name))
    return 0
