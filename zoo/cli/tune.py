"""`zoo tune SPACE`: a Ray Tune search over a YAML search space, written to the leaderboard."""

from __future__ import annotations

import argparse
import os
from typing import Any


def add_parser(sub: argparse._SubParsersAction, name: str) -> None:
    p = sub.add_parser(name, help="run a Ray Tune search from a YAML search space",
                       description="Run a search. Local Ray by default; --address joins a "
                                   "cluster. Results and the leaderboard go to --storage.",
                       formatter_class=argparse.RawDescriptionHelpFormatter,
                       epilog="examples:\n"
                              "  zoo tune search_spaces/smoke.yaml --dry-run\n"
                              "  zoo tune search_spaces/quick.yaml --dry-run --set lr=0.002\n"
                              "  zoo tune search_spaces/quick.yaml\n"
                              "  zoo tune search_spaces/quick.yaml --resume\n"
                              "  zoo tune search_spaces/quick.yaml --name quick2 --max-epochs 5\n"
                              "\nexit status: 0 every trial completed or was stopped by the "
                              "scheduler;\n  1 a trial failed or diverged; 2 bad input "
                              "(nothing ran); 130 interrupted by Ctrl-C or SIGTERM\n  (the "
                              "trials that ran are recorded as interrupted; --resume "
                              "continues them).\n"
                              "on --resume only --address, --db, --no-live, --json, --log "
                              "and\n  --trust-state may differ; any other change is refused: use "
                              "--name NEW.")
    p.add_argument("space", help="search space YAML, e.g. search_spaces/quick.yaml")
    p.add_argument("--storage", default=None,
                   help="results location every node can reach: a path (default ./results) "
                        "or a URI Ray supports (s3://..., gs://...)")
    p.add_argument("--db", default=None, help="leaderboard SQLite path "
                                              "(default STORAGE/leaderboard.sqlite)")
    p.add_argument("--address", default=None,
                   help="join an existing Ray cluster (e.g. auto or HOST:6379)")
    p.add_argument("--resume", action="store_true",
                   help="continue an interrupted search; finished trials are not redone")
    p.add_argument("--trust-state", action="store_true",
                   help="with --resume: continue a search whose Ray state has no valid seal "
                        "(one you ran yourself that was killed hard); Ray unpickles that "
                        "state, so never use it on a results folder someone handed you")
    p.add_argument("--dry-run", action="store_true", help="print the expanded plan and exit")
    p.add_argument("--name", default=None, help="search name (default: the YAML's name)")
    p.add_argument("--num-samples", type=int, default=None)
    p.add_argument("--max-epochs", type=int, default=None)
    p.add_argument("--max-concurrent", type=int, default=None, help="cap on parallel trials")
    p.add_argument("--cpus", type=float, default=None, help="CPUs per trial")
    p.add_argument("--gpus", type=float, default=None, help="GPUs per trial (may be fractional)")
    p.add_argument("--data", default=None, metavar="DIR",
                   help="CIFAR-10 folder (default $ZOO_DATA_DIR, else download); recorded "
                        "in the search, so later commands need neither")
    p.add_argument("--set", action="append", metavar="KEY=VALUE",
                   help="fix a config field for every trial, e.g. train_limit=1000")
    p.add_argument("--no-live", action="store_true",
                   help="one line per trial event instead of the live table (for logs; the "
                        "default when the output is not a terminal)")
    p.add_argument("--json", action="store_true", help="print the results as JSON at the end")
    add_log_arg(p)
    p.set_defaults(func=run)


def add_log_arg(p: argparse.ArgumentParser) -> None:
    """``--log TRACKER`` (repeatable), for `zoo tune` and `zoo train`."""
    from zoo.trackers import TRACKERS

    p.add_argument("--log", action="append", choices=TRACKERS, metavar="TRACKER",
                   help="also log to an experiment tracker: " + ", ".join(TRACKERS)
                        + " (repeatable; each needs its extra, e.g. pip install -e "
                          "'.[mlflow]'; the tracker's own settings apply, e.g. "
                          "MLFLOW_TRACKING_URI, else ./mlruns)")


def _overrides(args: argparse.Namespace) -> dict:
    from zoo.cli._common import parse_sets
    from zoo.data import data_folder

    out: dict = {}
    for key, value in (("name", args.name), ("num_samples", args.num_samples),
                       ("max_epochs", args.max_epochs),
                       ("max_concurrent", args.max_concurrent)):
        if value is not None:
            out[key] = value
    resources = {k: v for k, v in (("cpu", args.cpus), ("gpu", args.gpus)) if v is not None}
    if resources:
        out["resources"] = resources
    base = parse_sets(args.set or [])
    data_dir = data_folder(args.data, env=False)  # $ZOO_DATA_DIR: pinned by the runner
    if data_dir:
        base["data_dir"] = data_dir
    if base:
        out["base"] = base
    return out


def _resume_command(args: argparse.Namespace, spec_name: str, storage: str) -> str:
    import shlex

    parts = ["zoo", "tune", args.space, "--resume", "--storage", storage]
    if args.name:
        parts += ["--name", spec_name]
    if args.db:
        parts += ["--db", args.db]
    if args.address:
        parts += ["--address", args.address]
    for tracker in dict.fromkeys(args.log or ()):
        parts += ["--log", tracker]
    return " ".join(shlex.quote(p) for p in parts)


