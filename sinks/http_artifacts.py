"""The HTTP sink's artifact upload (spec/protocol.md 8.3): for an `artifact` record, the files the
server lacks (asked with -/blobs/missing) are PUT from the run root's store, streamed, then the
manifest is committed with `POST {run}/artifacts/log`; a `use_artifact` record becomes
`POST {run}/artifacts/use`. The server is idempotent on the record's seq, so a replay commits nothing twice."""
from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Dict, Iterator, List
from urllib.parse import quote

from .base import SinkError

STORE_DIR = "artifacts"  # <dir>/evlog/artifacts/, next to the run folders (eventlog/artifacts/store.py)
ARTIFACT_TYPES = ("artifact", "use_artifact")
CHUNK = 1 << 20


def _blob(folder: os.PathLike, sha: str) -> Path:
    return Path(folder).parent / STORE_DIR / "blobs" / sha[:2] / sha


def upload(sink: Any, seq: int, type_: str, body: Dict[str, Any]) -> None:
    """Deliver one artifact record's effect to the server (raises what sink._request raises)."""
    if not isinstance(body, dict) or not isinstance(body.get("name"), str):
        return
    run_path = sink._run_path()
    if type_ == "use_artifact":
        sink._request("POST", f"{run_path}/artifacts/use", json=dict(body, seq=seq), ok=(200,))
        return
    files = body.get("files") if isinstance(body.get("files"), list) else []
    shas = sorted({f["sha256"] for f in files if isinstance(f, dict) and isinstance(f.get("sha256"), str)})
    base = f"/api/v1/artifacts/{quote(sink.entity or '', safe='')}/{quote(sink.project, safe='')}"
    missing: List[str] = sink._request("POST", f"{base}/-/blobs/missing", json={"sha256": shas},
                                       ok=(200,)).json()["missing"] if shas else []
    for _ in range(2):
        for sha in missing:
            path = _blob(sink.ctx.folder, sha)
            if not path.is_file():
                raise sink._stop(
                    f"artifact {body['name']} (record {seq}) needs {path}, which is not there: the run root's "
                    f"artifact store ({path.parent.parent.parent}) must be next to the run folder; copy it there "
                    f"and run `evlog sync {sink.ctx.folder}` again")
            sink._request("PUT", f"{base}/-/blobs/{sha}", data=_FileBody(path), ok=(200, 201),
                          headers={"Content-Type": "application/octet-stream"})
        resp = sink._request("POST", f"{run_path}/artifacts/log", json=dict(body, seq=seq), ok=(200, 409))
        if resp.status_code == 200:
            return
        missing = resp.json().get("missing") or []  # uploaded meanwhile elsewhere, then lost: once more
        if not missing:
            break
    raise SinkError(f"the server did not take artifact {body['name']} (record {seq}): {resp.text[:200]}")


class _FileBody:
    """A file as a request body, read in chunks; each send (a retry too) reads it from the start."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.size = os.path.getsize(path)

    def __len__(self) -> int:
        return self.size

    def __iter__(self) -> Iterator[bytes]:
        with open(self.path, "rb") as f:
            while True:
                chunk = f.read(CHUNK)
                if not chunk:
                    return
                yield chunk
