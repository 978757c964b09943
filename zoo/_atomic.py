"""The one way zoo writes a file: a fresh temp file in the target's folder, then a rename.

- An interrupted write never leaves a half-written file: the old one stays valid until
  the rename, and the temp file is removed on any error.
- The temp name is created exclusively (``O_EXCL``), so a link planted at that name is
  never written through; the rename replaces the directory entry and never follows a link.
- A target that is a symbolic link is refused: zoo does not write over a link (the user
  may think of it as the file it points to).

The temp file is created with the usual permissions (umask), not mkstemp's 0600.
"""

from __future__ import annotations

import contextlib
import os
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

from zoo.errors import ZooError

TEMP_PREFIX = ".tmp-"


def check_target(path: str | os.PathLike) -> Path:
    """``path`` as a Path, refused with a ZooError when it is a symlink or a folder."""
    path = Path(path)
    if path.is_symlink():
        raise ZooError(f"{path} is a symbolic link; zoo never writes over or through a link: "
                       "remove the link or choose another output path")
    if path.is_dir():
        raise ZooError(f"{path} is a folder; give a file path to write")
    return path


def check_writable(folder: str | os.PathLike, what: str = "--out") -> Path:
    """Refuse, before any work, an output folder that cannot be written: a file on its way,
    or a folder (the nearest one that exists) where no file can be created (no permission,
    a read-only or full disk). A probe file is created there and removed at once."""
    folder = Path(folder).absolute()
    existing = next(p for p in (folder, *folder.parents) if p.exists() or p.is_symlink())
    if not existing.is_dir():
        raise ZooError(f"{what} {folder}: {existing} is a file, not a folder; give a folder "
                       "path")
    probe = existing / f"{TEMP_PREFIX}probe-{uuid.uuid4().hex[:12]}"
    try:
        os.close(os.open(probe, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600))
        probe.unlink()
    except OSError as exc:
        raise ZooError(f"{what} {folder}: cannot write in {existing} "
                       f"({exc.strerror or exc}); choose another {what}") from None
    return folder


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a fresh temp path beside ``path``; on a clean exit it is renamed onto ``path``,
    on an error it is removed. The writer may replace the (empty) temp file freely."""
    path = check_target(path)
    tmp = path.with_name(f"{TEMP_PREFIX}{uuid.uuid4().hex[:12]}-{path.name}")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        os.close(os.open(tmp, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o666))
    except OSError as exc:
        raise ZooError(f"cannot write {path} ({exc.strerror or exc}); choose another output "
                       "path or free the disk") from None
    try:
        try:
            yield tmp
        except OSError as exc:  # full disk, quota, I/O error while writing
            raise ZooError(f"writing {path} failed ({exc.strerror or exc}); nothing was "
                           "replaced: free the disk or choose another output path") from None
        if tmp.is_symlink() or not tmp.is_file():
            raise ZooError(f"writing {path} failed: the temp file {tmp} was replaced")
        check_target(path)  # re-checked just before the rename
        os.replace(tmp, path)
    finally:
        if tmp.exists() or tmp.is_symlink():
            tmp.unlink()


def write_with(path: str | os.PathLike, writer: Callable[[Path], object]) -> Path:
    """Call ``writer(temp_path)`` and move the result onto ``path`` atomically."""
    with atomic_path(path) as tmp:
        writer(tmp)
    return Path(path)


def write_bytes(path: str | os.PathLike, data: bytes) -> Path:
    """Write ``data`` to ``path`` atomically."""
    return write_with(path, lambda tmp: tmp.write_bytes(data))


def write_text(path: str | os.PathLike, text: str) -> Path:
    """Write UTF-8 ``text`` to ``path`` atomically."""
    return write_bytes(path, text.encode("utf-8"))
