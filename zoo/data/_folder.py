"""Where the data lies: the one place a ``--data`` folder, a config's ``data_dir`` and
``$ZOO_DATA_DIR`` become an absolute path.

A given folder beats the variable. A relative value of the variable is pinned to the
directory zoo started in: the README's ``ZOO_DATA_DIR=../shared/data/cifar10`` keeps
meaning the same folder after a test, a Ray trial or a library caller changes directory.
"""

from __future__ import annotations

import os
from pathlib import Path

from zoo.errors import ZooError

ENV_DATA_DIR = "ZOO_DATA_DIR"
_LAYOUT = "CIFAR-10 (npz shards or cifar-10-batches-py/)"


def _pin(value: str | None) -> tuple[str | None, Path | None]:
    return value, Path(value).expanduser().resolve() if value else None


# $ZOO_DATA_DIR as it was when zoo started, resolved against the working directory of that
# moment
_ENV_AT_START = _pin(os.environ.get(ENV_DATA_DIR) or None)


def env_dir() -> Path | None:
    """``$ZOO_DATA_DIR`` as an absolute path, a relative value resolved against the working
    directory zoo started in (unless the variable changed since); None when unset."""
    value = os.environ.get(ENV_DATA_DIR) or None
    if value is not None and value == _ENV_AT_START[0]:
        return _ENV_AT_START[1]
    return _pin(value)[1]


def data_folder(given: str | os.PathLike | None = None, *, env: bool = True,
                check: bool = True, fix: str | None = None) -> str | None:
    """The data folder as an absolute path (a string, as configs hold it): ``given`` (``--data``, a config's ``data_dir``),
    else ``$ZOO_DATA_DIR`` when ``env``; None when neither is set.

    With ``check`` a folder that is not there is a ZooError saying where the name came
    from; ``fix`` replaces the advice for a ``given`` one. Without ``check`` the caller
    looks (the CIFAR-10 loader explains what it expected to find).
    """
    if given not in (None, ""):
        path = Path(given).expanduser().resolve()
        if check and not path.is_dir():
            raise ZooError(f"data folder {given} does not exist; " + (
                fix or f"pass --data DIR or set {ENV_DATA_DIR} to a folder with {_LAYOUT}"))
        return str(path)
    path = env_dir() if env else None
    if check and path is not None and not path.is_dir():
        raise ZooError(f"${ENV_DATA_DIR}={os.environ.get(ENV_DATA_DIR)} is not a folder "
                       f"({path}); point it (or --data DIR) at {_LAYOUT}")
    return None if path is None else str(path)
