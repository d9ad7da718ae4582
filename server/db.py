"""Database engines: URL resolution (embedded SQLite by default, PostgreSQL by URL) and setup.

Writers on SQLite take the write lock at BEGIN (`BEGIN IMMEDIATE`) so two writers never deadlock
upgrading read locks; on PostgreSQL run rows are locked with SELECT ... FOR UPDATE instead.
"""
from __future__ import annotations

import os
import threading
import time
from pathlib import Path
from typing import Optional

from sqlalchemy import create_engine, event
from sqlalchemy.engine import Engine

ENV_DB = "EVLOG_SERVER_DB"
SQLITE_BUSY_MS = 60_000
_GATE = "evlog_write_gate"


def data_dir() -> Path:
    """The user's data folder for evlog (XDG_DATA_HOME/evlog, default ~/.local/share/evlog)."""
    base = os.environ.get("XDG_DATA_HOME") or os.path.join(os.path.expanduser("~"), ".local", "share")
    return Path(base) / "evlog"


def resolve_url(url: Optional[str] = None) -> str:
    """The SQLAlchemy URL to use: `url`, else $EVLOG_SERVER_DB, else the embedded SQLite file.

    A bare path means a SQLite file; `postgresql://` and `postgres://` mean psycopg 3.
    """
    url = url or os.environ.get(ENV_DB) or ""
    if not url:
        path = data_dir() / "server.db"
        path.parent.mkdir(parents=True, exist_ok=True)
        return f"sqlite:///{path}"
    if "://" not in url:
        return f"sqlite:///{os.path.abspath(url)}"
    for prefix in ("postgresql://", "postgres://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix):]
    return url


def is_sqlite(engine: Engine) -> bool:
    return engine.dialect.name == "sqlite"


def make_engine(url: Optional[str] = None, *, pool_size: int = 8) -> Engine:
    """An Engine for `url` (see resolve_url), configured for concurrent ingestion."""
    url = resolve_url(url)
    if url.startswith("sqlite"):
        if url.startswith("sqlite:///") and url != "sqlite:///:memory:":
            Path(url[len("sqlite:///"):]).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(
            url,
            connect_args={"check_same_thread": False, "timeout": SQLITE_BUSY_MS / 1000},
            pool_size=pool_size,
            max_overflow=pool_size,
        )
        _setup_sqlite(engine)
        return engine
    return create_engine(url, pool_size=pool_size, max_overflow=pool_size, pool_pre_ping=True)


def _wal(cur) -> None:  # noqa: ANN001 - a DB-API cursor
    """Switch a new connection to WAL. SQLite may answer "database is locked" at once, without its
    busy handler, when several connections of a new database switch together (workers starting):
    so retry for up to the busy timeout."""
    import sqlite3

    deadline = time.monotonic() + SQLITE_BUSY_MS / 1000
    while True:
        try:
            cur.execute("PRAGMA journal_mode=WAL")
            return
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or time.monotonic() > deadline:
                raise
            time.sleep(0.01)


def _setup_sqlite(engine: Engine) -> None:
    @event.listens_for(engine, "connect")
    def _connect(dbapi_conn, _record) -> None:  # noqa: ANN001
        dbapi_conn.isolation_level = None  # SQLAlchemy emits BEGIN itself (below)
        cur = dbapi_conn.cursor()
        _wal(cur)
        cur.execute("PRAGMA synchronous=NORMAL")
        cur.execute("PRAGMA foreign_keys=ON")
        cur.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_MS}")
        cur.close()

    # Writers of one process queue on a lock before they ask SQLite for its write lock: SQLite's
    # busy handler polls, and with dozens of threads polling some starve past any timeout; so at
    # most one writer per process waits inside SQLite. (Correctness still rests on SQLite's lock.)
    gate = threading.Lock()

    @event.listens_for(engine, "begin")
    def _begin(conn) -> None:  # noqa: ANN001
        if not conn.get_execution_options().get("write"):
            conn.exec_driver_sql("BEGIN")
            return
        if gate.acquire(timeout=SQLITE_BUSY_MS / 1000):  # past that, SQLite's own wait decides
            conn.info[_GATE] = True
        try:
            conn.exec_driver_sql("BEGIN IMMEDIATE")
        except BaseException:
            _release(conn.info)
            raise

    def _release(info: dict) -> None:
        if info.pop(_GATE, None):
            gate.release()

    event.listen(engine, "commit", lambda conn: _release(conn.info))
    event.listen(engine, "rollback", lambda conn: _release(conn.info))
    # a connection returned to the pool mid-transaction is rolled back by the pool, not by a
    # Connection: release there too, so the gate can never stay taken
    event.listen(engine, "checkin", lambda _dbapi, record: _release(record.info))


def writer(engine: Engine) -> Engine:
    """The same engine, marked so SQLite transactions take the write lock when they begin."""
    return engine.execution_options(write=True)
