"""Shared rich consoles: results on stdout, progress and errors on stderr; ``escape`` for
any text that is not markup (paths, error messages, names: rich would read ``[export]`` in
``pip install 'zoo-inpaint[export]'`` as a style tag and drop it)."""

from rich.console import Console
from rich.markup import escape as _escape

console = Console()
err_console = Console(stderr=True)


def escape(text: object) -> str:
    """``text`` made safe to print through rich: square brackets are shown, not parsed."""
    return _escape(str(text))
