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
from .names import check_name

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
    if member or (proj.visibility == OPEN and not principal.is_anonymous):
        return Target(ent.id, ent.name, proj.name, proj.id, proj.visibility, member)
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
