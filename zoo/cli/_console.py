"""Shared rich consoles: results on stdout, progress and errors on stderr; ``escape`` for
any text that is not markup (paths, error messages, names: rich would read ``[export]`` in
``pip install 'zoo-inpaint[export]'`` as a style tag and drop it), and ``printable`` for
any text zoo did not write itself (leaderboard rows, plugin names, model files): terminal
control characters in it are shown as ``\\x1b``-style escapes, never sent to the terminal."""

import re

from rich.console import Console
from rich.markup import escape as _escape

console = Console()
err_console = Console(stderr=True)

# C0 controls but tab and newline, DEL, C1 controls (ESC [, ESC ], CSI 0x9b ...), and the
# Unicode line separators and bidirectional overrides that reorder what a terminal shows
_CONTROL = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069]")


def _shown(char: str) -> str:
    code = ord(char)
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def printable(text: object, *, one_line: bool = False) -> str:
    """``text`` with every terminal control character written as an escape (``\\x1b``):
    an escape sequence in a name or error message is shown, never run. ``one_line``
    escapes newlines and tabs too (for table cells and CSV/markdown fields)."""
    out = _CONTROL.sub(lambda m: _shown(m.group()), str(text))
    return out.replace("\n", "\\n").replace("\t", "\\t") if one_line else out


def escape(text: object, *, one_line: bool = False) -> str:
    """``text`` made safe to print through rich: square brackets are shown, not parsed,
    and control characters are escaped (``printable``; ``one_line`` for table cells)."""
    return _escape(printable(text, one_line=one_line))
