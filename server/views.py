"""The read side: projects, runs, history and files as the JSON of spec/protocol.md section 4.

Every function takes the engine and the caller, resolves permissions, and returns plain data.
"""
from __future__ import annotations

import hashlib
import time
from typing import Any, Dict, List, Optional, Tuple
from urllib.parse import quote

from sqlalchemy import func, select
from sqlalchemy.engine import Engine

from eventlog.protocol import run_url

from . import schema as s
from .access import OPEN, Target, check_media_name, check_not_deleted, check_run_write, entity_row, for_read, \
    for_write, kept_kind, run_row
from .auth import Principal
from .db import writer
from .errors import ApiError, bad_request, int_param
from .history import downsample, read_rows
from .names import check_path, check_run_id
from .wire import unpack

HIDDEN_KINDS = ("code", "diff")
MAX_SAMPLES = 100_000


def _run_json(row: Any, target: Target, base_url: str) -> Dict[str, Any]:
    out: Dict[str, Any] = {
        "id": row.run_id, "entity": target.entity, "project": target.project,
        "name": row.name, "notes": row.notes, "tags": unpack(row.tags) or [],
        "group": row.group_name, "job_type": row.job_type, "state": row.state, "exit_code": row.exit_code,
        "created_at": row.created_at, "updated_at": row.updated_at, "started_at": row.started_at,
        "ended_at": row.ended_at, "runtime": row.runtime, "sessions": row.sessions,
        "config": unpack(row.config) or {}, "summary": unpack(row.summary) or {},
        "history_rows": row.history_rows, "last_step": row.last_step, "next_seq": row.next_seq,
        "missing_records": row.missing_records, "warnings": row.warnings, "anonymous": bool(row.anonymous),
        "url": run_url(base_url, target.entity, target.project, row.run_id),
        "metrics": metric_definitions(row),
    }
    if target.member:
        for k in ("git", "program", "code"):
            out[k] = unpack(getattr(row, k))
    return out


def metric_definitions(row: Any) -> List[Dict[str, Any]]:
    """The run's define_metric definitions, in the order they were made (spec/protocol.md 4)."""
    state = unpack(row.metrics) if row.metrics is not None else None
    return list(state.get("definitions") or []) if isinstance(state, dict) else []


def run_alerts(row: Any) -> List[Dict[str, Any]]:
    """The run's alerts, oldest first (the newest runstate.ALERTS_KEPT)."""
    return (unpack(row.alerts) if row.alerts is not None else None) or []


def whoami(engine: Engine, principal: Optional[Principal]) -> Dict[str, Any]:
    if principal is None:
        from .errors import not_logged_in
        raise not_logged_in()
    with engine.connect() as conn:
        teams = [r[0] for r in conn.execute(
            select(s.entities.c.name).where(s.entities.c.id.in_(list(principal.teams))).order_by(s.entities.c.name)
        )] if principal.teams else []
    return {"user": principal.name, "entity": principal.name, "admin": principal.is_admin,
            "anonymous": principal.is_anonymous, "teams": teams}


def check_write(engine: Engine, principal: Optional[Principal], entity: Optional[str], project: Optional[str],
                base_url: str, run_id: Optional[str] = None) -> Dict[str, Any]:
    """May the caller write to entity/project (and start run `run_id` there)? 200 with details, or
    the refusal's ApiError (409 run_id_taken, 410 run_deleted for the run)."""
    if not project:
        raise bad_request("give the project: ?project=NAME")
    with engine.connect() as conn:
        target = for_write(conn, principal, entity, project)
        if run_id is not None and target.project_id is not None:
            check_run_id(run_id)
            row = conn.execute(select(s.runs.c.run_id, s.runs.c.created_by).where(
                s.runs.c.project_id == target.project_id, s.runs.c.run_id == run_id)).first()
            if row is None:
                check_not_deleted(conn, target, run_id)
            else:
                check_run_write(conn, principal, target, row, creating=True)
    assert principal is not None
    return {"user": principal.name, "entity": target.entity, "project": target.project,
            "project_exists": target.project_id is not None, "visibility": target.visibility,
            "anonymous": principal.is_anonymous,
            "url": f"{base_url.rstrip('/')}/{quote(target.entity)}/{quote(target.project)}"}


