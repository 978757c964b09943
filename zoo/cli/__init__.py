"""The `zoo` command line. Each subcommand lives in its own module with
``add_parser(subparsers)`` and ``run(args) -> int``; only the CLI prints."""

from __future__ import annotations

import argparse
import importlib
import logging
import sys

from zoo.errors import ZooError

# subcommand -> module under zoo.cli
COMMANDS = {
    "plugins": "plugins",
    "train": "train",
    "eval": "evaluate",
    "tune": "tune",
    "leaderboard": "leaderboard",
    "inpaint": "inpaint",
    "compare": "compare",
    "export": "export",
    "push": "push",
    "convert": "convert",
    "serve": "serve",
}


def build_parser() -> argparse.ArgumentParser:
    """The full argument parser, with every subcommand."""
    from zoo._version import __version__

    parser = argparse.ArgumentParser(
        prog="zoo", description="zoo: a plugin-based model zoo for image inpainting.")
    parser.add_argument("--version", action="version", version=f"zoo {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="log at DEBUG level")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name, module in COMMANDS.items():
        importlib.import_module(f"zoo.cli.{module}").add_parser(sub, name)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Entry point of the `zoo` script."""
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.WARNING,
                        format="%(levelname)s %(name)s: %(message)s")
    try:
        return int(args.func(args) or 0)
    except ZooError as exc:
        from zoo.cli._console import err_console, escape

        err_console.print(f"[bold red]error:[/] {escape(exc)}", highlight=False)
        return 2
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
