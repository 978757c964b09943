"""The leaderboard store: one SQLite file that records every trial of every search.

Why SQLite: it ships with Python, a single file sits beside Tune's results, and in WAL
mode with a busy timeout two searches can write to the same file at once (each write is
one short ``BEGIN IMMEDIATE`` transaction; the loser of a race waits instead of failing).

Every call opens and closes its own connection, so a ``Leaderboard`` object is safe to
share between threads and survives a ``fork``. WAL needs a local filesystem: keep the
file off NFS and object stores.

Non-finite numbers: metric columns are SQLite REALs, which hold ``inf`` exactly (the
ceiling's ``psnr_hole``); NaN is stored as NULL. JSON text columns (``config``,
``metrics``) are strict JSON with ``inf`` written as the string ``"inf"`` (``"-inf"``,
NaN as ``null``) and turned back into floats when read.
"""

from __future__ import annotations

import contextlib
import sqlite3
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from zoo.config import nest
from zoo.errors import ZooError, did_you_mean, unknown
from zoo.metrics import REFERENCE_METRICS
from zoo.leaderboard.scores import delete_search_scores
from zoo.leaderboard._schema import (  # noqa: F401 (the public names are re-exported)
    COST_KEYS, METRICS, PATH_COLUMNS, REFERENCE_COLUMNS, SCHEMA_VERSION, SORT_KEYS, STATUSES,
    TRIAL_COLUMNS, _CORE_COLUMNS, _SCHEMA, _decode, _defaults, _dict_hash, _direction, _dumps,
    _epochs_done, _int, _now, _num, _str, _summarize, _top, _where, default_db_path)


