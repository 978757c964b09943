"""`zoo export`: a model as ONNX or TorchScript, verified, with a model card.

    zoo export MODEL --format onnx|torchscript [--out PATH] [--size 32]

MODEL is a model folder, its model.safetensors, a trial id (``--storage``/``--db``) or a
Hub id (``hf-hub:org/name``).
"""

from __future__ import annotations

import argparse
from pathlib import Path

from zoo.cli._common import add_lookup_args


def add_parser(sub: argparse._SubParsersAction, name: str) -> None:
    # zoo.modelfolder.export's FORMATS and TOLERANCE, spelled out: importing it would load
    # torch for every `zoo --help`.
    p = sub.add_parser(name, help="export a checkpoint to ONNX or TorchScript (verified)",
                       description="Export the model with inputs (masked, mask) at a fixed "
                                   "size and a dynamic batch axis, check it against PyTorch "
                                   "(max abs diff < 1e-4) and write MODEL_CARD.md "
                                   "beside it.")
    p.add_argument("model", metavar="MODEL",
                   help="a model folder, its model.safetensors, a trial id or hf-hub:org/name")
    p.add_argument("--format", default="onnx", choices=("onnx", "torchscript"), help="onnx (default) or torchscript")
    p.add_argument("--out", metavar="PATH", help="output file or folder (default: in the model "
                                                 "folder, model.onnx / model.torchscript.pt)")
    p.add_argument("--size", type=int, default=None,
                   help="input height = width (default: the training image size)")
    add_lookup_args(p)
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from zoo._json import dumps
    from zoo.cli._console import console, err_console
    from zoo.modelfolder.export import export_checkpoint
    from zoo.modelfolder.refs import resolve_model

    from zoo.modelfolder.export import SUFFIX
    from zoo.modelfolder.hub import is_hub_ref, parse

    folder = resolve_model(args.model, storage=args.storage, db=args.db)
    out = args.out
    if out is None and is_hub_ref(args.model):  # never write into huggingface_hub's cache
        out = parse(args.model)[0].split("/")[-1] + SUFFIX.get(args.format, "")
    if out is not None:
        from zoo._atomic import check_writable

        check_writable(Path(out).absolute().parent, "--out")
    with err_console.status(f"exporting to {args.format} and verifying ..."):
        result = export_checkpoint(folder, args.format, out, args.size)
    if args.json:
        print(dumps({"path": result.path, "format": result.format, "size": result.size,
                     "max_abs_diff": result.max_abs_diff, "exporter": result.exporter,
                     "model_card": result.card}))
        return 0
    console.print(f"exported {result.path} ({result.format} via {result.exporter}, "
                  f"input {result.size}x{result.size}, dynamic batch)")
    console.print(f"verified: max abs diff vs PyTorch {result.max_abs_diff:.2e}")
    console.print(f"model card: {result.card}")
    return 0
