"""The log reader: records of a run folder in seq order, from the start or a cursor, once or following.

Reading never raises on bad bytes: a torn tail is "not yet readable" (`pending_bytes`), damage in
the middle is reported (`damage`, and the `on_damage` callback) and reading resumes at the next
frame. Only unusable arguments raise, with this package's typed errors.
"""
from __future__ import annotations

import os
import threading
from collections import namedtuple
from pathlib import Path
from typing import TYPE_CHECKING

from ..errors import ArgumentTypeError, FormatVersionError, NotARunFolderError
from ..util.watching import observe
from .lockfile import writer_active  # noqa: F401  (reader.writer_active: whether a writer holds log/LOCK)
from .segment import (
    LOG_DIR,
    Damage,
    Frame,
    HeaderFrame,
    Record,
    Skipped,
    Torn,
    JOURNAL_NAME,
    journal_tail,
    list_segments,
    read_journal,
    scan,
    segment_headers,
    segment_name,
)


if TYPE_CHECKING:
    from typing import Any, Callable, Dict, Iterator, List, Optional, Tuple, Union

    from .segment import SegmentHeader


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
        self.seq_gaps: List[Tuple[int, int]] = []  # (first missing seq, count), as records arrive
        self.pending_bytes = 0
        self.journal_pending = 0  # bytes at the journal's end that are not a whole entry
        self.torn: Optional[Tuple[str, int, int]] = None  # (file, offset, length) of a torn tail
        self.records_read = 0
        self.cursor = Cursor(0, 0, 0)
        self._seg = 0
        self._offset = 0
        self._started = False
        self._checks = _Checks()

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
        segments = list_segments(self.log_dir)
        at_start = off == 0 and (not segments or seg <= segments[0][0])
        # from the folder's start, segment numbers are checked from 0 and seqs from segment 0's header
        self._checks = _Checks(prev=-1 if at_start else (seg - 1 if off == 0 else seg),
                               expect=None if at_start and cursor.seq == 0 else cursor.seq)

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
        chk = self._checks
        self.pending_bytes, self.torn = 0, None
        for i, (number, name) in enumerate(segments):
            last = i == len(segments) - 1
            if number != self._seg:
                self._seg, self._offset = number, 0
            if number > chk.prev + 1:
                first_missing = chk.prev + 1
                what = (f"segment {first_missing} is missing" if number == first_missing + 1
                        else f"segments {first_missing} to {number - 1} are missing")
                self._report(segment_name(first_missing), 0, 0, what)
            chk.prev = max(chk.prev, number)
            base = self._offset
            try:
                with open(self.log_dir / name, "rb") as f:
                    f.seek(base)
                    data = f.read()
            except OSError as exc:
                self._report(name, base, 0, f"unreadable: {exc.strerror or exc}")
                continue
            if base == 0 and not data:
                if last:
                    self.torn = (str(self.log_dir / name), 0, 0)  # a writer is creating it
                else:
                    self._report(name, 0, 0, "empty segment: no header")
                continue
            items = _scan_named(data, self.log_dir / name)
            if last and not writer_active(self.log_dir):
                # a stopped (killed) writer's journal: its records not yet in a frame (spec 5)
                journal, self.journal_pending = read_journal(self.log_dir / JOURNAL_NAME)
                items = journal_tail(items, data, [r for r in journal if r.seq >= want])
            for item in items:
                # (the journal's records span no bytes: after a header torn by a kill they come at 0)
                if base + item.offset == 0 and not isinstance(item, (HeaderFrame, Torn, Skipped)) \
                        and item.end > item.offset:
                    self._report(name, 0, 0, "no segment header: the segment begins with a record frame")
                if isinstance(item, Frame):
                    recs = item.records
                    at = (number, base + item.offset)
                    for j, rec in enumerate(recs):
                        if rec.seq < want:
                            if chk.top is not None and rec.seq <= chk.top and at > chk.top_at:
                                self._report(name, base + item.offset, 0,
                                             f"record seq {rec.seq} after seq {chk.top}: dropped (seqs must increase)")
                                chk.top_at = at
                            continue
                        if chk.seg_first is not None and rec.seq < chk.seg_first:
                            self._report(name, base + item.offset, 0,
                                         f"record seq {rec.seq} below the header's first seq {chk.seg_first}")
                            chk.seg_first = None
                        chk.gap_to(rec.seq, self.seq_gaps)
                        want = rec.seq + 1
                        chk.expect, chk.top, chk.top_at = want, rec.seq, at
                        end = item.end if j == len(recs) - 1 else item.offset
                        self.cursor = Cursor(want, number, base + end)
                        self.records_read += 1
                        yield rec
                    chk.seg_first = None
                    self._offset = base + item.end
                    self.cursor = Cursor(want, number, self._offset)
                elif isinstance(item, HeaderFrame):
                    if base + item.offset == 0:
                        if item.header is None:
                            self._report(name, 0, item.end, "bad segment header")
                        else:
                            self._check_header(name, number, item.header)
                    self._offset = base + item.end
                elif isinstance(item, Skipped):
                    self._report(name, base + item.offset, item.length, item.reason)
                    self._offset = base + item.offset + item.length
                elif isinstance(item, Torn):
                    if last:
                        self.pending_bytes = item.length
                        self.torn = (str(self.log_dir / name), base + item.offset, item.length)
                    else:
                        self._report(name, base + item.offset, item.length, "truncated frame before the next segment")
                        self._offset = base + item.offset + item.length
            if not last:
                self.cursor = Cursor(want, segments[i + 1][0], 0)

    def _check_header(self, name: str, number: int, header: "SegmentHeader") -> None:
        """A valid header must name its own file, the log's run id, and a first seq that fits."""
        chk = self._checks
        if header.segment != number:
            self._report(name, 0, 0, f"header says segment {header.segment}, the file name says {number}")
        if chk.run_id is None:
            chk.run_id = header.run_id
        elif header.run_id != chk.run_id:
            self._report(name, 0, 0, f"header run id {header.run_id!r} differs from the log's {chk.run_id!r}")
        first = header.first_seq
        if number == 0 and (chk.expect is None or first > chk.expect):
            chk.expect = first  # the log's start (spec/format.md 1): no gap before it
        elif chk.top is not None and first <= chk.top:
            self._report(name, 0, 0, f"header first seq {first} is not above seq {chk.top} already read")
        else:
            chk.gap_to(first, self.seq_gaps)
            chk.expect = first if chk.expect is None else max(chk.expect, first)
        chk.seg_first = first


