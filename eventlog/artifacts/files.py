"""Artifact file contents, streamed: copying while hashing (SHA-256), placing complete files by
rename, and the manifest digest. Files are read and written in 1 MiB chunks, never whole, so a
checkpoint of many GiB costs no memory."""
from __future__ import annotations

import os
import tempfile
from typing import BinaryIO, Iterable, Mapping, Optional, Tuple

from ..errors import ArtifactIntegrityError
from ..util.hashing import CHUNK, copy_hashed, file_digest, read_chunks, sha256


def hash_file(path: str) -> Tuple[str, int]:
    """(sha256 hex, size) of a file, read in chunks."""
    return file_digest(path)


def copy_stream(fin: BinaryIO, dest_dir: str) -> Tuple[str, str, int]:
    """Copy a readable binary stream into a new temporary file in `dest_dir`: (tmp path, sha256, size)."""
    os.makedirs(dest_dir, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".part-", dir=dest_dir)
    try:
        with os.fdopen(fd, "wb") as fout:
            sha, size = copy_hashed(read_chunks(fin), fout)
    except BaseException:
        _unlink(tmp)
        raise
    return tmp, sha, size


def copy_file(src: str, dest_dir: str, expect_sha: Optional[str] = None) -> Tuple[str, str, int]:
    """Copy file `src` into a temporary file in `dest_dir`, hashing it: (tmp path, sha256, size).
    With `expect_sha`, a file whose bytes differ raises ArtifactIntegrityError (nothing is left)."""
    with open(src, "rb") as fin:
        tmp, sha, size = copy_stream(fin, dest_dir)
    if expect_sha is not None and sha != expect_sha:
        _unlink(tmp)
        raise ArtifactIntegrityError(
            f"{src} changed since it was added to the artifact (sha256 {sha[:12]}..., expected {expect_sha[:12]}...): "
            "add it again, or use policy='mutable' to copy it when it is added")
    return tmp, sha, size


def place(tmp: str, final: str) -> None:
    """Rename a complete temporary file to its final name (same content for the same name, so an
    existing file is simply replaced)."""
    os.makedirs(os.path.dirname(final), exist_ok=True)
    os.replace(tmp, final)


def same_file(path: str, sha: str, size: Optional[int]) -> bool:
    """True when `path` exists with this size and SHA-256 (a download that is already there)."""
    try:
        if size is not None and os.path.getsize(path) != size:
            return False
        return hash_file(path)[0] == sha
    except OSError:
        return False


def manifest_digest(files: Iterable[Mapping]) -> str:
    """The artifact digest (spec/format.md 9): SHA-256 over, per entry in UTF-8 byte order of its
    path, `path` LF `sha256` LF (a reference: `ref:` + its URI instead of the sha256)."""
    h = sha256()
    for e in sorted(files, key=lambda e: e["path"].encode("utf-8")):
        what = e["sha256"] if e.get("sha256") else "ref:" + str(e.get("ref"))
        h.update(e["path"].encode("utf-8") + b"\n" + what.encode("utf-8") + b"\n")
    return h.hexdigest()


def _unlink(path: str) -> None:
    try:
        os.unlink(path)
    except OSError:
        pass
