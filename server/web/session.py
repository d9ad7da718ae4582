"""Browser sessions: sign-in with an API key, a random session id in a cookie, and CSRF tokens.

A session is a row of `sessions` holding the SHA-256 of a random 256-bit id; the id itself lives
only in the browser's cookie, so the database's contents are not enough to make a cookie. The row
names the API key signed in with: deleting the key (revoke) deletes its sessions, and sign-out
deletes the row, so a copied cookie stops working on every worker and host sharing the database.
The cookie is HttpOnly and SameSite=Lax (Secure behind https).

CSRF: every state-changing request made with the cookie must carry the session's CSRF token (an
HMAC keyed by the session id, so also not derivable from the database) in the `X-CSRF-Token`
header or a `csrf` form field, and an `Origin` header, when the browser sends one, must be this
server's. The sign-in form is protected the same way with a pre-session token (double-submit cookie).
"""
from __future__ import annotations

import hashlib
import hmac
import re
import secrets
import time
from dataclasses import dataclass
from typing import Optional, Tuple

from sqlalchemy import select
from sqlalchemy.engine import Connection, Engine

from .. import schema as s
from ..auth import Principal, hash_key, principal_of
from ..db import writer
from ..errors import ApiError

COOKIE = "evlog_session"
PRE_COOKIE = "evlog_signin"
MAX_AGE = 30 * 24 * 3600
MAX_PER_KEY = 100  # sessions kept per API key; signing in again ends the oldest beyond that
CSRF_HEADER = "x-csrf-token"
_TOKEN = re.compile(r"[A-Za-z0-9_-]{43}")  # secrets.token_urlsafe(32)


@dataclass(frozen=True)
class Session:
    principal: Principal
    token: str  # the cookie value
    csrf: str


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def _csrf(token: str) -> str:
    return hmac.new(token.encode(), b"csrf", hashlib.sha256).hexdigest()[:40]


def open_session(engine: Engine, api_key: str) -> Tuple[str, Principal]:
    """(cookie value, principal) of a new session for a valid key; ApiError 401 invalid_key otherwise."""
    digest = hash_key(api_key.strip())
    now = time.time()
    token = secrets.token_urlsafe(32)
    with writer(engine).begin() as conn:
        row = conn.execute(
            select(s.api_keys.c.id, s.api_keys.c.key_hash, s.entities.c.id.label("uid"), s.entities.c.name,
                   s.users.c.is_admin, s.users.c.is_anonymous)
            .join(s.entities, s.entities.c.id == s.api_keys.c.user_id)
            .join(s.users, s.users.c.entity_id == s.entities.c.id)
            .where(s.api_keys.c.key_hash == digest)
        ).first()
        if row is None or not hmac.compare_digest(row.key_hash, digest):
            raise ApiError(401, "invalid_key", "that API key is not valid on this server")
        t = s.sessions
        conn.execute(t.delete().where(t.c.expires_at < now))
        conn.execute(t.insert().values(token_hash=_digest(token), api_key_id=row.id, created_at=now,
                                       expires_at=now + MAX_AGE))
        oldest = (select(t.c.token_hash).where(t.c.api_key_id == row.id)
                  .order_by(t.c.created_at.desc(), t.c.token_hash).offset(MAX_PER_KEY))
        conn.execute(t.delete().where(t.c.token_hash.in_(oldest.scalar_subquery())))
        principal = principal_of(conn, (row.uid, row.name, bool(row.is_admin), bool(row.is_anonymous)))
    return token, principal


def read_session(conn: Connection, token: Optional[str]) -> Optional[Session]:
    """The session of a cookie value, or None when it is absent, expired, ended, revoked or made up."""
    if not token or not _TOKEN.fullmatch(token):
        return None
    row = conn.execute(
        select(s.entities.c.id, s.entities.c.name, s.users.c.is_admin, s.users.c.is_anonymous)
        .select_from(s.sessions)
        .join(s.api_keys, s.api_keys.c.id == s.sessions.c.api_key_id)
        .join(s.entities, s.entities.c.id == s.api_keys.c.user_id)
        .join(s.users, s.users.c.entity_id == s.entities.c.id)
        .where(s.sessions.c.token_hash == _digest(token), s.sessions.c.expires_at > time.time())
    ).first()
    if row is None:
        return None
    principal = principal_of(conn, (row.id, row.name, bool(row.is_admin), bool(row.is_anonymous)))
    return Session(principal, token, _csrf(token))


def close_session(engine: Engine, token: str) -> bool:
    """End the session of a cookie value on the server (sign-out); False when there was none."""
    if not _TOKEN.fullmatch(token or ""):
        return False
    with writer(engine).begin() as conn:
        return bool(conn.execute(s.sessions.delete().where(s.sessions.c.token_hash == _digest(token))).rowcount)


def new_pre_token() -> str:
    return secrets.token_urlsafe(24)


def same_token(a: Optional[str], b: Optional[str]) -> bool:
    return bool(a) and bool(b) and hmac.compare_digest(str(a), str(b))