class Leaderboard:
    """Every trial of every search in one SQLite file; see the module docstring."""

    def __init__(self, path: str | Path, *, create: bool = True, timeout_s: float = 60.0):
        """Open the leaderboard at ``path``; ``create=False`` refuses to make a new file."""
        given = Path(path).expanduser()
        if create and given.is_symlink():
            raise ZooError(f"leaderboard {given} is a symbolic link; zoo does not write through "
                           "links: pass --db with the real file")
        self._link = given.is_symlink()  # readable through a link, never written through
        self._given = given
        self.path = given.resolve()
        self.timeout_s = float(timeout_s)
        if self.path.exists() and not self.path.is_dir() and not self.path.is_file():
            raise ZooError(f"leaderboard {self.path} is not a regular file (a FIFO or device?); "
                           "pass --db with a leaderboard.sqlite file")
        if self.path.is_dir():
            raise ZooError(f"leaderboard {self.path} is a folder; pass --db with a file path "
                           f"(e.g. --db {self.path / 'leaderboard.sqlite'}) or --storage "
                           "with the folder")
        if not self.path.exists():
            if not create:
                raise ZooError(
                    f"no leaderboard at {self.path} yet; trials are recorded there by "
                    "`zoo tune ... --storage DIR` (the file is DIR/leaderboard.sqlite); "
                    "point at an existing one with --db PATH or --storage DIR"
                )
            if self.path.parent.exists() and not self.path.parent.is_dir():
                raise ZooError(f"cannot create leaderboard {self.path}: {self.path.parent} is a "
                               "file, not a folder; pass another --db or --storage")
            self.path.parent.mkdir(parents=True, exist_ok=True)
        self._init_schema(create)

    def __repr__(self) -> str:
        return f"Leaderboard({str(self.path)!r})"

    # -- connections -------------------------------------------------------------------

    @contextlib.contextmanager
    def _connect(self, write: bool = False) -> Iterator[sqlite3.Connection]:
        if write and self._link:
            raise ZooError(f"leaderboard {self._given} is a symbolic link; zoo does not write "
                           "through links: pass --db with the real file")
        conn = self._open(write)
        conn.row_factory = sqlite3.Row
        try:
            conn.execute(f"PRAGMA busy_timeout = {int(self.timeout_s * 1000)}")
            if write:
                # IMMEDIATE takes the write lock up front: no read-then-upgrade deadlock
                conn.execute("BEGIN IMMEDIATE")
            yield conn
            if write:
                conn.execute("COMMIT")
        except sqlite3.DatabaseError as exc:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            if "not a database" in str(exc) or "malformed" in str(exc):
                raise ZooError(f"{self.path} is not a zoo leaderboard (SQLite says: {exc}); "
                               "pass --db with a leaderboard.sqlite file") from None
            if isinstance(exc, sqlite3.OperationalError) and "locked" not in str(exc):
                raise ZooError(f"cannot use leaderboard {self.path} (SQLite says: {exc}); "
                               "check the file's permissions or pass another --db") from None
            raise
        except BaseException:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            raise
        finally:
            conn.close()

    def _open(self, write: bool) -> sqlite3.Connection:
        """A connection to the file; for reading, one that needs no write access when the
        file or its folder is read-only (``mode=ro``, then ``immutable=1``)."""
        tries = [str(self.path)] if write else \
            [str(self.path), f"{self.path.as_uri()}?mode=ro", f"{self.path.as_uri()}?immutable=1"]
        error: sqlite3.Error | None = None
        for i, target in enumerate(tries):
            try:
                conn = sqlite3.connect(target, timeout=self.timeout_s, isolation_level=None,
                                       uri=i > 0)
            except sqlite3.Error as exc:
                error = exc
                continue
            if write:
                return conn
            try:  # a read-only file or folder fails here (WAL's -shm cannot be made)
                conn.execute("SELECT 1 FROM sqlite_master LIMIT 1")
                return conn
            except sqlite3.OperationalError as exc:
                conn.close()
                error = exc
            except sqlite3.DatabaseError:
                return conn  # not a database at all: _connect names it
        raise ZooError(f"cannot open leaderboard {self.path} (SQLite says: {error}); check "
                       "the folder exists and is writable, or pass another --db") from None

    def _init_schema(self, create: bool) -> None:
        with self._connect() as conn:
            tables = {r[0] for r in
                      conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
            if create and tables and "trials" not in tables:
                raise ZooError(f"{self.path} is an SQLite file of something else (tables: "
                               f"{', '.join(sorted(tables))}), not a zoo leaderboard; pass "
                               "--db with a new or zoo leaderboard file")
            if not create and "trials" not in tables:
                raise ZooError(f"{self.path} is not a zoo leaderboard (no trials table); "
                               "pass --db with a leaderboard.sqlite written by `zoo tune`")
            self._refuse_foreign_trials(conn, tables)  # before anything (WAL) is changed
            row = (conn.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()
                   if "meta" in tables else None)
            if row is not None and int(row[0]) > SCHEMA_VERSION:
                raise ZooError(f"{self.path} has leaderboard schema v{row[0]} but this zoo knows "
                               f"v{SCHEMA_VERSION}; upgrade zoo to read it")
            if not create:
                return  # reading never writes: the file may sit in someone else's folder
            # the journal mode lives in the file: set once, every later connection gets WAL
            if conn.execute("PRAGMA journal_mode").fetchone()[0].lower() != "wal":
                self._set_wal(conn)
        with self._connect(write=True) as conn:
            for statement in filter(str.strip, _SCHEMA.split(";")):
                conn.execute(statement)
            conn.execute("INSERT OR IGNORE INTO meta VALUES ('schema_version', ?)",
                         (str(SCHEMA_VERSION),))
            # later versions migrate here: `if stored < 2: ALTER TABLE ...` then bump it
            _add_missing_columns(conn)  # e.g. texture_hole, workers (old rows: 1 process)

    def _refuse_foreign_trials(self, conn: sqlite3.Connection, tables: set[str]) -> None:
        """A ZooError when the file's ``trials`` table is not zoo's (another program's
        SQLite file that happens to have one): read only, nothing is modified."""
        if "trials" not in tables:
            return
        cols = {r[1] for r in conn.execute("PRAGMA table_info(trials)")}
        missing = [c for c in _CORE_COLUMNS if c not in cols]
        if missing:
            raise ZooError(f"{self.path} is an SQLite file of something else (its trials table "
                           f"has no {', '.join(missing)}), not a zoo leaderboard; pass --db "
                           "with a new or zoo leaderboard file")

    def _set_wal(self, conn: sqlite3.Connection) -> None:
        """Switch the file to WAL. Two processes opening a new file at once race for it, and
        SQLite answers the loser "locked" at once instead of waiting the busy timeout."""
        deadline = time.monotonic() + self.timeout_s
        while True:
            try:
                conn.execute("PRAGMA journal_mode = WAL")
                return
            except sqlite3.OperationalError as exc:
                if "locked" not in str(exc) or time.monotonic() > deadline:
                    raise
                time.sleep(0.05)

    def schema_version(self) -> int:
        """The schema version stored in the file."""
        with self._connect() as conn:
            row = conn.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()
            return int(row[0])

    # -- writing -----------------------------------------------------------------------

    def record_trial(self, search: str, trial_id: str, status: str, result: dict | None,
                     config: dict, error: str | None = None,
                     config_hash: str | None = None) -> bool:
        """Upsert one trial keyed by (search, trial_id); return False when the write was refused.

        The row keeps ``result["config"]`` (the trial's ``TrainConfig.to_dict()``) and
        ``result["config_hash"]`` when the result has them, else ``config`` and
        ``config_hash`` as given (nested or dotted; a missing hash is one of the dict).

        A later write replaces the row, except that a non-"completed" write never replaces
        a "completed" row (a resumed search re-reporting "running"/"failed" keeps the
        result). A result's ``baselines`` are recorded as references for its ``eval_id``.
        """
        if status not in STATUSES:
            raise unknown("trial status", status, STATUSES)
        result = dict(result or {})
        if isinstance(result.get("config"), dict):
            cfg, config_hash = result["config"], result.get("config_hash") or config_hash
        else:
            cfg = nest(config or {})
        metrics = {k: v for k, v in result.items() if k not in ("config", "baselines")}
        # a key the config leaves out means TrainConfig's default (even when invalid)
        picked = {**_defaults(), **{k: v for k, v in cfg.items() if v is not None}}
        now = _now()
        row: dict[str, Any] = {
            "search": str(search), "trial_id": str(trial_id), "status": status,
            "encoder": result.get("encoder", picked.get("encoder")),
            "plugin_version": result.get("plugin_version"),
            "config": _dumps(cfg),
            "config_hash": config_hash or _dict_hash(cfg),
            "dataset": _str(picked.get("dataset")), "mask": _str(picked.get("test_mask") or picked.get("mask")),  # scored on
            # epochs actually trained (a stopped trial did fewer than its budget)
            "seed": _int(picked.get("seed")), "epochs": _epochs_done(result),
            **{m: _num(result.get(m)) for m in REFERENCE_METRICS},
            "metrics": _dumps(metrics) if metrics else None,
            "params": _int(result.get("params")),
            "train_time_s": _num(result.get("train_time_s")),
            "train_images_per_s": _num(result.get("train_images_per_s")),
            "device": result.get("device"),
            "workers": _int(result.get("workers")) or 1,  # data-parallel workers of the trial
            **{c: self._relative(result.get(c)) for c in PATH_COLUMNS},
            "error": error, "eval_id": result.get("eval_id"), "created_at": now, "updated_at": now,
        }
        cols = list(TRIAL_COLUMNS)
        updates = ", ".join(f"{c} = excluded.{c}" for c in cols
                            if c not in ("search", "trial_id", "created_at"))
        sql = (f"INSERT INTO trials ({', '.join(cols)}) VALUES ({', '.join('?' * len(cols))}) "
               f"ON CONFLICT (search, trial_id) DO UPDATE SET {updates} "
               "WHERE trials.status != 'completed' OR excluded.status = 'completed'")
        with self._connect(write=True) as conn:
            written = conn.execute(sql, [row[c] for c in cols]).rowcount > 0
            baselines = result.get("baselines")
            if written and row["eval_id"] and isinstance(baselines, dict):
                self._upsert_references(conn, row["eval_id"], row["dataset"], row["mask"],
                                        baselines)
        return written

    def _relative(self, path: Any) -> str | None:
        """A path inside the leaderboard's folder as relative to it (a results folder copied
        elsewhere keeps working); any other path as given."""
        if path is None or str(path) == "":
            return None
        text = str(path)
        if "://" in text or not Path(text).is_absolute():
            return text
        try:
            return Path(text).resolve().relative_to(self.path.parent).as_posix()
        except ValueError:
            return text

    def _absolute(self, row: dict) -> dict:
        for col in PATH_COLUMNS:
            value = row.get(col)
            if value and "://" not in value and not Path(value).is_absolute():
                row[col] = str(self.path.parent / value)
        return row

    def mark_interrupted(self, search: str, error: str) -> int:
        """Turn the ``running`` rows of ``search`` into ``interrupted``; returns how many."""
        with self._connect(write=True) as conn:
            return conn.execute(
                "UPDATE trials SET status = 'interrupted', error = ?, updated_at = ? "
                "WHERE search = ? AND status = 'running'", (error, _now(), search)).rowcount

    def delete_search(self, search: str) -> int:
        """Delete every row of ``search``; returns how many (references stay: other searches
        may share them)."""
        with self._connect(write=True) as conn:
            delete_search_scores(conn, search)
            return conn.execute("DELETE FROM trials WHERE search = ?", (search,)).rowcount

    def record_references(self, eval_id: str, dataset: str, mask: str,
                          baselines: dict[str, dict]) -> None:
        """Upsert the baselines and ceiling scored on one frozen mask set (key: eval_id, name)."""
        with self._connect(write=True) as conn:
            self._upsert_references(conn, eval_id, dataset, mask, baselines)

    @staticmethod
    def _upsert_references(conn: sqlite3.Connection, eval_id: str, dataset: str | None,
                           mask: str | None, baselines: dict[str, dict]) -> None:
        cols = list(REFERENCE_COLUMNS)
        updates = ", ".join(f"{c} = excluded.{c}" for c in cols if c not in ("eval_id", "name"))
        sql = (f"INSERT INTO refs ({', '.join(cols)}) VALUES ({', '.join('?' * len(cols))}) "
               f"ON CONFLICT (eval_id, name) DO UPDATE SET {updates}")
        now = _now()
        for name, metrics in baselines.items():
            metrics = dict(metrics or {})
            row = {"eval_id": eval_id, "name": str(name), "dataset": dataset, "mask": mask,
                   **{m: _num(metrics.get(m)) for m in REFERENCE_METRICS},
                   "metrics": _dumps(metrics), "updated_at": now}
            conn.execute(sql, [row[c] for c in cols])

    # -- reading -----------------------------------------------------------------------

    def trials(self, search: str | None = None, encoder: str | None = None,
               dataset: str | None = None, mask: str | None = None, status: str | None = None,
               sort: str = "psnr_hole", descending: bool | None = None,
               top: int | None = None) -> list[dict]:
        """Trials matching every given filter, best first by ``sort`` (rows without it last).

        ``descending=None`` picks the metric's own direction (l1, params, time: lower first).
        """
        descending = _direction(sort, descending)
        if status is not None and status not in STATUSES:
            raise unknown("trial status", status, STATUSES)
        where, params = _where(search=search, encoder=encoder, dataset=dataset, mask=mask,
                               status=status)
        sql = (f"SELECT * FROM trials {where} ORDER BY ({sort} IS NULL), {sort} "
               f"{'DESC' if descending else 'ASC'}, search, trial_id")
        if top is not None:
            sql += " LIMIT ?"
            params.append(_top(top))
        with self._connect() as conn:
            return [self._absolute(_decode(r)) for r in conn.execute(sql, params)]

    def get(self, trial: str, search: str | None = None) -> dict:
        """One trial by exact id or unique id prefix; a ZooError lists the candidates otherwise."""
        trial = str(trial).strip()
        if not trial:
            raise ZooError("give a trial id (or a unique prefix of one); "
                           "`zoo leaderboard` lists them")
        where, params = _where(search=search)
        extra = f"{where} AND" if where else "WHERE"
        with self._connect() as conn:
            rows = conn.execute(f"SELECT * FROM trials {extra} trial_id = ?",
                                [*params, trial]).fetchall()
            if not rows:
                rows = conn.execute(
                    f"SELECT * FROM trials {extra} substr(trial_id, 1, ?) = ? ORDER BY trial_id",
                    [*params, len(trial), trial]).fetchall()
            if len(rows) == 1:
                return self._absolute(_decode(rows[0]))
            if rows:
                names = ", ".join(f"{r['search']}/{r['trial_id']}" for r in rows[:20])
                more = f" (+{len(rows) - 20} more)" if len(rows) > 20 else ""
                raise ZooError(f"trial '{trial}' is ambiguous; it matches {names}{more}; "
                               "give more of the id, or --search to pick the search")
            known = [r[0] for r in conn.execute(
                f"SELECT trial_id FROM trials {where} ORDER BY updated_at DESC LIMIT 200", params)]
        listed = ", ".join(known[:10]) + (" ..." if len(known) > 10 else "") if known else "(none)"
        raise ZooError(f"no trial '{trial}' in {self.path};{did_you_mean(trial, known)} "
                       f"recent: {listed}")

    def grouped(self, search: str | None = None, encoder: str | None = None,
                dataset: str | None = None, mask: str | None = None, sort: str = "psnr_hole",
                descending: bool | None = None, top: int | None = None) -> list[dict]:
        """Completed trials grouped per (config_hash, eval_id) across seeds, best mean first.

        Each group has ``n`` (distinct seeds; a seed run twice counts once, newest run),
        ``seeds``, ``trial_ids`` and ``<metric>_mean`` / ``<metric>_std`` (sample std; None
        for a single seed) for every metric in METRICS.
        """
        descending = _direction(sort, descending)
        if sort not in METRICS:
            raise unknown("metric to sort groups by", sort, METRICS)
        rows = self.trials(search=search, encoder=encoder, dataset=dataset, mask=mask,
                           status="completed", sort="created_at", descending=False)
        # one run per seed: the same seed re-run in another search is a repeat, not a
        # new sample, and counting it twice would shrink the std; the newest run wins
        buckets: dict[tuple, dict[Any, dict]] = {}
        for row in rows:  # oldest first
            seed = row["seed"] if row["seed"] is not None else (row["search"], row["trial_id"])
            buckets.setdefault((row["config_hash"], row["eval_id"]), {})[seed] = row
        groups = [_summarize(list(members.values())) for members in buckets.values()]
        key = f"{sort}_mean"
        present = [g for g in groups if g[key] is not None]
        present.sort(key=lambda g: g[key], reverse=descending)
        groups = present + [g for g in groups if g[key] is None]
        return groups[:_top(top)] if top is not None else groups

    def search_summaries(self) -> list[dict]:
        """One entry per search: trials, count per status, best trial by psnr_hole, eval
        sets, first and last update; newest first."""
        out: dict[str, dict] = {}
        for row in self.trials(sort="created_at", descending=False):
            s = out.setdefault(row["search"], {
                "search": row["search"], "trials": 0, "status": {}, "best": None,
                "best_psnr_hole": None, "eval_ids": [], "created_at": row["created_at"],
                "updated_at": row["updated_at"]})
            s["trials"] += 1
            s["status"][row["status"]] = s["status"].get(row["status"], 0) + 1
            if row["eval_id"] and row["eval_id"] not in s["eval_ids"]:
                s["eval_ids"].append(row["eval_id"])
            s["updated_at"] = max(s["updated_at"], row["updated_at"])
            value = row["psnr_hole"]
            if value is not None and (s["best_psnr_hole"] is None or value > s["best_psnr_hole"]):
                s["best"], s["best_psnr_hole"] = row["trial_id"], value
        return sorted(out.values(), key=lambda s: s["updated_at"], reverse=True)

    def searches(self) -> list[str]:
        """The names of the searches recorded here, sorted."""
        with self._connect() as conn:
            sql = "SELECT DISTINCT search FROM trials ORDER BY search"
            return [r[0] for r in conn.execute(sql)]

    def references(self, dataset: str | None = None, mask: str | None = None,
                   eval_id: str | None = None) -> list[dict]:
        """Baseline and ceiling rows, per mask set, ceiling first then best psnr_hole first."""
        where, params = _where(dataset=dataset, mask=mask, eval_id=eval_id)
        sql = (f"SELECT * FROM refs {where} ORDER BY eval_id, (psnr_hole IS NULL), "
               "psnr_hole DESC, name")
        with self._connect() as conn:
            return [_decode(r) for r in conn.execute(sql, params)]


def _add_missing_columns(conn: sqlite3.Connection) -> None:
    """A file written before a column was added (e.g. a new metric, ``texture_hole``) gets
    it, empty: columns are only ever added, so this needs no version bump."""
    for table, columns in (("trials", TRIAL_COLUMNS), ("refs", REFERENCE_COLUMNS)):
        have = {r[1] for r in conn.execute(f"PRAGMA table_info({table})")}
        for name, kind in columns.items():
            if name not in have:
                default = " DEFAULT 1" if name == "workers" else ""  # rows from before DDP
                conn.execute(f"ALTER TABLE {table} ADD COLUMN {name} {kind}{default}")
