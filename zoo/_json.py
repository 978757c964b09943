"""JSON output that stays strict: inf -> "inf", -inf -> "-inf", NaN -> null.

One convention for every command (`zoo train/eval/tune --json`, `zoo leaderboard`): a
perfect reconstruction's PSNR is infinite, and strict JSON has no token for that.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any


def to_jsonable(value: Any) -> Any:
    """A copy of ``value`` that strict JSON accepts (dicts, lists, paths, numpy/torch scalars
    and arrays included)."""
    if isinstance(value, dict):
        return {str(k): to_jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [to_jsonable(v) for v in value]
    if isinstance(value, Path):
        return str(value)
    if isinstance(value, float) or type(value).__name__.startswith("float"):  # numpy floats too
        value = float(value)
        if math.isnan(value):
            return None
        if math.isinf(value):
            return "inf" if value > 0 else "-inf"
        return value
    if hasattr(value, "tolist") and callable(value.tolist):  # numpy / torch scalars, arrays
        return to_jsonable(value.tolist())
    return value


def dumps(obj: Any, **kw: Any) -> str:
    """``json.dumps`` of ``to_jsonable(obj)``, strict (no NaN/Infinity tokens)."""
    return json.dumps(to_jsonable(obj), allow_nan=False, **kw)
