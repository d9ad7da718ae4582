"""A file's SHA-256, read in 1 MiB chunks (a checkpoint of many GiB costs no memory): what the
`files` records and artifact manifests name a file by."""
from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from typing import BinaryIO, Iterable, Tuple

CHUNK = 1 << 20


def sha256():  # noqa: ANN201 - a hashlib-like object
    """A new SHA-256 hash object, from the lightest module that has one (not at import: `import
    eventlog` stays light)."""
    try:
        from _sha2 import sha256 as new  # Python 3.12+
    except ImportError:
        try:
            from _sha256 import sha256 as new  # Python <= 3.11: lighter than hashlib's OpenSSL
        except ImportError:
            from hashlib import sha256 as new
    return new()


def file_digest(path) -> "Tuple[str, int]":  # noqa: ANN001 - str or path-like
    """(sha256 hex, size in bytes) of the file at `path`."""
    h = sha256()
    size = 0
    with open(path, "rb") as f:
        while True:
            chunk = f.read(CHUNK)
            if not chunk:
                break
            h.update(chunk)
            size += len(chunk)
    return h.hexdigest(), size


def copy_hashed(chunks: "Iterable[bytes]", out: "BinaryIO") -> "Tuple[str, int]":
    """Write `chunks` to `out`, hashing them on the way: (sha256 hex, size in bytes). What a copy,
    a download and an import use to name the file they write without reading it twice."""
    h = sha256()
    size = 0
    for chunk in chunks:
        h.update(chunk)
        out.write(chunk)
        size += len(chunk)
    return h.hexdigest(), size


def read_chunks(f: "BinaryIO") -> "Iterable[bytes]":
    """The bytes of the open file `f` in CHUNK-sized pieces, up to its end."""
    return iter(lambda: f.read(CHUNK), b"")
