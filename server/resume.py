"""`GET {run}/state`: what a client needs to resume a run on a machine without its run folder
(spec/protocol.md 3.1): identity, config, summary, last step and the next seq, as msgpack so that
values come back exactly as they were logged (NaN, binary, int keys)."""
from __future__ import annotations

from typing import Any, Dict, Optional

import msgpack
from sqlalchemy import select
from sqlalchemy.engine import Engine

from eventlog.protocol import STATE_TYPE  # noqa: F401  (resume.STATE_TYPE: the media type of GET {run}/state)
from eventlog.protocol import run_url

from . import schema as s
from .access import check_not_deleted, check_run_write, for_write
from .auth import Principal
from .errors import ApiError
from .names import check_run_id
from .wire import unpack



def resume_state(engine: Engine, principal: Optional[Principal], entity: str, project: str, run_id: str,
                 base_url: str) -> bytes:
    """The run's resumable state as a msgpack map; 404 no_such_run when the run does not exist.
    Needs write permission on the project: only a client that may continue the run asks."""
    check_run_id(run_id)
    with engine.connect() as conn:
        target = for_write(conn, principal, entity, project)
        row = None
        if target.project_id is not None:
            row = conn.execute(
                select(s.runs).where(s.runs.c.project_id == target.project_id, s.runs.c.run_id == run_id)
            ).first()
        if row is None:
            check_not_deleted(conn, target, run_id)
        else:
            check_run_write(conn, principal, target, row)
    if row is None:
        raise ApiError(404, "no_such_run", f"no run {run_id!r} in {target.entity}/{target.project}")
    out: Dict[str, Any] = {
        "id": row.run_id, "entity": target.entity, "project": target.project,
        "name": row.name, "notes": row.notes, "tags": unpack(row.tags) or [], "group": row.group_name,
        "job_type": row.job_type, "state": row.state, "exit_code": row.exit_code, "started_at": row.started_at,
        "sessions": row.sessions, "config": unpack(row.config) or {}, "summary": unpack(row.summary) or {},
        "last_step": row.last_step, "next_seq": row.next_seq, "history_rows": row.history_rows,
        "missing_records": row.missing_records, "updated_at": row.updated_at,
        "settings": unpack(row.settings), "url": run_url(base_url, target.entity, target.project, row.run_id),
    }
    if row.metrics is not None:  # define_metric definitions and their summary state
        out["metrics"] = unpack(row.metrics)
    return msgpack.packb(out, use_bin_type=True)
