"""`zoo eval`: score a model, or a classical baseline, on the frozen test masks.

    zoo eval MODEL [--mask KIND] [--mask-arg KEY=VALUE ... | --mask-args JSON] [--tta flip]
    zoo eval A,B,C [--tta flip]            # an ensemble: the mean of the models' fills
    zoo eval --baseline NAME [--mask KIND ...]

MODEL is a model folder, its model.safetensors, a trial id (``--storage``/``--db``) or a
Hub id (``hf-hub:org/name``). The masks default to the model's own test kind (its
``test_mask``, else its training kind); any registered kind can be given to see how the
model does on holes it was not trained on. An ensemble or a ``--tta`` run is reported
under its own name (``ensemble(a,b)``, ``a+flip``: ``zoo.ensemble.label``), never as one
model's; the ensemble is scored with the first model's settings.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from zoo.cli._common import add_data_args, add_lookup_args
from zoo.errors import ZooError


def add_parser(sub: argparse._SubParsersAction, name: str) -> None:
    p = sub.add_parser(name, help="score a model (or --baseline) on the frozen test masks")
    p.add_argument("model", nargs="?", metavar="MODEL",
                   help="a model folder, its model.safetensors, a trial id or "
                        "hf-hub:org/name; a,b,c scores the mean of their fills")
    p.add_argument("--baseline", metavar="NAME",
                   help="score a classical method instead: mean_fill, telea, navier_stokes, push_pull")
    p.add_argument("--mask", default=None, metavar="KIND",
                   help="score on this registered mask kind's frozen set (default: the "
                        "model's training kind; paper for --baseline)")
    p.add_argument("--mask-arg", action="append", metavar="KEY=VALUE",
                   help="an option of the mask kind, e.g. max_frac=0.3 (repeatable)")
    p.add_argument("--mask-args", metavar="JSON", help='the mask options as one JSON object, '
                                                       'e.g. \'{"max_frac": 0.3}\'')
    p.add_argument("--tta", default="none", choices=("none", "flip"),
                   help="flip: average each fill with that of the mirrored image (default none)")
    p.add_argument("--seam", default="none", choices=("none", "poisson"),
                   help="poisson: blend each fill into the known pixels in the gradient "
                        "domain (zoo.seam; default none)")
    add_lookup_args(p)
    add_data_args(p)
    p.set_defaults(func=run)


def mask_override(args: argparse.Namespace) -> dict[str, Any] | None:
    """The mask options given on the command line (None: none given)."""
    from zoo.cli._common import parse_sets

    if args.mask_args is None and not args.mask_arg:
        return None
    out: dict[str, Any] = {}
    if args.mask_args is not None:
        try:
            out = json.loads(args.mask_args)
        except json.JSONDecodeError as exc:
            raise ZooError(f"--mask-args is not valid JSON ({exc}); write e.g. "
                           '\'{"max_frac": 0.3}\'') from None
        if not isinstance(out, dict):
            raise ZooError("--mask-args must be a JSON object of options, e.g. "
                           '\'{"max_frac": 0.3}\'')
    out.update(parse_sets(args.mask_arg or []))
    return out


def run(args: argparse.Namespace) -> int:
    from zoo._json import dumps
    from zoo.baselines import BASELINES
    from zoo.cli._console import console
    from zoo.cli._report import area_table, metrics_table

    if bool(args.model) == bool(args.baseline):
        raise ZooError("give either a MODEL or --baseline NAME; MODEL is a model folder, its "
                       "model.safetensors, a trial id or hf-hub:org/name (baselines: "
                       f"{', '.join(sorted(BASELINES))})")
    if args.baseline and (args.tta != "none" or args.seam != "none"):
        raise ZooError("--tta and --seam apply to a MODEL; a baseline is scored as it is")
    if (args.storage or args.db) and not args.model:
        raise ZooError("--storage/--db only apply to a MODEL given as a trial id")
    name, config, result = _score_baseline(args) if args.baseline else _score_model(args)
    if args.json:
        print(dumps(result))
    else:
        console.print(metrics_table(result, title=f"{name} on {config.dataset} test "
                                                  f"({config.mask} masks, {result['eval_id']})",
                                    name=name))
        by_area = area_table(result, title="hole PSNR / SSIM by hole area", name=name)
        if by_area is not None:
            console.print(by_area)
    return 0


def _overrides(args: argparse.Namespace) -> list[dict[str, Any] | None]:
    """The command line's settings as layers over a model's (or the default) config;
    --mask-args/--mask-arg replace the mask options rather than adding to them."""
    mask_args = mask_override(args)
    from zoo.data import data_folder

    flags = {"test_limit": args.test_limit, "data_dir": data_folder(args.data, env=False),
             "mask": args.mask}
    return [{"mask_args": None} if mask_args is not None else None,
            {k: v for k, v in flags.items() if v is not None},
            {"mask_args": mask_args} if mask_args is not None else None]


def _eval_config(*layers: Any) -> Any:
    """The settings to score with. Only the mask kind's options are checked (before data
    loads): scoring needs neither the model's loss terms nor, for a baseline, an encoder."""
    from zoo.plugin.registry import mask_config
    from zoo.settings import build_config

    config = build_config(*layers, plugins=False)
    mask_config(config.mask, config.mask_args)
    return config


def _score_baseline(args: argparse.Namespace) -> tuple[str, Any, dict[str, Any]]:
    from zoo.baselines import ALL
    from zoo.data import load_dataset
    from zoo.errors import unknown
    from zoo.evaluate import evaluate_checkpoint_model

    if args.baseline not in ALL:
        raise unknown("baseline", args.baseline, ALL)
    config = _eval_config(*_overrides(args))
    result = evaluate_checkpoint_model(None, config, load_dataset(config).test,
                                       baselines=(args.baseline,))
    result.update(result["baselines"].pop(args.baseline))
    return args.baseline, config, result


def _score_model(args: argparse.Namespace) -> tuple[str, Any, dict[str, Any]]:
    from zoo.modelfolder.checkpoint import load_model
    from zoo.data import load_dataset
    from zoo.modelfolder.refs import resolve_model
    from zoo.device import resolve_device
    from zoo.evaluate import evaluate_checkpoint_model

    from zoo.ensemble import label, split_refs, wrap

    refs = split_refs(args.model)
    folders = [resolve_model(r, storage=args.storage, db=args.db) for r in refs]
    device = resolve_device(args.device or "auto")
    loaded = [load_model(f, device=device) for f in folders]
    model, saved = wrap([m for m, _, _ in loaded], args.tta), loaded[0][1]
    if args.seam != "none":
        from zoo.seam import Seamed

        model = Seamed(model)
    # trained elsewhere: its data folder is not here, so use --data or $ZOO_DATA_DIR
    moved = {"data_dir": None} if saved.data_dir and not Path(saved.data_dir).is_dir() else None
    config = _eval_config(saved.scoring(), moved, *_overrides(args))  # its own test masks
    result = evaluate_checkpoint_model(model, config, load_dataset(config).test)
    result["checkpoint"] = ",".join(str(f) for f in folders)
    result["model"] = label(refs, args.tta, args.seam)
    result["tta"] = args.tta
    result["seam"] = args.seam
    if len(refs) > 1:
        result["members"] = refs
        return result["model"], config, result
    plain = args.tta == "none" and args.seam == "none"
    return (config.encoder if plain else result["model"]), config, result
