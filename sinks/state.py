"""What a run folder says about its sinks: cursor files, the syncer lock, the writer lock, the run's
state and size. Shared by the syncer, `evlog sync` and `evlog runs ls`."""
from __future__ import annotations

import errno
import fcntl
import os
import socket
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Dict, List, Optional, Tuple

from eventlog import Cursor, LogReader
from eventlog.logfile.segment import LOG_DIR, list_segments
from eventlog.records.fold import RunFold, exit_state

from .base import SINKS_DIR, atomic_write_json, read_json

CURSOR_SUFFIX = ".cursor.json"
SYNCER_LOCK = "SYNCER.lock"
WRITER_LOCK = "LOCK"
CURSOR_FORMAT = 1


def sinks_dir(folder: Path) -> Path:
    return Path(folder) / SINKS_DIR


def cursor_path(folder: Path, name: str) -> Path:
    return sinks_dir(folder) / f"{name}{CURSOR_SUFFIX}"


def load_cursor(folder: Path, name: str) -> Optional[Dict[str, Any]]:
    """A sink's cursor file: {"cursor": {...}, "state": ..., "closed": ..., "last": ..., ...}."""
    data = read_json(cursor_path(folder, name))
    if data is None or not isinstance(data.get("cursor"), dict):
        return None
    return data


def save_cursor(folder: Path, name: str, data: Dict[str, Any]) -> None:
    sinks_dir(folder).mkdir(parents=True, exist_ok=True)
    atomic_write_json(cursor_path(folder, name), data)


def cursor_of(data: Optional[Dict[str, Any]]) -> Cursor:
    if not data:
        return Cursor(0, 0, 0)
    try:
        return Cursor.from_dict(data["cursor"])
    except (KeyError, TypeError, ValueError):
        return Cursor(0, 0, 0)


def previous_sinks(folder: Path) -> Tuple[str, ...]:
    """Names of the sinks that have a cursor in this run folder."""
    try:
        names = os.listdir(sinks_dir(folder))
    except OSError:
        return ()
    return tuple(sorted(n[: -len(CURSOR_SUFFIX)] for n in names
                        if n.endswith(CURSOR_SUFFIX) and not n.startswith(".")))


# ----------------------------------------------------------------------- locks
class SyncerLock:
    """flock(2) on `<run>/sinks/SYNCER.lock`: at most one process delivers a run at a time. The file
    names the holder: `pid <pid> <role> on <host> since <unix time>`."""

    def __init__(self, folder: Path) -> None:
        self.path = sinks_dir(folder) / SYNCER_LOCK
        self.fd: Optional[int] = None

    def acquire(self, role: str, *, wait: Optional[float] = 0.0, should_stop=None) -> bool:  # noqa: ANN001
        """Take the lock; wait up to `wait` seconds (None: until it is free or should_stop())."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        deadline = None if wait is None else time.monotonic() + wait
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if deadline is not None and time.monotonic() >= deadline:
                    os.close(fd)
                    return False
                if should_stop is not None and should_stop():
                    os.close(fd)
                    return False
                time.sleep(0.1)
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"pid {os.getpid()} {role} on {socket.gethostname()} since {time.time():.3f}\n".encode(), 0)
        self.fd = fd
        return True

    def release(self) -> None:
        if self.fd is not None:
            try:
                os.ftruncate(self.fd, 0)
            except OSError:
                pass
            os.close(self.fd)
            self.fd = None

    def holder(self) -> Optional[Tuple[int, str]]:
        """(pid, description) of the process holding the lock, None when it is free."""
        return syncer_holder(self.path.parent.parent)


def _held(path: Path) -> bool:
    """Whether some process holds a flock on `path` (probed with a shared, non-blocking lock)."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except OSError as exc:
        return exc.errno in (errno.EWOULDBLOCK, errno.EAGAIN)
    finally:
        os.close(fd)  # closing drops our shared lock
    return False


def syncer_holder(folder: Path) -> Optional[Tuple[int, str]]:
    path = sinks_dir(folder) / SYNCER_LOCK
    if not _held(path):
        return None
    try:
        text = path.read_text(errors="replace").strip()
    except OSError:
        text = ""
    pid = -1
    parts = text.split()
    if len(parts) >= 2 and parts[0] == "pid" and parts[1].isdigit():
        pid = int(parts[1])
    return pid, text or "an unknown process"


