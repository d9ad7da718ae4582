"""The log's LOCK file, `<run>/log/LOCK` (spec/format.md 1 and 5): the one writer holds flock(2)
LOCK_EX on it for its whole life, and its text names the writer; whoever asks whether the run is
running (readers, resume, the syncer, `evlog runs ls`) probes it with a shared, non-blocking lock."""
from __future__ import annotations

import fcntl
import os
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING

from ..errors import WriterLockedError

if TYPE_CHECKING:
    from typing import Optional, Union

    PathLike = Union[str, "os.PathLike[str]"]

LOCK_NAME = "LOCK"
_TAKE_TRIES = 20  # 5 ms apart: 0.1 s, spec/format.md 5
_TAKE_PAUSE = 0.005


def take(log_dir: "PathLike", folder: "PathLike") -> int:
    """Take the LOCK of the log in `log_dir` (of run folder `folder`, for the message) and write
    the holder's text into it: the descriptor, which holds the lock until it is closed.
    WriterLockedError, naming the holder, when another writer has it."""
    path = Path(log_dir) / LOCK_NAME
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    # readers probe the lock with a shared flock held for microseconds (is_held): a few retries
    # tell such a probe from a writer, which holds it for its whole life
    for attempt in range(_TAKE_TRIES):
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            break
        except BlockingIOError:
            if attempt < _TAKE_TRIES - 1:
                time.sleep(_TAKE_PAUSE)
    else:
        os.close(fd)
        raise WriterLockedError(
            f"run folder {folder} is already being written by {holder_text(path)}; "
            "one writer per run: finish that run first or use another run id"
        ) from None
    os.ftruncate(fd, 0)
    cmd = " ".join(sys.argv)[:200]
    os.write(fd, f"pid {os.getpid()} on {os.uname().nodename} ({cmd})\n".encode())
    return fd


def holder_text(path: "PathLike", unknown: str = "an unknown process") -> str:
    """The text a lock file's holder wrote into it (who holds it), `unknown` when it holds none."""
    try:
        text = Path(path).read_text(errors="replace").strip()
    except OSError:
        text = ""
    return text or unknown


def is_held(path: "PathLike") -> bool:
    """Whether some process holds a flock on the file at `path` (probed with a shared, non-blocking
    lock on a descriptor of our own, closed at once); False when there is no such file."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    except OSError:
        return False
    finally:
        os.close(fd)  # releases the probe's shared lock too
    return False


def writer_active(log_dir: "PathLike") -> bool:
    """Whether a writer holds the LOCK of the log in `log_dir`: the run is running, and its journal
    is its own (readers wait for the frames)."""
    return is_held(os.path.join(log_dir, LOCK_NAME))


def holder(log_dir: "PathLike") -> "Optional[str]":
    """The text of the log's LOCK when a live writer holds it (the run is running), else None."""
    path = os.path.join(log_dir, LOCK_NAME)
    return holder_text(path, "another process") if is_held(path) else None
