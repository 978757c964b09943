"""What keeps a search folder safe to continue, without importing Ray: one ``zoo tune``
at a time per search (a lock on ``STORAGE/.NAME.lock``), and a keyed seal of Ray's state
files, so that ``--resume`` never lets Ray unpickle state that this user's zoo did not
write (a results folder someone hands you is data to read, not code to run).

The seal is an HMAC-SHA256 over Ray's state files (``tuner.pkl``, ``experiment_state-*``,
the search algorithm's state, the trials' pickles), keyed with a secret kept in the user's
config folder (``$XDG_CONFIG_HOME/zoo/search.key``, else ``~/.config/zoo/search.key``,
created 0600 on first use). It is recorded in ``zoo_search.json`` as the search runs.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import hashlib
import hmac
import os
import secrets
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from zoo.errors import ZooError

KEY_NAME = "search.key"
SEAL_KEY = "ray_state_hmac"  # the record's entry
KEY_BYTES = 32
_OWN = ("zoo_search.json",)  # zoo's own files in a search folder: JSON zoo reads itself
_held: dict[str, int] = {}  # lock path -> times this process holds it (re-entrant)


# -- one search at a time ------------------------------------------------------------------


def lock_path(storage: str, name: str) -> Path:
    return Path(storage) / f".{name}.lock"


@contextlib.contextmanager
def search_lock(storage: str, name: str) -> Iterator[None]:
    """Hold the lock of search ``name`` in a local ``storage`` (a no-op for a URI): a second
    ``zoo tune`` of the same search is refused at once. The kernel releases the lock when
    the process ends, however it ends; a link in the lock's place is never followed. The
    lock file is removed on release (while held, so no other process can be mid-way)."""
    if "://" in storage:
        yield
        return
    path = lock_path(storage, name)
    key = str(path)
    if _held.get(key):
        _held[key] += 1
        try:
            yield
        finally:
            _held[key] -= 1
        return
    fd = _acquire(path, name, storage)
    _held[key] = 1
    try:
        yield
    finally:
        _held.pop(key, None)
        with contextlib.suppress(OSError):
            path.unlink()
        os.close(fd)


def _acquire(path: Path, name: str, storage: str) -> int:
    while True:  # a lock file removed by its last holder while we waited: take the new one
        fd = _try_lock(path, name, storage)
        try:
            if os.stat(path, follow_symlinks=False).st_ino == os.fstat(fd).st_ino:
                break
        except FileNotFoundError:
            pass
        os.close(fd)
    os.ftruncate(fd, 0)
    os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
    return fd


def _try_lock(path: Path, name: str, storage: str) -> int:
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC, 0o644)
    except OSError as exc:
        raise ZooError(f"cannot create the search lock {path} ({exc.strerror}); pass a "
                       "--storage you can write to") from None
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError as exc:
        holder = os.pread(fd, 32, 0).decode(errors="replace").strip() or "?"
        os.close(fd)
        if exc.errno in (errno.EAGAIN, errno.EACCES, errno.EWOULDBLOCK):
            raise ZooError(f"search '{name}' in {storage} is being run by another `zoo tune` "
                           f"(pid {holder}); wait for it to end, or start another search "
                           "with --name NEW") from None
        raise
    return fd


# -- the seal of Ray's state -----------------------------------------------------------------


def key_file() -> Path:
    base = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(base).expanduser() / "zoo" / KEY_NAME


def state_key() -> bytes:
    """This user's secret, created (0600, never through a link) on first use."""
    path = key_file()
    try:
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
    except FileExistsError:
        pass
    except OSError as exc:
        raise ZooError(f"cannot create the search key {path} ({exc.strerror}); make "
                       f"{path.parent} writable or set XDG_CONFIG_HOME") from None
    else:
        with os.fdopen(fd, "wb") as f:
            f.write(secrets.token_hex(KEY_BYTES).encode())
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW)
        with os.fdopen(fd, "rb") as f:
            key = f.read(4 * KEY_BYTES).strip()
    except OSError as exc:
        raise ZooError(f"cannot read the search key {path} ({exc.strerror}); delete it "
                       "(searches sealed with it then need --trust-state once)") from None
    if len(key) < KEY_BYTES:
        raise ZooError(f"the search key {path} is too short; delete it (searches sealed "
                       "with it then need --trust-state once)")
    return key


def state_files(exp_dir: Path) -> list[Path]:
    """Ray's files that ``Tuner.restore`` may unpickle: every file at the search folder's
    top (but zoo's own), and the pickles in its trial folders."""
    top = [p for p in exp_dir.iterdir() if p.name not in _OWN and not p.is_dir()]
    return sorted([*top, *exp_dir.glob("*/*.pkl")])


def signature(exp_dir: Path) -> tuple:
    """Cheap (stat only): changes when a state file is written, added or removed."""
    out = []
    for p in state_files(exp_dir):
        st = p.lstat()
        out.append((p.name, st.st_size, st.st_mtime_ns))
    return tuple(out)


def digest(exp_dir: Path, key: bytes) -> str:
    mac = hmac.new(key, digestmod=hashlib.sha256)
    for p in state_files(exp_dir):
        rel = p.relative_to(exp_dir).as_posix()
        if p.is_symlink() or not p.is_file():
            body = b"<not a regular file>"
        else:
            body = hashlib.sha256(p.read_bytes()).hexdigest().encode()
        mac.update(f"{rel}\0".encode() + body + b"\n")
    return mac.hexdigest()


def seal(exp_dir: Path, key: bytes | None = None) -> None:
    """Record the seal of ``exp_dir``'s Ray state in its search record (atomically)."""
    from zoo.tune._store import SEARCH_FILE, read_record, replace_record

    record = read_record(exp_dir)
    if record is None or not exp_dir.is_dir():
        return
    record[SEAL_KEY] = digest(exp_dir, key or state_key())
    replace_record(exp_dir / SEARCH_FILE, record)


def check_seal(exp_dir: Path, record: dict[str, Any] | None) -> None:
    """Refuse, before Ray reads anything, a search whose Ray state this user's zoo did not
    write (or that changed since): Ray would unpickle it, and a pickle can run code."""
    stored = (record or {}).get(SEAL_KEY)
    if isinstance(stored, str) and hmac.compare_digest(stored, digest(exp_dir, state_key())):
        return
    why = ("has no seal of its Ray state" if not isinstance(stored, str) else
           "holds Ray state that does not match its seal")
    raise ZooError(f"search folder {exp_dir} {why}: it was not written by zoo under this "
                   f"account (key {key_file()}), or was changed since, and resuming would "
                   "unpickle it (a pickle can run code). Its leaderboard rows and models are "
                   "still readable (`zoo leaderboard rebuild`); if you wrote it yourself (a "
                   "search killed hard may miss its last seal), add --trust-state")


class Sealer:
    """A Tune callback that keeps the seal current while the search runs (after each step
    that wrote Ray state), so that a search killed hard still resumes. It holds no key:
    Tune pickles its callbacks into the very state it seals."""

    def __init__(self, exp_dir: Path) -> None:
        self.exp_dir = Path(exp_dir)
        self._last: tuple | None = None

    def refresh(self, force: bool = False) -> None:
        if not self.exp_dir.is_dir():
            return
        sig = signature(self.exp_dir)
        if force or sig != self._last:
            seal(self.exp_dir)
            self._last = sig

