"""The log writer: appends records to a run folder's segments, crash-tolerantly.

`append()` packs the record inline (cheap, and a bad value fails in the caller) and adds it to an
in-memory buffer. A background thread writes what is pending to the log's journal at most
`commit_interval` (0.5 ms) after it was appended (group commit: under load a write carries more
records), so a SIGKILL loses only the last ms; the frame of those records is compressed whole and
written to the segment at the frame size bound or `flush_interval` after it began, and the
journal emptied. Compression and I/O stay off the caller's path. Rules: spec/format.md section 5.
"""
from __future__ import annotations

import os
import threading
import time
import weakref
from pathlib import Path
from typing import TYPE_CHECKING

import msgpack
import zstandard

from ..errors import (
    ArgumentTypeError,
    ForkedWriterError,
    UnpackableValueError,
    UsageError,
    WriterClosedError,
    WriterIOError,
)
from ..util.atomic import fsync_dir as _fsync_dir
from . import lockfile
from .segment import (
    LOG_DIR,
    Frame,
    HeaderFrame,
    Torn,
    encode_header,
    list_segments,
    JOURNAL_NAME,
    journal_entry,
    read_journal,
    scan,
    segment_name,
)

if TYPE_CHECKING:
    from typing import Any, Dict, List, Optional, Tuple, Union

DEFAULT_FLUSH_INTERVAL = 1.0
DEFAULT_COMMIT_INTERVAL = 0.0005
FSYNC_MODES = ("off", "frame", "write")
DEFAULT_FRAME_BYTES = 1024 * 1024
DEFAULT_SEGMENT_BYTES = 64 * 1024 * 1024
DEFAULT_LEVEL = 3
_MAX_PENDING_FRAMES = 8

_live_writers: "weakref.WeakSet[LogWriter]" = weakref.WeakSet()
_now = time.time


def _mark_forked() -> None:
    for w in list(_live_writers):
        w._forked = True


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_mark_forked)


class _Chunk:
    """Packed records for the open frame; `end`: the frame is finished after them."""

    __slots__ = ("data", "first_seq", "end")

    def __init__(self, data: bytes, first_seq: int, end: bool) -> None:
        self.data, self.first_seq, self.end = data, first_seq, end


def check_fsync(value: Union[str, float, None], name: str = "fsync") -> Union[str, float]:
    """The fsync policy `value` names: "off", "frame" (after every finished frame), "write" (after
    every write) or a number of seconds (at most that long after a write); UsageError otherwise."""
    given = value
    if value is None:
        return "off"
    if isinstance(value, str):
        text = value.strip().lower()
        if text in FSYNC_MODES:
            return text
        try:
            value = float(text)
        except ValueError:
            value = None
    if isinstance(value, (int, float)) and not isinstance(value, bool) and 0 < value <= 3600:
        return float(value)
    raise UsageError(f"{name}={given!r} is not an fsync policy: use off, frame, write or a number of "
                     f"seconds in (0, 3600] (e.g. {name}=1)")


