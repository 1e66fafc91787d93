"""The history store: one SQLite file shared by every Typilot process on the machine.

Editor windows each run their own server, the voice sidecar runs beside them and the CLI
comes and goes, so several processes write to the same file at once. What makes that safe:

* WAL journal mode (readers never block the writer) and a generous busy timeout (writers
  queue up instead of failing with "database is locked");
* the table and its indexes are created up front with explicit SQL in one ``BEGIN
  IMMEDIATE`` transaction, never by ``dataset``'s auto-create, which races between
  processes; ``dataset`` then only loads the existing table;
* the file is created 0600 (``os.open`` with an explicit mode; SQLite gives the ``-wal``
  and ``-shm`` files the mode of the database file) and the folder 0700; any group or
  other permission bits found on the files later are removed on open.

Purging uses ``secure_delete`` (deleted rows are overwritten with zeros), then ``VACUUM``
and a ``wal_checkpoint(TRUNCATE)``, so no content is left in any of the three files.
"""

from __future__ import annotations

import contextlib
import os
import pathlib
import sqlite3
import stat
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import attrs
import dataset
import sqlalchemy
from sqlalchemy import exc as sa_exc

from typilot_lsp.history.records import (
    HISTORY_PATH_ENV,
    HistoryUnavailable,
    RunRecord,
    default_history_path,
    history_path,
)

__all__ = [
    "HISTORY_PATH_ENV",
    "SCHEMA_VERSION",
    "HistoryStore",
    "HistoryUnavailable",
    "RunRecord",
    "default_history_path",
]

SCHEMA_VERSION = 2
BUSY_TIMEOUT_S = 30.0
SECONDS_PER_DAY = 86400.0
_EXPORT_BATCH = 500
_TABLE = "runs"

_SCHEMA = (
    f"""
    CREATE TABLE IF NOT EXISTS {_TABLE} (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        created_at REAL NOT NULL,
        source TEXT NOT NULL,
        command TEXT NOT NULL,
        instruction TEXT NOT NULL DEFAULT '',
        language_id TEXT NOT NULL DEFAULT '',
        uri TEXT NOT NULL DEFAULT '',
        model TEXT NOT NULL DEFAULT '',
        host TEXT NOT NULL DEFAULT '',
        prompt TEXT NOT NULL DEFAULT '',
        response TEXT NOT NULL DEFAULT '',
        outcome TEXT NOT NULL,
        error TEXT,
        first_token_ms REAL,
        total_ms REAL,
        token_count INTEGER NOT NULL DEFAULT 0,
        prompt_tokens INTEGER
    )
    """,
    f"CREATE INDEX IF NOT EXISTS {_TABLE}_created_at ON {_TABLE} (created_at)",
)
# Statements that bring a file of schema N-1 to N (index N-2); a new file gets _SCHEMA at once.
_MIGRATIONS = (
    # 2: the prompt's size in tokens, as the model server counted it (prompt-cache figures).
    (f"ALTER TABLE {_TABLE} ADD COLUMN prompt_tokens INTEGER",),
)


def companion_files(path: pathlib.Path) -> tuple[pathlib.Path, pathlib.Path, pathlib.Path]:
    """The database file and its ``-wal`` and ``-shm`` companions."""
    return path, path.with_name(path.name + "-wal"), path.with_name(path.name + "-shm")


