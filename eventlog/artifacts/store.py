"""The local artifact store of a run root, `<dir>/evlog/artifacts/` (spec/format.md 9): file
contents named by their SHA-256 (each stored once, whatever artifact, version or run holds it),
and per project and artifact name the versions (v0, v1, ... by content digest) and aliases that
runs of this root logged. Works offline; the HTTP sink uploads from here."""
from __future__ import annotations

import contextlib
import json
import os
import time
from pathlib import Path
from typing import Any, Dict, Iterator, List, Optional
from urllib.parse import quote

from ..errors import ArtifactError
from ..protocol import DEFAULT_PROJECT
from ..util.atomic import write_atomic
from . import files as fs
from .names import LATEST, version_index

STORE_DIR = "artifacts"


class LocalStore:
    """One run root's artifact store (made on first use)."""

    def __init__(self, root: os.PathLike) -> None:
        self.root = Path(root)

    @classmethod
    def of_run_folder(cls, folder: os.PathLike) -> "LocalStore":
        """The store of the root a run folder (`<dir>/evlog/run-...`) lives in."""
        return cls(Path(folder).parent / STORE_DIR)

    # ------------------------------------------------------------------ contents
    def blob(self, sha: str) -> Path:
        return self.root / "blobs" / sha[:2] / sha

    def tmp_dir(self) -> str:
        d = self.root / "tmp"
        d.mkdir(parents=True, exist_ok=True)
        return str(d)

    def add_copy(self, src: str, expect_sha: Optional[str] = None) -> tuple:
        """Store a copy of file `src`: (sha256, size). Content already stored is not stored again."""
        if expect_sha is not None and self.blob(expect_sha).is_file():
            return expect_sha, os.path.getsize(self.blob(expect_sha))
        tmp, sha, size = fs.copy_file(src, self.tmp_dir(), expect_sha)
        if self.blob(sha).is_file():
            os.unlink(tmp)
        else:
            fs.place(tmp, str(self.blob(sha)))
        return sha, size

    def adopt(self, staged: str, sha: str) -> None:
        """Move a staged file of ours (its sha known) into the store; copies across file systems."""
        final = self.blob(sha)
        if final.is_file():
            os.unlink(staged)
            return
        final.parent.mkdir(parents=True, exist_ok=True)
        try:
            os.replace(staged, final)
        except OSError:  # another file system: copy, checking the bytes on the way
            self.add_copy(staged, sha)
            os.unlink(staged)

    # ------------------------------------------------------------------ versions
    def _dir(self, project: Optional[str], name: str) -> Path:
        return self.root / "projects" / quote(project or DEFAULT_PROJECT, safe="") / name

    @contextlib.contextmanager
    def _locked(self) -> Iterator[None]:
        import fcntl

        self.root.mkdir(parents=True, exist_ok=True)
        with open(self.root / "LOCK", "a+b") as f:
            fcntl.flock(f.fileno(), fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(f.fileno(), fcntl.LOCK_UN)

    def _versions(self, d: Path) -> List[Dict[str, Any]]:
        out = []
        for p in d.glob("v*.json") if d.is_dir() else ():
            if version_index(p.stem) is not None:
                out.append(_read_json(p))
        return sorted(out, key=lambda doc: doc["version"])

    def _aliases(self, d: Path) -> Dict[str, int]:
        p = d / "aliases.json"
        return _read_json(p) if p.is_file() else {}

    def commit(self, project: Optional[str], doc: Dict[str, Any], aliases: List[str]) -> Dict[str, Any]:
        """Record a version of `doc["name"]` (its files already stored): the version whose digest
        equals doc's, else a new one numbered after the last; then point `aliases` at it.
        Returns the version's document with `aliases` and `created` (False: it existed)."""
        d = self._dir(project, doc["name"])
        with self._locked():
            versions = self._versions(d)
            if versions and versions[0]["type"] != doc["type"]:
                raise ArtifactError(
                    f"artifact {doc['name']!r} in project {project or DEFAULT_PROJECT!r} has type "
                    f"{versions[0]['type']!r}, not {doc['type']!r}: give it type={versions[0]['type']!r} or another name")
            same = [v for v in versions if v["digest"] == doc["digest"]]
            created = not same
            if same:
                doc = same[0]
            else:
                doc = dict(doc, version=versions[-1]["version"] + 1 if versions else 0, created_at=time.time())
                _write_json(d / f"v{doc['version']}.json", doc)
            table = self._aliases(d)
            for a in aliases:
                table[a] = doc["version"]
            _write_json(d / "aliases.json", table)
        return dict(doc, aliases=_aliases_of(table, doc["version"]), created=created)

    def resolve(self, project: Optional[str], name: str, alias: str) -> Optional[Dict[str, Any]]:
        """The version `alias` ("v3", "latest", "best") of `name`, with its aliases, or None."""
        d = self._dir(project, name)
        table = self._aliases(d)
        n = version_index(alias)
        if n is None:
            n = table.get(alias)
        p = d / f"v{n}.json"
        if n is None or not p.is_file():
            return None
        return dict(_read_json(p), aliases=_aliases_of(table, n))


def _aliases_of(table: Dict[str, int], version: int) -> List[str]:
    out = sorted(a for a, v in table.items() if v == version)
    return ([LATEST] if LATEST in out else []) + [a for a in out if a != LATEST]


def _read_json(p: Path) -> Any:
    return json.loads(p.read_text(encoding="utf-8"))


def _write_json(p: Path, data: Any) -> None:
    p.parent.mkdir(parents=True, exist_ok=True)
    write_atomic(p, json.dumps(data, sort_keys=True).encode("utf-8"))
