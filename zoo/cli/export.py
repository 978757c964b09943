"""`zoo export`: a checkpoint's model as ONNX or TorchScript, verified, with a model card.

    zoo export CHECKPOINT --format onnx|torchscript [--out PATH] [--size 32]
"""

from __future__ import annotations

import argparse


def add_parser(sub: argparse._SubParsersAction, name: str) -> None:
    # zoo.export's FORMATS and TOLERANCE, spelled out: importing it would load torch for
    # every `zoo --help`.
    p = sub.add_parser(name, help="export a checkpoint to ONNX or TorchScript (verified)",
                       description="Export the model with inputs (masked, mask) at a fixed "
                                   "size and a dynamic batch axis, check it against PyTorch "
                                   "(max abs diff < 1e-4) and write MODEL_CARD.md "
                                   "beside it.")
    p.add_argument("checkpoint", help="checkpoint.pt or a run folder")
    p.add_argument("--format", default="onnx", choices=("onnx", "torchscript"), help="onnx (default) or torchscript")
    p.add_argument("--out", metavar="PATH", help="output file or folder (default: beside the "
                                                 "checkpoint, checkpoint.onnx / .torchscript.pt)")
    p.add_argument("--size", type=int, default=None,
                   help="input height = width (default: the training image size)")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from zoo._json import dumps
    from zoo.cli._console import console, err_console
    from zoo.export import export_checkpoint

    with err_console.status(f"exporting to {args.format} and verifying ..."):
        result = export_checkpoint(args.checkpoint, args.format, args.out, args.size)
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
