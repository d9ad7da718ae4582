"""What the dashboard reads and writes: runs with their users, a run with its code and diff, the
run edits (name, notes, tags), the home page's project lists, and chart series.

Permissions are those of spec/protocol.md section 2 (server/access.py); on pages, a project the
caller may not read is reported as not found (404), so outsiders cannot tell private projects
from missing ones.
"""
from __future__ import annotations

import threading
import time
from collections import OrderedDict
from typing import Any, Dict, List, Optional, Sequence

from sqlalchemy import and_, func, or_, select
from sqlalchemy.engine import Connection, Engine

from .. import schema as s
from .. import series
from ..access import Target, for_read, listed_open, may_write_run
from ..auth import Principal
from ..db import writer
from ..errors import ApiError, bad_request, hide, no_permission, not_logged_in  # hide: also data.hide
from ..text import column_text
from ..access import run_row
from ..views import _run_json, run_alerts

MAX_SHOWN_FILE = 2 * 1024 * 1024
MAX_NAME = 1000
MAX_NOTES = 100_000
MAX_TAGS = 200
MAX_TAG = 200


def read_target(conn: Connection, principal: Optional[Principal], entity: str, project: str) -> Target:
    try:
        return for_read(conn, principal, entity, project)
    except ApiError as exc:
        raise hide(exc) from None


def _users(conn: Connection, ids: Sequence[int]) -> Dict[int, str]:
    ids = sorted({i for i in ids if i is not None})
    if not ids:
        return {}
    return dict(conn.execute(select(s.entities.c.id, s.entities.c.name).where(s.entities.c.id.in_(ids))).all())


def may_edit(principal: Optional[Principal], target: Target, row: Any) -> bool:
    """Members of the run's entity, and the user who created the run."""
    return principal is not None and not principal.is_anonymous and (
        target.member or principal.user_id == row.created_by)


def _web_run(row: Any, target: Target, base_url: str, users: Dict[int, str],
             principal: Optional[Principal], color: int) -> Dict[str, Any]:
    out = _run_json(row, target, base_url)
    out["user"] = users.get(row.created_by)
    out["can_edit"] = may_edit(principal, target, row)
    out["can_delete"] = may_write_run(principal, target, row)  # server/deletion.py
    out["color"] = color
    return out


def _run_order(conn: Connection, project_id: int, rows: Sequence[Any]) -> Dict[int, int]:
    """Each run's place among its project's runs by creation (the order of list_runs): the colour
    index every page draws the run with (evlog.js EV.runColor), so a run keeps its colour everywhere."""
    if len(rows) == 1:
        r = rows[0]
        before = conn.execute(select(func.count(s.runs.c.id)).where(
            s.runs.c.project_id == project_id,
            or_(s.runs.c.created_at < r.created_at, and_(s.runs.c.created_at == r.created_at, s.runs.c.id < r.id)))
        ).scalar_one()
        return {r.id: int(before)}
    ids = conn.execute(select(s.runs.c.id).where(s.runs.c.project_id == project_id)
                       .order_by(s.runs.c.created_at, s.runs.c.id)).scalars().all()
    return {pk: i for i, pk in enumerate(ids)}


def list_runs(engine: Engine, principal: Optional[Principal], entity: str, project: str, base_url: str,
              since: Optional[float] = None) -> Dict[str, Any]:
    """{"now", "runs"}: the project's runs (only those updated after `since` when given)."""
    with engine.connect() as conn:
        now = time.time()
        target = read_target(conn, principal, entity, project)
        q = select(s.runs).where(s.runs.c.project_id == target.project_id).order_by(s.runs.c.created_at, s.runs.c.id)
        if since is not None:
            q = q.where(s.runs.c.updated_at >= since)
        rows = conn.execute(q).all()
        users = _users(conn, [r.created_by for r in rows])
        order = _run_order(conn, target.project_id, rows) if rows else {}
    return {"now": now, "entity": target.entity, "project": target.project, "visibility": target.visibility,
            "member": target.member,
            "runs": [_web_run(r, target, base_url, users, principal, order[r.id]) for r in rows]}


def _file(conn: Connection, run_pk: int, path: Optional[str]) -> Optional[str]:
    if not path:
        return None
    row = conn.execute(select(s.files.c.content).where(s.files.c.run_pk == run_pk, s.files.c.path == path)).first()
    if row is None or row.content is None:
        return None
    data = bytes(row.content)
    text = data[:MAX_SHOWN_FILE].decode("utf-8", errors="replace")
    if len(data) > MAX_SHOWN_FILE:
        text += f"\n... ({len(data) - MAX_SHOWN_FILE} more bytes not shown)"
    return text


