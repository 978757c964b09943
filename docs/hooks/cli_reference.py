"""MkDocs hook: fills docs/cli.md's ``<!-- cli-reference -->`` with each zoo command's own
``--help``, taken from zoo's argparse parsers at build time (never copied by hand)."""

from __future__ import annotations

import argparse
import os

MARKER = "<!-- cli-reference -->"


def _subcommands(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            return dict(action.choices)
    return {}


def _sections(parser: argparse.ArgumentParser, prog: str, level: int) -> list[str]:
    text = parser.format_help().rstrip()
    out = [f"{'#' * level} `{prog}`\n\n```text\n{text}\n```\n"]
    for name, sub in _subcommands(parser).items():
        out += _sections(sub, f"{prog} {name}", min(level + 1, 4))
    return out


def reference() -> str:
    """The help of ``zoo`` and of every subcommand, as Markdown sections."""
    os.environ["COLUMNS"] = "100"  # argparse wraps at the terminal width: fix it
    from zoo.cli import build_parser

    return "\n".join(_sections(build_parser(), "zoo", 2))


def on_page_markdown(markdown: str, page, **kwargs) -> str:
    if MARKER not in markdown:
        return markdown
    return markdown.replace(MARKER, reference())
