"""`zoo serve`: a web page (Gradio) to inpaint photos with the models of a search, browse
its leaderboard and compare models; and an API for scripts.

    zoo serve [--storage DIR | --db PATH] [--model REF ...] [--host 127.0.0.1] [--port 7860]
              [--auth USER:PASS] [--max-pixels N] [--allow-hub]

Needs the ``[ui]`` extra (Gradio). The server offers the completed trials of the
leaderboard (default ./results) and the ``--model`` refs, nothing else.
"""

from __future__ import annotations

import argparse
import os

from zoo.cli._common import add_lookup_args
from zoo.errors import ZooError

INSTALL_HINT = ("`zoo serve` needs the web UI extra (Gradio): pip install 'zoo-inpaint[ui]' "
                "(from a checkout: pip install -e '.[ui]')")


def add_parser(sub: argparse._SubParsersAction, name: str) -> None:
    from zoo.ui import DEFAULT_HOST, DEFAULT_MAX_PIXELS, DEFAULT_PORT

    p = sub.add_parser(name, help="a web page to inpaint photos, browse the leaderboard and "
                                  "compare models (needs the [ui] extra)",
                       description=__doc__.split("\n\n")[0])
    add_lookup_args(p)
    p.add_argument("--model", action="append", metavar="REF", default=[],
                   help="also serve this model (a folder, its model.safetensors, a trial id "
                        "or hf-hub:org/name); repeatable; offered first")
    p.add_argument("--host", default=DEFAULT_HOST,
                   help=f"address to listen on ({DEFAULT_HOST}: this machine only)")
    p.add_argument("--port", type=int, default=DEFAULT_PORT, help=f"port ({DEFAULT_PORT})")
    p.add_argument("--auth", metavar="USER:PASS", help="ask for this user name and password")
    p.add_argument("--max-pixels", type=float, default=DEFAULT_MAX_PIXELS, metavar="N",
                   help="refuse uploads above N pixels (default 40e6)")
    p.add_argument("--allow-hub", action="store_true",
                   help="let clients name Hub models (hf-hub:org/name) to fetch and serve")
    p.add_argument("--device", default="auto", help="auto (default), cpu, cuda, cuda:N")
    p.set_defaults(func=run)


def _auth(text: str | None) -> tuple[str, str] | None:
    if text is None:
        return None
    user, sep, password = text.partition(":")
    if not sep or not user or not password:
        raise ZooError("--auth expects USER:PASS, both non-empty")
    return user, password


def run(args: argparse.Namespace) -> int:
    # before Gradio is imported: it and its client read this to skip their telemetry
    os.environ["GRADIO_ANALYTICS_ENABLED"] = "False"
    try:
        import gradio  # noqa: F401
    except ImportError:
        raise ZooError(INSTALL_HINT) from None
    from zoo.cli._console import console, err_console, escape
    from zoo.ui import LOCAL_HOSTS, create, launch_options

    auth = _auth(args.auth)
    if not 1 <= args.port <= 65535:
        raise ZooError(f"--port must be 1..65535, got {args.port}")
    app = create(args.model, storage=args.storage, db=args.db, max_pixels=int(args.max_pixels),
                 allow_hub=args.allow_hub, device=args.device)
    if args.host not in LOCAL_HOSTS:
        err_console.print(f"[bold yellow]warning:[/] listening on {escape(args.host)}: other "
                          "machines can reach this page" + ("" if auth else
                          " and nothing asks them for a password (add --auth USER:PASS)"),
                          highlight=False)
    names = ", ".join(app.zoo_server.catalog.names)
    console.print(f"serving {escape(names)} on http://{escape(args.host)}:{args.port} "
                  "(Ctrl+C stops)", highlight=False)
    app.queue(default_concurrency_limit=1).launch(
        **launch_options(args.host, args.port, auth, int(args.max_pixels)))
    return 0