def describe_error(exc: BaseException, path: pathlib.Path) -> str:
    """An actionable message for a failure to open or use the store at ``path``."""
    if isinstance(exc, HistoryUnavailable):
        return str(exc)
    if isinstance(exc, sa_exc.DBAPIError) and exc.orig is not None:
        exc = exc.orig
    text = str(exc).strip() or type(exc).__name__
    lowered = text.lower()
    where = f"Typilot history at {path}"
    off = (
        "Runs go on without history; set `typilot.history.path` to another file or "
        "`typilot.history.enabled` to false to silence this."
    )
    if "not a database" in lowered or "malformed" in lowered or "corrupt" in lowered:
        return (
            f"{where} is damaged ({text}): move it aside or delete it "
            f"(`rm '{path}'`, with its -wal and -shm files) and a new one is created. {off}"
        )
    if "disk is full" in lowered or "no space" in lowered or "quota" in lowered:
        return (
            f"{where}: the disk holding it is full ({text}). Free some space on it (`df -h "
            f"'{path.parent}'`); what was recorded before is kept. {off}"
        )
    try:
        read_only_file = path.exists() and not os.access(path, os.W_OK)
        read_only_dir = path.parent.is_dir() and not os.access(path.parent, os.W_OK | os.X_OK)
    except OSError:
        read_only_file = read_only_dir = True
    if (
        "readonly" in lowered
        or "read-only" in lowered
        or isinstance(exc, PermissionError)
        or read_only_file
        or read_only_dir
    ):
        return (
            f"{where} is read-only ({text}): make the file and its folder writable by you "
            f"(`chmod 700 '{path.parent}' && chmod 600 '{path}'`). {off}"
        )
    if "locked" in lowered or "busy" in lowered:
        return (
            f"{where} is locked by another process for more than {BUSY_TIMEOUT_S:g} s ({text}): "
            f"close whatever holds it open (a `sqlite3` shell, a backup tool). {off}"
        )
    if "unable to open" in lowered or isinstance(exc, OSError):
        return (
            f"{where} cannot be opened or created ({text}): check that the folder "
            f"'{path.parent}' exists and is writable by you, and that the disk is not full. {off}"
        )
    return f"{where} failed ({text}). {off}"


def _tighten(path: pathlib.Path, private: int) -> None:
    """Remove group/other bits from ``path`` (never adds owner bits: read-only stays so)."""
    try:
        mode = stat.S_IMODE(path.stat().st_mode)
    except FileNotFoundError:
        return
    if mode & 0o077:
        path.chmod(mode & private)


def _make_private_dirs(folder: pathlib.Path) -> None:
    """Create ``folder`` (and missing parents) 0700; an existing `typilot` folder loses g/o bits."""
    missing: list[pathlib.Path] = []
    node = folder
    while not node.exists():
        missing.append(node)
        if node.parent == node:
            break
        node = node.parent
    for created in reversed(missing):
        try:
            created.mkdir(mode=0o700)
        except FileExistsError:  # another process was quicker
            pass
        except OSError as exc:
            raise HistoryUnavailable(
                f"cannot create the Typilot history folder {created} ({exc.strerror or exc}): "
                f"create it yourself (`mkdir -p -m 700 '{folder}'`) or set "
                "`typilot.history.path` to a file in a folder you can write. Runs go on "
                "without history.",
                path=folder,
            ) from exc
        created.chmod(0o700)  # mkdir's mode is filtered by the umask
    if folder.name.lower() == "typilot":
        # Typilot's own folder (the platform default, `.../typilot`) is made private; a
        # folder of the user's that `history.path` points into is left as it is.
        _tighten(folder, 0o700)


def _precreate_private_file(path: pathlib.Path) -> None:
    """Create the database file empty with mode 0600 unless it exists (race-free)."""
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_CLOEXEC", 0)
    try:
        fd = os.open(path, flags, 0o600)
    except FileExistsError:
        return
    try:
        if hasattr(os, "fchmod"):  # POSIX; os.open's mode is filtered by the umask too
            os.fchmod(fd, 0o600)
    finally:
        os.close(fd)


def _row(row: Any) -> dict[str, Any]:
    return dict(row)


