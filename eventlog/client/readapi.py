"""`eventlog.Api`: wandb's public API (`wandb.Api()`) as a read client of an evlog server:
projects, runs with filters, one run's metadata, history and files, artifacts.

Server and key: the arguments, then EVLOG_BASE_URL / EVLOG_API_KEY (WANDB_* aliases), then what
`evlog login` stored (eventlog/client/credentials.py). Without a key only open projects are readable.
"""
from __future__ import annotations

from typing import Any, Dict, List, Mapping, Optional, Tuple
from urllib.parse import quote, unquote, urlparse

from . import credentials
from ..errors import ArgumentTypeError, UsageError
from ..runapi.settings import env_lookup
from .connection import Connection, run_path
from .runs import Run, Runs, iso_time

OVERRIDES = ("base_url", "entity", "project", "api_key")
IGNORED_OVERRIDES = ("username", "run", "organization")  # wandb settings with no meaning here


class User:
    """The key's user (`api.viewer`): `username`, `entity`, `admin`, `anonymous`, `teams`."""

    def __init__(self, attrs: Mapping[str, Any]) -> None:
        self._attrs = dict(attrs)
        self.username: str = attrs["user"]
        self.entity: str = attrs.get("entity") or attrs["user"]
        self.admin: bool = bool(attrs.get("admin"))
        self.anonymous: bool = bool(attrs.get("anonymous"))
        self.teams: List[str] = list(attrs.get("teams") or [])

    def __getitem__(self, key: str) -> Any:
        return {"username": self.username, "entity": self.entity, "teams": self.teams}.get(key, self._attrs.get(key))

    def __repr__(self) -> str:
        return f"<User {self.username}>"


class Project:
    """A project the caller may read: `name`, `entity`, `path`, `visibility`, `created_at`, `run_count`, `url`."""

    def __init__(self, api: "Api", entity: str, attrs: Mapping[str, Any]) -> None:
        self._api = api
        self.name: str = attrs["name"]
        self.entity = entity
        self.visibility: Optional[str] = attrs.get("visibility")
        self.created_at = iso_time(attrs.get("created_at"))
        self.run_count: int = attrs.get("runs") or 0

    @property
    def path(self) -> List[str]:
        return [self.entity, self.name]

    @property
    def url(self) -> str:
        return f"{self._api._conn.base_url}/{quote(self.entity)}/{quote(self.name)}"

    def runs(self, filters: Optional[Dict[str, Any]] = None, order: str = "-created_at") -> Runs:
        return self._api.runs(f"{self.entity}/{self.name}", filters=filters, order=order)

    def __repr__(self) -> str:
        return f"<Project {self.entity}/{self.name}>"


