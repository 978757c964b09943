"""`zoo push`: publish a model folder, with its card, on the Hugging Face Hub.

    zoo push MODEL ORG/NAME [--private] [--revision BRANCH] [--message TEXT] [--license ID]

A thin use of ``huggingface_hub``: ``HfApi.create_repo(exist_ok=True)`` then
``HfApi.upload_folder`` of the model's shared files (``model.safetensors``, ``config.json``,
``zoo.json``, ``metrics.json``, ``history.json``, ``README.md``, ``grid.png``,
``curves.png``; never the resume state). The token is huggingface_hub's: ``hf auth login``
or ``HF_TOKEN``. Anyone can then use ``hf-hub:ORG/NAME`` wherever zoo takes a model.
"""

from __future__ import annotations

import argparse

from zoo.cli._common import add_lookup_args


def add_parser(sub: argparse._SubParsersAction, name: str) -> None:
    p = sub.add_parser(name, help="upload a model folder (with its card) to the Hugging Face "
                                  "Hub",
                       description="Upload a model to the Hugging Face Hub; load it anywhere "
                                   "with hf-hub:ORG/NAME. Log in first: `hf auth login` or "
                                   "HF_TOKEN.")
    p.add_argument("model", metavar="MODEL",
                   help="a model folder, its model.safetensors, or a trial id")
    p.add_argument("repo_id", metavar="ORG/NAME", help="the Hub model repo (created if needed)")
    p.add_argument("--private", action="store_true", help="create the repo as private")
    p.add_argument("--revision", metavar="BRANCH", help="push to this branch (created if needed)")
    p.add_argument("--message", metavar="TEXT", help="commit message")
    p.add_argument("--license", metavar="ID", help="license in the card's metadata, e.g. mit, "
                                                   "apache-2.0 (default: unknown)")
    add_lookup_args(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from zoo.cli._console import console
    from zoo.errors import ZooError
    from zoo.modelfolder.hub import is_hub_ref, push
    from zoo.modelfolder.refs import resolve_model

    if is_hub_ref(args.model):
        raise ZooError("MODEL is already on the Hub; give a local model folder to push")
    folder = resolve_model(args.model, storage=args.storage, db=args.db)
    url = push(folder, args.repo_id, private=args.private, revision=args.revision,
               message=args.message, license=args.license)
    console.print(f"pushed {folder} -> https://huggingface.co/{args.repo_id} ({url})")
    console.print(f"load it with: zoo.load('hf-hub:{args.repo_id}') or "
                  f"zoo inpaint --model hf-hub:{args.repo_id} ...")
    return 0
