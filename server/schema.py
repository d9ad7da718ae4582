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

# dashboard sign-ins (server/web/session.py): the cookie's random id is kept only as its SHA-256;
# deleting an API key deletes its sessions
sessions = Table(
    "sessions",
    metadata,
    Column("token_hash", String(64), primary_key=True),
    Column("api_key_id", Integer, ForeignKey("api_keys.id", ondelete="CASCADE"), nullable=False, index=True),
    Column("created_at", Float, nullable=False),
    Column("expires_at", Float, nullable=False),
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
    Column("metrics", LargeBinary),  # define_metric definitions and their summary state (migration 6)
    Column("alerts", LargeBinary),   # the run's alert records, newest ALERTS_KEPT (migration 6)
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

# Artifacts (server/artifacts.py, spec/protocol.md 8; migration 7). File contents are per project,
# named by their SHA-256 (stored once whatever version holds them), in parts of at most 4 MiB:
# `artifact_parts` rows of an upload, `artifact_blobs` the row that makes a complete upload the blob.
artifact_blobs = Table(
    "artifact_blobs",
    metadata,
    Column("project_id", Integer, primary_key=True, autoincrement=False),
    Column("sha256", String(64), primary_key=True),
    Column("size", BigInteger, nullable=False),
    Column("upload_id", String(32), nullable=False),
    Column("created_at", Float, nullable=False),
)
artifact_parts = Table(
    "artifact_parts",
    metadata,
    Column("upload_id", String(32), primary_key=True),
    Column("part", Integer, primary_key=True, autoincrement=False),
    Column("data", LargeBinary, nullable=False),
)
artifacts = Table(
    "artifacts",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("project_id", Integer, ForeignKey("projects.id"), nullable=False),
    Column("name", String(128), nullable=False),
    Column("type", String(128), nullable=False),
    Column("created_at", Float, nullable=False),
    Column("updated_at", Float, nullable=False),
    UniqueConstraint("project_id", "name", name="uq_artifacts_project_name"),
)
artifact_versions = Table(
    "artifact_versions",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("artifact_id", Integer, ForeignKey("artifacts.id"), nullable=False),
    Column("version", Integer, nullable=False),
    Column("digest", String(64), nullable=False),
    Column("description", Text),
    Column("metadata", LargeBinary),  # msgpack map
    Column("files", LargeBinary, nullable=False),  # msgpack list of manifest maps (spec/format.md 8)
    Column("size", BigInteger, nullable=False),
    Column("file_count", Integer, nullable=False),
    Column("run_pk", Integer),  # the run that logged it first
    Column("created_at", Float, nullable=False),
    UniqueConstraint("artifact_id", "version", name="uq_artifact_versions_version"),
    UniqueConstraint("artifact_id", "digest", name="uq_artifact_versions_digest"),
)
artifact_aliases = Table(
    "artifact_aliases",
    metadata,
    Column("artifact_id", Integer, primary_key=True, autoincrement=False),
    Column("alias", String(128), primary_key=True),
    Column("version_id", Integer, nullable=False),
)
# A run's `artifact` / `use_artifact` records as applied (idempotent on run and seq); `version_id`
# null: a use of a version this server does not hold.
artifact_events = Table(
    "artifact_events",
    metadata,
    Column("run_pk", Integer, primary_key=True, autoincrement=False),
    Column("seq", BigInteger, primary_key=True, autoincrement=False),
    Column("action", String(8), nullable=False),  # "log" | "use"
    Column("version_id", Integer),
    Column("path", Text, nullable=False),  # entity/project/name:vN as logged or asked
    Column("created_at", Float, nullable=False),
)
# Deleted runs (server/deletion.py; migration 8): their data is gone, their ids stay taken forever.
deleted_runs = Table(
    "deleted_runs",
    metadata,
    Column("project_id", Integer, ForeignKey("projects.id"), primary_key=True, autoincrement=False),
    Column("run_id", String(128), primary_key=True),
    Column("deleted_at", Float, nullable=False),
    Column("deleted_by", Integer, ForeignKey("entities.id"), nullable=True),  # null: `evlog server runs delete`
)
ARTIFACT_TABLES = ("artifact_blobs", "artifact_parts", "artifacts", "artifact_versions", "artifact_aliases",
                   "artifact_events")
