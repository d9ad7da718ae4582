"""The sinks' files in a run folder: `<run>/sinks/<name>.cursor.json`, one a sink, and what they
say (spec/sinks.md 2). The syncer writes them; `finish()` (eventlog/runapi/syncproc.py), `evlog sync` and
`evlog runs ls` read them through this module."""
from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING

from ..util.atomic import read_json, write_json_atomic

if TYPE_CHECKING:
    from typing import Any, Dict, Optional, Tuple

    from ..logfile.reader import Cursor

SINKS_DIR = "sinks"  # <run>/sinks/: cursor files, SYNCER.lock, and a folder of each sink's own files
CURSOR_SUFFIX = ".cursor.json"
CURSOR_FORMAT = 1  # the cursor file's `format`


def sinks_dir(folder: "os.PathLike[str] | str") -> Path:
    return Path(folder) / SINKS_DIR


def cursor_path(folder: "os.PathLike[str] | str", name: str) -> Path:
    return sinks_dir(folder) / f"{name}{CURSOR_SUFFIX}"


def previous_sinks(folder: "os.PathLike[str] | str") -> "Tuple[str, ...]":
    """Names of the sinks that have a cursor in this run folder, sorted."""
    try:
        names = os.listdir(sinks_dir(folder))
    except OSError:
        return ()
    return tuple(sorted(n[: -len(CURSOR_SUFFIX)] for n in names
                        if n.endswith(CURSOR_SUFFIX) and not n.startswith(".")))


def load_cursor(folder: "os.PathLike[str] | str", name: str) -> "Optional[Dict[str, Any]]":
    """A sink's cursor file: {"cursor": {...}, "state": ..., "closed": ..., "last": ..., ...}."""
    data = read_json(cursor_path(folder, name))
    if data is None or not isinstance(data.get("cursor"), dict):
        return None
    return data


def save_cursor(folder: "os.PathLike[str] | str", name: str, data: "Dict[str, Any]") -> None:
    """Replace a sink's cursor file, atomically and durably (spec/sinks.md 1)."""
    sinks_dir(folder).mkdir(parents=True, exist_ok=True)
    write_json_atomic(cursor_path(folder, name), data)


def cursor_of(data: "Optional[Dict[str, Any]]") -> "Cursor":
    """The cursor a cursor file holds; the log's start when there is none or it is not one."""
    from ..logfile.reader import Cursor

    if not data:
        return Cursor(0, 0, 0)
    try:
        return Cursor.from_dict(data["cursor"])
    except (KeyError, TypeError, ValueError):
        return Cursor(0, 0, 0)


def delivery(folder: "os.PathLike[str] | str") -> "Tuple[Optional[int], Optional[str]]":
    """(the smallest next-seq among the run's sink cursors: how far every sink got, or None without
    any; why a sink cannot reach its receiver, when one that is not closed says so: spec/sinks.md 3)."""
    low = None
    retrying = None
    for name in previous_sinks(folder):
        data = read_json(cursor_path(folder, name))
        try:
            seq = int(data["cursor"]["seq"])
            why = data.get("retrying")
            if isinstance(why, dict) and not data.get("closed"):
                retrying = retrying or str(why.get("reason") or "its receiver cannot be reached")
        except (ValueError, KeyError, TypeError, AttributeError):
            seq = 0
        low = seq if low is None else min(low, seq)
    return low, retrying
