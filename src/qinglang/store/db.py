"""Engine and session handling for SQLite (WAL, one writer) and PostgreSQL.

Reads run concurrently; every write goes through `Database.write()`, which on SQLite takes a process-wide
lock and opens the transaction with BEGIN IMMEDIATE so writers never deadlock on lock upgrades.
The commit happens before `write()` returns, so callers acknowledge only durable data.

Between processes (the API server and the job worker share one SQLite file), writers also queue on an
advisory lock file beside the database: a waiting writer wakes the moment the other commits, instead of
sleeping in SQLite's busy handler (which backs off in steps of up to 100 ms and made the intake p99).
"""

from __future__ import annotations

import fcntl
import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event, text
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session, sessionmaker


class Database:
    def __init__(self, url: str) -> None:
        self.url = url
        self.is_sqlite = make_url(url).get_backend_name() == "sqlite"
        self._write_lock = threading.Lock()
        self._lock_file: str | None = None
        self._lock_fd: int | None = None
        self._lock_pid = 0
        if self.is_sqlite:
            path = make_url(url).database
            if path and path != ":memory:":
                Path(path).parent.mkdir(parents=True, exist_ok=True)
                self._lock_file = f"{path}.write-lock"
            self.engine = create_engine(url, connect_args={"check_same_thread": False, "timeout": 30},
                                        pool_size=8, max_overflow=8)
            _sqlite_tuning(self.engine)
        else:
            self.engine = create_engine(url, pool_pre_ping=True, pool_size=8, max_overflow=8)
        self._sessions = sessionmaker(self.engine, expire_on_commit=False)

    @contextmanager
    def read(self) -> Iterator[Session]:
        """A session for reads. Closing it discards any writes; loaded objects stay readable (detached)."""
        with self._sessions() as s:
            yield s

    @contextmanager
    def write(self) -> Iterator[Session]:
        """A write transaction, committed (durably) on normal exit and rolled back on error."""
        lock = self._write_lock if self.is_sqlite else _NO_LOCK
        with lock, self._file_lock(), self._sessions() as s:
            if self.is_sqlite:
                s.connection(execution_options={"sqlite_begin": "IMMEDIATE"})
            try:
                yield s
                s.commit()
            except BaseException:
                s.rollback()
                raise

    @contextmanager
    def _file_lock(self) -> Iterator[None]:
        """The cross-process writer queue (SQLite files only; the caller holds the thread lock)."""
        if self._lock_file is None:
            yield
            return
        if self._lock_fd is None or os.getpid() != self._lock_pid:
            self._lock_fd = os.open(self._lock_file, os.O_RDWR | os.O_CREAT, 0o600)
            self._lock_pid = os.getpid()
        fcntl.flock(self._lock_fd, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(self._lock_fd, fcntl.LOCK_UN)

    def dispose(self) -> None:
        self.engine.dispose()

    def ping(self) -> bool:
        with self.engine.connect() as c:
            return c.execute(text("SELECT 1")).scalar() == 1


class _NoLock:
    def __enter__(self) -> None:
        return None

    def __exit__(self, *exc: Any) -> None:
        return None


_NO_LOCK = _NoLock()


def _sqlite_tuning(engine: Engine) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn: Any, _record: Any) -> None:
        dbapi_conn.isolation_level = None  # we issue BEGIN ourselves
        cur = dbapi_conn.cursor()
        cur.execute("PRAGMA journal_mode=WAL")
        cur.execute("PRAGMA synchronous=FULL")  # an acknowledged commit survives power loss too
        cur.execute("PRAGMA foreign_keys=ON")
        cur.execute("PRAGMA busy_timeout=30000")
        cur.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Any) -> None:
        mode = conn.get_execution_options().get("sqlite_begin", "")
        conn.exec_driver_sql(f"BEGIN {mode}".strip())


_databases: dict[str, Database] = {}
_lock = threading.Lock()


def get_database(url: str) -> Database:
    """One Database (engine + pool) per URL per process."""
    with _lock:
        db = _databases.get(url)
        if db is None:
            db = _databases[url] = Database(url)
        return db
