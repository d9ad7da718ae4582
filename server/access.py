"""Permission decisions (spec/protocol.md section 2): who may read and write which project."""
from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any, Optional

from sqlalchemy import select
from sqlalchemy.engine import Connection
from sqlalchemy.exc import IntegrityError

from . import schema as s
from .auth import Principal
from .errors import ApiError, no_permission, no_such_entity, not_logged_in
from .names import MEDIA_PATH, check_name, check_run_id

PRIVATE, OPEN = "private", "open"


@dataclass
class Target:
    """A resolved entity/project and what the caller may do there."""

    entity_id: int
    entity: str
    project: str
    project_id: Optional[int]
    visibility: Optional[str]
    member: bool  # the caller is in the entity: sees git info and code


def entity_row(conn: Connection, name: str) -> Any:
    """The entities row named `name`; ApiError 404 no_such_entity when there is none."""
    check_name("entity", name)
    row = conn.execute(select(s.entities).where(s.entities.c.name == name)).first()
    if row is None:
        raise no_such_entity(name)
    return row


def project_row(conn: Connection, entity_id: int, name: str) -> Any:
    return conn.execute(
        select(s.projects).where(s.projects.c.entity_id == entity_id, s.projects.c.name == name)
    ).first()


def can_read_entity(principal: Optional[Principal], entity_id: int) -> bool:
    return principal is not None and principal.in_entity(entity_id)


def for_read(conn: Connection, principal: Optional[Principal], entity: str, project: str) -> Target:
    """Resolve a project the caller wants to read; 404 / 403 with the reason otherwise."""
    ent = entity_row(conn, entity)
    check_name("project", project)
    member = can_read_entity(principal, ent.id)
    proj = project_row(conn, ent.id, project)
    if proj is None:
        raise ApiError(404, "no_such_project", f"project {entity}/{project} does not exist")
    if proj.visibility != OPEN and not member:
        if principal is None:
            raise ApiError(403, "no_permission",
                           f"project {entity}/{project} is private: log in (`evlog login`) as a member of {entity!r}")
        raise no_permission(f"project {entity}/{project} is private and {principal.name!r} is not in {entity!r}")
    return Target(ent.id, ent.name, proj.name, proj.id, proj.visibility, member)


def for_write(conn: Connection, principal: Optional[Principal], entity: Optional[str], project: str) -> Target:
    """Resolve a project the caller wants to write to (checks in the order of the spec: key,
    entity, permission). The project may not exist yet (project_id None): `ensure_project`."""
    if principal is None:
        raise not_logged_in()
    entity = entity or principal.name
    ent = entity_row(conn, entity)
    check_name("project", project)
    member = principal.in_entity(ent.id)
    proj = project_row(conn, ent.id, project)
    if proj is None:
        if not member:
            raise no_permission(
                f"{principal.name!r} may not create projects in {entity!r}: only members of {entity!r} can"
            )
        return Target(ent.id, ent.name, project, None, None, True)
    if member or (proj.visibility == OPEN and not principal.is_anonymous and not is_anonymous_entity(conn, ent.id)):
        return Target(ent.id, ent.name, proj.name, proj.id, proj.visibility, member)
    if proj.visibility == OPEN and not principal.is_anonymous:
        raise no_permission(f"{entity}/{project} belongs to an anonymous account: only that account logs runs there")
    if principal.is_anonymous:
        raise no_permission(f"anonymous accounts may only log to their own entity, not to {entity}/{project}")
    raise no_permission(
        f"{principal.name!r} has no permission to log to {entity}/{project}: it is a private project of {entity!r}; "
        "ask its owner to make it open or to add you to the team"
    )


def ensure_project(conn: Connection, principal: Principal, target: Target) -> int:
    """The project's id, creating it (private; open for anonymous users) when it is missing."""
    if target.project_id is not None:
        return target.project_id
    vis = OPEN if principal.is_anonymous else PRIVATE
    try:
        with conn.begin_nested():
            pid = conn.execute(
                s.projects.insert().values(entity_id=target.entity_id, name=target.project, visibility=vis,
                                           created_at=time.time(), created_by=principal.user_id)
            ).inserted_primary_key[0]
    except IntegrityError:  # created concurrently
        pid = project_row(conn, target.entity_id, target.project).id
    target.project_id, target.visibility = pid, vis
    return pid


