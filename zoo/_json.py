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


def from_jsonable(value: Any) -> Any:
    """Undo :func:`to_jsonable`'s spelling of infinities: ``"inf"`` / ``"-inf"`` anywhere
    in dicts and lists become floats again (NaN stays None: null says "no number")."""
    if isinstance(value, dict):
        return {k: from_jsonable(v) for k, v in value.items()}
    if isinstance(value, list):
        return [from_jsonable(v) for v in value]
    if value == "inf":
        return math.inf
    if value == "-inf":
        return -math.inf
    return value


def dumps(obj: Any, **kw: Any) -> str:
    """``json.dumps`` of ``to_jsonable(obj)``, strict (no NaN/Infinity tokens)."""
    return json.dumps(to_jsonable(obj), allow_nan=False, **kw)


MAX_JSON_BYTES = 16 * 1024 * 1024


def read_regular(path: str | Path, limit: int = MAX_JSON_BYTES) -> bytes:
    """The bytes of ``path``, which must be a regular file (a link to one is fine) of at most
    ``limit`` bytes. A device (``/dev/zero``), a FIFO or a socket is refused before it is
    opened, and the file is opened non-blocking, so nothing here can hang or fill memory.
    Raises OSError (FileNotFoundError when missing) or ValueError (what is wrong)."""
    import os
    import stat

    if not stat.S_ISREG(os.stat(path).st_mode):
        raise ValueError("not a regular file")
    fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
    try:
        info = os.fstat(fd)  # the file opened, which a swap after the stat cannot change
        if not stat.S_ISREG(info.st_mode):
            raise ValueError("not a regular file")
        if info.st_size > limit:
            raise ValueError(f"{info.st_size} bytes, more than the {limit} allowed")
        with os.fdopen(fd, "rb", closefd=False) as f:
            data = f.read(limit + 1)
    finally:
        os.close(fd)
    if len(data) > limit:
        raise ValueError(f"more than the {limit} bytes allowed")
    return data


def load_file(path: str | Path, limit: int = MAX_JSON_BYTES) -> Any:
    """Parse the JSON file ``path`` (a regular file of at most ``limit`` bytes, UTF-8).
    FileNotFoundError when it is missing; ValueError, with the reason, for anything else
    (not a regular file, too big, unreadable, not UTF-8, not JSON, nested too deep, an
    integer too long)."""
    try:
        text = read_regular(path, limit).decode("utf-8")
    except FileNotFoundError:
        raise
    except OSError as exc:
        raise ValueError(exc.strerror or str(exc)) from None
    except UnicodeDecodeError as exc:
        raise ValueError(f"not UTF-8: {exc.reason}") from None
    try:
        return json.loads(text)
    except RecursionError:
        raise ValueError("nested too deeply") from None
    except ValueError as exc:  # JSONDecodeError, and an integer over Python's digit limit
        raise ValueError(str(exc).splitlines()[0][:200]) from None
