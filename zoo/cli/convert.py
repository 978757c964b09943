"""`zoo convert`: turn an old pickled ``checkpoint.pt`` into a model folder, safely.

    zoo convert OLD.pt OUT_DIR

The old file is read with ``torch.load(weights_only=True)`` only: a checkpoint written by
an older ``zoo train``/``zoo tune`` (tensors, dicts, strings, numbers) converts; a file
holding any other Python object is refused and nothing in it runs.
"""

from __future__ import annotations

import argparse


def add_parser(sub: argparse._SubParsersAction, name: str) -> None:
    p = sub.add_parser(name, help="convert an old checkpoint.pt into a model folder (safely)")
    p.add_argument("old", metavar="OLD", help="the old checkpoint.pt, or its run folder")
    p.add_argument("out", metavar="OUT_DIR", help="the model folder to write (may be the run "
                                                  "folder itself)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from zoo.modelfolder.checkpoint import convert_legacy
    from zoo.cli._console import console

    folder = convert_legacy(args.old, args.out)
    console.print(f"converted {args.old} -> {folder} (model.safetensors + JSON); the old file "
                  "is kept, delete it when you no longer need it")
    return 0
