"""`zoo leaderboard rebuild`: refill the file from the results Tune stored."""

from __future__ import annotations

import argparse
from pathlib import Path

from zoo.errors import ZooError
from zoo.leaderboard import DEFAULT_STORAGE, Leaderboard, resolve_db_path


def run_rebuild(args: argparse.Namespace) -> int:
    from zoo.modelfolder.checkpoint import CHECKPOINT_NAME
    from zoo.cli._console import console, escape
    from zoo.tune._store import rebuild, searches_in

    if args.trial:
        raise ZooError(f"unexpected argument '{args.trial}'; pick a search with --search")
    storage = Path(args.storage or DEFAULT_STORAGE).expanduser().resolve()
    if not storage.is_dir():
        raise ZooError(f"--storage {storage} is not a folder; pass the folder `zoo tune "
                       "--storage` wrote its results to (default ./results)")
    if not searches_in(storage):
        raise ZooError(f"no zoo search results in {storage} (a search folder holds "
                       "zoo_search.json); pass the folder `zoo tune --storage` wrote to")
    lb = Leaderboard(resolve_db_path(args.db, storage))
    written = rebuild(storage, lb, search=args.search, checkpoint_name=CHECKPOINT_NAME)
    for name, n in written.items():
        console.print(f"{escape(name)}: {n} trials recorded", highlight=False)
    console.print(f"leaderboard: {escape(str(lb.path))}", highlight=False, soft_wrap=True)
    return 0