class LogWriter:
    """Appends records to the log of one run folder; one writer per folder (OS file lock).

    Opening a folder that already has a log continues its seq; a torn tail left by a crash is cut
    off (its bytes saved beside the segment), the records of its complete blocks are written again
    as a checksummed frame, and a `recovery` record says what was cut and kept.
    `commit_interval`: the longest a record waits before it is written (None: records are written
    only with their finished frame, the frame boundaries being flush() calls and the bounds);
    `flush_interval`: the longest a frame stays open; `fsync`: see `check_fsync`
    (`fsync_frames=True` is `fsync="frame"`).
    `first_seq` is the seq the log begins at when the folder holds no record and no segment header
    yet (default 0; a run resumed from the server continues its seq there); ignored otherwise.
    """

    def __init__(
        self,
        folder: Union[str, os.PathLike],
        run_id: str,
        *,
        flush_interval: float = DEFAULT_FLUSH_INTERVAL,
        frame_bytes: int = DEFAULT_FRAME_BYTES,
        segment_bytes: int = DEFAULT_SEGMENT_BYTES,
        level: int = DEFAULT_LEVEL,
        fsync_frames: bool = False,
        first_seq: Optional[int] = None,
        commit_interval: Optional[float] = DEFAULT_COMMIT_INTERVAL,
        fsync: Union[str, float, None] = None,
    ) -> None:
        if first_seq is not None and (type(first_seq) is not int or first_seq < 0):
            raise UsageError(f"first_seq must be an int >= 0, got {first_seq!r}")
        if not isinstance(flush_interval, (int, float)) or flush_interval <= 0:
            raise UsageError(f"flush_interval must be a positive number of seconds, got {flush_interval!r}")
        if commit_interval is not None and (not isinstance(commit_interval, (int, float))
                                            or not 0 <= commit_interval <= 1):
            raise UsageError(f"commit_interval must be None or a number of seconds from 0 to 1, "
                             f"got {commit_interval!r}")
        fsync_policy = check_fsync("frame" if fsync_frames and fsync is None else fsync)
        if not isinstance(frame_bytes, int) or frame_bytes < 1:
            raise UsageError(f"frame_bytes must be a positive int, got {frame_bytes!r}")
        if not isinstance(segment_bytes, int) or segment_bytes < 1:
            raise UsageError(f"segment_bytes must be a positive int, got {segment_bytes!r}")
        try:
            run_id.encode("ascii")
        except (AttributeError, UnicodeEncodeError):
            raise UsageError(f"run_id must be an ASCII string, got {run_id!r}") from None
        if not 0 < len(run_id) < 256:
            raise UsageError(f"run_id must be 1 to 255 characters, got {len(run_id)}")
        self.folder = Path(folder)
        self.log_dir = self.folder / LOG_DIR
        self.run_id = run_id
        self.flush_interval = float(flush_interval)
        self.frame_bytes = frame_bytes
        self.segment_bytes = segment_bytes
        self.commit_interval = None if commit_interval is None else float(commit_interval)
        self.fsync = fsync_policy
        self._forked = False
        self._closed = False
        self._error: Optional[BaseException] = None
        self._stopped = False  # closed or failed: appends are refused
        self.log_dir.mkdir(parents=True, exist_ok=True)
        self._lock_fd = self._acquire_lock()
        try:
            self.recovered: List[Dict[str, Any]] = []
            found, last_segment = self._recover()
            # a log that holds no record and no segment header yet begins at `first_seq` (a run
            # resumed from the server, whose earlier records live there)
            self._seq = found if found is not None else (first_seq or 0)
            self.first_seq = self._seq
            self._segment = last_segment + 1
            self._fd = -1
            self._seg_size = 0
            self._open_segment(self._seq)
            self._jfd = os.open(self.log_dir / JOURNAL_NAME, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_APPEND,
                                0o644)
        except BaseException:
            os.close(self._lock_fd)
            raise
        self._cctx = zstandard.ZstdCompressor(level=level, write_checksum=True, write_content_size=True)
        self._packer = msgpack.Packer(use_bin_type=True, autoreset=True)
        self._pack = self._packer.pack
        # shared with the worker thread, under the lock:
        self._buf: List[bytes] = []  # packed records not yet taken by the worker
        self._buf_first_seq = self._seq
        from msgspec.msgpack import Encoder  # here, not at import: loading it takes ~12 ms

        self._encode = Encoder().encode  # append_plain()'s
        self._frame_len = 0  # packed bytes appended into the current frame (taken or not)
        self._frame_started: Optional[float] = None  # when the worker took the frame's first records
        self._pending: List[_Chunk] = []  # chunks that finish a frame, in order
        self._queued = 0  # chunks handed to the worker, and written by it
        self._written = 0
        # the worker's own:
        self._frame_parts: List[bytes] = []  # the open frame's records, written to the journal
        self._frame_first_seq = 0
        self._journal_len = 0  # entries in the journal
        self._jdirty = False
        self._last_take = -1.0e9
        self._last_fsync = time.monotonic()
        self._dirty = False  # written since the last fsync
        self._lock = threading.Lock()
        self._cond = threading.Condition(self._lock)
        self._thread = threading.Thread(target=self._run, name=f"evlog-writer-{run_id}", daemon=True)
        self._thread.start()
        _live_writers.add(self)
        for info in self.recovered:
            self.append("recovery", info)

    # ----------------------------------------------------------------- opening
    def _acquire_lock(self) -> int:
        return lockfile.take(self.log_dir, self.folder)

    def _recover(self) -> Tuple[Optional[int], int]:
        """Find the next seq (None: no record and no segment header) and the last segment number;
        cut a torn tail off the last segment."""
        segments = list_segments(self.log_dir)
        if not segments:
            return None, -1
        next_seq: Optional[int] = None
        last_number = segments[-1][0]
        for idx in range(len(segments) - 1, -1, -1):
            number, name = segments[idx]
            path = self.log_dir / name
            data = path.read_bytes()
            header_seq: Optional[int] = None
            good_end = 0
            for item in scan(data):
                if isinstance(item, HeaderFrame):
                    good_end = item.end
                    if item.header is not None:
                        header_seq = item.header.first_seq
                elif isinstance(item, Frame):
                    good_end = item.end
                    if item.records:
                        top = max(r.seq for r in item.records) + 1
                        next_seq = top if next_seq is None else max(next_seq, top)
                elif isinstance(item, Torn) and idx == len(segments) - 1:
                    self._cut_tail(path, number, data, item.offset)
            if idx == len(segments) - 1 and path.stat().st_size == 0:
                # killed while creating it (or its header cut off): a segment without a header is
                # damage to readers (spec/format.md 4), so its number is used again
                path.unlink()
                last_number = number - 1
            if next_seq is None and header_seq is not None:
                next_seq = header_seq
            if next_seq is not None:
                break
        top = self._recover_journal(next_seq, last_number)
        return (top if top is not None else next_seq), last_number

    def _recover_journal(self, next_seq: Optional[int], last_number: int) -> Optional[int]:
        """Frame the records of a killed writer's journal that no segment holds yet at the end of the
        last segment, then remove the journal. Returns one past the last seq framed (None: none)."""
        path = self.log_dir / JOURNAL_NAME
        records, torn = read_journal(path)
        records = [r for r in records if next_seq is None or r.seq >= next_seq]
        segments = [s for s in list_segments(self.log_dir) if s[0] <= last_number]
        if not records or not segments:
            if path.exists():
                path.unlink()
            return None
        number, name = segments[-1]
        pack = msgpack.Packer(use_bin_type=True).pack
        frame = zstandard.ZstdCompressor(level=DEFAULT_LEVEL, write_checksum=True, write_content_size=True).compress(
            b"".join(pack([r.seq, r.type, r.time, r.body]) for r in records))
        with open(self.log_dir / name, "ab") as f:
            offset = f.tell()
            f.write(frame)
            f.flush()
            os.fsync(f.fileno())
        path.unlink()
        _fsync_dir(self.log_dir)
        self.recovered.append(
            {"segment": number, "offset": offset, "records_kept": len(records), "journal_bytes_torn": torn,
             "reason": "records of a crashed session's journal, framed"})
        return records[-1].seq + 1

    def _cut_tail(self, path: Path, number: int, data: bytes, offset: int) -> None:
        torn = data[offset:]
        saved = f"{path.name}.torn-{offset}"
        (self.log_dir / saved).write_bytes(torn)
        with open(path, "r+b") as f:
            f.truncate(offset)
            f.flush()
            os.fsync(f.fileno())
        self.recovered.append(
            {"segment": number, "offset": offset, "bytes": len(torn), "saved_as": saved,
             "reason": "torn tail of a crashed session"}
        )

    def _open_segment(self, first_seq: int) -> None:
        path = self.log_dir / segment_name(self._segment)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_APPEND, 0o644)
        header = encode_header(self._segment, first_seq, self.run_id)
        os.write(fd, header)
        os.fsync(fd)
        _fsync_dir(self.log_dir)
        self._fd, self._seg_size, self._header_len = fd, len(header), len(header)

    # ------------------------------------------------------------------ append
    @property
    def next_seq(self) -> int:
        """The seq the next appended record gets."""
        return self._seq

    def append(self, type: str, body: Dict[str, Any], *, when: Optional[float] = None) -> int:
        """Append one record and return its seq. Raises UnpackableValueError, writing nothing,
        when `body` holds a value msgpack cannot encode, and ArgumentTypeError when `type` is not
        a str, `body` not a dict or `when` not a number."""
        # The reader rejects a frame holding a record whose envelope is malformed, so a bad type,
        # body or time must be refused here, before it can spoil the good records of its frame.
        if not isinstance(type, str):
            raise ArgumentTypeError(f"record type must be a str, got {type.__class__.__name__}")
        if not isinstance(body, dict):
            raise ArgumentTypeError(f"record body must be a dict, got {body.__class__.__name__}")
        if when is None:
            return self.append_record(type, body)
        if not isinstance(when, (int, float)) or isinstance(when, bool):
            raise ArgumentTypeError(f"when must be a number of Unix seconds, got {when.__class__.__name__}")
        return self.append_record(type, body, when)

    def append_record(self, type: str, body: Dict[str, Any], when: Optional[float] = None) -> int:
        """`append()` for callers whose `type` is a str and `body` a dict already (the run API's
        hot path): the same record, without the argument checks."""
        if self._forked:  # before the lock, which the fork may have copied held
            self._refuse()
        with self._lock:  # the Condition's own lock: `with` on it directly is cheaper
            if self._stopped:
                self._refuse()
            seq = self._seq
            try:
                packed = self._pack([seq, type, _now() if when is None else when, body])
            except (TypeError, ValueError, OverflowError) as exc:
                self._packer.reset()
                raise UnpackableValueError(f"record cannot be encoded: {exc}") from None
            self._add_locked(seq, packed)
            return seq

    def append_plain(self, type: str, body: Dict[str, Any]) -> int:
        """`append_record()` for the run API's hot path, a body of str keys and numbers, bools or
        None: encoded by msgspec (the bytes msgpack's Packer writes, in about 40% of the time; it
        refuses subclasses of int and float, which Packer takes). Raises UnpackableValueError,
        writing nothing, when `body` cannot be encoded."""
        if self._forked:
            self._refuse()
        lock = self._lock
        lock.acquire()  # not `with`: cheaper on the hot path
        try:
            if self._stopped:
                self._refuse()
            seq = self._seq
            try:
                packed = self._encode([seq, type, _now(), body])
            except Exception as exc:  # noqa: BLE001 - msgspec's TypeError, OverflowError, EncodeError
                raise UnpackableValueError(f"record cannot be encoded: {exc}") from None
            self._add_locked(seq, packed)
            return seq
        finally:
            lock.release()

    def _add_locked(self, seq: int, packed: bytes) -> None:
        """Queue the encoded record `seq` for the worker, finishing the frame at its size bound
        and waiting while too many finished frames are pending (lock held)."""
        self._seq = seq + 1
        buf = self._buf
        if not buf:
            self._buf_first_seq = seq
            self._cond.notify()  # the worker writes it within commit_interval
        buf.append(packed)
        self._frame_len += len(packed)
        if self._frame_len >= self.frame_bytes:
            self._seal_locked()
            while len(self._pending) > _MAX_PENDING_FRAMES and self._error is None:
                self._cond.wait()

    def _refuse(self) -> None:
        if self._forked:
            raise ForkedWriterError(
                "this process was forked from the one that owns the run's log; a child process "
                "must not write into its parent's log (call init() in the child for a run of its own)"
            )
        if self._closed:
            raise WriterClosedError(f"the log of {self.folder} is closed; nothing more can be appended")
        raise WriterIOError(f"writing the log of {self.folder} failed: {self._error}") from self._error

    def _seal_locked(self) -> None:
        """Finish the current frame after the records appended so far (nothing when it has none)."""
        if not self._frame_len:
            return
        self._pending.append(_Chunk(b"".join(self._buf), self._buf_first_seq, True))
        self._buf = []
        self._frame_len = 0
        self._frame_started = None
        self._queued += 1
        self._cond.notify_all()

    def flush(self, fsync: bool = False) -> None:
        """Finish the current frame and wait until every appended record is written to the OS."""
        with self._cond:
            self._seal_locked()
            target = self._queued
            while self._written < target and self._error is None and self._thread.is_alive():
                self._cond.wait()
            if self._error is not None:
                raise WriterIOError(f"writing the log of {self.folder} failed: {self._error}") from self._error
        if fsync and self._fd >= 0:
            os.fsync(self._fd)

    def close(self) -> None:
        """Flush, fsync and close the log; idempotent."""
        if self._closed or self._forked:
            return
        try:
            self.flush(fsync=True)
        finally:
            with self._cond:
                self._closed = self._stopped = True
                self._cond.notify_all()
            self._thread.join()
            if self._fd >= 0:
                os.close(self._fd)
                self._fd = -1
            if self._jfd >= 0:
                os.close(self._jfd)
                self._jfd = -1
                if self._error is None:  # every record is in a frame: the journal holds nothing
                    try:
                        os.unlink(self.log_dir / JOURNAL_NAME)
                    except OSError:
                        pass
            os.close(self._lock_fd)
            _live_writers.discard(self)

    @property
    def closed(self) -> bool:
        return self._closed

    def __enter__(self) -> "LogWriter":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ------------------------------------------------------------ worker thread
    def _due(self, now: float) -> Optional[float]:
        """When the worker has something to do next (None: nothing until notified); lock held."""
        due = None
        if self._buf:
            if self._frame_started is None:  # the frame's age counts from when the worker sees it
                self._frame_started = now
            if self.commit_interval is not None:
                due = self._last_take + self.commit_interval
        if self._frame_started is not None:
            end = self._frame_started + self.flush_interval
            due = end if due is None else min(due, end)
        if (self._dirty or self._jdirty) and type(self.fsync) is float:
            at = self._last_fsync + self.fsync
            due = at if due is None else min(due, at)
        return due

    def _take_locked(self, now: float) -> List[_Chunk]:
        """The chunks to write now: the finished frames, then the pending records for the open
        frame, finished too when the frame is `flush_interval` old; lock held."""
        batch, self._pending = self._pending, []
        if self._buf:
            batch.append(_Chunk(b"".join(self._buf), self._buf_first_seq, False))
            self._buf = []
            self._queued += 1
            self._last_take = now
            if self._frame_started is None:
                self._frame_started = now
        if self._frame_started is not None and now >= self._frame_started + self.flush_interval:
            if batch and not batch[-1].end:
                batch[-1].end = True
            else:
                batch.append(_Chunk(b"", self._seq, True))
                self._queued += 1
            self._frame_started = None
            self._frame_len = 0
        return batch

    def _run(self) -> None:
        cond = self._cond
        while True:
            with cond:
                while True:
                    if self._pending or self._closed:
                        break
                    now = time.monotonic()
                    due = self._due(now)
                    if due is None:
                        cond.wait()
                    elif due <= now:
                        break
                    else:
                        cond.wait(due - now)
                now = time.monotonic()
                batch = self._take_locked(now)
                closing = self._closed
                cond.notify_all()  # appenders waiting for room
            try:
                for chunk in batch:
                    self._write_chunk(chunk)
                self._sync_after_write(now)
            except BaseException as exc:  # surfaced to the caller on its next append/flush
                with cond:
                    self._error, self._stopped = exc, True
                    cond.notify_all()
                return
            with cond:
                self._written += len(batch)
                cond.notify_all()
            if closing and not batch:
                return

    def _write_chunk(self, chunk: _Chunk) -> None:
        """Every chunk goes to the journal first (one checksummed entry, kept in memory for the
        frame), so it is in the OS while its frame is compressed; one that finishes the frame then
        makes the frame of everything since the last, written to the segment, after which the
        journal is emptied."""
        if chunk.data and not (chunk.end and not self._frame_parts):
            if not self._frame_parts:
                self._frame_first_seq = chunk.first_seq
            _write_all(self._jfd, journal_entry(chunk.data))
            self._journal_len += 1
            self._jdirty = True
            if not chunk.end:
                self._frame_parts.append(chunk.data)
        if not chunk.end:
            return
        if self._frame_parts:
            first_seq = self._frame_first_seq
            data = b"".join(self._frame_parts) + chunk.data
            self._frame_parts = []
        else:
            first_seq, data = chunk.first_seq, chunk.data
        if data:
            frame = self._cctx.compress(data)
            # a frame never spans segments: rotate before one that would pass the bound
            if self._seg_size > self._header_len and self._seg_size + len(frame) > self.segment_bytes:
                self._rotate(first_seq)
            _write_all(self._fd, frame)
            self._seg_size += len(frame)
            self._dirty = True
            if self.fsync == "frame":
                self._do_fsync()
        if self._journal_len:  # only after the frame is written: the journal covers it until then
            os.ftruncate(self._jfd, 0)
            self._journal_len = 0

    def _sync_after_write(self, now: float) -> None:
        policy = self.fsync
        if not (self._dirty or self._jdirty) or policy == "off" or policy == "frame":
            return
        if policy == "write" or now >= self._last_fsync + policy:
            self._do_fsync()

    def _do_fsync(self) -> None:
        if self._jdirty and self._journal_len:
            os.fsync(self._jfd)
        if self._dirty:
            os.fsync(self._fd)
        self._dirty = self._jdirty = False
        self._last_fsync = time.monotonic()

    def _rotate(self, first_seq: int) -> None:
        os.fsync(self._fd)
        os.close(self._fd)
        self._fd = -1
        self._segment += 1
        self._open_segment(first_seq)
        self._dirty = False


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        n = os.write(fd, view)
        view = view[n:]
