"""`zoo inpaint`: fill the holes of your own images with a trained model.

    zoo inpaint --model REF [--storage DIR | --db PATH]
                --image FILE|DIR [--mask FILE|DIR | --mask-kind KIND] --out DIR

REF is a model folder, its model.safetensors, a trial id (or unique prefix) from the
leaderboard, or a Hub id (hf-hub:org/name); ``--checkpoint`` is the same flag under its
old name and ``--trial`` takes trial ids only. The model is loaded with ``zoo.load``.

Without --mask or --mask-kind, each image's mask is ``<stem>_mask.png`` beside it (LaMa).

A rerun skips images whose output is already complete (``--overwrite`` redoes them).
``--address auto|HOST:PORT`` (a Ray cluster) or ``--workers N`` (N > 1, this machine) runs
the folder through Ray Data (``zoo.batch``): each worker loads the model once, outputs are
written as they finish, and a bad image is reported by name (exit 1) without stopping the
others.
"""

from __future__ import annotations

import argparse
from pathlib import Path

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
    p.add_argument("--overwrite", action="store_true",
                   help="redo images whose output already exists (default: skip them)")
    add_cluster_args(p)
    infer = p.add_argument_group("inference options (zoo.ensemble)")
    infer.add_argument("--tta", default="none", choices=("none", "flip"),
                       help="flip: average each fill with that of the mirrored image "
                            "(twice the time; default none)")
    infer.add_argument("--seam", default="poisson", choices=("none", "poisson"),
                       help="poisson (default): blend the fill into the photo in the gradient "
                            "domain (zoo.seam; +0.41 dB on the photo benchmark); none: the "
                            "model's fill as it is")
    p.set_defaults(func=run)


def add_cluster_args(p: argparse.ArgumentParser) -> None:
    """--address / --workers / --worker-cpus: the Ray Data path (zoo.batch)."""
    g = p.add_argument_group("folders over a Ray cluster (Ray Data)")
    g.add_argument("--address", metavar="auto|HOST:PORT",
                   help="run on the Ray cluster there (images and --out on a shared "
                        "filesystem); auto: the cluster this node belongs to")
    g.add_argument("--workers", type=int, metavar="N",
                   help="model workers, each loading the model once (default: 1 on this "
                        "machine; with --address, one per cluster CPU)")
    g.add_argument("--worker-cpus", type=float, default=1.0, metavar="C",
                   help="CPUs per worker, its torch threads (1)")


def run(args: argparse.Namespace) -> int:
    from zoo.batch import check_workers

    if args.batch_size < 1 or args.tile < 8:
        raise ZooError("--batch-size must be >= 1 and --tile >= 8")
    if args.mask_arg and not args.mask_kind:
        raise ZooError("--mask-arg needs --mask-kind (it sets options of generated masks)")
    check_workers(args.workers)
    if args.address is not None or (args.workers or 1) > 1:
        return _run_cluster(args)
    return _run_local(args)


def _progress():
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, \
        TimeRemainingColumn

    from zoo.cli._console import err_console

    return Progress(TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
                    TimeRemainingColumn(), console=err_console, transient=True)


def _load(args: argparse.Namespace, device: str):
    """(the first model's path, the loaded Inpainter, how the report names it): several
    comma-separated models are averaged, --tta flips each (zoo.ensemble)."""
    from zoo.api import load
    from zoo.ensemble import label, split_refs
    from zoo.inpaint import resolve_checkpoint
    from zoo.modelfolder.refs import described

    refs = split_refs(args.model) if args.model else [None]
    paths = [resolve_checkpoint(r, args.trial, storage=args.storage, db=args.db) for r in refs]
    # the Python API: zoo.load(...)
    loaded = load(paths if len(paths) > 1 else paths[0], device=device, tta=args.tta,
                  seam=args.seam)
    source = (described(args.model or args.trial, paths[0], trial=args.trial is not None)
              if len(paths) == 1 else label(refs))
    source = source if args.tta == "none" else f"{source}, tta {args.tta}"
    source = source if args.seam == "poisson" else f"{source}, seam {args.seam}"
    return paths[0], loaded, source


