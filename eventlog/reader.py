"""The log reader: records of a run folder in seq order, from the start or a cursor, once or following.

Reading never raises on bad bytes: a torn tail is "not yet readable" (`pending_bytes`), damage in
the middle is reported (`damage`, and the `on_damage` callback) and reading resumes at the next
frame. Only unusable arguments raise, with this package's typed errors.
"""
from __future__ import annotations

import logging
import os
import threading
from collections import namedtuple
from pathlib import Path
from typing import TYPE_CHECKING

from .errors import ArgumentTypeError, NotARunFolderError
from .segment import (
    LOG_DIR,
    Damage,
    Frame,
    HeaderFrame,
    Record,
    Skipped,
    Torn,
    list_segments,
    scan,
    segment_headers,
)


if TYPE_CHECKING:
    from typing import Any, Callable, Dict, Iterator, List, Optional, Union


class Cursor(namedtuple("Cursor", "seq segment offset", defaults=(0, 0))):
    """A resumable reading position: the next seq wanted, and where its frame starts (a hint)."""

    __slots__ = ()

    def to_dict(self) -> Dict[str, int]:
        return {"seq": self.seq, "segment": self.segment, "offset": self.offset}

    @classmethod
    def from_dict(cls, d: Dict[str, Any]) -> "Cursor":
        return cls(int(d["seq"]), int(d.get("segment", 0)), int(d.get("offset", 0)))


def resolve_run_folder(path: Union[str, os.PathLike]) -> Path:
    """The run folder a user-given path names; NotARunFolderError with the reason otherwise."""
    p = Path(path)
    if not p.exists():
        raise NotARunFolderError(f"{path}: no such file or folder")
    p = p.resolve()
    if not p.is_dir():
        raise NotARunFolderError(f"{path}: not a folder; give a run folder (evlog/run-<time>-<id>)")
    if p.name == LOG_DIR and not (p / LOG_DIR).is_dir() and list_segments(p):
        p = p.parent
    log = p / LOG_DIR
    if not log.is_dir():
        raise NotARunFolderError(f"{path}: not an evlog run folder (it has no {LOG_DIR}/ folder)")
    if not os.access(log, os.R_OK | os.X_OK):
        raise NotARunFolderError(f"{path}: permission denied reading {log}")
    return p


def log_start_seq(folder: Union[str, os.PathLike]) -> int:
    """The seq a run folder's log begins at: the first seq in the header of its first segment (0 for
    most runs; more for a run resumed from the server on another machine, spec/format.md 1)."""
    for _, header in segment_headers(Path(folder) / LOG_DIR):
        return header.first_seq
    return 0


