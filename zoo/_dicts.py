"""Nested option dicts as dotted keys, the shape Tune's search spaces and the leaderboard's
columns use (``{"unet": {"depth": 3}}`` -> ``{"unet.depth": 3}``)."""

from __future__ import annotations

from collections.abc import Collection, Mapping
from typing import Any


def flatten(d: Mapping[str, Any] | None, keys: Collection[str] | None = None,
            prefix: str = "") -> dict[str, Any]:
    """Nested dicts -> dotted keys. With ``keys`` only the dicts at those (dotted) keys are
    opened and every other value is kept whole (a plugin's options may be a dict); an
    empty dict sets nothing."""
    out: dict[str, Any] = {}
    for k, v in (d or {}).items():
        key = f"{prefix}{k}"
        if isinstance(v, dict) and (keys is None or key in keys):
            out.update(flatten(v, keys, key + "."))
        else:
            out[key] = v
    return out
