"""The current database schema (SQLAlchemy Core tables). Migrations (migrations.py) create it.

Structured values (config, summary, git, ...) are msgpack blobs: they keep NaN, infinities and
binary exactly, and pack faster than JSON. History lives in `chunks` (the records as received).
"""
from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
)

metadata = MetaData()

schema_version = Table(
    "schema_version",
    metadata,
    Column("version", Integer, primary_key=True, autoincrement=False),
    Column("applied_at", Float, nullable=False),
)

entities = Table(
    "entities",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("name", String(128), nullable=False, unique=True),
    Column("kind", String(8), nullable=False),  # "user" | "team"
    Column("created_at", Float, nullable=False),
)

users = Table(
    "users",
    metadata,
    Column("entity_id", Integer, ForeignKey("entities.id"), primary_key=True, autoincrement=False),
    Column("is_admin", Boolean, nullable=False, default=False),
    Column("is_anonymous", Boolean, nullable=False, default=False),
)

team_members = Table(
    "team_members",
    metadata,
    Column("team_id", Integer, ForeignKey("entities.id"), primary_key=True, autoincrement=False),
    Column("user_id", Integer, ForeignKey("entities.id"), primary_key=True, autoincrement=False),
)

api_keys = Table(
    "api_keys",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("user_id", Integer, ForeignKey("entities.id"), nullable=False),
    Column("key_hash", String(64), nullable=False, unique=True),
    Column("created_at", Float, nullable=False),
)

projects = Table(
    "projects",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("entity_id", Integer, ForeignKey("entities.id"), nullable=False),
    Column("name", String(128), nullable=False),
    Column("visibility", String(8), nullable=False),  # "private" | "open"
    Column("created_at", Float, nullable=False),
    Column("created_by", Integer, ForeignKey("entities.id"), nullable=True),
    UniqueConstraint("entity_id", "name", name="uq_projects_entity_name"),
)

runs = Table(
    "runs",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("project_id", Integer, ForeignKey("projects.id"), nullable=False),
    Column("run_id", String(128), nullable=False),
    Column("name", Text),
    Column("notes", Text),
    Column("tags", LargeBinary),
    Column("group_name", Text),
    Column("job_type", Text),
    Column("state", String(16), nullable=False),
    Column("exit_code", Integer),
    Column("created_at", Float, nullable=False),
    Column("updated_at", Float, nullable=False),
    Column("started_at", Float),
    Column("ended_at", Float),
    Column("runtime", Float),
    Column("sessions", Integer, nullable=False, default=1),
    Column("next_seq", BigInteger, nullable=False),
    Column("missing_records", BigInteger, nullable=False, default=0),
    Column("warnings", BigInteger, nullable=False, default=0),
    Column("history_rows", BigInteger, nullable=False, default=0),
    Column("last_step", BigInteger),
    Column("config", LargeBinary),
    Column("summary", LargeBinary),
    Column("settings", LargeBinary),
    Column("program", LargeBinary),
    Column("git", LargeBinary),
    Column("code", LargeBinary),
    Column("anonymous", Boolean, nullable=False, default=False),
    Column("created_by", Integer, ForeignKey("entities.id"), nullable=True),
    UniqueConstraint("project_id", "run_id", name="uq_runs_project_run"),
)
Index("ix_runs_project_group", runs.c.project_id, runs.c.group_name)

# The run's records themselves, in chunks: one row per applied request, holding the contiguous
# records first_seq..last_seq exactly as msgpack envelopes (spec/format.md 2.3), zstd-compressed.
# Ingestion stores what it received without re-encoding a record; history is read from here.
# No foreign key: the run row is locked by the same transaction.
chunks = Table(
    "chunks",
    metadata,
    Column("run_pk", Integer, primary_key=True, autoincrement=False),
    Column("first_seq", BigInteger, primary_key=True, autoincrement=False),
    Column("last_seq", BigInteger, nullable=False),
    Column("history_rows", Integer, nullable=False),
    Column("data", LargeBinary, nullable=False),
)


def _per_chunk(name: str) -> Table:
    """A per-chunk index (server/chunkindex.py): one row per chunk that has items, written in the
    chunk's ingesting transaction, so a page reads it and never the run's history."""
    return Table(
        name,
        metadata,
        Column("run_pk", Integer, primary_key=True, autoincrement=False),
        Column("first_seq", BigInteger, primary_key=True, autoincrement=False),
        Column("data", LargeBinary, nullable=False),
    )


# Chart summaries of the chunks holding history (server/series.py): `data` is a msgpack map
# key -> [steps, values], each little-endian binary (int64 steps, float64 values); empty: nothing to chart.
series = _per_chunk("series")
# Media values (server/media.py): a msgpack array of [step, key, media map] (nested keys joined with
# "/"), in record order; the run page's media panel.
media = _per_chunk("media")
# System samples (server/system.py): a msgpack array of [time, {metric: number}] in record order.
system = _per_chunk("system")
# Console output (server/output.py): a msgpack array of [seq, stream, text] of the chunk's `output`
# records, in seq order; GET {run}/output pages through it by seq, the run page's Logs.
output = _per_chunk("output")

files = Table(
    "files",
    metadata,
    Column("run_pk", Integer, ForeignKey("runs.id"), primary_key=True, autoincrement=False),
    Column("path", String(1024), primary_key=True),
    Column("kind", String(16), nullable=False),
    Column("sha256", String(64)),
    Column("size", BigInteger),
    Column("content", LargeBinary),
    Column("uploaded_at", Float),
)
