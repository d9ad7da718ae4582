"""Applying a records body to a run: idempotent by seq, one transaction per request. The applied
records are stored as one zstd chunk (schema.chunks): no per-record rows, no re-encoding."""
from __future__ import annotations

import bisect
import time
from itertools import islice
from operator import itemgetter, lt

from typing import Any, Dict, List, Optional

from sqlalchemy import select
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import IntegrityError, OperationalError

from . import schema as s
from . import media, output, series, system
from .access import HIDDEN_KINDS, check_not_deleted, check_run_write, ensure_project, for_write, kept_kind
from .auth import Principal
from .db import writer
from .errors import ApiError
from .names import check_run_id
from .recordcheck import check_records
from .runstate import Rec, RunState, bad_record
from .wire import Body, pack



def seq_gap(expected: int) -> ApiError:
    return ApiError(409, "seq_gap", f"records must continue at seq {expected}; resend from there",
                    expected_seq=expected)


def check_order(records: List[Rec]) -> None:
    """Seqs must be non-negative and strictly increasing within one body."""
    seqs = list(map(itemgetter(0), records))
    if not seqs or (seqs[0] >= 0 and all(map(lt, seqs, islice(seqs, 1, None)))):
        return
    prev = -1
    for rec, seq in zip(records, seqs):
        if seq < 0:
            raise bad_record(rec, "seq must be a non-negative int")
        if seq <= prev:
            raise ApiError(400, "seq_out_of_order",
                           f"record seq {seq} follows seq {prev}: seqs must increase within a body")
        prev = seq


def next_seq(engine: Engine, principal: Optional[Principal], entity: str, project: str, run_id: str) -> int:
    """The seq the server expects next for a run (0 when the run does not exist yet)."""
    check_run_id(run_id)
    with engine.connect() as conn:
        target = for_write(conn, principal, entity, project)
        if target.project_id is None:
            return 0
        row = conn.execute(
            select(s.runs.c.next_seq, s.runs.c.created_by, s.runs.c.run_id)
            .where(s.runs.c.project_id == target.project_id, s.runs.c.run_id == run_id)
        ).first()
        if row is None:
            check_not_deleted(conn, target, run_id)
            return 0
        check_run_write(conn, principal, target, row)
        return int(row.next_seq)


def ingest(
    engine: Engine,
    principal: Optional[Principal],
    entity: str,
    project: str,
    run_id: str,
    body: Body,
    *,
    gap_ok: bool = False,
) -> Dict[str, Any]:
    """Apply a decoded body to the run; {"next_seq", "applied"}; ApiError 409 seq_gap after
    committing the contiguous prefix when the body has a gap."""
    check_run_id(run_id)
    check_order(body.records)
    check_records(body.records)  # depth, seqs, steps, times, sizes (server/recordcheck.py)
    for attempt in range(3):
        try:
            return _ingest_once(engine, principal, entity, project, run_id, body, gap_ok)
        except IntegrityError:  # the run (or project) was created concurrently: go again
            if attempt == 2:
                raise
        except OperationalError as exc:  # PostgreSQL serialization/deadlock: go again
            if attempt == 2 or "deadlock" not in str(exc).lower():
                raise
            time.sleep(0.05 * (attempt + 1))
    raise AssertionError("unreachable")


def _ingest_once(engine: Engine, principal: Optional[Principal], entity: str, project: str, run_id: str,
                 body: Body, gap_ok: bool) -> Dict[str, Any]:
    records = body.records
    with writer(engine).begin() as conn:
        target = for_write(conn, principal, entity, project)
        row = None
        if target.project_id is not None:
            row = conn.execute(
                select(s.runs).where(s.runs.c.project_id == target.project_id, s.runs.c.run_id == run_id)
                .with_for_update()
            ).first()
        if row is not None:  # a run is written by its creator (and its entity); the seq-0 record starts a run
            check_run_write(conn, principal, target, row, creating=bool(records) and records[0][0] == 0)
        else:
            check_not_deleted(conn, target, run_id)
        have = row.next_seq if row is not None else 0
        first = bisect.bisect_left([r[0] for r in records], have)
        if first == len(records):
            return {"next_seq": have, "applied": 0}
        start = records[first][0]
        if start > have and not gap_ok:
            raise seq_gap(have)
        assert principal is not None
        if row is None:
            state = RunState()
            state.start(records[first], run_id, principal.is_anonymous)
            pid = ensure_project(conn, principal, target)
            state.pk = _insert_run(conn, pid, run_id, principal, state)
        else:
            state = RunState(row)
        if start > have:
            state.fields["missing_records"] = (state.fields["missing_records"] or 0) + start - have
            state.next_seq = start
        applied = state.apply(records, first)
        _write_chunk(conn, state.pk, start, applied, state.history_added, body.stored(first, first + applied))
        stop = first + applied
        payloads = [p for a, b, p in body.frames if b > first and a < stop]  # the chunk's msgpack bytes
        if state.history_added:
            series.write(conn, state.pk, start, records[first:stop])
            media.write(conn, state.pk, start, records[first:stop], payloads)
        system.write(conn, state.pk, start, records[first:stop], payloads)
        output.write(conn, state.pk, start, records[first:stop], payloads)  # with history or not
        _write_files(conn, state.pk, state.files)
        conn.execute(s.runs.update().where(s.runs.c.id == state.pk).values(**state.row_values()))
        gap = first + applied < len(records)
    if gap:
        raise seq_gap(state.next_seq)
    return {"next_seq": state.next_seq, "applied": applied}


def _insert_run(conn: Connection, project_id: int, run_id: str, principal: Principal, state: RunState) -> int:
    values = state.row_values()
    values.update({k: (pack(v) if v is not None else None) for k, v in state.blobs.items()})
    values.update(project_id=project_id, run_id=run_id, created_by=principal.user_id, next_seq=0)
    return conn.execute(s.runs.insert().values(**values)).inserted_primary_key[0]


def _write_chunk(conn: Connection, run_pk: int, first_seq: int, count: int, history_rows: int, data: bytes) -> None:
    """Store records first_seq .. first_seq+count-1 (zstd frames of their msgpack) as one chunk."""
    conn.execute(s.chunks.insert().values(run_pk=run_pk, first_seq=first_seq, last_seq=first_seq + count - 1,
                                          history_rows=history_rows, data=data))


def _write_files(conn: Connection, run_pk: int, entries: Dict[str, Dict[str, Any]]) -> None:
    """Record declared files; a declared sha256 that differs from the stored one drops stale content.
    A file declared code or diff stays so (access.kept_kind)."""
    for path, meta in entries.items():
        cur = conn.execute(
            select(s.files.c.sha256, s.files.c.kind).where(s.files.c.run_pk == run_pk, s.files.c.path == path)
        ).first()
        if cur is not None and cur.kind in HIDDEN_KINDS:
            meta = dict(meta, kind=kept_kind(cur.kind, meta["kind"]))
        if cur is None:
            conn.execute(s.files.insert().values(run_pk=run_pk, path=path, **meta))
        elif meta["sha256"] is not None and cur.sha256 != meta["sha256"]:
            conn.execute(
                s.files.update().where(s.files.c.run_pk == run_pk, s.files.c.path == path)
                .values(content=None, uploaded_at=None, **meta)
            )
        else:
            conn.execute(
                s.files.update().where(s.files.c.run_pk == run_pk, s.files.c.path == path)
                .values(kind=meta["kind"], size=meta["size"] if meta["size"] is not None else s.files.c.size)
            )
