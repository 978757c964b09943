"""`zoo inpaint`: fill the holes of your own images with a trained model.

    zoo inpaint --model REF [--storage DIR | --db PATH]
                --image FILE|DIR [--mask FILE|DIR | --mask-kind KIND] --out DIR

REF is a model folder, its model.safetensors, a trial id (or unique prefix) from the
leaderboard, or a Hub id (hf-hub:org/name); ``--checkpoint`` is the same flag under its
old name and ``--trial`` takes trial ids only. The model is loaded with ``zoo.load``.

Without --mask or --mask-kind, each image's mask is ``<stem>_mask.png`` beside it (LaMa).
"""

from __future__ import annotations

import argparse

from zoo.cli._common import add_lookup_args
from zoo.errors import ZooError


def add_parser(sub: argparse._SubParsersAction, name: str) -> None:
    p = sub.add_parser(name, help="inpaint image files with a trained model",
                       description="Inpaint image files. Masks: white (>127) = hole, or 1 in a "
                                   "mask of only 0s and 1s; matched "
                                   "by stem (photo.png + photo_mask.png, or the same name in "
                                   "a --mask folder), one --mask FILE for all, or generated.")
    src = p.add_mutually_exclusive_group(required=True)
    src.add_argument("--model", "--checkpoint", dest="model", metavar="REF",
                     help="a model folder, its model.safetensors, a trial id or "
                          "hf-hub:org/name; a,b,c averages several models' fills")
    src.add_argument("--trial", metavar="ID", help="a leaderboard trial id (or unique prefix)")
    add_lookup_args(p)
    p.add_argument("--image", required=True, metavar="FILE|DIR", help="an image or a folder")
    holes = p.add_mutually_exclusive_group()
    holes.add_argument("--mask", metavar="FILE|DIR",
                       help="one mask for every image, or a folder of masks named like the "
                            "images (photo.png or photo_mask.png)")
    holes.add_argument("--mask-kind", metavar="KIND",
                       help="generate holes instead: paper, square, irregular (`zoo plugins`)")
    p.add_argument("--mask-arg", action="append", metavar="KEY=VALUE",
                   help="an option of --mask-kind, e.g. max_frac=0.3")
    p.add_argument("--seed", type=int, default=2024, help="seed of generated holes (2024)")
    p.add_argument("--out", required=True, metavar="DIR", help="output folder: DIR/<stem>.png")
    p.add_argument("--device", default="auto", help="auto (default), cpu, cuda, cuda:N")
    p.add_argument("--batch-size", type=int, default=4, help="tiles per forward pass (4)")
    p.add_argument("--tile", type=int, default=512,
                   help="tile side for images above 1 megapixel (512)")
    infer = p.add_argument_group("inference options (zoo.ensemble)")
    infer.add_argument("--tta", default="none", choices=("none", "flip"),
                       help="flip: average each fill with that of the mirrored image "
                            "(twice the time; default none)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, \
        TimeRemainingColumn

    from zoo.api import load
    from zoo.cli._common import parse_sets
    from zoo.cli._console import console, err_console, escape
    from zoo.modelfolder.refs import described, model_title
    from zoo.inpaint import inpaint_files, plan, resolve_checkpoint

    if args.batch_size < 1 or args.tile < 8:
        raise ZooError("--batch-size must be >= 1 and --tile >= 8")
    if args.mask_arg and not args.mask_kind:
        raise ZooError("--mask-arg needs --mask-kind (it sets options of generated masks)")
    # Every input is checked before the model loads and before anything is written.
    jobs = plan(args.image, args.out, args.mask, generate=args.mask_kind is not None)
    from zoo._atomic import check_writable

    check_writable(args.out)
    from zoo.ensemble import label, split_refs

    refs = split_refs(args.model) if args.model else [None]
    paths = [resolve_checkpoint(r, args.trial, storage=args.storage, db=args.db) for r in refs]
    path = paths[0]
    # the Python API: zoo.load(...); several models are averaged, --tta flips each
    loaded = load(paths if len(paths) > 1 else path, device=args.device, tta=args.tta)
    model, config = loaded.net, loaded.config
    mask_args = parse_sets(args.mask_arg or [])

    with Progress(TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
                  TimeRemainingColumn(), console=err_console, transient=True) as progress:
        task = progress.add_task("inpainting", total=len(jobs))

        def on_image(job, out) -> None:
            progress.update(task, advance=1, description=job.image.name)

        written = inpaint_files(model, jobs, mask_kind=args.mask_kind, mask_args=mask_args,
                                seed=args.seed, batch_size=args.batch_size, tile=args.tile,
                                on_image=on_image)
    skipped = [j for j in jobs if not j.has_hole]
    if skipped:
        names = ", ".join(escape(j.image.name) for j in skipped[:5])
        console.print(f"skipped {len(skipped)} image(s) whose mask marks no hole pixel: "
                      f"{names}{', ...' if len(skipped) > 5 else ''} (a hole is white, > 127, "
                      "or 1 in a mask of only 0s and 1s)", style="yellow", highlight=False)
    source = (described(args.model or args.trial, path, trial=args.trial is not None)
              if len(paths) == 1 else label(refs))
    source = source if args.tta == "none" else f"{source}, tta {args.tta}"
    console.print(f"inpainted {len(written)} image(s) with the {model_title(config.encoder)} "
                  f"({escape(source)}) -> {escape(args.out)}", highlight=False)
    return 0