def writer_active(folder: Path) -> bool:
    """Whether a writer holds the run's `log/LOCK` (the run is running)."""
    return _held(Path(folder) / LOG_DIR / WRITER_LOCK)


# ------------------------------------------------------------------ run facts
def log_bytes(folder: Path) -> List[Tuple[int, int]]:
    """(segment number, size) of every segment."""
    log = Path(folder) / LOG_DIR
    out = []
    for number, name in list_segments(log):
        try:
            out.append((number, (log / name).stat().st_size))
        except OSError:
            out.append((number, 0))
    return out


def bytes_before(sizes: List[Tuple[int, int]], cursor: Cursor) -> int:
    """How many log bytes lie before a cursor (for progress)."""
    done = 0
    for number, size in sizes:
        if number < cursor.segment:
            done += size
        elif number == cursor.segment:
            done += min(cursor.offset, size)
    return done


@dataclass
class RunFacts:
    """What a full read of a run's log says: for `evlog runs ls` and `evlog sync` reports."""

    folder: Path
    run_id: str = ""
    name: str = ""
    state: str = "crashed"
    steps: int = 0
    records: int = 0
    next_seq: int = 0
    size: int = 0
    exit_code: Optional[int] = None
    damage: List[Any] = field(default_factory=list)
    sinks: Dict[str, Dict[str, Any]] = field(default_factory=dict)  # name -> cursor file data


def run_facts(folder: Path) -> RunFacts:
    reader = LogReader(folder)
    facts = RunFacts(reader.folder)
    facts.size = sum(s for _, s in log_bytes(reader.folder))
    fold = RunFold()
    for rec in reader.records():
        fold.feed(rec.seq, rec.type, rec.body)
    facts.records, facts.next_seq, facts.steps = fold.records, fold.next_seq, fold.rows
    facts.run_id = str(fold.run.get("id") or "")
    facts.name = str(fold.run.get("name") or "")
    last_session_exit = fold.ended
    facts.damage = list(reader.damage)
    if not facts.run_id:
        facts.run_id = header_run_id(reader.folder) or ""
    if writer_active(reader.folder):
        facts.state = "running"
    elif last_session_exit is not None:
        code = last_session_exit.get("exit_code", 0)
        facts.exit_code = code if isinstance(code, int) else None
        facts.state = exit_state(last_session_exit)
    else:
        facts.state = "crashed"
    for name in previous_sinks(reader.folder):
        data = load_cursor(reader.folder, name)
        if data is not None:
            facts.sinks[name] = data
    return facts


def header_run_id(folder: Path) -> Optional[str]:
    from eventlog.logfile.segment import decode_header
    import struct

    log = Path(folder) / LOG_DIR
    for _, name in list_segments(log):
        try:
            with open(log / name, "rb") as f:
                head = f.read(512)
            header = decode_header(head[8:8 + struct.unpack_from("<I", head, 4)[0]])
        except Exception:  # noqa: BLE001
            continue
        if header is not None:
            return header.run_id
    return None


def first_record(folder: Path):  # noqa: ANN201
    """The run's first readable record, or None."""
    reader = LogReader(folder)
    for rec in reader.records():
        return rec
    return None


_NOT_RUNS = {LOG_DIR, SINKS_DIR, "tensorboard", "files", "media", "code", "node_modules", "__pycache__",
             "site-packages", "venv"}


def find_run_folders(path: Path, depth: int = 3) -> List[Path]:
    """Run folders at or under `path` (a folder with a log/ holding segments), sorted by name."""
    path = Path(path)
    if (path / LOG_DIR).is_dir():
        return [path]
    out: List[Path] = []
    if depth <= 0 or not path.is_dir():
        return out
    try:
        children = sorted(path.iterdir())
    except OSError:
        return out
    for child in children:
        if child.is_symlink() or not child.is_dir():
            continue  # latest-run and friends: the folders they point at are listed anyway
        if child.name in _NOT_RUNS or child.name.startswith("."):
            continue
        out.extend(find_run_folders(child, depth - 1))
    return out
