"""Artifacts on an evlog server (spec/protocol.md 8): `fetch("entity/project/name:alias")` against
the logged-in server (eventlog.client.credentials), and streamed downloads of their files. `requests` is
imported inside the functions, so `import eventlog` stays light."""
from __future__ import annotations

import os
import tempfile
from typing import Any, Dict, Optional
from urllib.parse import quote

from ..client import credentials
from ..errors import ArtifactError, ArtifactIntegrityError, ArtifactNotFoundError, ServerUnreachableError
from .artifact import Artifact, ArtifactEntry
from ..util.hashing import CHUNK, copy_hashed
from .names import ArtifactPath, parse

TIMEOUT = 60.0


def _q(s: str) -> str:
    return quote(s, safe="")


class Remote:
    """A server and the key to read it with (None: anonymous, open projects only)."""

    def __init__(self, base_url: str, key: Optional[str]) -> None:
        self.base_url, self.key = base_url.rstrip("/"), key

    @classmethod
    def logged_in(cls) -> "Remote":
        creds = credentials.lookup()
        return cls(creds.base_url, creds.api_key)

    def get(self, path: str, **kw: Any) -> Any:
        import requests

        headers = {"Authorization": f"Bearer {self.key}"} if self.key else {}
        try:
            return requests.get(self.base_url + path, headers=headers, timeout=TIMEOUT, **kw)
        except requests.RequestException as exc:
            raise ServerUnreachableError(f"cannot reach the evlog server at {self.base_url}: {type(exc).__name__}") from None

    def refused(self, resp: Any, spec: str) -> Exception:
        """The error for a non-200 answer about artifact `spec`."""
        from ..client import accounts as api

        try:
            body = resp.json()
        except ValueError:
            body = {}
        reason = body.get("reason") if isinstance(body, dict) else None
        if resp.status_code == 404 and reason in ("no_such_artifact", "no_such_project", "no_such_file"):
            return ArtifactNotFoundError(f"{self.base_url} has no artifact {spec}: {body.get('error')}")
        if resp.status_code in (401, 403) or reason == "no_such_entity":
            return api.refusal(resp.status_code, body, base_url=self.base_url, entity=None, project=spec)
        if resp.status_code >= 500:
            return ServerUnreachableError(f"the evlog server at {self.base_url} answered {resp.status_code}")
        return ArtifactError(f"the evlog server refused artifact {spec}: {resp.status_code} {reason}: "
                             f"{body.get('error') if isinstance(body, dict) else ''}")

    def version(self, spec: ArtifactPath) -> Dict[str, Any]:
        """The version document of entity/project/name:alias (spec/protocol.md 8)."""
        resp = self.get(f"/api/v1/artifacts/{_q(spec.entity)}/{_q(spec.project)}/{_q(spec.name)}/{_q(spec.alias)}")
        if resp.status_code != 200:
            raise self.refused(resp, str(spec))
        return resp.json()

    def download(self, art: Artifact, e: ArtifactEntry, folder: str) -> str:
        """Stream file `e` of `art` into a temporary file in `folder`, checking its SHA-256; its path."""
        path = (f"/api/v1/artifacts/{_q(art.entity)}/{_q(art.project)}/{_q(art._name)}/v{art._version}/files/"
                + quote(e.path))
        resp = self.get(path, stream=True)
        try:
            if resp.status_code != 200:
                raise self.refused(resp, f"{art.qualified_name} file {e.path}")
            os.makedirs(folder, exist_ok=True)
            fd, tmp = tempfile.mkstemp(prefix=".part-", dir=folder)
            with os.fdopen(fd, "wb") as f:
                sha, _ = copy_hashed(resp.iter_content(CHUNK), f)
        finally:
            resp.close()
        if sha != e.sha256:
            os.unlink(tmp)
            raise ArtifactIntegrityError(
                f"{e.path} of artifact {art.qualified_name} downloaded from {self.base_url} has sha256 "
                f"{sha[:12]}..., not {e.sha256[:12]}... as its manifest says: download it again")
        return tmp

    def default_entity(self) -> str:
        from ..client import accounts as api

        if not self.key:
            raise ArtifactError(f"give the entity (entity/project/name:alias): no API key for {self.base_url} "
                                "to take the user's entity from (`evlog login`)")
        return api.whoami(self.base_url, self.key)["entity"]


def fetch_spec(spec: ArtifactPath, type: Optional[str] = None) -> Artifact:  # noqa: A002 - wandb's name
    """The artifact version `spec` (entity and project given) from the logged-in server."""
    remote = Remote.logged_in()
    if spec.entity is None:
        spec = spec._replace(entity=remote.default_entity())
    doc = remote.version(spec)
    art = Artifact._from_doc(doc, remote=remote, entity=doc.get("entity", spec.entity),
                             project=doc.get("project", spec.project))
    if type is not None and art.type != type:
        raise ArtifactError(f"artifact {spec} has type {art.type!r}, not {type!r}")
    return art


def fetch(path: str, type: Optional[str] = None) -> Artifact:  # noqa: A002 - wandb's name
    """Resolve "entity/project/name:alias" (or "project/name:v3": the key's entity) against the
    logged-in server (eventlog.client.credentials); `.download()` fetches its files, checking each SHA-256."""
    spec = parse(path, "path")
    if spec.project is None:
        raise ArtifactError(f"fetch({path!r}): give the project too: 'entity/project/{spec.name}:{spec.alias}'")
    return fetch_spec(spec, type)
