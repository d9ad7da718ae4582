"""One HTTP connection of the read API to an evlog server: retries, and the server's refusals
mapped onto eventlog's typed errors, each naming what was asked for (spec/protocol.md 1, 1.1).

`requests` is imported on first use, so importing this module stays light.
"""
from __future__ import annotations

import time
from typing import Any, Dict, Optional, Tuple

from ..protocol import run_path  # noqa: F401  (connection.run_path: the API path of runs)
from .accounts import refusal
from ..errors import (
    Error,
    NoSuchFileError,
    NoSuchProjectError,
    NoSuchRunError,
    NotFoundError,
    NotLoggedInError,
    ProjectPermissionError,
    ServerUnreachableError,
    UsageError,
)

DEFAULT_TIMEOUT = 30.0
ATTEMPTS = 4  # connection errors, 429 and 5xx: retried (spec/protocol.md 1.1), backoff 0.25 s doubling
MAX_WAIT = 10.0
RETRIED = (429, 500, 502, 503, 504)


class Connection:
    """A requests session to `base_url` with `api_key` (None: anonymous) and a per-request timeout."""

    def __init__(self, base_url: str, api_key: Optional[str], timeout: Optional[float] = None) -> None:
        self.base_url = base_url.rstrip("/")
        self.api_key = api_key
        self.timeout = DEFAULT_TIMEOUT if timeout is None else float(timeout)
        self._session: Any = None
        self.user: Optional[str] = None  # the key's user, once known (named in a refusal)

    def _http(self) -> Any:
        if self._session is None:
            import requests

            self._session = requests.Session()
            if self.api_key:
                self._session.headers["Authorization"] = f"Bearer {self.api_key}"
        return self._session

    def request(self, method: str, path: str, *, where: Tuple[Optional[str], ...] = (), what: str = "",
                params: Optional[Dict[str, Any]] = None, json: Any = None, stream: bool = False) -> Any:
        """The 2xx response to `method path`; `where` = (entity, project, run_id, file) names the
        target in errors. Connection errors, 429 and 5xx are retried a few times (a PATCH too: it
        sets fields to values, so a repeat changes nothing)."""
        import requests

        url = self.base_url + path
        for attempt in range(ATTEMPTS):
            last = attempt == ATTEMPTS - 1
            try:
                resp = self._http().request(method, url, params=params, json=json, stream=stream,
                                            timeout=self.timeout)
            except requests.RequestException as exc:
                if last:
                    raise ServerUnreachableError(
                        f"cannot reach the evlog server at {self.base_url} ({what or path}): {type(exc).__name__}. "
                        "Check the URL (Api(overrides={'base_url': ...}) or EVLOG_BASE_URL) and that it runs."
                    ) from None
                time.sleep(0.25 * 2 ** attempt)
                continue
            if resp.status_code < 300:
                return resp
            if resp.status_code in RETRIED and not last:
                time.sleep(_wait(resp, attempt))
                resp.close()
                continue
            raise self.error(resp, where, what or path, edit=method == "PATCH")
        raise AssertionError("unreachable")

    def get_json(self, path: str, *, where: Tuple[Optional[str], ...] = (), what: str = "",
                 params: Optional[Dict[str, Any]] = None) -> Any:
        return self.request("GET", path, where=where, what=what, params=params).json()

    def error(self, resp: Any, where: Tuple[Optional[str], ...], what: str, edit: bool = False) -> Error:
        """The typed error of a refused request (401/403/404: the three permission causes, or what is missing)."""
        try:
            body = resp.json()
        except ValueError:
            body = {}
        body = body if isinstance(body, dict) else {}
        reason, status = body.get("reason"), resp.status_code
        entity, project, run_id, name = (tuple(where) + (None,) * 4)[:4]
        base = self.base_url
        if status == 403 and reason == "no_permission" and not self.api_key:
            return NotLoggedInError(
                f"Permission denied: {entity}/{project} on {base} is not open and no API key was sent ({what}). "
                "Run `evlog login`, or give the key: EVLOG_API_KEY or Api(api_key=...).")
        if edit and reason == "no_permission":
            return ProjectPermissionError(
                f"Permission denied: you may not edit {entity}/{project}/{run_id} on {base}: only users in "
                f"{entity} and the user whose key created the run may (reading an open project is not enough).")
        if status in (401, 403) or reason == "no_such_entity":
            exc = refusal(status, body, base_url=base, entity=entity, project=project, user=self.user, action="read")
            return type(exc)(f"{exc} ({what})")
        if reason == "no_such_project":
            return NoSuchProjectError(f"no project {entity}/{project} on {base} ({what}): check the path; "
                                      f"Api().projects({entity!r}) lists the projects you may read.")
        if reason == "no_such_run":
            return NoSuchRunError(f"no run {run_id!r} in {entity}/{project} on {base} ({what}): check the run id "
                                  "(the last part of the run's URL).")
        if reason == "no_such_file":
            return NoSuchFileError(f"run {entity}/{project}/{run_id} has no uploaded file {name!r} on {base}: "
                                   "check run.files(); a file the run just saved may not be uploaded yet.")
        if status == 400:
            return UsageError(f"the evlog server at {base} refused {what}: {body.get('error') or resp.text[:200]}")
        if status == 404:
            return NotFoundError(f"the evlog server at {base} does not serve {what} (404 {reason or ''}): "
                                 "is it an older evlog server, or not an evlog server?")
        if status >= 500:
            return ServerUnreachableError(f"the evlog server at {base} answered {status} to {what}; retry later")
        return Error(f"the evlog server at {base} answered {status} {reason or ''} to {what}: {body.get('error')}")

    def close(self) -> None:
        if self._session is not None:
            self._session.close()
            self._session = None


def _wait(resp: Any, attempt: int) -> float:
    """Seconds before the next try: the server's Retry-After (capped), else the backoff step."""
    try:
        return min(MAX_WAIT, max(0.0, float(resp.headers.get("Retry-After"))))
    except (TypeError, ValueError):
        return 0.25 * 2 ** attempt
