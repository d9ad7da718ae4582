"""Browser sessions: sign-in with an API key, a signed session cookie, and CSRF tokens.

The session cookie is stateless and needs no server secret of its own: it names the API key row
it was opened with, and is signed (HMAC-SHA256) with that key's stored hash, which only the
server's database holds. Deleting the key ends its sessions; every worker and host sharing the
database accepts the cookie. The cookie is HttpOnly and SameSite=Lax (Secure behind https).

CSRF: every state-changing request made with the cookie must carry the session's CSRF token (an
HMAC of the session with a different label) in the `X-CSRF-Token` header or a `csrf` form field,
and an `Origin` header, when the browser sends one, must be this server's. The sign-in form is
protected the same way with a pre-session token (double-submit cookie).
"""
from __future__ import annotations

import hashlib
import hmac
import secrets
import time
from dataclasses import dataclass
from typing import Optional, Tuple

from sqlalchemy import select
from sqlalchemy.engine import Connection, Engine

from .. import schema as s
from ..auth import Principal, hash_key, principal_of
from ..errors import ApiError

COOKIE = "evlog_session"
PRE_COOKIE = "evlog_signin"
MAX_AGE = 30 * 24 * 3600
CSRF_HEADER = "x-csrf-token"


@dataclass(frozen=True)
class Session:
    principal: Principal
    token: str  # the cookie value
    csrf: str


def _sign(secret: str, label: str, payload: str) -> str:
    return hmac.new(secret.encode(), f"{label}:{payload}".encode(), hashlib.sha256).hexdigest()


def open_session(engine: Engine, api_key: str) -> Tuple[str, Principal]:
    """(cookie value, principal) for a valid key; ApiError 401 invalid_key otherwise."""
    digest = hash_key(api_key.strip())
    with engine.connect() as conn:
        row = conn.execute(
            select(s.api_keys.c.id, s.api_keys.c.key_hash, s.entities.c.id.label("uid"), s.entities.c.name,
                   s.users.c.is_admin, s.users.c.is_anonymous)
            .join(s.entities, s.entities.c.id == s.api_keys.c.user_id)
            .join(s.users, s.users.c.entity_id == s.entities.c.id)
            .where(s.api_keys.c.key_hash == digest)
        ).first()
        if row is None or not hmac.compare_digest(row.key_hash, digest):
            raise ApiError(401, "invalid_key", "that API key is not valid on this server")
        principal = principal_of(conn, (row.uid, row.name, bool(row.is_admin), bool(row.is_anonymous)))
    payload = f"{row.id}.{row.uid}.{int(time.time()) + MAX_AGE}"
    return f"{payload}.{_sign(row.key_hash, 'session', payload)}", principal


def read_session(conn: Connection, token: Optional[str]) -> Optional[Session]:
    """The session of a cookie value, or None when it is absent, expired, forged or revoked."""
    if not token or len(token) > 200:
        return None
    parts = token.split(".")
    if len(parts) != 4 or not all(p.isdigit() for p in parts[:3]):
        return None
    key_id, uid, expires = (int(p) for p in parts[:3])
    if expires < time.time():
        return None
    row = conn.execute(
        select(s.api_keys.c.key_hash, s.entities.c.name, s.users.c.is_admin, s.users.c.is_anonymous)
        .join(s.entities, s.entities.c.id == s.api_keys.c.user_id)
        .join(s.users, s.users.c.entity_id == s.entities.c.id)
        .where(s.api_keys.c.id == key_id, s.api_keys.c.user_id == uid)
    ).first()
    if row is None:
        return None
    payload = ".".join(parts[:3])
    if not hmac.compare_digest(_sign(row.key_hash, "session", payload), parts[3]):
        return None
    principal = principal_of(conn, (uid, row.name, bool(row.is_admin), bool(row.is_anonymous)))
    return Session(principal, token, _sign(row.key_hash, "csrf", payload)[:40])


def new_pre_token() -> str:
    return secrets.token_urlsafe(24)


def same_token(a: Optional[str], b: Optional[str]) -> bool:
    return bool(a) and bool(b) and hmac.compare_digest(str(a), str(b))
