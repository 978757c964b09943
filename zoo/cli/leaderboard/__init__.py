"""`zoo leaderboard`: rank recorded trials, beside the classical baselines and the ceiling.

    zoo leaderboard [--db PATH | --storage DIR] [--sort METRIC] [--search S] [--encoder E]
                    [--dataset D] [--mask M] [--status S] [--top N] [--group]
                    [--format table|csv|json|markdown]
    zoo leaderboard show TRIAL [--db PATH | --storage DIR] [--format table|json]
    zoo leaderboard searches [--db PATH | --storage DIR] [--format table|json]
    zoo leaderboard rm SEARCH [--db PATH | --storage DIR] [--yes]
    zoo leaderboard rebuild [--storage DIR] [--db PATH] [--search S]

The file is ``--db PATH``, else ``<--storage DIR>/leaderboard.sqlite``, else
``./results/leaderboard.sqlite`` (``zoo tune`` writes there by default). Reading never
creates it. TRIAL is a trial id (``quick-3``: the search's name and a number) or a unique prefix.
``rebuild`` refills the file from the results Tune stored in ``--storage`` (after it was
deleted, or when a search could not write to it); ``rm`` deletes a search's rows (its
results in storage stay, so ``rebuild`` can bring them back).

Output shapes:

- ``table``: a rich table, best first, with the reference rows (ceiling, telea, mean_fill,
  ...) of the mask sets shown as a dimmed section at the bottom.
- ``csv``: one header line then one line per trial (or per group with ``--group``); no
  references. ``config`` is a JSON string; inf is written ``inf``.
- ``markdown``: the trials table, then a "References" table.
- ``json``: ``{"trials": [row, ...], "references": [ref, ...]}``, or with ``--group``
  ``{"groups": [group, ...], "references": [...]}``. A row has every leaderboard column
  (``config`` and ``metrics`` as objects); a group has ``config_hash``, ``eval_id``, ``n``,
  ``seeds``, ``trial_ids`` and ``<metric>_mean`` / ``<metric>_std``; a reference has
  ``eval_id``, ``name``, ``dataset``, ``mask`` and its metrics. Infinity (the ceiling's
  ``psnr_hole``) is the string ``"inf"``, NaN is ``null``: the output is strict JSON.
  ``show --format json`` prints one row plus ``"references"`` for its mask set.
"""

from __future__ import annotations

import argparse

from zoo.cli.leaderboard._formats import LIST_FORMATS
from zoo.errors import ZooError
from zoo.leaderboard import DEFAULT_STORAGE, SORT_KEYS, STATUSES, Leaderboard, resolve_db_path

ACTIONS = ("show", "searches", "rm", "rebuild")


def add_parser(sub: argparse._SubParsersAction, name: str) -> None:
    """Register `zoo leaderboard` (and its `show TRIAL` form)."""
    p = sub.add_parser(name, help="rank recorded trials beside baselines and the ceiling",
                       description=__doc__.split("\n\n")[0],
                       formatter_class=argparse.RawDescriptionHelpFormatter,
                       epilog="examples:\n  zoo leaderboard --top 10\n"
                              "  zoo leaderboard --group --format markdown\n"
                              "  zoo leaderboard searches\n"
                              "  zoo leaderboard show quick-1\n"
                              "  zoo leaderboard --columns lr,unet.fusion_merge\n"
                              "  zoo leaderboard rm quick --yes\n"
                              "  zoo leaderboard rebuild --storage results")
    # the actions are an optional positional rather than subparsers, so the plain listing
    # keeps its flags without a sub-command word
    p.add_argument("action", nargs="?", choices=list(ACTIONS),
                   help="show TRIAL: one trial in full; searches: list the searches; "
                        "rm SEARCH: delete a search's rows; rebuild: refill from --storage")
    p.add_argument("trial", nargs="?", metavar="TRIAL|SEARCH",
                   help="with show: a trial id or unique prefix; with rm: a search name")
    p.add_argument("--db", help="the leaderboard file (default STORAGE/leaderboard.sqlite)")
    p.add_argument("--storage", help=f"a tune storage folder holding leaderboard.sqlite and "
                                     f"the searches' results (default: ./{DEFAULT_STORAGE})")
    p.add_argument("--sort", default="psnr_hole",
                   help=f"metric to rank by (default psnr_hole): {', '.join(SORT_KEYS)}")
    p.add_argument("--search", help="only this search")
    p.add_argument("--encoder", help="only this encoder")
    p.add_argument("--dataset", help="only this dataset")
    p.add_argument("--mask", help="only this mask generator")
    p.add_argument("--status", help=f"only this status: {', '.join(STATUSES)}")
    p.add_argument("--top", type=int, help="show the best N")
    p.add_argument("--group", action="store_true", help="mean ± std across seeds per config")
    p.add_argument("--format", default="table", help=f"{', '.join(LIST_FORMATS)} (default table)")
    p.add_argument("--columns", metavar="A,B",
                   help="extra columns: any metric (e.g. psnr_hole@0-10, val_ssim_hole) or "
                        "config option (e.g. lr, unet.fusion_merge) of the trials")
    p.add_argument("--plot", metavar="PNG", help="also draw hole PSNR (with its interval) "
                                                 "against a cost, Pareto front marked")
    p.add_argument("--x", default="gflops", metavar="COST",
                   help="the x axis for --plot: a cost, gflops (default), latency_ms, "
                        "params, train_time_s; or texture_hole (the sharpness trade-off)")
    p.add_argument("--yes", "-y", action="store_true", help="with rm: do not ask")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """List the leaderboard, show one trial, list or delete searches, or rebuild the file."""
    # one module per action (the listing's output formats live in _formats)
    from zoo.cli.leaderboard._list import run_list
    from zoo.cli.leaderboard._rebuild import run_rebuild
    from zoo.cli.leaderboard._searches import run_rm, run_searches
    from zoo.cli.leaderboard._show import run_show

    if args.action == "rebuild":
        return run_rebuild(args)
    lb = Leaderboard(resolve_db_path(args.db, args.storage), create=False)
    if args.action == "searches":
        return run_searches(lb, args)
    if args.action == "rm":
        return run_rm(lb, args)
    if args.action == "show":
        if not args.trial:
            raise ZooError("`zoo leaderboard show` needs a trial id (or a unique prefix); "
                           "`zoo leaderboard` lists them")
        return run_show(lb, args)
    if args.trial:
        raise ZooError(f"unexpected argument '{args.trial}'; did you mean "
                       f"`zoo leaderboard show {args.trial}`?")
    return run_list(lb, args)
