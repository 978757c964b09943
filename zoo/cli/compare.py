"""`zoo compare`: several checkpoints (and baselines) side by side on the same test holes.

    zoo compare A B ... --out grid.png [--baselines telea,mean_fill] [--n 8] [--data DIR]

A and B are models by any name zoo takes: model folders, their model.safetensors,
leaderboard trial ids (``--storage``/``--db``) or Hub ids (``hf-hub:org/name``). The first model's
config picks the dataset and mask kind; the holes are the frozen test masks (seed 2024),
the very ones `zoo eval` and the leaderboard score on.
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from zoo.cli._common import add_lookup_args
from zoo.errors import ZooError


def add_parser(sub: argparse._SubParsersAction, name: str) -> None:
    p = sub.add_parser(name, help="picture grid of several checkpoints (and baselines) on the "
                                  "same frozen test holes")
    p.add_argument("models", nargs="+", metavar="MODEL",
                   help="a model folder, its model.safetensors, a trial id or hf-hub:org/name")
    p.add_argument("--out", metavar="PNG", help="where to write the grid (needed without "
                                                "--stats; with it, the grid is drawn only if asked)")
    p.add_argument("--stats", action="store_true",
                   help="paired test of two models A B on every frozen test image: mean "
                        "difference A-B with a 95%% interval and p-value (one model a side: "
                        "bootstrap and Wilcoxon; seeds: a t with seed variation), "
                        "P(A beats B), per hole-area bin. A or B may be baseline:NAME or "
                        "MODEL1,MODEL2,... (the seeds of one config)")
    p.add_argument("--json", action="store_true", help="with --stats: print one JSON object")
    p.add_argument("--mask", metavar="KIND", help="with --stats: score both on this mask "
                                                  "kind's frozen set (default: A's own)")
    p.add_argument("--test-limit", type=int, metavar="N",
                   help="with --stats: score both on the first N test images")
    p.add_argument("--baselines", default="telea",
                   help="comma-separated classical methods to add (default telea; '' for none)")
    p.add_argument("--n", type=int, default=8, help="test images, one per row (8)")
    p.add_argument("--data", metavar="DIR", help="dataset folder (default: the first model's, "
                                                 "else $ZOO_DATA_DIR)")
    p.add_argument("--device", default="auto", help="auto (default), cpu, cuda, cuda:N")
    add_lookup_args(p)
    p.set_defaults(func=run)


def _resolve(ref: str, storage: str | None, db: str | None) -> tuple[str, Path]:
    """``(label, model folder)`` for any model name (``zoo.modelfolder.refs``)."""
    from zoo.modelfolder.refs import label, resolve_model

    folder = resolve_model(ref, storage=storage, db=db)
    return label(ref, folder), folder


def run(args: argparse.Namespace) -> int:
    from rich.table import Table

    from zoo.cli._console import console
    from zoo.device import resolve_device
    from zoo.viz import render_grid

    if args.stats:
        from zoo.cli._compare_stats import run_stats

        code = run_stats(args)
        if not args.out:
            return code
    elif not args.out:
        raise ZooError("give --out PNG for the picture grid, or --stats for the paired test")
    elif args.json or args.mask or args.test_limit:
        raise ZooError("--json, --mask and --test-limit go with --stats")
    if args.n < 1:
        raise ZooError("--n must be >= 1")
    baselines = _baselines(args)
    refs, models, configs = _load_models(args, resolve_device(args.device))
    labels = _labels([label for label, _ in refs], configs)
    grid = frozen_grid(labels, models, configs, baselines, args.n, data=args.data)
    table = Table(title=grid.title)
    for col in grid.header():
        table.add_column(col, justify="left" if col == "method" else "right")
    for row in grid.rows():
        table.add_row(*row)
    path = render_grid(grid.columns, args.out)
    console.print(table)
    console.print(f"grid: {path}")
    return 0


@dataclass
class Grid:
    """The picture grid of `zoo compare`: its columns (``render_grid``'s input), each
    method's scores over the rows shown, and a title naming the holes."""

    columns: list[tuple[str, Any]]
    scores: list[tuple[str, dict[str, float]]]
    title: str

    @staticmethod
    def header() -> list[str]:
        """The score table's columns: the method, then the hole metrics."""
        from zoo.metrics import BINNED, TABLE

        return ["method", *(TABLE[k].label for k in BINNED)]

    def rows(self) -> list[list[str]]:
        """The score table's rows, formatted as `zoo compare` prints them."""
        from zoo.metrics import BINNED, TABLE

        return [[label, *(TABLE[k].format(s[k], short=True) for k in BINNED)]
                for label, s in self.scores]


def frozen_grid(labels: list[str], models: list, configs: list, baselines: list[str],
                n: int, data: str | None = None) -> Grid:
    """Every model and baseline on the first ``n`` images of the frozen test holes (seed
    2024) of the first model's dataset and mask kind: the holes `zoo eval` scored them on.
    ``data`` replaces a dataset folder that is not on this machine (else $ZOO_DATA_DIR)."""
    from zoo.baselines import BASELINES
    from zoo.data import data_folder, load_dataset
    from zoo.masks import EVAL_SEED, frozen_masks
    from zoo.metrics import score
    from zoo.settings import build_config
    from zoo.viz import predict_batch, show_holes

    saved_dir = configs[0].data_dir
    moved = data or not (saved_dir and Path(saved_dir).is_dir())
    # --data, else $ZOO_DATA_DIR: the training machine's folder may not exist here
    config = build_config(configs[0].scoring(),  # the masks its test was scored on
                          {"data_dir": data_folder(data, env=False)} if moved else None,
                          plugins=False)  # the models are built; their loss terms are not needed
    test = load_dataset(config).test  # (N, 3, H, W) uint8, as scored by `zoo eval`
    n_all, _, h, w = test.shape
    # The whole frozen set, then the first n: exactly the holes the eval scored these on.
    masks = frozen_masks(config.mask, config.mask_args, n_all, h, w, seed=EVAL_SEED)[:n]
    x = test[:n].float() / 255
    masked = x * (1 - masks)
    outputs = [(label, predict_batch(model, masked, masks)) for label, model in zip(labels, models)]
    for label, pred in outputs:
        if not bool(pred.isfinite().all()):  # as `zoo eval`: a broken model is not shown
            from zoo.evaluate import NonFiniteOutput

            raise NonFiniteOutput(f"model {label} predicted NaN or inf on the frozen holes: "
                                  "its weights are broken (did training diverge?), so it is "
                                  "not compared")
    outputs += [(b, BASELINES[b](masked, masks).float().cpu()) for b in baselines]
    columns: list[tuple[str, Any]] = [("masked", show_holes(masked, masks))]
    scores = []
    for label, pred in outputs:
        s = score(x, pred, masks)
        scores.append((label, s))
        columns.append((f"{label}\n{s['psnr_hole']:.1f} dB", pred))
    columns.append(("ground truth", x))
    return Grid(columns, scores, f"{len(x)} {config.dataset} test images, {config.mask} "
                                 f"holes (seed {EVAL_SEED})")


def _baselines(args: argparse.Namespace) -> list[str]:
    """--baselines, and any ``baseline:NAME`` given as a model, checked by name."""
    from zoo.baselines import BASELINES
    from zoo.errors import unknown

    given = [b.strip() for b in args.baselines.split(",") if b.strip()]
    given += [p.strip()[len("baseline:"):] for m in args.models for p in m.split(",")
              if p.strip().startswith("baseline:")]
    for b in given:
        if b not in BASELINES:
            raise unknown("baseline", b, BASELINES)
    return list(dict.fromkeys(given))


def _load_models(args: argparse.Namespace, device: Any) -> tuple[list, list, list]:
    """The grid's models: every model named (a comma list gives each of its seeds)."""
    from zoo.modelfolder.checkpoint import load_model

    names = [p.strip() for m in args.models for p in m.split(",")
             if p.strip() and not p.strip().startswith("baseline:")]
    if not names:
        raise ZooError("the picture grid needs at least one model besides the baselines")
    refs = [_resolve(m, args.storage, args.db) for m in names]
    models, configs = [], []
    for _, path in refs:
        model, config, _ = load_model(path, device=device)
        models.append(model)
        configs.append(config)
    return refs, models, configs


def _labels(names: list[str], configs: list) -> list[str]:
    """Encoder and name ("vanilla quick-1", "convmixer quick-2"): a bare trial id says
    little; made distinct by ``_unique``."""
    return _unique([f"{'vanilla' if c.encoder == 'none' else c.encoder} {name}"
                    for name, c in zip(names, configs)])


def _unique(labels: list[str]) -> list[str]:
    """Labels made distinct by a #k suffix (two run folders may share a name)."""
    seen: dict[str, int] = {}
    out = []
    for label in labels:
        seen[label] = seen.get(label, 0) + 1
        out.append(label if seen[label] == 1 else f"{label}#{seen[label]}")
    return out
