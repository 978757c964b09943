"""JSON output that stays valid: non-finite floats (a perfect PSNR is inf) become null."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any


def jsonable(obj: Any) -> Any:
    """Recursively convert to JSON-safe values; inf/nan -> None, paths -> str, tensors -> lists."""
    if isinstance(obj, float):
        return obj if math.isfinite(obj) else None
    if isinstance(obj, dict):
        return {str(k): jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [jsonable(v) for v in obj]
    if isinstance(obj, Path):
        return str(obj)
    if hasattr(obj, "tolist"):
        return jsonable(obj.tolist())
    return obj


def dumps(obj: Any, **kw: Any) -> str:
    """``json.dumps`` of ``jsonable(obj)``, strict (no NaN/Infinity tokens)."""
    return json.dumps(jsonable(obj), allow_nan=False, **kw)