def is_anonymous_entity(conn: Connection, entity_id: int) -> bool:
    """The entity is an anonymous account (its projects are read by URL only, written by it alone)."""
    row = conn.execute(select(s.users.c.is_anonymous).where(s.users.c.entity_id == entity_id)).first()
    return bool(row is not None and row.is_anonymous)


# ------------------------------------------------------------------ runs (spec/protocol.md 2)
def may_write_run(principal: Optional[Principal], target: Target, row: Any) -> bool:
    """A run is written by its creator, users in its entity and admins."""
    return principal is not None and (
        principal.in_entity(target.entity_id) or (row.created_by is not None and row.created_by == principal.user_id))


def creator_name(conn: Connection, row: Any) -> str:
    name = conn.execute(select(s.entities.c.name).where(s.entities.c.id == row.created_by)).scalar() \
        if row.created_by is not None else None
    return name or "an unknown user"


def run_id_taken(conn: Connection, target: Target, row: Any) -> ApiError:
    """409 run_id_taken: the id names another user's run in this project."""
    return ApiError(409, "run_id_taken",
                    f"run id {row.run_id!r} in {target.entity}/{target.project} is taken by a run of "
                    f"{creator_name(conn, row)!r}: log this run under another id (leave id= out for a fresh one)",
                    run_id=row.run_id)


def check_run_write(conn: Connection, principal: Optional[Principal], target: Target, row: Any,
                    *, creating: bool = False) -> None:
    """Refuse a write to an existing run: `creating` (the request starts the run at seq 0) by
    anyone but its creator is 409 run_id_taken; other writes by outsiders 403 no_permission."""
    assert principal is not None
    if creating and row.created_by != principal.user_id:
        raise run_id_taken(conn, target, row)
    if not may_write_run(principal, target, row):
        raise ApiError(403, "no_permission",
                       f"run {row.run_id!r} in {target.entity}/{target.project} belongs to "
                       f"{creator_name(conn, row)!r}: only its creator and members of {target.entity!r} may "
                       "write to it", run_id=row.run_id)


def run_row(conn: Connection, target: Target, run_id: str) -> Any:
    """The run `run_id` of the target project, or 404 no_such_run (a bad id: 400)."""
    check_run_id(run_id)
    row = conn.execute(
        select(s.runs).where(s.runs.c.project_id == target.project_id, s.runs.c.run_id == run_id)
    ).first()
    if row is None:
        raise ApiError(404, "no_such_run", f"no run {run_id!r} in {target.entity}/{target.project}")
    return row


def check_not_deleted(conn: Connection, target: Target, run_id: str) -> None:
    """410 run_deleted when `run_id` named a run of this project that was deleted (ids are never reused)."""
    if target.project_id is None:
        return
    hit = conn.execute(select(s.deleted_runs.c.deleted_at).where(
        s.deleted_runs.c.project_id == target.project_id, s.deleted_runs.c.run_id == run_id)).first()
    if hit is not None:
        raise run_deleted(target, run_id)


def run_deleted(target: Target, run_id: str) -> ApiError:
    return ApiError(410, "run_deleted",
                    f"run {run_id!r} of {target.entity}/{target.project} was deleted, and a deleted run's id is "
                    "never used again: log this run under another id (leave id= out for a fresh one)",
                    run_id=run_id)


def check_media_name(path: str, sha256: Optional[str]) -> Optional[str]:
    """A message when `path` is content-addressed (media/<sha256>.<ext>) and `sha256` is not its name."""
    m = MEDIA_PATH.match(path)
    if m is None or sha256 is None or sha256 == m.group(1):
        return None
    return (f"{path} is content-addressed: its bytes must hash to {m.group(1)}, not {sha256}; "
            "a media file's content never changes")


HIDDEN_KINDS = ("code", "diff")


def kept_kind(old: Optional[str], new: str) -> str:
    """A file declared code or diff stays hidden: a later declaration may not make it readable."""
    return old if old in HIDDEN_KINDS and new not in HIDDEN_KINDS else new


def listed_open() -> Any:
    """The SQL condition of projects listed to everyone: open ones, except anonymous accounts'
    (their printed run URL is the only way in, spec/protocol.md 2)."""
    anonymous = select(s.users.c.entity_id).where(s.users.c.is_anonymous.is_(True))
    return (s.projects.c.visibility == OPEN) & s.projects.c.entity_id.not_in(anonymous.scalar_subquery())