def get_run(engine: Engine, principal: Optional[Principal], entity: str, project: str, run_id: str,
            base_url: str, *, files: bool = False) -> Dict[str, Any]:
    """The run object plus "user" and "can_edit"; with `files`, members also get the saved code
    ("code_text") and the git diff ("diff_text")."""
    with engine.connect() as conn:
        target = read_target(conn, principal, entity, project)
        try:
            row = run_row(conn, target, run_id)
        except ApiError as exc:
            raise hide(exc) from None
        out = _web_run(row, target, base_url, _users(conn, [row.created_by]), principal,
                       _run_order(conn, target.project_id, [row])[row.id])
        out["alerts"] = run_alerts(row)
        if files and target.member:
            out["code_text"] = _file(conn, row.id, (out.get("code") or {}).get("path"))
            out["diff_text"] = _file(conn, row.id, (out.get("git") or {}).get("diff_file"))
    return out


def edit_run(engine: Engine, principal: Optional[Principal], entity: str, project: str, run_id: str,
             changes: Any, base_url: str) -> Dict[str, Any]:
    """Set a run's name, notes and/or tags (spec/protocol.md 4.5); the run object after."""
    if principal is None:
        raise not_logged_in()
    if not isinstance(changes, dict) or not changes:
        raise bad_request('the body must be a JSON object with "name", "notes" and/or "tags"')
    unknown = set(changes) - {"name", "notes", "tags"}
    if unknown:
        raise bad_request(f"only name, notes and tags can be changed, not {', '.join(sorted(map(str, unknown)))}")
    values: Dict[str, Any] = {}
    if "name" in changes:
        name = changes["name"]
        if name is not None and (not isinstance(name, str) or len(name) > MAX_NAME):
            raise bad_request(f"name must be a string of at most {MAX_NAME} characters, or null")
        values["name"] = column_text(name.strip()) if isinstance(name, str) and name.strip() else None
    if "notes" in changes:
        notes = changes["notes"]
        if notes is not None and (not isinstance(notes, str) or len(notes) > MAX_NOTES):
            raise bad_request(f"notes must be a string of at most {MAX_NOTES} characters, or null")
        values["notes"] = column_text(notes)
    if "tags" in changes:
        tags = changes["tags"]
        if (not isinstance(tags, list) or len(tags) > MAX_TAGS
                or any(not isinstance(t, str) or not t.strip() or len(t) > MAX_TAG for t in tags)):
            raise bad_request(f"tags must be a list of at most {MAX_TAGS} non-empty strings "
                              f"of at most {MAX_TAG} characters")
        seen: List[str] = []
        for t in tags:
            if t.strip() not in seen:
                seen.append(t.strip())
        from ..wire import pack

        values["tags"] = pack(seen)
    with writer(engine).begin() as conn:
        target = for_read(conn, principal, entity, project)
        row = run_row(conn, target, run_id)
        if not may_edit(principal, target, row):
            raise no_permission(f"{principal.name!r} may not edit runs of {target.entity}/{target.project}: "
                                f"only members of {target.entity!r} and the run's creator can")
        conn.execute(s.runs.update().where(s.runs.c.id == row.id).values(updated_at=time.time(), **values))
        row = run_row(conn, target, run_id)
        return _web_run(row, target, base_url, _users(conn, [row.created_by]), principal,
                        _run_order(conn, target.project_id, [row])[row.id])


_SERIES_CACHE: "OrderedDict[tuple, Dict[str, Any]]" = OrderedDict()
_SERIES_CACHE_SIZE = 64
_cache_lock = threading.Lock()