class HistoryStore:
    """Synchronous access to the history file. One per process; every method is thread-safe.

    ``retention_days`` is applied on open (and by :meth:`apply_retention`), and readers
    (list, get, count, export) filter by it too; ``None`` keeps and shows everything.
    ``store_content=False`` blanks prompt and response before they are written.
    ``clock`` returns epoch seconds; tests pass a controllable one.
    """

    def __init__(
        self,
        path: pathlib.Path | str | None = None,
        *,
        retention_days: float | None = 30,
        store_content: bool = True,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.path = history_path(path)
        self.retention_days = retention_days
        self.store_content = store_content
        self._clock = clock
        self._lock = threading.RLock()
        self._db: dataset.Database | None = None
        try:
            self._open()
            self.apply_retention()
        except BaseException as exc:
            self.close()
            if isinstance(exc, HistoryUnavailable) or not isinstance(exc, Exception):
                raise
            raise HistoryUnavailable(describe_error(exc, self.path), path=self.path) from exc

    # --- opening ---------------------------------------------------------------------------

    def _open(self) -> None:
        if self.path.is_dir():
            raise HistoryUnavailable(
                f"Typilot history path {self.path} is a folder, not a file: point "
                "`typilot.history.path` (or $TYPILOT_HISTORY_PATH) at a file such as "
                f"{self.path / 'history.sqlite3'}",
                path=self.path,
            )
        _make_private_dirs(self.path.parent)
        _precreate_private_file(self.path)
        for file in companion_files(self.path):
            _tighten(file, 0o600)
        engine_kwargs = {
            # Errors must never quote the bound values (prompts, code) into logs.
            "hide_parameters": True,
            "connect_args": {"timeout": BUSY_TIMEOUT_S, "check_same_thread": False},
        }
        self._db = dataset.connect(
            f"sqlite:///{self.path}",
            engine_kwargs=engine_kwargs,
            ensure_schema=False,
            on_connect_statements=[
                f"PRAGMA busy_timeout = {int(BUSY_TIMEOUT_S * 1000)}",
                "PRAGMA secure_delete = ON",
                "PRAGMA synchronous = NORMAL",
                # Keep the -wal file small once checkpointed (it is reused, not shrunk, else).
                "PRAGMA journal_size_limit = 8388608",
            ],
        )
        self._create_schema()
        for file in companion_files(self.path):
            _tighten(file, 0o600)
        self._table = self._db.load_table(_TABLE)

    def _maintenance(self) -> sqlalchemy.Connection:
        """A connection outside any transaction (DDL, VACUUM, checkpoints)."""
        assert self._db is not None and self._db.engine is not None
        return self._db.engine.connect().execution_options(isolation_level="AUTOCOMMIT")

    def _create_schema(self) -> None:
        with self._maintenance() as conn:
            version = conn.exec_driver_sql("PRAGMA user_version").scalar() or 0
            if version > SCHEMA_VERSION:
                raise HistoryUnavailable(
                    f"Typilot history at {self.path} was written by a newer typilot-lsp "
                    f"(schema {version}, this one knows {SCHEMA_VERSION}): upgrade typilot-lsp, "
                    "or set `typilot.history.path` to another file",
                    path=self.path,
                )
            if version == SCHEMA_VERSION:
                return
            # BEGIN IMMEDIATE takes the write lock at once (waiting on the busy timeout), so
            # processes opening a new file together create the schema one after the other.
            conn.exec_driver_sql("BEGIN IMMEDIATE")
            try:
                # Another process may have created or migrated it while we waited for the lock.
                version = conn.exec_driver_sql("PRAGMA user_version").scalar() or 0
                if version == 0:
                    statements: tuple[str, ...] = _SCHEMA
                else:
                    statements = tuple(s for step in _MIGRATIONS[version - 1 :] for s in step)
                for statement in statements:
                    conn.exec_driver_sql(statement)
                conn.exec_driver_sql(f"PRAGMA user_version = {SCHEMA_VERSION}")
                conn.exec_driver_sql("COMMIT")
            except BaseException:
                with contextlib.suppress(Exception):
                    conn.exec_driver_sql("ROLLBACK")
                raise

    @property
    def db(self) -> dataset.Database:
        if self._db is None:
            raise HistoryUnavailable(f"Typilot history at {self.path} is closed", path=self.path)
        return self._db

    # --- writing ---------------------------------------------------------------------------

    def record(self, rec: RunRecord) -> int:
        """Write one run; returns its id."""
        row = attrs.asdict(rec)
        if not self.store_content:
            row["prompt"] = ""
            row["response"] = ""
        with self._lock:
            db = self.db
            try:
                entry_id = self._table.insert(row, ensure=False)
            except BaseException:
                db.executable.rollback()
                raise
            return int(entry_id)

    def purge_older_than(self, days: float) -> int:
        """Delete entries created more than ``days`` days ago; returns how many."""
        cutoff = self._clock() - float(days) * SECONDS_PER_DAY
        return self._delete(self._table.table.c.created_at < cutoff)

    def apply_retention(self) -> int:
        """Apply ``retention_days`` (nothing when it is None)."""
        if self.retention_days is None:
            return 0
        return self.purge_older_than(self.retention_days)

    def purge_all(self) -> int:
        """Delete every entry and leave no trace of their text in the database files."""
        with self._lock:
            count = self._delete(sqlalchemy.true(), checkpoint=False)
            with self._maintenance() as conn:
                conn.exec_driver_sql("VACUUM")
            self._checkpoint(required=True)
            return count

    def _delete(self, clause: Any, *, checkpoint: bool = True) -> int:
        with self._lock:
            db = self.db
            stmt = self._table.table.delete().where(clause)
            try:
                result = db.executable.execute(stmt)
                db.executable.commit()
            except BaseException:
                db.executable.rollback()
                raise
            count = int(result.rowcount or 0)
            if count and checkpoint:
                # secure_delete zeroed the rows in the WAL copy of their pages; moving those
                # pages into the database file now keeps the deleted text out of the WAL.
                self._checkpoint(required=False)
            return count

    def _checkpoint(self, *, required: bool) -> None:
        """``wal_checkpoint(TRUNCATE)``: copy the WAL into the file and empty it."""
        attempts = 20 if required else 1
        for attempt in range(attempts):
            with self._maintenance() as conn:
                busy, _log, _done = conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)").one()
            if not busy:
                return
            if attempt + 1 < attempts:
                time.sleep(0.1)
        if required:
            raise HistoryUnavailable(
                f"Typilot history at {self.path}: the entries were deleted, but another process "
                "kept the file busy, so the old text may stay in its -wal file until that "
                "process exits; run `typilot-lsp history purge --all` again then",
                path=self.path,
            )

    # --- reading ---------------------------------------------------------------------------

    def _kept(self) -> Any:
        """The entries retention keeps: a reader never shows what retention would delete,
        even between two retention passes (or in a process that may not delete)."""
        if self.retention_days is None:
            return sqlalchemy.true()
        cutoff = self._clock() - float(self.retention_days) * SECONDS_PER_DAY
        return self._table.table.c.created_at >= cutoff

    def list_recent(self, limit: int = 50) -> list[dict[str, Any]]:
        """The ``limit`` newest entries retention keeps, newest first."""
        with self._lock:
            rows = self._table.find(self._kept(), order_by="-id", _limit=max(0, int(limit)))
            return [_row(r) for r in rows]

    def get(self, entry_id: int) -> dict[str, Any] | None:
        with self._lock:
            row = self._table.find_one(self._kept(), id=int(entry_id))
            return _row(row) if row is not None else None

    def count(self) -> int:
        with self._lock:
            return int(self._table.count(self._kept()))

    def export(self) -> Iterator[dict[str, Any]]:
        """Every entry, oldest first, read in batches (the lock is not held between them)."""
        last = 0
        while True:
            with self._lock:
                batch = [
                    _row(r)
                    for r in self._table.find(
                        self._table.table.c.id > last,
                        self._kept(),
                        order_by="id",
                        _limit=_EXPORT_BATCH,
                    )
                ]
            if not batch:
                return
            yield from batch
            last = int(batch[-1]["id"])

    # --- closing ---------------------------------------------------------------------------

    def close(self) -> None:
        with self._lock:
            db, self._db = self._db, None
            if db is not None:
                with contextlib.suppress(Exception):
                    db.close()

    def __enter__(self) -> HistoryStore:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


def is_store_error(exc: BaseException) -> bool:
    """Errors that mean the store (not the caller) is broken."""
    return isinstance(
        exc,
        (HistoryUnavailable, sa_exc.SQLAlchemyError, sqlite3.Error, OSError, dataset.DatasetError),
    )