def list_projects(engine: Engine, principal: Optional[Principal], entity: str) -> Dict[str, Any]:
    with engine.connect() as conn:
        ent = entity_row(conn, entity)
        member = principal is not None and principal.in_entity(ent.id)
        q = (
            select(s.projects.c.name, s.projects.c.visibility, s.projects.c.created_at, func.count(s.runs.c.id))
            .select_from(s.projects.outerjoin(s.runs, s.runs.c.project_id == s.projects.c.id))
            .where(s.projects.c.entity_id == ent.id)
            .group_by(s.projects.c.id, s.projects.c.name, s.projects.c.visibility, s.projects.c.created_at)
            .order_by(s.projects.c.name)
        )
        if not member:
            q = q.where(s.projects.c.visibility == OPEN)
        rows = conn.execute(q).all()
    return {"entity": ent.name, "projects": [
        {"name": r[0], "visibility": r[1], "created_at": r[2], "runs": r[3]} for r in rows]}


def list_runs(engine: Engine, principal: Optional[Principal], entity: str, project: str, base_url: str,
              filters: Dict[str, Optional[str]]) -> Dict[str, Any]:
    state = filters.get("state")
    if state is not None and state not in ("running", "finished", "failed", "crashed"):
        raise bad_request(f"state must be running, finished, failed or crashed, got {state!r}")
    with engine.connect() as conn:
        target = for_read(conn, principal, entity, project)
        q = select(s.runs).where(s.runs.c.project_id == target.project_id).order_by(s.runs.c.created_at, s.runs.c.id)
        for key, col in (("group", s.runs.c.group_name), ("job_type", s.runs.c.job_type), ("state", s.runs.c.state)):
            if filters.get(key) is not None:
                q = q.where(col == filters[key])
        rows = conn.execute(q).all()
    out = [_run_json(r, target, base_url) for r in rows]
    tag = filters.get("tag")
    if tag is not None:
        out = [r for r in out if tag in r["tags"]]
    return {"runs": out}


def get_run(engine: Engine, principal: Optional[Principal], entity: str, project: str, run_id: str,
            base_url: str) -> Dict[str, Any]:
    with engine.connect() as conn:
        target = for_read(conn, principal, entity, project)
        row = run_row(conn, target, run_id)
        return dict(_run_json(row, target, base_url), alerts=run_alerts(row))


def parse_history_query(keys: Optional[str], samples: Optional[str], after: Optional[str] = None,
                        limit: Optional[str] = None) -> Tuple[Optional[List[str]], Optional[int], int, Optional[int]]:
    """(keys, samples, after, limit) of GET {run}/history; `samples` (a downsample of the whole run)
    and a page (`after`, `limit`) do not go together."""
    key_list = [k for k in keys.split(",") if k] if keys else None
    n = int_param("samples", samples, None, 1, MAX_SAMPLES)
    page_after = int_param("after", after, -1, -1, 2 ** 63 - 1)
    page_limit = int_param("limit", limit, None, 1, MAX_SAMPLES)
    if n is not None and (after is not None or limit is not None):
        raise bad_request("samples downsamples the whole history: ask for it without after= or limit=")
    return key_list, n, page_after, page_limit


def parse_all_keys(text: Optional[str]) -> bool:
    """GET {run}/history's `all_keys`: 1/true keeps only the rows holding every key of `keys`."""
    if text is None or text in ("0", "false"):
        return False
    if text in ("1", "true"):
        return True
    raise bad_request(f"all_keys must be 1 or 0 (true or false), got {text!r}")


def get_history(engine: Engine, principal: Optional[Principal], entity: str, project: str, run_id: str,
                keys: Optional[List[str]], samples: Optional[int], after: int = -1,
                limit: Optional[int] = None, every: bool = False) -> Dict[str, Any]:
    with engine.connect() as conn:
        target = for_read(conn, principal, entity, project)
        row = run_row(conn, target, run_id)
        rows, nxt = read_rows(conn, row.id, keys, after, limit, every)
    if samples is not None:
        rows = downsample(rows, samples, keys)
    return {"rows": rows, "next": nxt}


async def run_answer(srv: Any, principal: Optional[Principal], request: Any, fn: Any, *args: Any,
                     refuse: Any = None) -> Any:
    """The JSON answer (not cached) of `fn(engine, principal, entity, project, run_id, *args)` for a
    run's route, run off the event loop; `refuse` turns a refusal into another (the dashboard's 404)."""
    from starlette.responses import Response

    from .wire import dumps

    pp = request.path_params
    try:
        out = await srv.call(fn, srv.engine, principal, pp["entity"], pp["project"], pp["run_id"], *args)
    except ApiError as exc:
        raise (refuse(exc) if refuse else exc) from None
    return Response(await srv.call(dumps, out), media_type="application/json", headers={"Cache-Control": "no-store"})


