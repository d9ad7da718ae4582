"""The constants of the wire protocol that the run side, the sinks and the server share
(spec/protocol.md): media types of the bodies, the paths of a run, and the default project."""
from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from typing import Optional

API_PREFIX = "/api/v1"
FRAMES_TYPE = "application/vnd.evlog.frames+zstd"  # a records body: zstd frames of msgpack records (3.2)
STATE_TYPE = "application/vnd.evlog.state+msgpack"  # GET {run}/state: a run's state, values as logged (3.1)
DEFAULT_PROJECT = "uncategorized"  # the project of a run that names none (5)


def run_path(entity: str, project: str, run_id: "Optional[str]" = None) -> str:
    """The API path of a project's runs, `/api/v1/runs/{entity}/{project}`, or of one run (`{run}`,
    spec/protocol.md 3.1), every segment quoted."""
    from urllib.parse import quote

    out = f"{API_PREFIX}/runs/{quote(entity, safe='')}/{quote(project, safe='')}"
    return out if run_id is None else f"{out}/{quote(run_id, safe='')}"


def run_url(base_url: str, entity: str, project: str, run_id: str, *, quoted: bool = True) -> str:
    """The run's page, `{base_url}/{entity}/{project}/runs/{run_id}` (spec/protocol.md 4.1): the URL
    clients print as `run.url`. `quoted=False`: the names as they are (the start banner's form)."""
    if quoted:
        from urllib.parse import quote

        entity, project, run_id = quote(entity), quote(project), quote(run_id)
    return f"{base_url.rstrip('/')}/{entity}/{project}/runs/{run_id}"


def project_url(url: "Optional[str]") -> "Optional[str]":
    """The project page of a run page's URL (the URL without `/runs/<id>`); None when `url` is not one."""
    if not url or "/runs/" not in url:
        return None
    return url.rsplit("/runs/", 1)[0]
