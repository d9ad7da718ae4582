"""A small client of the evlog server for what the library itself needs: the permission check
`init()` makes in online mode, whoami, and anonymous accounts (spec/protocol.md).

`requests` is imported inside the functions so `import eventlog` stays light.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Dict, Mapping, Optional

from . import credentials
from ..errors import (
    NoSuchEntityError,
    NotLoggedInError,
    PermissionDenied,
    ProjectPermissionError,
    RunDeletedError,
    RunIdTakenError,
    RunPermissionError,
    ServerUnreachableError,
    UsageError,
)
from ..protocol import DEFAULT_PROJECT, run_path, run_url

DEFAULT_TIMEOUT = 5.0
ANONYMOUS_VALUES = (None, "allow", "never", "must")


def _get(base_url: str, path: str, key: Optional[str], timeout: float, params: Optional[dict] = None,
         method: str = "GET") -> Any:
    import requests

    headers = {"Authorization": f"Bearer {key}"} if key else {}
    try:
        return requests.request(method, base_url.rstrip("/") + path, headers=headers, params=params, timeout=timeout)
    except requests.RequestException as exc:
        raise ServerUnreachableError(f"cannot reach the evlog server at {base_url}: {type(exc).__name__}") from None


def _reason(resp: Any) -> Dict[str, Any]:
    try:
        body = resp.json()
    except ValueError:
        return {}
    return body if isinstance(body, dict) else {}


def refusal(status: int, body: Mapping[str, Any], *, base_url: str, entity: Optional[str], project: Optional[str],
            user: Optional[str] = None, action: str = "log to") -> PermissionDenied:
    """The PermissionDenied for a refused request, one message per cause (the seed's three);
    `action` is what was refused on the project ("log to", "read")."""
    reason = body.get("reason")
    where = f"{entity}/{project}" if entity else f"project {project!r}"
    if status == 401 or reason in ("not_logged_in", "invalid_key"):
        if reason == "invalid_key":
            return NotLoggedInError(
                f"Permission denied: the API key is not valid on {base_url}. "
                "Run `evlog login` with a key from that server (or fix EVLOG_API_KEY).")
        return NotLoggedInError(
            f"Permission denied: you are not logged in to {base_url}. Run `evlog login` (or set EVLOG_API_KEY).")
    if reason == "no_such_entity":
        return NoSuchEntityError(
            f"Permission denied: the entity {entity!r} does not exist on {base_url}. An entity must be your "
            "user name or an existing team; check entity= (or EVLOG_ENTITY).")
    if reason == "anonymous_disabled":
        return NotLoggedInError(
            f"Permission denied: {base_url} does not allow anonymous logging. Run `evlog login` with a key "
            "from its admin, or use anonymous='never'.")
    run_error = {"run_id_taken": RunIdTakenError, "run_deleted": RunDeletedError}.get(reason)
    if run_error is not None or (reason == "no_permission" and body.get("run_id")):
        return (run_error or RunPermissionError)(
            f"Permission denied on {base_url}: {body.get('error') or reason}")
    who = f"user {user!r}" if user else "you"
    return ProjectPermissionError(
        f"Permission denied: {who} may not {action} {where} on {base_url}: it is a private project of another "
        "entity. Ask the project's owner to make it open, or to add you to the team.")


def whoami(base_url: str, key: str, timeout: float = DEFAULT_TIMEOUT) -> Dict[str, Any]:
    """{"user", "entity", "admin", "anonymous", "teams"} of a key; NotLoggedInError when it is not valid."""
    resp = _get(base_url, "/api/v1/auth/whoami", key, timeout)
    if resp.status_code == 200:
        return resp.json()
    if resp.status_code in (401, 403):
        raise refusal(resp.status_code, _reason(resp), base_url=base_url, entity=None, project=None)
    raise ServerUnreachableError(f"the evlog server at {base_url} answered {resp.status_code} to whoami")


def check_write_permission(base_url: str, key: Optional[str], entity: Optional[str], project: Optional[str],
                           timeout: float = DEFAULT_TIMEOUT, run_id: Optional[str] = None) -> Dict[str, Any]:
    """Whether `key` may log runs to entity/project (entity None: the key's user), and start run
    `run_id` there (RunIdTakenError: another user's run has it; RunDeletedError: it was deleted).

    Returns the server's answer (`user`, `entity`, `project`, `project_exists`, ...). Raises
    NotLoggedInError, NoSuchEntityError or ProjectPermissionError (all PermissionDenied) for the
    three causes, ServerUnreachableError when the server does not answer (not fatal to a run).
    """
    project = project or DEFAULT_PROJECT
    if not key:
        raise refusal(401, {"reason": "not_logged_in"}, base_url=base_url, entity=entity, project=project)
    params = {"project": project}
    if entity:
        params["entity"] = entity
    if run_id:
        params["run_id"] = run_id
    resp = _get(base_url, "/api/v1/auth/check", key, timeout, params)
    if resp.status_code == 200:
        return resp.json()
    body = _reason(resp)
    if resp.status_code in (401, 403, 404, 409, 410) and body.get("reason"):
        user = None
        if body.get("reason") == "no_permission":
            try:
                user = whoami(base_url, key, timeout).get("user")
            except Exception:  # noqa: BLE001 - the refusal is what matters
                user = None
        raise refusal(resp.status_code, body, base_url=base_url, entity=entity, project=project, user=user)
    if resp.status_code == 400:
        raise UsageError(f"the evlog server refused entity={entity!r} project={project!r}: {body.get('error')}")
    raise ServerUnreachableError(f"the evlog server at {base_url} answered {resp.status_code}")


def get_run(base_url: str, key: Optional[str], entity: str, project: str, run_id: str,
            timeout: float = DEFAULT_TIMEOUT) -> Optional[Dict[str, Any]]:
    """The server's run object (spec/protocol.md 4.2), or None when the project or run does not
    exist. PermissionDenied for a refused key, ServerUnreachableError when the server does not answer."""
    resp = _get(base_url, run_path(entity, project, run_id), key, timeout)
    if resp.status_code == 200:
        return resp.json()
    body = _reason(resp)
    if resp.status_code == 404 and body.get("reason") in ("no_such_run", "no_such_project"):
        return None
    if resp.status_code in (401, 403, 404) and body.get("reason"):
        raise refusal(resp.status_code, body, base_url=base_url, entity=entity, project=project)
    raise ServerUnreachableError(f"the evlog server at {base_url} answered {resp.status_code}")


def create_anonymous_account(base_url: str, timeout: float = DEFAULT_TIMEOUT) -> Dict[str, Any]:
    """A new anonymous account {"api_key", "user", "entity"}; NotLoggedInError when the server forbids it."""
    resp = _get(base_url, "/api/v1/auth/anonymous", None, timeout, method="POST")
    if resp.status_code == 201:
        return resp.json()
    if resp.status_code in (401, 403):
        raise refusal(resp.status_code, _reason(resp), base_url=base_url, entity=None, project=None)
    raise ServerUnreachableError(f"the evlog server at {base_url} answered {resp.status_code}")


@dataclass
class OnlineLogin:
    """How an online run talks to the server."""

    base_url: str
    api_key: str
    entity: Optional[str]  # None only when the server was unreachable and no entity was given
    project: str
    user: Optional[str]
    anonymous: bool
    verified: bool  # False: the server was unreachable; the syncer delivers when it is back

    def run_url(self, run_id: str) -> Optional[str]:
        return run_url(self.base_url, self.entity, self.project, run_id) if self.entity else None


def _anonymous_key(base_url: str, timeout: float, env: Optional[Mapping[str, str]]) -> tuple:
    acct = credentials.lookup_anonymous(base_url, env)
    if acct is None:
        made = create_anonymous_account(base_url, timeout)
        acct = (made["api_key"], made["entity"])
        credentials.save_anonymous(base_url, acct[0], acct[1], env)
    return acct


def resolve_online(
    entity: Optional[str],
    project: Optional[str],
    *,
    anonymous: Optional[str] = None,
    force: bool = False,
    base_url: Optional[str] = None,
    timeout: float = DEFAULT_TIMEOUT,
    env: Optional[Mapping[str, str]] = None,
    run_id: Optional[str] = None,
) -> Optional[OnlineLogin]:
    """Credentials and permission for an online run, following init()'s `anonymous` and `force`.

    - anonymous None/"never": the stored key (or EVLOG_API_KEY). Without one: None (log offline)
      unless `force` or "never", which raise NotLoggedInError.
    - "allow": the key when there is one, else this machine's anonymous account on the server
      (made on first use; the server must run with --allow-anonymous).
    - "must": always the anonymous account.
    `run_id`: the new run's id, checked too (RunIdTakenError, RunDeletedError).
    A refused check raises PermissionDenied (three causes); an unreachable server gives a login
    with verified=False (the run logs locally, the syncer delivers later), except when an
    anonymous account would have to be made, which raises ServerUnreachableError.
    """
    if anonymous not in ANONYMOUS_VALUES:
        raise UsageError(f"anonymous must be 'allow', 'never' or 'must', got {anonymous!r}")
    project = project or DEFAULT_PROJECT
    creds = credentials.lookup(base_url, env)
    url = creds.base_url
    use_anon = anonymous == "must" or (anonymous == "allow" and not creds.api_key)
    anon_entity: Optional[str] = None
    if use_anon:
        key, anon_entity = _anonymous_key(url, timeout, env)
        entity = entity or anon_entity
    elif creds.api_key:
        key = creds.api_key
    elif force or anonymous == "never":
        raise refusal(401, {"reason": "not_logged_in"}, base_url=url, entity=entity, project=project)
    else:
        return None
    try:
        try:
            info = check_write_permission(url, key, entity, project, timeout, run_id)
        except NotLoggedInError:
            if not use_anon:
                raise
            # the server no longer knows this machine's anonymous account (database reset): a new one
            made = create_anonymous_account(url, timeout)
            credentials.save_anonymous(url, made["api_key"], made["entity"], env)
            if entity == anon_entity:
                entity = made["entity"]
            key = made["api_key"]
            info = check_write_permission(url, key, entity, project, timeout, run_id)
    except ServerUnreachableError:
        if entity is None and not use_anon:
            entity = creds.user  # the user `evlog login` stored: the server's default entity for that key
        return OnlineLogin(url, key, entity, project, creds.user, use_anon, verified=False)
    return OnlineLogin(url, key, info["entity"], info["project"], info.get("user"), use_anon, verified=True)