def quiet_ray() -> None:
    """Ray's console output, set for this process before Ray starts: the old reporter (its
    new one prints progress tables over ours), no TensorBoard/CSV loggers (the
    leaderboard is the record) and no sync-time warnings. A user's own values win."""
    import os

    os.environ.setdefault("RAY_AIR_NEW_OUTPUT", "0")
    os.environ.setdefault("TUNE_DISABLE_AUTO_CALLBACK_LOGGERS", "1")
    os.environ.setdefault("TUNE_WARN_EXCESSIVE_EXPERIMENT_CHECKPOINT_SYNC_THRESHOLD_S", "0")


def run(args: argparse.Namespace) -> int:
    import sys

    from zoo.errors import ZooError
    from zoo.cli._console import console, err_console, escape
    from zoo.cli._plan import render_plan
    from zoo.tune.space import load_space

    spec = load_space(args.space, overrides=_overrides(args))
    if args.dry_run:  # no Ray: a dry run stays quick
        console.print(render_plan(spec))
        return 0
    from zoo.cli._search_view import EventLines, LiveView
    from zoo.leaderboard import DEFAULT_STORAGE
    from zoo.trackers import store_environment, tune_callbacks, where as where_logs
    from zoo.tune.runner import resolve_storage, run_search, stop_on_sigterm

    stop_on_sigterm()  # a SIGTERM from here on is handled as Ctrl-C
    if args.trust_state and not args.resume:
        raise ZooError("--trust-state only applies to --resume; leave it out")
    storage = resolve_storage(args.storage or DEFAULT_STORAGE)

    def ready(where: str) -> None:  # every check passed: nothing is refused after this
        err_console.print(f"search [bold]{escape(spec.name)}[/]: results in {escape(where)}",
                          highlight=False)
        for line in where_logs(args.log or (), f"{where.rstrip('/')}/{spec.name}",
                               f"{where.rstrip('/')}/{spec.name}"):
            err_console.print(escape(line), highlight=False, soft_wrap=True)

    # a live table on a terminal; one line per trial event otherwise (logs, CI, --no-live)
    live = not (args.no_live or args.json) and err_console.is_terminal

    def event(line: str) -> None:
        err_console.print(escape(line), highlight=False, soft_wrap=True)

    quiet_ray()
    os.environ.update(store_environment(args.log or ()))  # zoo's default MLflow store
    trackers = tune_callbacks(args.log or (), spec.name)  # a missing extra: refused here
    view = LiveView(spec, err_console) if live else EventLines(spec, event)
    try:
        outcome = run_search(spec, storage, address=args.address, resume=args.resume,
                             db_path=args.db, callbacks=[view, *trackers],
                             trust_state=args.trust_state, on_ready=ready)
    except KeyboardInterrupt:  # before Tune took over the signal (Ray starting), or twice
        err_console.print("[yellow]interrupted[/] before the search could stop cleanly; "
                          "trials that ran are recorded; continue with:\n  "
                          + escape(_resume_command(args, spec.name, storage))
                          + "\n  (or the same command without --resume if none started)",
                          highlight=False, soft_wrap=True)
        return 130
    if live:
        err_console.print()  # the live table leaves the cursor at its last line
    _report(args, spec, outcome)
    sys.stdout.flush()
    return outcome.exit_code


def _report(args: argparse.Namespace, spec: Any, outcome: Any) -> None:
    """The search's summary: JSON, or a line of counts and where its leaderboard is; then
    what to do about unrecorded rows, an interruption or failures."""
    from zoo._json import dumps
    from zoo.cli._console import console, err_console, escape

    counts = ", ".join(f"{n} {status}" for status, n in outcome.counts.items()) or "no trials"
    total = sum(outcome.counts.values())
    db_flag = f"--db {outcome.db_path}" if args.db else f"--storage {outcome.storage}"
    if args.json:
        rows = [{k: r.get(k) for k in ("trial_id", "status", "error", "epochs", "checkpoint",
                                       "dice", "psnr_hole", "ssim_hole", "l1_hole")}
                for r in outcome.rows]
        print(dumps({"search": spec.name, "storage": outcome.storage,
                     "leaderboard": str(outcome.db_path), "counts": outcome.counts,
                     "interrupted": outcome.interrupted, "trials": rows}))
    else:
        style = "red" if outcome.exit_code else "green"
        console.print(f"search {escape(spec.name)}: {total} trials: {escape(counts)}",
                      style=style, highlight=False)
        console.print(f"leaderboard: zoo leaderboard {escape(db_flag)} --search "
                      f"{escape(spec.name)}", highlight=False, soft_wrap=True)
    if outcome.unrecorded:
        err_console.print(f"[red]error:[/] {len(outcome.unrecorded)} trial results could not "
                          f"be recorded in {escape(str(outcome.db_path))} (first: "
                          f"{escape(outcome.unrecorded[0])}); `zoo leaderboard rebuild "
                          f"--storage {escape(outcome.storage)} --db PATH` rebuilds them from "
                          "the stored results", highlight=False)
    if outcome.interrupted:
        err_console.print("[yellow]interrupted[/]: unfinished trials are recorded as "
                          "interrupted; continue with:\n  "
                          + escape(_resume_command(args, spec.name, outcome.storage)),
                          highlight=False, soft_wrap=True)
    elif outcome.failed:
        err_console.print(f"[red]{outcome.failed} trial(s) failed[/]; their errors: "
                          f"zoo leaderboard {escape(db_flag)} --search {escape(spec.name)} "
                          "--status failed", highlight=False, soft_wrap=True)