class _Checks:
    """What a reader remembers to tell damage that has no bad bytes: segment numbers, seqs, run id."""

    __slots__ = ("prev", "expect", "top", "top_at", "run_id", "seg_first")

    def __init__(self, prev: int = -1, expect: Optional[int] = None) -> None:
        self.prev = prev  # the highest segment number read so far
        self.expect = expect  # the next seq that would leave no gap (None: not known yet)
        self.top: Optional[int] = None  # the highest seq delivered
        self.top_at = (-1, -1)  # (segment, frame offset) where it was
        self.run_id: Optional[str] = None
        self.seg_first: Optional[int] = None  # the current segment header's first seq, until a record

    def gap_to(self, seq: int, gaps: List[Tuple[int, int]]) -> None:
        if self.expect is not None and seq > self.expect:
            gaps.append((self.expect, seq - self.expect))
            self.expect = seq


def _scan_named(data: bytes, path: Path) -> "Iterator":
    """scan(), its FormatVersionError naming the segment file (reading stops there: spec 2.1)."""
    try:
        yield from scan(data)
    except FormatVersionError as exc:
        raise FormatVersionError(f"{path}: {exc}") from None


def _size(path: Path) -> int:
    try:
        return path.stat().st_size
    except OSError:
        return -1


def _watch(log_dir: Path, wake: threading.Event):
    """Start a watchdog observer that sets `wake` on any change in `log_dir`; None if unavailable."""
    # the reader's own opens and closes are events too; waking on them would busy-loop
    return observe(str(log_dir), wake.set, ignore=("opened", "closed_no_write"))
