"""The log writer: appends records to a run folder's segments, crash-tolerantly.

`append()` packs the record inline (cheap, and a bad value fails in the caller) and adds it to an
in-memory frame buffer. A background thread seals buffers into zstd frames and writes them, so
compression and I/O stay off the caller's path. Flush policy and durability: spec/format.md.
"""
from __future__ import annotations

import fcntl
import os
import sys
import threading
import time
import weakref
from pathlib import Path
from typing import TYPE_CHECKING

import msgpack
import zstandard

from .errors import (
    ArgumentTypeError,
    ForkedWriterError,
    UnpackableValueError,
    UsageError,
    WriterClosedError,
    WriterIOError,
    WriterLockedError,
)
from .segment import (
    LOG_DIR,
    Frame,
    HeaderFrame,
    Torn,
    encode_header,
    list_segments,
    scan,
    segment_name,
)

if TYPE_CHECKING:
    from typing import Any, Dict, List, Optional, Tuple, Union

LOCK_NAME = "LOCK"
DEFAULT_FLUSH_INTERVAL = 1.0
DEFAULT_FRAME_BYTES = 256 * 1024
DEFAULT_SEGMENT_BYTES = 64 * 1024 * 1024
DEFAULT_LEVEL = 3
_MAX_PENDING_FRAMES = 8

_live_writers: "weakref.WeakSet[LogWriter]" = weakref.WeakSet()


def _mark_forked() -> None:
    for w in list(_live_writers):
        w._forked = True


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_mark_forked)


class _Chunk:
    __slots__ = ("data", "first_seq", "count")

    def __init__(self, data: bytes, first_seq: int, count: int) -> None:
        self.data, self.first_seq, self.count = data, first_seq, count


def _lock_holder(path: Path) -> str:
    try:
        text = path.read_text(errors="replace").strip()
    except OSError:
        text = ""
    return text or "an unknown process"


