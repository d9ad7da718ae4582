"""Account administration: users, API keys, teams, project visibility, anonymous accounts.

These run directly against the database (the `evlog server users|teams|projects` commands) or
inside the app (anonymous accounts). Errors are AdminError with a message for the terminal.
"""
from __future__ import annotations

import math
import secrets
import string
import time
from typing import Any, Iterable, List, Optional, Tuple

from sqlalchemy import select
from sqlalchemy.engine import Connection, Engine

from eventlog.errors import Error as EvlogError

from . import schema as s
from .access import OPEN, PRIVATE
from .auth import hash_key, new_key
from .db import writer
from .errors import ApiError
from .names import NAME_RE


class AdminError(EvlogError):
    """An administration request that cannot be done; the message says why."""


def _check(kind: str, name: str) -> None:
    if not NAME_RE.match(name or ""):
        raise AdminError(f"invalid {kind} name {name!r}: use 1-128 letters, digits, '_', '-', '.', "
                         "starting with a letter or digit")


def _entity(conn: Connection, name: str):  # noqa: ANN202
    return conn.execute(select(s.entities).where(s.entities.c.name == name)).first()


def _create_user(conn: Connection, name: str, *, admin: bool, anonymous: bool) -> str:
    now = time.time()
    eid = conn.execute(s.entities.insert().values(name=name, kind="user", created_at=now)).inserted_primary_key[0]
    conn.execute(s.users.insert().values(entity_id=eid, is_admin=admin, is_anonymous=anonymous))
    key = new_key()
    conn.execute(s.api_keys.insert().values(user_id=eid, key_hash=hash_key(key), created_at=now))
    return key


def add_user(engine: Engine, name: str, *, admin: bool = False) -> str:
    """Create user `name` (an entity of its own) and return its first API key."""
    _check("user", name)
    with writer(engine).begin() as conn:
        if _entity(conn, name) is not None:
            raise AdminError(f"an entity named {name!r} already exists")
        return _create_user(conn, name, admin=admin, anonymous=False)


def add_key(engine: Engine, name: str) -> str:
    """A new additional API key for existing user `name`."""
    with writer(engine).begin() as conn:
        ent = _entity(conn, name)
        if ent is None or ent.kind != "user":
            raise AdminError(f"no user named {name!r}")
        key = new_key()
        conn.execute(s.api_keys.insert().values(user_id=ent.id, key_hash=hash_key(key), created_at=time.time()))
        return key


def revoke_keys(engine: Engine, name: str, key: Optional[str] = None) -> int:
    """Delete API key `key` of user `name`, or all of the user's keys; returns how many. The keys
    stop working at once (within the server's 5 s cache of keys) and their browser sessions end."""
    with writer(engine).begin() as conn:
        ent = _entity(conn, name)
        if ent is None or ent.kind != "user":
            raise AdminError(f"no user named {name!r}")
        where = s.api_keys.c.user_id == ent.id
        if key is not None:
            where = where & (s.api_keys.c.key_hash == hash_key(key.strip()))
        n = conn.execute(s.api_keys.delete().where(where)).rowcount
        if key is not None and not n:
            raise AdminError(f"user {name!r} has no such key (a key is shown once, when it is made)")
        return n


def add_team(engine: Engine, team: str, members: Iterable[str]) -> List[str]:
    """Create team `team` if needed and add `members` (existing users); returns all members."""
    _check("team", team)
    with writer(engine).begin() as conn:
        ent = _entity(conn, team)
        if ent is None:
            tid = conn.execute(
                s.entities.insert().values(name=team, kind="team", created_at=time.time())
            ).inserted_primary_key[0]
        elif ent.kind != "team":
            raise AdminError(f"{team!r} is a user, not a team")
        else:
            tid = ent.id
        for m in members:
            user = _entity(conn, m)
            if user is None or user.kind != "user":
                raise AdminError(f"no user named {m!r} (teams have users as members)")
            exists = conn.execute(
                select(s.team_members).where(s.team_members.c.team_id == tid, s.team_members.c.user_id == user.id)
            ).first()
            if exists is None:
                conn.execute(s.team_members.insert().values(team_id=tid, user_id=user.id))
        rows = conn.execute(
            select(s.entities.c.name).join(s.team_members, s.team_members.c.user_id == s.entities.c.id)
            .where(s.team_members.c.team_id == tid).order_by(s.entities.c.name)
        )
        return [r[0] for r in rows]


def set_visibility(engine: Engine, path: str, visibility: str) -> Tuple[str, bool]:
    """Set ENTITY/PROJECT's visibility, creating the project if needed; (visibility, created)."""
    if visibility not in (OPEN, PRIVATE):
        raise AdminError(f"visibility must be {OPEN!r} or {PRIVATE!r}, got {visibility!r}")
    entity, sep, project = path.partition("/")
    if not sep:
        raise AdminError(f"give the project as ENTITY/PROJECT, got {path!r}")
    _check("entity", entity)
    _check("project", project)
    with writer(engine).begin() as conn:
        ent = _entity(conn, entity)
        if ent is None:
            raise AdminError(f"entity {entity!r} does not exist")
        row = conn.execute(
            select(s.projects).where(s.projects.c.entity_id == ent.id, s.projects.c.name == project)
        ).first()
        if row is None:
            conn.execute(s.projects.insert().values(entity_id=ent.id, name=project, visibility=visibility,
                                                    created_at=time.time(), created_by=None))
            return visibility, True
        conn.execute(s.projects.update().where(s.projects.c.id == row.id).values(visibility=visibility))
        return visibility, False


_ANON_ALPHABET = string.ascii_lowercase + string.digits


def create_anonymous(engine: Engine) -> Tuple[str, str]:
    """A new anonymous user with an unguessable name; (api key, name)."""
    with writer(engine).begin() as conn:
        for _ in range(5):
            name = "anon-" + "".join(secrets.choice(_ANON_ALPHABET) for _ in range(16))
            if _entity(conn, name) is None:
                return _create_user(conn, name, admin=False, anonymous=True), name
    raise ApiError(500, "internal", "could not allocate an anonymous account name")


ANONYMOUS_BURST = 10        # anonymous accounts one client address may make at once
ANONYMOUS_REFILL = 360.0    # seconds per further account (10 an hour)


def anonymous_throttle(srv: Any, request: Any) -> None:
    """429 rate_limited with Retry-After when the request's client address has made its anonymous
    accounts for now (ANONYMOUS_BURST at once, one more every ANONYMOUS_REFILL s; per process)."""
    from .throttle import Throttle, client_address

    throttle = getattr(srv, "_anon_throttle", None)
    if throttle is None:
        throttle = srv._anon_throttle = Throttle(burst=ANONYMOUS_BURST, refill=ANONYMOUS_REFILL)
    address = client_address(request)
    wait = throttle.wait(address)
    if wait > 0:
        seconds = max(1, math.ceil(wait))
        raise ApiError(429, "rate_limited", f"too many anonymous accounts made from your address: retry in "
                                            f"{seconds} s (or `evlog login` with a key from the server's admin)",
                       retry_after=seconds)
    throttle.failed(address)
