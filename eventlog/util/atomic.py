"""Atomic file writes: the data goes to a temporary file beside the target, which is renamed over
it, so a reader (or a crash) sees the old file or the new one, never a part."""
from __future__ import annotations

import json
import os
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from typing import Any, Union

    PathLike = Union[str, "os.PathLike[str]"]


def write_atomic(path: "PathLike", data: bytes, *, mode: int = 0o666, exact_mode: bool = False,
                 fsync: bool = False, sync_dir: bool = False) -> None:
    """Replace `path` by `data`: write `.<name>.<pid>.tmp` beside it (created with `mode`, less the
    umask; `exact_mode`: set to `mode` whatever the umask), fsync it when `fsync`, rename it over
    `path`, then fsync the folder when `sync_dir` (best effort)."""
    path = os.fspath(path)
    head, name = os.path.split(path)
    tmp = os.path.join(head, f".{name}.{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    try:
        if exact_mode:
            os.fchmod(fd, mode)
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view):]
        if fsync:
            os.fsync(fd)
    finally:
        os.close(fd)
    os.replace(tmp, path)
    if sync_dir:
        fsync_dir(head or ".")


def write_json_atomic(path: "PathLike", obj: "Any", *, fsync: bool = True) -> None:
    """Replace `path` by `obj` as compact JSON with sorted keys (NaN allowed), file and folder
    fsync'd unless `fsync` is false: how the sinks write their cursor files (spec/sinks.md)."""
    data = json.dumps(obj, separators=(",", ":"), sort_keys=True, allow_nan=True).encode()
    write_atomic(path, data, mode=0o644, fsync=fsync, sync_dir=fsync)


def read_json(path: "PathLike") -> "Any":
    """The JSON object (a dict) in the file at `path`; None when it is missing, unreadable, not JSON
    or not an object."""
    try:
        with open(path, "rb") as f:
            obj = json.loads(f.read())
    except (OSError, ValueError):
        return None
    return obj if isinstance(obj, dict) else None


def fsync_dir(folder: "PathLike") -> None:
    """fsync a folder: the names created or renamed in it last become durable (best effort)."""
    try:
        dfd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(dfd)
    except OSError:
        pass
    finally:
        os.close(dfd)