class LogReader:
    """Reads the records of one run folder; see the module docstring for the damage contract."""

    def __init__(
        self,
        folder: Union[str, os.PathLike],
        *,
        on_damage: Optional[Callable[[Damage], None]] = None,
    ) -> None:
        if not isinstance(folder, (str, os.PathLike)):
            raise ArgumentTypeError(f"folder must be a path, got {type(folder).__name__}")
        self.folder = resolve_run_folder(folder)
        self.log_dir = self.folder / LOG_DIR
        self.on_damage = on_damage
        self.damage: List[Damage] = []
        self.pending_bytes = 0
        self.records_read = 0
        self.cursor = Cursor(0, 0, 0)
        self._seg = 0
        self._offset = 0
        self._started = False

    # ------------------------------------------------------------------ public
    def records(self, cursor: Optional[Cursor] = None) -> Iterator[Record]:
        """Every readable record from `cursor` (or the start) to the current end of the log."""
        self._start(cursor)
        yield from self._pass()

    def follow(
        self,
        cursor: Optional[Cursor] = None,
        *,
        stop: Optional[Callable[[], bool]] = None,
        poll_interval: float = 0.5,
        until_exit: bool = False,
    ) -> Iterator[Record]:
        """Records as they arrive: watchdog events wake the reader, a periodic re-read backs them up.

        Ends after an `exit` record when `until_exit`, or once `stop()` is true (after delivering
        what is on disk then).
        """
        self._start(cursor)
        wake = threading.Event()
        observer = _watch(self.log_dir, wake)
        try:
            while True:
                stopping = stop is not None and stop()
                for rec in self._pass():
                    yield rec
                    if until_exit and rec.type == "exit":
                        return
                if stopping:
                    return
                wake.wait(poll_interval)
                wake.clear()
        finally:
            if observer is not None:
                observer.stop()

    # ----------------------------------------------------------------- private
    def _start(self, cursor: Optional[Cursor]) -> None:
        if self._started and cursor is None:
            return
        if cursor is not None and not isinstance(cursor, Cursor):
            raise ArgumentTypeError(f"cursor must be an eventlog.Cursor, got {type(cursor).__name__}")
        self._started = True
        cursor = cursor or Cursor(0, 0, 0)
        seg, off = cursor.segment, cursor.offset
        path = self._seg_path(seg)
        if path is None or off > _size(path):
            seg, off = self._locate(cursor.seq), 0
        self._seg, self._offset, self.cursor = seg, off, Cursor(cursor.seq, seg, off)

    def _seg_path(self, number: int) -> Optional[Path]:
        for n, name in list_segments(self.log_dir):
            if n == number:
                return self.log_dir / name
        return None

    def _locate(self, seq: int) -> int:
        """The last segment whose header says it starts at or before `seq`."""
        segments = list_segments(self.log_dir)
        best = segments[0][0] if segments else 0
        for number, header in segment_headers(self.log_dir):
            if header.first_seq > seq:
                break
            best = number
        return best

    def _report(self, name: str, offset: int, length: int, reason: str) -> None:
        d = Damage(str(self.log_dir / name), offset, length, reason)
        self.damage.append(d)
        if self.on_damage is not None:
            self.on_damage(d)

    def _pass(self) -> Iterator[Record]:
        segments = [s for s in list_segments(self.log_dir) if s[0] >= self._seg]
        want = self.cursor.seq
        self.pending_bytes = 0
        for i, (number, name) in enumerate(segments):
            last = i == len(segments) - 1
            if number != self._seg:
                self._seg, self._offset = number, 0
            base = self._offset
            try:
                with open(self.log_dir / name, "rb") as f:
                    f.seek(base)
                    data = f.read()
            except OSError as exc:
                self._report(name, base, 0, f"unreadable: {exc.strerror or exc}")
                continue
            for item in scan(data):
                if isinstance(item, Frame):
                    recs = item.records
                    for j, rec in enumerate(recs):
                        if rec.seq < want:
                            continue
                        want = rec.seq + 1
                        end = item.end if j == len(recs) - 1 else item.offset
                        self.cursor = Cursor(want, number, base + end)
                        self.records_read += 1
                        yield rec
                    self._offset = base + item.end
                    self.cursor = Cursor(want, number, self._offset)
                elif isinstance(item, HeaderFrame):
                    if item.header is None and base + item.offset == 0:
                        self._report(name, 0, item.end, "bad segment header")
                    self._offset = base + item.end
                elif isinstance(item, Skipped):
                    self._report(name, base + item.offset, item.length, item.reason)
                    self._offset = base + item.offset + item.length
                elif isinstance(item, Torn):
                    if last:
                        self.pending_bytes = item.length
                    else:
                        self._report(name, base + item.offset, item.length, "truncated frame before the next segment")
                        self._offset = base + item.offset + item.length
            if not last:
                self.cursor = Cursor(want, segments[i + 1][0], 0)


def _size(path: Path) -> int:
    try:
        return path.stat().st_size
    except OSError:
        return -1


class _DropStopRace(logging.Filter):
    """watchdog's inotify emitter logs an ERROR when it is stopped while reading events (a race
    in watchdog itself, harmless); without this, `evlog tail --follow` may end with that line."""

    def filter(self, record: logging.LogRecord) -> bool:
        return "called when the thread is inactive" not in record.getMessage()


def _watch(log_dir: Path, wake: threading.Event):
    """Start a watchdog observer that sets `wake` on any change in `log_dir`; None if unavailable."""
    try:
        from watchdog.events import FileSystemEventHandler
        from watchdog.observers import Observer
    except ImportError:
        return None
    inotify_log = logging.getLogger("watchdog.observers.inotify")
    if not any(isinstance(f, _DropStopRace) for f in inotify_log.filters):
        inotify_log.addFilter(_DropStopRace())

    class _Handler(FileSystemEventHandler):
        def on_any_event(self, event) -> None:  # noqa: ANN001
            # the reader's own opens and closes are events too; waking on them would busy-loop
            if event.event_type not in ("opened", "closed_no_write"):
                wake.set()

    observer = Observer()
    try:
        observer.schedule(_Handler(), str(log_dir), recursive=False)
        observer.daemon = True
        observer.start()
    except Exception:  # inotify limits and the like: the periodic re-read still works
        return None
    return observer