class LogWriter:
    """Appends records to the log of one run folder; one writer per folder (OS file lock).

    Opening a folder that already has a log continues its seq; a torn tail left by a crash is cut
    off (its bytes saved beside the segment) and a `recovery` record says what was cut.
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
    ) -> None:
        if first_seq is not None and (type(first_seq) is not int or first_seq < 0):
            raise UsageError(f"first_seq must be an int >= 0, got {first_seq!r}")
        if not isinstance(flush_interval, (int, float)) or flush_interval <= 0:
            raise UsageError(f"flush_interval must be a positive number of seconds, got {flush_interval!r}")
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
        self.fsync_frames = fsync_frames
        self._forked = False
        self._closed = False
        self._error: Optional[BaseException] = None
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
        except BaseException:
            os.close(self._lock_fd)
            raise
        self._cctx = zstandard.ZstdCompressor(level=level, write_checksum=True, write_content_size=True)
        self._packer = msgpack.Packer(use_bin_type=True, autoreset=True)
        self._pack = self._packer.pack
        self._buf: List[bytes] = []
        self._buf_len = 0
        self._buf_first_seq = self._seq
        self._oldest = 0.0
        self._pending: List[_Chunk] = []
        self._sealed = 0
        self._written = 0
        self._lock = threading.Lock()
        self._cond = threading.Condition(self._lock)
        self._thread = threading.Thread(target=self._run, name=f"evlog-writer-{run_id}", daemon=True)
        self._thread.start()
        _live_writers.add(self)
        for info in self.recovered:
            self.append("recovery", info)

    # ----------------------------------------------------------------- opening
    def _acquire_lock(self) -> int:
        path = self.log_dir / LOCK_NAME
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            raise WriterLockedError(
                f"run folder {self.folder} is already being written by {_lock_holder(path)}; "
                "one writer per run: finish that run first or use another run id"
            ) from None
        os.ftruncate(fd, 0)
        cmd = " ".join(sys.argv)[:200]
        os.write(fd, f"pid {os.getpid()} on {os.uname().nodename} ({cmd})\n".encode())
        return fd

    def _recover(self) -> Tuple[Optional[int], int]:
        """Find the next seq (None: no record and no segment header) and the last segment number;
        cut a torn tail off the last segment."""
        segments = list_segments(self.log_dir)
        if not segments:
            return None, -1
        next_seq: Optional[int] = None
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
            if next_seq is None and header_seq is not None:
                next_seq = header_seq
            if next_seq is not None:
                break
        return next_seq, segments[-1][0]

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
        if self._forked:
            raise ForkedWriterError(
                "this process was forked from the one that owns the run's log; a child process "
                "must not write into its parent's log (call init() in the child for a run of its own)"
            )
        # The reader rejects a frame holding a record whose envelope is malformed, so a bad type,
        # body or time must be refused here, before it can spoil the good records of its frame.
        if not isinstance(type, str):
            raise ArgumentTypeError(f"record type must be a str, got {type.__class__.__name__}")
        if not isinstance(body, dict):
            raise ArgumentTypeError(f"record body must be a dict, got {body.__class__.__name__}")
        if when is not None and not isinstance(when, (int, float)):
            raise ArgumentTypeError(f"when must be a number of Unix seconds, got {when.__class__.__name__}")
        with self._lock:  # the Condition's own lock: `with` on it directly is cheaper
            if self._closed or self._error is not None:
                if self._closed:
                    raise WriterClosedError(f"the log of {self.folder} is closed; nothing more can be appended")
                raise WriterIOError(f"writing the log of {self.folder} failed: {self._error}") from self._error
            seq = self._seq
            try:
                packed = self._pack([seq, type, time.time() if when is None else when, body])
            except (TypeError, ValueError, OverflowError) as exc:
                self._packer.reset()
                raise UnpackableValueError(f"record cannot be encoded: {exc}") from None
            self._seq = seq + 1
            buf = self._buf
            if not buf:
                self._oldest = time.monotonic()
                self._buf_first_seq = seq
                if not self._pending:
                    self._cond.notify()  # the worker must start the flush-interval clock
            buf.append(packed)
            self._buf_len += len(packed)
            if self._buf_len >= self.frame_bytes:
                self._seal_locked()
                while len(self._pending) > _MAX_PENDING_FRAMES and self._error is None:
                    self._cond.wait()
            return seq

    def _seal_locked(self) -> None:
        if not self._buf:
            return
        self._pending.append(_Chunk(b"".join(self._buf), self._buf_first_seq, len(self._buf)))
        self._buf = []
        self._buf_len = 0
        self._sealed += 1
        self._cond.notify_all()

    def flush(self, fsync: bool = False) -> None:
        """Close the current frame and wait until every appended record is written to the OS."""
        with self._cond:
            self._seal_locked()
            target = self._sealed
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
                self._closed = True
                self._cond.notify_all()
            self._thread.join()
            if self._fd >= 0:
                os.close(self._fd)
                self._fd = -1
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
    def _run(self) -> None:
        cond = self._cond
        while True:
            with cond:
                while True:
                    if self._pending or self._closed:
                        break
                    if self._buf:
                        wait = self._oldest + self.flush_interval - time.monotonic()
                        if wait <= 0:
                            self._seal_locked()
                            break
                        cond.wait(wait)
                    else:
                        cond.wait()
                batch, self._pending = self._pending, []
                closing = self._closed
                cond.notify_all()  # appenders waiting for room
            try:
                for chunk in batch:
                    self._write_frame(chunk)
            except BaseException as exc:  # surfaced to the caller on its next append/flush
                with cond:
                    self._error = exc
                    cond.notify_all()
                return
            with cond:
                self._written += len(batch)
                cond.notify_all()
            if closing and not batch:
                return

    def _write_frame(self, chunk: _Chunk) -> None:
        frame = self._cctx.compress(chunk.data)
        if self._seg_size > self._header_len and self._seg_size + len(frame) > self.segment_bytes:
            self._rotate(chunk.first_seq)
        _write_all(self._fd, frame)
        self._seg_size += len(frame)
        if self.fsync_frames:
            os.fsync(self._fd)

    def _rotate(self, first_seq: int) -> None:
        os.fsync(self._fd)
        os.close(self._fd)
        self._fd = -1
        self._segment += 1
        self._open_segment(first_seq)


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        n = os.write(fd, view)
        view = view[n:]


def _fsync_dir(path: Path) -> None:
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)
