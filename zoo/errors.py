"""Errors a user can cause and fix. The CLI prints them without a traceback."""

from __future__ import annotations

import difflib
from collections.abc import Iterable


class ZooError(Exception):
    """An error caused by user input; its message names the valid choices or the fix."""


class TrainingDiverged(ZooError):
    """The loss became NaN or infinite; training stops instead of wasting the budget."""


def did_you_mean(name: str, choices: Iterable[str]) -> str:
    """Return " did you mean 'x'?" for the closest choice, or "" when none is close."""
    close = difflib.get_close_matches(str(name), [str(c) for c in choices], n=1, cutoff=0.6)
    return f" did you mean '{close[0]}'?" if close else ""


def unknown(kind: str, name: str, choices: Iterable[str]) -> ZooError:
    """Build the standard "unknown X" error: `unknown encoder 'convmixr'; did you mean ...`."""
    choices = sorted(str(c) for c in choices)
    hint = did_you_mean(name, choices)
    return ZooError(
        f"unknown {kind} '{name}';{hint} valid: {', '.join(choices) if choices else '(none)'}"
    )