class Api:
    """A read client of an evlog server, as `wandb.Api()`.

    `overrides`: `base_url`, `entity` (default for paths without one; else EVLOG_ENTITY, else the
    key's user), `project` (default project). `timeout`: seconds per request (default 30).
    `api_key`: used instead of EVLOG_API_KEY or the stored key.
    """

    def __init__(self, overrides: Optional[Mapping[str, Any]] = None, timeout: Optional[float] = None,
                 api_key: Optional[str] = None) -> None:
        overrides = dict(overrides or {})
        unknown = sorted(set(overrides) - set(OVERRIDES) - set(IGNORED_OVERRIDES))
        if unknown:
            raise UsageError(f"Api(overrides=...) takes {', '.join(OVERRIDES)}; not {', '.join(unknown)}")
        for name, value in [(k, overrides.get(k)) for k in OVERRIDES] + [("api_key", api_key)]:
            if value is not None and not isinstance(value, str):
                raise ArgumentTypeError(f"Api(): {name} takes a str, got {type(value).__name__}")
        if timeout is not None and (isinstance(timeout, bool) or not isinstance(timeout, (int, float)) or timeout <= 0):
            raise ArgumentTypeError(f"Api(timeout=...) takes seconds (a positive number), got {timeout!r}")
        creds = credentials.lookup(overrides.get("base_url") or None)
        key = api_key or overrides.get("api_key") or creds.api_key
        self._conn = Connection(creds.base_url, key, timeout)
        self._entity: Optional[str] = overrides.get("entity") or env_lookup("entity")[0]
        self._project: Optional[str] = overrides.get("project") or env_lookup("project")[0]
        self._viewer: Optional[User] = None

    # ------------------------------------------------------------------ who and where
    @property
    def api_key(self) -> Optional[str]:
        return self._conn.api_key

    @property
    def base_url(self) -> str:
        return self._conn.base_url

    @property
    def settings(self) -> Dict[str, Any]:
        return {"base_url": self._conn.base_url, "entity": self._entity, "project": self._project}

    @property
    def viewer(self) -> User:
        """The key's user (GET /api/v1/auth/whoami); NotLoggedInError without a valid key."""
        if self._viewer is None:
            self._viewer = User(self._conn.get_json("/api/v1/auth/whoami", what="whoami"))
            self._conn.user = self._viewer.username
        return self._viewer

    @property
    def default_entity(self) -> Optional[str]:
        """overrides["entity"], else EVLOG_ENTITY, else the key's user; None without any of them."""
        if self._entity:
            return self._entity
        return self.viewer.entity if self._conn.api_key else None

    def _entity_for(self, path: str) -> str:
        entity = self.default_entity
        if not entity:
            raise UsageError(f"{path!r} names no entity and there is no default: write 'entity/{path}', or set "
                             "Api(overrides={'entity': ...}) or EVLOG_ENTITY, or log in (your user is the default)")
        return entity

    def _parts(self, path: Any, what: str, form: str) -> List[str]:
        if not isinstance(path, str) or not path.strip("/ "):
            raise ArgumentTypeError(f"{what} takes a path like {form!r}, got {path!r}")
        text = path.strip()
        if "://" in text:  # a URL the server printed: its path
            text = urlparse(text).path
        parts = [unquote(p) for p in text.strip("/").split("/")]
        if any(not p for p in parts):
            raise UsageError(f"{what}: {path!r} has an empty part; write it like {form!r}")
        return parts

    # ------------------------------------------------------------------ reading
    def projects(self, entity: Optional[str] = None) -> List[Project]:
        """The projects of `entity` (default: default_entity) the caller may read."""
        entity = entity or self._entity_for("<project>")
        data = self._conn.get_json(f"/api/v1/projects/{quote(entity, safe='')}", where=(entity,),
                                   what=f"the projects of {entity}")
        return [Project(self, data.get("entity") or entity, p) for p in data["projects"]]

    def runs(self, path: Optional[str] = None, filters: Optional[Dict[str, Any]] = None,
             order: str = "-created_at", per_page: int = 50, include_sweeps: bool = True,
             lazy: bool = True) -> Runs:
        """The runs of project "entity/project" (or "project" of the default entity) matching
        `filters`, in `order` ("-created_at": newest first; "+config.lr", "summary_metrics.acc", ...).
        Read on first use; a bad filter or order raises FilterError now."""
        if path is None:
            if not self._project:
                raise UsageError("runs() needs a project: api.runs('entity/project') or "
                                 "Api(overrides={'project': ...})")
            path = self._project
        parts = self._parts(path, "runs()", "entity/project")
        if len(parts) == 1:
            parts = [self._entity_for(parts[0])] + parts
        if len(parts) != 2:
            raise UsageError(f"runs() takes 'entity/project' or 'project', got {path!r}")
        return Runs(self, parts[0], parts[1], filters=filters, order=order, per_page=per_page)

    def run(self, path: str) -> Run:
        """The run at "entity/project/run_id" (also "entity/project/runs/run_id", the run's URL, or
        "project/run_id" of the default entity). NoSuchRunError, or a PermissionDenied naming the cause."""
        entity, project, run_id = self._run_parts(path)
        attrs = self._conn.get_json(run_path(entity, project, run_id), where=(entity, project, run_id),
                                    what=f"the run {entity}/{project}/{run_id}")
        return Run(self, attrs)

    def _run_parts(self, path: str) -> Tuple[str, str, str]:
        parts = self._parts(path, "run()", "entity/project/run_id")
        if len(parts) == 4 and parts[2] == "runs":
            parts = parts[:2] + parts[3:]
        if len(parts) == 2:
            parts = [self._entity_for("/".join(parts))] + parts
        elif len(parts) == 1 and self._project:
            parts = [self._entity_for(f"{self._project}/{parts[0]}"), self._project] + parts
        if len(parts) != 3:
            raise UsageError(f"run() takes 'entity/project/run_id' (or the run's URL), got {path!r}")
        return parts[0], parts[1], parts[2]

    def artifact(self, name: str, type: Optional[str] = None) -> Any:  # noqa: A002 - wandb's argument name
        """The artifact "entity/project/name:alias" (or "project/name:alias", "name:alias" with the
        defaults), read by eventlog.artifacts.fetch."""
        parts = self._parts(name, "artifact()", "entity/project/name:alias")
        if len(parts) == 1:
            if not self._project:
                raise UsageError(f"artifact({name!r}) needs its project: write 'entity/project/{name}' or set "
                                 "Api(overrides={'project': ...})")
            parts = [self._project] + parts
        if len(parts) == 2:
            parts = [self._entity_for("/".join(parts))] + parts
        if len(parts) != 3:
            raise UsageError(f"artifact() takes 'entity/project/name:alias', got {name!r}")
        import inspect

        from .. import artifacts

        fetch = getattr(artifacts, "fetch", None)
        if fetch is None:
            raise UsageError("this evlog cannot read artifacts from the server yet "
                             "(eventlog.artifacts.fetch is missing)")
        if {"base_url", "api_key"} <= set(inspect.signature(fetch).parameters):
            return fetch("/".join(parts), type=type, base_url=self.base_url, api_key=self.api_key)
        logged_in = credentials.lookup()
        if (logged_in.base_url, logged_in.api_key) != (self.base_url, self.api_key):
            raise UsageError(f"artifact({name!r}) reads from the logged-in server ({logged_in.base_url}) only, and "
                             "this Api was given another server or key: use EVLOG_BASE_URL / EVLOG_API_KEY instead")
        return fetch("/".join(parts), type=type)

    def flush(self) -> None:
        """Accepted for wandb code: this client keeps no cache across calls."""

    def __repr__(self) -> str:
        return f"<Api {self._conn.base_url}>"