def _hidden(kind: Optional[str], path: str, row: Any) -> bool:
    if kind in HIDDEN_KINDS:
        return True
    git, code = unpack(row.git) or {}, unpack(row.code) or {}
    return path in (git.get("diff_file"), code.get("path"))


def list_files(engine: Engine, principal: Optional[Principal], entity: str, project: str,
               run_id: str) -> Dict[str, Any]:
    with engine.connect() as conn:
        target = for_read(conn, principal, entity, project)
        run = run_row(conn, target, run_id)
        rows = conn.execute(
            select(s.files.c.path, s.files.c.kind, s.files.c.size, s.files.c.sha256, s.files.c.uploaded_at)
            .where(s.files.c.run_pk == run.id).order_by(s.files.c.path)
        ).all()
    return {"files": [
        {"path": r.path, "kind": r.kind, "size": r.size, "sha256": r.sha256, "uploaded": r.uploaded_at is not None}
        for r in rows if target.member or not _hidden(r.kind, r.path, run)]}


def get_file(engine: Engine, principal: Optional[Principal], entity: str, project: str, run_id: str,
             path: str) -> bytes:
    check_path(path)
    with engine.connect() as conn:
        target = for_read(conn, principal, entity, project)
        run = run_row(conn, target, run_id)
        row = conn.execute(
            select(s.files.c.kind, s.files.c.content).where(s.files.c.run_pk == run.id, s.files.c.path == path)
        ).first()
    if row is None or row.content is None:
        raise ApiError(404, "no_such_file", f"run {run_id} has no uploaded file {path!r}")
    if not target.member and _hidden(row.kind, path, run):
        raise ApiError(403, "no_permission", "code and diffs of a run are visible only to members of its entity")
    return bytes(row.content)


def put_file(engine: Engine, principal: Optional[Principal], entity: str, project: str, run_id: str,
             path: str, content: bytes, kind: Optional[str]) -> Dict[str, Any]:
    check_path(path)
    if kind is not None and kind not in ("code", "diff", "media", "other"):
        raise bad_request(f"kind must be code, diff, media or other, got {kind!r}")
    sha = hashlib.sha256(content).hexdigest()
    with writer(engine).begin() as conn:
        target = for_write(conn, principal, entity, project)
        if target.project_id is None:
            raise ApiError(404, "no_such_run", f"no run {run_id!r} in {target.entity}/{target.project}")
        run = run_row(conn, target, run_id)
        check_run_write(conn, principal, target, run)
        wrong = check_media_name(path, sha)
        if wrong:
            raise ApiError(400, "sha256_mismatch", wrong)
        cur = conn.execute(
            select(s.files.c.kind).where(s.files.c.run_pk == run.id, s.files.c.path == path)
        ).first()
        kind = kind or (cur.kind if cur is not None else "other")
        kind = kept_kind(cur.kind if cur is not None else None, kind)
        values = dict(kind=kind, sha256=sha, size=len(content), content=content, uploaded_at=time.time())
        if cur is None:
            conn.execute(s.files.insert().values(run_pk=run.id, path=path, **values))
        else:
            conn.execute(s.files.update().where(s.files.c.run_pk == run.id, s.files.c.path == path).values(**values))
    return {"path": path, "size": len(content), "sha256": sha, "kind": kind}


def set_state(engine: Engine, principal: Optional[Principal], entity: str, project: str, run_id: str,
              state: Any, base_url: str) -> Dict[str, Any]:
    if state != "crashed":
        raise bad_request("only {\"state\": \"crashed\"} can be set; other states come from the run's records")
    with writer(engine).begin() as conn:
        target = for_write(conn, principal, entity, project)
        if target.project_id is None:
            raise ApiError(404, "no_such_run", f"no run {run_id!r} in {target.entity}/{target.project}")
        run = run_row(conn, target, run_id)
        check_run_write(conn, principal, target, run)
        if run.state != "running":
            raise bad_request(f"run {run_id} is {run.state}, not running: it cannot become crashed")
        conn.execute(s.runs.update().where(s.runs.c.id == run.id).values(state="crashed", updated_at=time.time()))
        target.member = principal is not None and principal.in_entity(target.entity_id)
        return _run_json(run_row(conn, target, run_id), target, base_url)
