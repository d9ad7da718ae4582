"""Run folders: `<dir>/evlog/run-<YYYYmmdd_HHMMSS>-<id>/` and the `<dir>/evlog/latest-run` link."""
from __future__ import annotations

import os
import time
from pathlib import Path

from ..errors import UsageError

ROOT_NAME = "evlog"
LATEST = "latest-run"
PREFIX = "run-"


def run_root(base: str) -> Path:
    return Path(base) / ROOT_NAME


def folder_name(run_id: str, start_time: float) -> str:
    return f"{PREFIX}{time.strftime('%Y%m%d_%H%M%S', time.localtime(start_time))}-{run_id}"


def scan_runs(base: str, run_id=None):
    """(how many run folders `<base>/evlog/` holds, the name of one whose id is `run_id` or None)."""
    count, found = 0, None
    suffix = f"-{run_id}" if run_id else None
    try:
        with os.scandir(run_root(base)) as it:
            for e in it:
                if e.name.startswith(PREFIX):
                    count += 1
                    # run-YYYYmmdd_HHMMSS-<id>: the id starts after the second '-'
                    if suffix is not None and e.name.endswith(suffix) and len(e.name) == len(PREFIX) + 15 + len(suffix):
                        found = e.name
    except OSError:
        pass
    return count, found


def count_runs(base: str) -> int:
    """How many run folders `<base>/evlog/` holds (0 when it does not exist)."""
    return scan_runs(base)[0]


def create(base: str, run_id: str, start_time: float) -> Path:
    """Make the run folder of a new run; a clear error when it cannot be made."""
    root = run_root(base)
    folder = root / folder_name(run_id, start_time)
    try:
        root.mkdir(parents=True, exist_ok=True)
        folder.mkdir()
    except FileExistsError:
        raise UsageError(
            f"run folder {folder} already exists: run id {run_id!r} was used by another run started in the "
            "same second; give each run its own id (or leave id= out)"
        ) from None
    except PermissionError:
        raise UsageError(f"cannot create a run folder under {root}: permission denied; pass dir= a writable folder "
                         "(or set EVLOG_DIR)") from None
    except OSError as exc:
        raise UsageError(f"cannot create a run folder under {root}: {exc.strerror or exc}; pass dir= a writable "
                         "folder (or set EVLOG_DIR)") from None
    return folder


def link_latest(folder: Path) -> None:
    """Point `<root>/latest-run` at `folder`, replacing the old link atomically (best effort)."""
    root = folder.parent
    tmp = root / f".{LATEST}.{os.getpid()}.{folder.name}.tmp"
    try:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        os.symlink(folder.name, tmp)
        os.replace(tmp, root / LATEST)
    except OSError:
        try:
            os.unlink(tmp)
        except OSError:
            pass
