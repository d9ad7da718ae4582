"""What a run folder says about its sinks: cursor files, the syncer lock, the writer lock, the run's
state and size. Shared by the syncer, `evlog sync` and `evlog runs ls`."""
from __future__ import annotations

import fcntl
import os
import socket
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Dict, List, Optional, Tuple

from eventlog import Cursor, LogReader
from eventlog.logfile.lockfile import holder_text, is_held
from eventlog.logfile.lockfile import writer_active as _log_writer_active
from eventlog.logfile.segment import LOG_DIR, list_segments, read_header
from eventlog.records.fold import RunFold, exit_state
# the cursor files: their names and format in eventlog/rundir/cursors.py (read by finish() too)
from eventlog.rundir.cursors import (  # noqa: F401
    CURSOR_FORMAT,
    CURSOR_SUFFIX,
    SINKS_DIR,
    cursor_of,
    cursor_path,
    load_cursor,
    previous_sinks,
    save_cursor,
    sinks_dir,
)

SYNCER_LOCK = "SYNCER.lock"


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


def syncer_holder(folder: Path) -> Optional[Tuple[int, str]]:
    path = sinks_dir(folder) / SYNCER_LOCK
    if not is_held(path):
        return None
    text = holder_text(path)
    pid = -1
    parts = text.split()
    if len(parts) >= 2 and parts[0] == "pid" and parts[1].isdigit():
        pid = int(parts[1])
    return pid, text


def writer_active(folder: Path) -> bool:
    """Whether a writer holds the run's `log/LOCK` (the run is running)."""
    return _log_writer_active(Path(folder) / LOG_DIR)


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
    """The run id in the first readable segment header (a log whose records are not readable yet)."""
    log = Path(folder) / LOG_DIR
    for _, name in list_segments(log):
        try:
            header = read_header(log / name)
        except Exception:  # noqa: BLE001 - a newer format version's header: not this run's id to read
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
