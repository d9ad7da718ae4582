"""Deleting a run (spec/protocol.md 4.9): its records, indexes, files and artifact events go, its
id stays reserved in `deleted_runs`, so an upload to it is refused (410 run_deleted) forever.

Who may: the run's creator, users in its entity, admins (`DELETE {run}`); the server's admin
directly on the database (`evlog server runs delete`, principal None).
"""
from __future__ import annotations

import time
from typing import Any, Dict, Optional

from sqlalchemy import select
from sqlalchemy.engine import Connection, Engine

from . import schema as s
from .access import Target, check_not_deleted, creator_name, entity_row, may_write_run, project_row
from .auth import Principal
from .db import writer
from .errors import ApiError, no_permission, not_logged_in
from .names import check_name, check_run_id


def _run_tables() -> list:
    """Every table holding rows of one run by its `run_pk` (chunks, their indexes, files, ...)."""
    return [t for t in s.metadata.sorted_tables if "run_pk" in t.c and t.name != "artifact_versions"]


def _target(conn: Connection, entity: str, project: str) -> Target:
    ent = entity_row(conn, entity)
    check_name("project", project)
    proj = project_row(conn, ent.id, project)
    if proj is None:
        raise ApiError(404, "no_such_project", f"project {entity}/{project} does not exist")
    return Target(ent.id, ent.name, proj.name, proj.id, proj.visibility, True)


def delete_run(engine: Engine, principal: Optional[Principal], entity: str, project: str, run_id: str,
               *, admin: bool = False) -> Dict[str, Any]:
    """Delete run entity/project/run_id; {"entity", "project", "id", "deleted": true, "deleted_at"}.
    `admin` (the CLI on the database) skips the caller's permission; else the caller must be the
    run's creator, in its entity, or an admin (403 no_permission; 404 for a run it may not read)."""
    check_run_id(run_id)
    if principal is None and not admin:
        raise not_logged_in()
    with writer(engine).begin() as conn:
        target = _target(conn, entity, project)
        row = conn.execute(
            select(s.runs).where(s.runs.c.project_id == target.project_id, s.runs.c.run_id == run_id)
            .with_for_update()
        ).first()
        readable = admin or target.visibility == "open" or principal.in_entity(target.entity_id)
        if row is None or not readable:
            if readable:
                check_not_deleted(conn, target, run_id)
            raise ApiError(404, "no_such_run", f"no run {run_id!r} in {target.entity}/{target.project}")
        target.member = admin or principal.in_entity(target.entity_id)
        if not admin and not may_write_run(principal, target, row):
            raise no_permission(f"{principal.name!r} may not delete run {run_id!r} of {creator_name(conn, row)!r}: "
                                f"only its creator, members of {target.entity!r} and admins can")
        now = time.time()
        conn.execute(s.deleted_runs.insert().values(project_id=target.project_id, run_id=run_id, deleted_at=now,
                                                    deleted_by=None if admin else principal.user_id))
        for table in _run_tables():
            conn.execute(table.delete().where(table.c.run_pk == row.id))
        conn.execute(s.artifact_versions.update().where(s.artifact_versions.c.run_pk == row.id).values(run_pk=None))
        conn.execute(s.runs.delete().where(s.runs.c.id == row.id))
    return {"entity": target.entity, "project": target.project, "id": run_id, "deleted": True, "deleted_at": now}


async def api_delete(srv: Any, request: Any) -> Any:
    """DELETE {run}: with a key, or the dashboard's session cookie and its CSRF token (as PATCH)."""
    from .web.handlers import json_response
    from .web.session import CSRF_HEADER

    pp = request.path_params
    for kind in ("entity", "project"):
        check_name(kind, pp[kind])
    check_run_id(pp["run_id"])
    principal, sess = await srv.web.identify(request)
    if sess is not None:
        srv.web.check_csrf(request, sess, request.headers.get(CSRF_HEADER))
    if principal is None:
        raise not_logged_in()
    out = await srv.call(lambda: delete_run(srv.engine, principal, pp["entity"], pp["project"], pp["run_id"]))
    return json_response(out)
