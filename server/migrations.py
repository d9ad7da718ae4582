"""Versioned schema migrations: the server creates and upgrades its own database.

`schema_version` holds one row per applied migration. `migrate()` applies the missing ones in
order (also one numbered below the highest applied: migration 4 came after 5), in one transaction,
under a database-wide lock (PostgreSQL advisory lock; SQLite's write lock), so several workers or
hosts starting together on one database migrate it exactly once.

Adding a migration: append a function to MIGRATIONS and change schema.py to match; migration
functions must not change once released (freeze the tables they create inside them when a later
migration alters those tables).
"""
from __future__ import annotations

import time
from typing import Callable, List, Tuple

from sqlalchemy import inspect, select, text
from sqlalchemy.engine import Connection, Engine

from eventlog.errors import Error as EvlogError

from . import schema
from .db import is_sqlite, writer

_ADVISORY_LOCK_ID = 0x65766C6F67  # "evlog"


class SchemaTooNewError(EvlogError, RuntimeError):
    """The database was migrated by a newer server than this one."""


def _v1_initial(conn: Connection) -> None:
    """Entities, users, teams, API keys, projects, runs, history, files."""
    later = ("schema_version", "series", "media", "system", "output", "deleted_runs", "sessions") \
        + schema.ARTIFACT_TABLES
    tables = [t for t in schema.metadata.sorted_tables if t.name not in later]
    schema.metadata.create_all(conn, tables=tables)
    if conn.dialect.name == "postgresql":  # chunks are zstd already: no TOAST compression attempts
        conn.execute(text("ALTER TABLE chunks ALTER COLUMN data SET STORAGE EXTERNAL"))


def _v2_series(conn: Connection) -> None:
    """Chart summaries of history chunks (server/series.py); older chunks are summarized on read."""
    schema.series.create(conn, checkfirst=True)


def _v3_media(conn: Connection) -> None:
    """The media index (server/media.py), filled from the chunks already stored."""
    from . import chunkindex
    from .media import MEDIA_MARK, chunk_media

    chunkindex.backfill(conn, schema.media, MEDIA_MARK, chunk_media, history_only=True)


def _v4_output(conn: Connection) -> None:
    """The console output index (server/output.py), filled from the chunks already stored."""
    from . import chunkindex
    from .output import OUTPUT_MARK, chunk_output

    chunkindex.backfill(conn, schema.output, OUTPUT_MARK, chunk_output)


def _v5_system(conn: Connection) -> None:
    """The system metrics index (server/system.py), filled from the chunks already stored."""
    from . import chunkindex
    from .system import SYSTEM_MARK, chunk_samples

    chunkindex.backfill(conn, schema.system, SYSTEM_MARK, chunk_samples)


def _v6_metrics_alerts(conn: Connection) -> None:
    """runs.metrics (define_metric definitions) and runs.alerts; a database made by migration 1 of
    this version has them already."""
    from sqlalchemy import LargeBinary

    have = {c["name"] for c in inspect(conn).get_columns("runs")}
    blob = LargeBinary().compile(dialect=conn.dialect)
    for col in ("metrics", "alerts"):
        if col not in have:
            conn.execute(text(f"ALTER TABLE runs ADD COLUMN {col} {blob}"))


def _v7_artifacts(conn: Connection) -> None:
    """Artifacts: blobs in parts, names, versions, aliases, the runs' log/use events (server/artifacts.py)."""
    for name in schema.ARTIFACT_TABLES:
        schema.metadata.tables[name].create(conn, checkfirst=True)
    if conn.dialect.name == "postgresql":  # checkpoints are rarely compressible: no TOAST compression attempts
        conn.execute(text("ALTER TABLE artifact_parts ALTER COLUMN data SET STORAGE EXTERNAL"))


def _v8_deleted_runs(conn: Connection) -> None:
    """The ids of deleted runs, reserved forever (server/deletion.py)."""
    schema.deleted_runs.create(conn, checkfirst=True)


def _v9_sessions(conn: Connection) -> None:
    """Server-side dashboard sessions (server/web/session.py); cookies of earlier versions no longer sign in."""
    schema.sessions.create(conn, checkfirst=True)


MIGRATIONS: List[Tuple[int, str, Callable[[Connection], None]]] = [
    (1, "initial schema", _v1_initial),
    (2, "chart series", _v2_series),
    (3, "media index", _v3_media),
    (4, "output index", _v4_output),
    (5, "system metrics index", _v5_system),
    (6, "metric definitions and alerts", _v6_metrics_alerts),
    (7, "artifacts", _v7_artifacts),
    (8, "deleted run ids", _v8_deleted_runs),
    (9, "dashboard sessions", _v9_sessions),
]
MIGRATIONS.sort(key=lambda m: m[0])
LATEST = MIGRATIONS[-1][0]


def current_version(conn: Connection) -> int:
    """The highest applied migration (0 for an empty database)."""
    if not inspect(conn).has_table("schema_version"):
        return 0
    v = conn.execute(select(schema.schema_version.c.version).order_by(schema.schema_version.c.version.desc())).first()
    return int(v[0]) if v else 0


def migrate(engine: Engine, *, upto: int = LATEST) -> int:
    """Apply pending migrations up to `upto`; returns the schema version now in force."""
    with writer(engine).begin() as conn:
        if not is_sqlite(engine):
            conn.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": _ADVISORY_LOCK_ID})
        schema.schema_version.create(conn, checkfirst=True)
        applied = set(conn.execute(select(schema.schema_version.c.version)).scalars())
        have = max(applied, default=0)
        if have > LATEST:
            raise SchemaTooNewError(
                f"the database is at schema version {have}, newer than this server's {LATEST}: upgrade evlog"
            )
        for version, _desc, fn in MIGRATIONS:
            if version not in applied and version <= upto:
                fn(conn)
                conn.execute(schema.schema_version.insert().values(version=version, applied_at=time.time()))
                have = max(have, version)
        return have


def check_version(engine: Engine) -> int:
    """The database's schema version; raises SchemaTooNewError when this server is too old."""
    with engine.connect() as conn:
        have = current_version(conn)
    if have > LATEST:
        raise SchemaTooNewError(f"the database is at schema version {have}, newer than this server's {LATEST}")
    return have