def _run_local(args: argparse.Namespace) -> int:
    from zoo._atomic import check_writable
    from zoo.batch import split_done
    from zoo.cli._common import parse_sets
    from zoo.inpaint import inpaint_files, plan

    # Every input is checked before the model loads and before anything is written.
    jobs = plan(args.image, args.out, args.mask, generate=args.mask_kind is not None)
    check_writable(args.out)
    todo, done = split_done(jobs, args.overwrite)
    _, loaded, source = _load(args, args.device)
    mask_args = parse_sets(args.mask_arg or [])
    with _progress() as progress:
        task = progress.add_task("inpainting", total=len(todo))

        def on_image(job, out) -> None:
            progress.update(task, advance=1, description=job.image.name)

        written = inpaint_files(loaded.net, todo, mask_kind=args.mask_kind,
                                mask_args=mask_args, seed=args.seed,
                                batch_size=args.batch_size, tile=args.tile, seam=loaded.seam,
                                on_image=on_image)
    _report(args, source, loaded.config, len(written), [j.image for j in done],
            [j.image for j in todo if not j.has_hole])
    return 0


def _run_cluster(args: argparse.Namespace) -> int:
    import ray

    from zoo._atomic import check_writable
    from zoo.batch import Settings, connect, inpaint_folder, split_done, tasks
    from zoo.cli._common import parse_sets
    from zoo.inpaint import generated_mask

    # Before any worker starts: the folder, --out, the model, the masks, the cluster.
    if args.tta != "none" or "," in (args.model or ""):
        raise ZooError("--tta and several --model refs are not yet supported with --address "
                       "or --workers; run them on one machine (without those two options)")
    items = tasks(args.image, args.out, args.mask)
    check_writable(args.out)
    path, loaded, source = _load(args, "cpu")
    mask_args = parse_sets(args.mask_arg or [])
    if args.mask_kind is not None:
        generated_mask(args.mask_kind, mask_args, 8, 8, "check", args.seed)
    todo, done = split_done(items, args.overwrite)
    if not todo:  # every output is complete: nothing for a worker to do
        _report(args, source, loaded.config, 0, [t.image for t in done], [])
        return 0
    started, workers, device = connect(args.address, args.workers, args.worker_cpus,
                                       args.device)
    settings = Settings(str(Path(args.out).absolute()), _absolute(args.mask), args.mask_kind,
                        mask_args, args.seed, args.batch_size, args.tile, device,
                        args.worker_cpus, args.seam)
    written, failed, no_hole = 0, [], []
    try:
        with _progress() as progress:
            task = progress.add_task(f"inpainting on {workers} worker(s)", total=len(todo))
            for outcome in inpaint_folder(path, todo, settings, workers=workers):
                progress.update(task, advance=1, description=outcome.image.name)
                written += outcome.status == "written"
                if outcome.status == "failed":
                    failed.append(outcome)
                elif outcome.status == "no_hole":
                    no_hole.append(outcome.image)
    finally:
        if started:
            ray.shutdown()
    _report(args, source, loaded.config, written, [t.image for t in done], no_hole)
    return _failures(failed, len(todo))


def _absolute(path: str | None) -> str | None:
    return None if path is None else str(Path(path).absolute())


def _names(paths, limit: int = 5) -> str:
    from zoo.cli._console import escape

    names = [escape(Path(p).name) for p in paths]
    return ", ".join(names[:limit]) + (", ..." if len(names) > limit else "")


def _report(args: argparse.Namespace, source: str, config, written: int, done,
            no_hole) -> None:
    from zoo.cli._console import console, escape
    from zoo.modelfolder.refs import model_title

    if done:
        console.print(f"skipped {len(done)} image(s) whose output is already complete: "
                      f"{_names(done)} (--overwrite redoes them)", highlight=False)
    if no_hole:
        console.print(f"skipped {len(no_hole)} image(s) whose mask marks no hole pixel: "
                      f"{_names(no_hole)} (a hole is white, > 127, or 1 in a mask of only "
                      "0s and 1s)", style="yellow", highlight=False)
    console.print(f"inpainted {written} image(s) with the {model_title(config.encoder)} "
                  f"({escape(source)}) -> {escape(args.out)}", highlight=False)


def _failures(failed, total: int) -> int:
    """Exit 1 naming each failed image and its reason; 0 when none failed."""
    from zoo.cli._console import err_console, escape

    if not failed:
        return 0
    shown = ", ".join(f"{escape(f.image.name)} ({escape(f.error)})" for f in failed[:10])
    more = f", and {len(failed) - 10} more" if len(failed) > 10 else ""
    err_console.print(f"{len(failed)} of {total} images failed: {shown}{more}", style="red",
                      highlight=False)
    return 1
