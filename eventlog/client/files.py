"""A run's file on the server (wandb's `File`): listed by GET {run}/files, fetched by GET
{run}/files/{path} (spec/protocol.md 4.1)."""
from __future__ import annotations

import mimetypes
import os
from typing import IO, Any, Dict, Optional
from urllib.parse import quote

from ..errors import ArgumentTypeError, Error, NoSuchFileError, UsageError
from ..util.hashing import copy_hashed
from .connection import Connection, run_path

SAVED_PREFIX = "files/"  # run.save() puts files there; wandb names them from the run's files root


class File:
    """One file of a run: `name` (as wandb names it: saved files without the `files/` folder),
    `path` (on the server), `size`, `sha256`, `kind`, `url`, `uploaded`; `download()` fetches it."""

    def __init__(self, conn: Connection, where: tuple, attrs: Dict[str, Any]) -> None:
        self._conn = conn
        self._where = where  # (entity, project, run_id)
        self.path: str = attrs["path"]
        self.name: str = self.path[len(SAVED_PREFIX):] if self.path.startswith(SAVED_PREFIX) else self.path
        self.size: int = attrs.get("size") or 0
        self.sha256: Optional[str] = attrs.get("sha256")
        self.kind: Optional[str] = attrs.get("kind")
        self.uploaded: bool = bool(attrs.get("uploaded"))
        self.mimetype: str = mimetypes.guess_type(self.name)[0] or "application/octet-stream"

    @property
    def url(self) -> str:
        """The API URL of the file's bytes (send the API key to read a private project's)."""
        return self._conn.base_url + self._api_path

    direct_url = url

    @property
    def _api_path(self) -> str:
        return run_path(*self._where) + "/files/" + quote(self.path, safe="/")

    def download(self, root: str = ".", replace: bool = False, exist_ok: bool = False, api: Any = None) -> IO[str]:
        """Write the file to `root/<name>` and return it opened for reading (as wandb does). An
        existing file is an error unless `replace` (overwrite) or `exist_ok` (keep it)."""
        if not isinstance(root, (str, os.PathLike)):
            raise ArgumentTypeError(f"download(root=...) takes a folder path, got {type(root).__name__}")
        dest = os.path.join(os.fspath(root), *self.name.split("/"))
        if os.path.exists(dest) and not replace:
            if exist_ok:
                return open(dest)
            raise UsageError(f"{dest} exists already: pass replace=True to overwrite it or exist_ok=True to keep it")
        if not self.uploaded:
            e, p, r = self._where
            raise NoSuchFileError(f"{self.path} of run {e}/{p}/{r} is not uploaded yet; try again in a moment")
        os.makedirs(os.path.dirname(dest) or ".", exist_ok=True)
        tmp = f"{dest}.{os.getpid()}.part"
        resp = self._conn.request("GET", self._api_path, where=self._where + (self.path,), stream=True,
                                  what=f"the file {self.path} of run {'/'.join(self._where)}")
        try:
            with open(tmp, "wb") as out:
                sha, _ = copy_hashed(resp.iter_content(1 << 16), out)
        except BaseException:
            _remove(tmp)
            raise
        finally:
            resp.close()
        if self.sha256 and sha != self.sha256:
            _remove(tmp)
            raise Error(f"{self.path} changed on the server while it was downloaded (its sha256 is not the one "
                        "listed): list the run's files again (run.files()) and retry")
        os.replace(tmp, dest)
        return open(dest)

    def __repr__(self) -> str:
        return f"<File {self.name} ({self.size} bytes)>"


def _remove(path: str) -> None:
    try:
        os.remove(path)
    except OSError:
        pass
