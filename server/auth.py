"""API keys and the caller's identity: keys are random, stored as SHA-256 hashes, compared in
constant time, and never logged."""
from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass, field
from typing import FrozenSet, Optional

from sqlalchemy import select
from sqlalchemy.engine import Connection

from . import schema as s
from .errors import invalid_key

KEY_BYTES = 20  # 40 hex characters, like the keys wandb users are used to


def new_key() -> str:
    """A fresh random API key."""
    return secrets.token_hex(KEY_BYTES)


def hash_key(key: str) -> str:
    """The stored form of a key. SHA-256 suffices: keys are 160 random bits, not passwords."""
    return hashlib.sha256(key.encode("utf-8", "surrogatepass")).hexdigest()


@dataclass(frozen=True)
class Principal:
    """The authenticated caller."""

    user_id: int
    name: str
    is_admin: bool = False
    is_anonymous: bool = False
    teams: FrozenSet[int] = field(default_factory=frozenset)

    def in_entity(self, entity_id: int) -> bool:
        """The caller is this user, a member of this team, or a server admin."""
        return self.is_admin or entity_id == self.user_id or entity_id in self.teams


def bearer_key(header: Optional[str]) -> Optional[str]:
    """The key of an `Authorization: Bearer <key>` header; None when there is no header.

    A header in another form is treated as a key that matches nothing (401 invalid_key).
    """
    if header is None:
        return None
    scheme, _, value = header.strip().partition(" ")
    if scheme.lower() != "bearer" or not value.strip():
        return ""
    return value.strip()


def key_owner(conn: Connection, key: str) -> tuple:
    """(user id, name, is_admin, is_anonymous) of a key; ApiError 401 invalid_key when it is unknown."""
    digest = hash_key(key)
    row = conn.execute(
        select(s.api_keys.c.key_hash, s.entities.c.id, s.entities.c.name, s.users.c.is_admin, s.users.c.is_anonymous)
        .join(s.entities, s.entities.c.id == s.api_keys.c.user_id)
        .join(s.users, s.users.c.entity_id == s.entities.c.id)
        .where(s.api_keys.c.key_hash == digest)
    ).first()
    if row is None or not hmac.compare_digest(row.key_hash, digest):
        raise invalid_key()
    return row.id, row.name, bool(row.is_admin), bool(row.is_anonymous)


def principal_of(conn: Connection, owner: tuple) -> Principal:
    """The Principal of a key owner, with its teams as they are now."""
    teams = frozenset(
        r[0] for r in conn.execute(select(s.team_members.c.team_id).where(s.team_members.c.user_id == owner[0]))
    )
    return Principal(owner[0], owner[1], owner[2], owner[3], teams)


def authenticate(conn: Connection, key: Optional[str]) -> Optional[Principal]:
    """The Principal owning `key`; None when no key was given; ApiError 401 invalid_key otherwise."""
    if key is None:
        return None
    return principal_of(conn, key_owner(conn, key))