def read_series(engine: Engine, principal: Optional[Principal], entity: str, project: str, run_id: str,
                keys: Optional[List[str]], samples: int, from_seq: int) -> Dict[str, Any]:
    """The chart series of a run (server/series.py). Answers are kept in a small per-process cache
    keyed by the run's next_seq, so reloads and other viewers of an unchanged run cost one query."""
    with engine.connect() as conn:
        target = read_target(conn, principal, entity, project)
        try:
            row = run_row(conn, target, run_id)
        except ApiError as exc:
            raise hide(exc) from None
        ck = (str(engine.url), row.id, row.created_at, row.next_seq, tuple(keys or ()), samples, from_seq)
        with _cache_lock:
            hit = _SERIES_CACHE.get(ck)
            if hit is not None:
                _SERIES_CACHE.move_to_end(ck)
                return {**hit, "state": row.state, "last_step": row.last_step}
        data = series.read_series(conn, row.id, keys, samples, from_seq, row.history_rows)
    out = {"next_seq": row.next_seq, "state": row.state, "last_step": row.last_step,
           "series": {k: [st, va] for k, (st, va) in sorted(data.items())}}
    if from_seq == 0:
        with _cache_lock:
            _SERIES_CACHE[ck] = out
            while len(_SERIES_CACHE) > _SERIES_CACHE_SIZE:
                _SERIES_CACHE.popitem(last=False)
    return out


def home(engine: Engine, principal: Optional[Principal]) -> Dict[str, Any]:
    """The caller's entities with their projects and the open projects of others, each with its
    number of runs and last activity (latest first), and the runs updated last among them."""
    with engine.connect() as conn:
        mine: List[Dict[str, Any]] = []
        ent_ids: List[int] = []
        if principal is not None:
            ent_ids = [principal.user_id, *sorted(principal.teams)]
        ents = dict(conn.execute(select(s.entities.c.id, s.entities.c.name).where(s.entities.c.id.in_(ent_ids))).all()) \
            if ent_ids else {}
        projects = conn.execute(
            select(s.projects.c.id, s.projects.c.entity_id, s.projects.c.name, s.projects.c.visibility,
                   s.projects.c.created_at)
            .where(or_(s.projects.c.entity_id.in_(ent_ids), listed_open()) if ent_ids else listed_open())
            .order_by(s.projects.c.created_at.desc()).limit(500)
        ).all()
        names = _users(conn, [p.entity_id for p in projects])
        activity = _project_activity(conn, [p.id for p in projects])

        def item(p: Any) -> Dict[str, Any]:
            runs, last = activity.get(p.id, (0, None))
            return {"entity": names.get(p.entity_id), "name": p.name, "visibility": p.visibility, "runs": runs,
                    "last_activity": last if last is not None else p.created_at}
        for eid in ent_ids:
            if eid in ents:
                mine.append({"entity": ents[eid], "projects": [item(p) for p in projects if p.entity_id == eid]})
        others = [item(p) for p in projects if p.entity_id not in ents]
        recent = _recent_runs(conn, {p.id: item(p) for p in projects})
    for ent in mine:  # the project worked on last first
        ent["projects"].sort(key=lambda p: -p["last_activity"])
    others.sort(key=lambda p: -p["last_activity"])
    return {"mine": mine, "open": others[:100], "recent": recent}


RECENT_RUNS = 10


def _project_activity(conn: Connection, ids: Sequence[int]) -> Dict[int, tuple]:
    """project id -> (number of runs, last update of any of its runs)."""
    if not ids:
        return {}
    rows = conn.execute(select(s.runs.c.project_id, func.count(s.runs.c.id), func.max(s.runs.c.updated_at))
                        .where(s.runs.c.project_id.in_(list(ids))).group_by(s.runs.c.project_id)).all()
    return {r[0]: (r[1], r[2]) for r in rows}


def _recent_runs(conn: Connection, projects: Dict[int, Dict[str, Any]]) -> List[Dict[str, Any]]:
    """The RECENT_RUNS runs last updated among `projects` (the ones the caller may read)."""
    if not projects:
        return []
    rows = conn.execute(
        select(s.runs.c.project_id, s.runs.c.run_id, s.runs.c.name, s.runs.c.state, s.runs.c.updated_at)
        .where(s.runs.c.project_id.in_(list(projects))).order_by(s.runs.c.updated_at.desc(), s.runs.c.id.desc())
        .limit(RECENT_RUNS)).all()
    return [{"entity": projects[r.project_id]["entity"], "project": projects[r.project_id]["name"], "id": r.run_id,
             "name": r.name, "state": r.state, "updated_at": r.updated_at} for r in rows]


def entity_projects(engine: Engine, principal: Optional[Principal], entity: str) -> Dict[str, Any]:
    from ..views import list_projects

    try:
        return list_projects(engine, principal, entity)
    except ApiError as exc:
        raise hide(exc) from None

