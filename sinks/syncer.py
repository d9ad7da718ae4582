"""The syncer: one process per run that tails the run's log into every enabled sink.

`python -m eventlog.sinks.syncer RUN_FOLDER --parent-pid PID` is what `eventlog.init()` starts; the
same `Syncer` class replays folders for `evlog sync`. Each sink runs in its own thread with its own
reader and cursor, so a slow or failing sink never holds up another one (and the training process
never waits on any). See spec/sinks.md.
"""
from __future__ import annotations

import argparse
import os
import shutil
import signal
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Dict, List, Mapping, Optional, Tuple, Type

from eventlog import Cursor, LogReader, Record
from eventlog.logfile.segment import LOG_DIR
from eventlog.records.fold import run_identity
from eventlog.util.watching import WRITES, observe

from .base import (
    CRASHED,
    DETACHED,
    FAILED,
    FINAL_STATES,
    FINISHED,
    Sink,
    SinkContext,
    SinkError,
    Terminal,
)
from .state import (
    CURSOR_FORMAT,
    SyncerLock,
    bytes_before,
    cursor_of,
    cursor_path,
    header_run_id,
    load_cursor,
    log_bytes,
    previous_sinks,
    save_cursor,
    writer_active,
)

DEFAULT_POLL_INTERVAL = 0.5        # periodic re-read, also the fallback when watchdog is unavailable
DEFAULT_CHECKPOINT_INTERVAL = 0.5  # at most one cursor write per sink per this many seconds
DEFAULT_MAX_BATCH = 1000           # records per write() call
DEFAULT_RETRIES = 3                # consecutive failures before a sink is given up (once the run ended)
BACKOFF = (0.25, 0.5, 1.0, 2.0, 4.0, 8.0, 15.0, 30.0)


# ------------------------------------------------------------------- watching
class LogWatcher:
    """Wakes every registered event when the log folder is written to (watchdog), ignoring the
    open/close-without-write events that readers themselves cause."""

    def __init__(self, log_dir: Path) -> None:
        self._events: List[threading.Event] = []
        self._lock = threading.Lock()
        self.observer = observe(str(log_dir), self.wake, kinds=WRITES, files_only=True)

    def register(self) -> threading.Event:
        ev = threading.Event()
        with self._lock:
            self._events.append(ev)
        return ev

    def wake(self) -> None:
        with self._lock:
            events = list(self._events)
        for ev in events:
            ev.set()

    def stop(self) -> None:
        if self.observer is not None:
            try:
                self.observer.stop()
            except Exception:  # noqa: BLE001
                pass


# ---------------------------------------------------------------- one sink
@dataclass
class SinkResult:
    name: str
    delivered: int = 0                 # records delivered in this session
    closed: Optional[str] = None       # state the sink was closed with
    error: Optional[str] = None        # why delivery failed (given up)
    nothing_new: bool = False          # nothing to deliver and nothing changed
    cursor: Cursor = Cursor(0, 0, 0)
    total_delivered: int = 0           # across sessions (from the cursor file)


class _GiveUp(Exception):
    pass


class SinkRunner(threading.Thread):
    """Delivers the run to one sink: read a pass, write batches, checkpoint, wait for more."""

    def __init__(self, syncer: "Syncer", cls: Type[Sink]) -> None:
        super().__init__(name=f"evlog-sink-{cls.name}", daemon=True)
        self.syncer = syncer
        self.cls = cls
        self.name = cls.name
        self.result = SinkResult(cls.name)
        self.sink: Optional[Sink] = None
        self.wake = syncer.watcher.register() if syncer.watcher is not None else threading.Event()
        saved = load_cursor(syncer.folder, cls.name)
        self.saved = saved
        self.cursor = cursor_of(saved)
        self.start_cursor = self.cursor
        self.total = int(saved.get("delivered", 0)) if saved else 0
        last = (saved or {}).get("last") or {}
        self.last_seq: Optional[int] = last.get("seq")
        self.last_type: Optional[str] = last.get("type")
        self.last_exit_code: Optional[int] = last.get("exit_code")
        self.state = (saved or {}).get("state")
        self.dirty = False
        self.last_checkpoint = 0.0
        self.cp = self._snapshot()  # what the last checkpoint saved: cursor and state agree
        self.failures = 0
        self.failures_before_end: Optional[int] = None  # consecutive failures when the run was seen ended
        self.opened = False
        self.retrying: Optional[Dict[str, Any]] = None  # the receiver cannot be reached: since, reason

    # ----------------------------------------------------------------- thread
    def run(self) -> None:
        try:
            if self.saved is None:
                self._save(self.cp)  # a cursor file from the start: finish() counts this sink's 0 delivered
            self._run()
        except _GiveUp as exc:
            self.result.error = str(exc)
        except BaseException as exc:  # noqa: BLE001 - a broken sink must not take down the syncer
            self.result.error = f"{type(exc).__name__}: {exc}"
            self.syncer.warn(f"sink {self.name}: stopped: {self.result.error}")
        finally:
            if self.result.error is not None:
                self._close_quietly()
                self._save(self.cp, error=self.result.error)
            self.result.cursor = self.cp["cursor"]
            self.result.total_delivered = self.cp["total"]

    def _run(self) -> None:
        syncer = self.syncer
        reader = LogReader(syncer.folder, on_damage=syncer.damage_seen)
        first = True
        while True:
            stopping = syncer.live and self._should_stop()
            self.wake.clear()
            batch: List[Tuple[Record, Cursor]] = []
            for rec in reader.records(self.cursor if first else None):
                batch.append((rec, reader.cursor))
                if len(batch) >= syncer.max_batch:
                    self._deliver(batch)
                    batch = []
                    if time.monotonic() >= self.last_checkpoint + syncer.checkpoint_interval:
                        self._checkpoint()  # a long pass (a replay) keeps its cursor current too
            first = False
            if batch:
                self._deliver(batch)
            if not syncer.live or stopping:
                break
            due = self.last_checkpoint + syncer.checkpoint_interval - time.monotonic()
            if self.dirty and due <= 0:
                self._checkpoint()
            timeout = syncer.poll_interval if not self.dirty else max(0.01, min(due, syncer.poll_interval))
            if self.last_type == "exit":
                timeout = min(timeout, 0.02)  # the writer is closing: finish() waits on us, look again soon
            self.wake.wait(timeout)
        self._finish()

    def _should_stop(self) -> bool:
        syncer = self.syncer
        if syncer.stop_event.is_set():
            return True
        if self.last_type == "exit" and not writer_active(syncer.folder):
            return True
        if syncer.orphan and not writer_active(syncer.folder):
            return True  # no parent to watch: the run is over once no writer holds its log
        return False

    # --------------------------------------------------------------- delivery
    def _open(self) -> None:
        if self.opened:
            return
        sink = self.cls()
        ctx = SinkContext(
            name=self.name, folder=self.syncer.folder, run_id=self.syncer.run_id, run=self.syncer.run,
            cursor=self.cursor, state=self.state, live=self.syncer.live, env=self.syncer.env,
            terminal=self.syncer.terminal, warn=self.syncer.warn, retrying=self._retrying,
        )
        sink.open(ctx)
        self.sink = sink
        self.opened = True

    def _deliver(self, batch: List[Tuple[Record, Cursor]]) -> None:
        while batch:
            try:
                self._open()
                n = self.sink.write([rec for rec, _ in batch])  # type: ignore[union-attr]
            except SinkError as exc:
                raise _GiveUp(str(exc)) from None
            except Exception as exc:  # noqa: BLE001
                self._failed(exc)
                continue
            if n is None:
                taken = len(batch)
            else:
                taken = 0
                while taken < len(batch) and batch[taken][0].seq < n:
                    taken += 1
            if taken:
                self.failures = 0
                self.failures_before_end = None
                rec, cur = batch[taken - 1]
                self.cursor = cur
                self.last_seq, self.last_type = rec.seq, rec.type
                if rec.type == "exit":
                    code = rec.body.get("exit_code", 0) if isinstance(rec.body, dict) else 0
                    self.last_exit_code = code if isinstance(code, int) else 1
                self.result.delivered += taken
                self.total += taken
                self.dirty = True
                self.syncer.progressed()
                batch = batch[taken:]
            else:
                self._failed(None)

    def _failed(self, exc: Optional[BaseException]) -> None:
        """A write that failed (exc) or took nothing: back off, or give up once the run is over."""
        self.failures += 1
        what = f"{type(exc).__name__}: {exc}" if exc is not None else "took no records"
        syncer = self.syncer
        ended = not syncer.live or syncer.stop_event.is_set() or (
            self.last_type == "exit" and not writer_active(syncer.folder))
        if ended and self.failures_before_end is None:
            self.failures_before_end = self.failures - 1
        after_end = self.failures - (self.failures_before_end or 0)
        if syncer.terminate_event.is_set() or (ended and after_end > syncer.retries):
            raise _GiveUp(f"delivery failed {self.failures} times; last: {what}")
        backoff = syncer.backoff
        delay = backoff[min(self.failures - 1, len(backoff) - 1)]
        if not syncer.live:
            delay = min(delay, 1.0)
        if self.failures == 1 or self.failures % 10 == 0:
            syncer.warn(f"sink {self.name}: delivery failed ({what}); retrying in {delay:g} s")
        syncer.terminate_event.wait(delay)

    def _retrying(self, reason: Optional[str]) -> None:
        """The sink says its receiver is unreachable (reason) or reachable again (None): noted in
        the cursor file at once, so a waiting finish() sees it (spec/sinks.md 3)."""
        if (reason is None and self.retrying is None) or (
                self.retrying is not None and self.retrying["reason"] == reason):
            return
        self.retrying = None if reason is None else {"since": time.time(), "reason": reason}
        self._save(self.cp)

    def _checkpoint(self, closed: Optional[str] = None) -> None:
        if self.opened:
            attempts = 0
            while True:
                try:
                    self.state = self.sink.flush()  # type: ignore[union-attr]
                    break
                except SinkError as exc:
                    raise _GiveUp(str(exc)) from None
                except Exception as exc:  # noqa: BLE001
                    attempts += 1
                    self._failed(exc)
        self.cp = self._snapshot()
        self._save(self.cp, closed=closed)
        self.dirty = False
        self.last_checkpoint = time.monotonic()

    def _snapshot(self) -> Dict[str, Any]:
        last = None
        if self.last_seq is not None:
            last = {"seq": self.last_seq, "type": self.last_type, "exit_code": self.last_exit_code}
        return {"cursor": self.cursor, "total": self.total, "last": last, "state": self.state}

    def _save(self, cp: Dict[str, Any], closed: Optional[str] = None, error: Optional[str] = None) -> None:
        data = {
            "format": CURSOR_FORMAT,
            "sink": self.name,
            "run_id": self.syncer.run_id,
            "cursor": cp["cursor"].to_dict(),
            "delivered": cp["total"],
            "last": cp["last"],
            "state": cp["state"],
            "closed": closed,
            "error": error,
            "retrying": self.retrying,
            "updated": time.time(),
        }
        try:
            save_cursor(self.syncer.folder, self.name, data)
        except OSError as exc:
            self.syncer.warn(f"sink {self.name}: cannot save its cursor: {exc}")

    def _final_state(self) -> str:
        if self.last_type == "exit":
            return FINISHED if not self.last_exit_code else FAILED
        if self.syncer.parent_gone.is_set() or not writer_active(self.syncer.folder):
            return CRASHED
        return DETACHED

    def _finish(self) -> None:
        state = self._final_state()
        previous = (self.saved or {}).get("closed")
        if not self.opened and self.result.delivered == 0 and previous == state and self.saved is not None:
            self.result.nothing_new = True
            self.result.closed = state
            return
        self._open()
        self._checkpoint()
        self.sink.close(state)  # type: ignore[union-attr]
        self.opened = False
        self._save(self.cp, closed=state)
        self.result.closed = state

    def _close_quietly(self) -> None:
        if self.opened and self.sink is not None:
            try:
                self.sink.close(DETACHED)
            except Exception:  # noqa: BLE001
                pass
            self.opened = False

    def bytes_done(self, sizes: List[Tuple[int, int]]) -> int:
        return bytes_before(sizes, self.cursor)


# --------------------------------------------------------------------- syncer
class Syncer:
    """Delivers one run folder to a set of sinks, live (following) or as a one-shot replay."""

    def __init__(
        self,
        folder: Path,
        sinks: List[Type[Sink]],
        *,
        live: bool,
        run_id: str,
        run: Dict[str, Any],
        env: Optional[Mapping[str, str]] = None,
        terminal: Optional[Terminal] = None,
        warn: Optional[Callable[[str], None]] = None,
        poll_interval: float = DEFAULT_POLL_INTERVAL,
        checkpoint_interval: float = DEFAULT_CHECKPOINT_INTERVAL,
        max_batch: int = DEFAULT_MAX_BATCH,
        retries: int = DEFAULT_RETRIES,
        reset: bool = False,
        backoff: Tuple[float, ...] = BACKOFF,
    ) -> None:
        self.folder = Path(folder)
        self.live = live
        self.run_id = run_id
        self.run = run
        self.env = dict(os.environ if env is None else env)
        self.terminal = terminal or Terminal(1)
        self._warn = warn
        self.poll_interval = poll_interval
        self.checkpoint_interval = checkpoint_interval
        self.max_batch = max_batch
        self.retries = retries
        self.backoff = backoff
        self.orphan = False                       # live without a parent pid to watch
        self.stop_event = threading.Event()       # the run is over (parent gone) or we were told to stop
        self.parent_gone = threading.Event()
        self.terminate_event = threading.Event()  # SIGTERM: stop retrying, wrap up now
        self.damage: List[Any] = []
        self._damage_keys = set()
        self._lock = threading.Lock()
        self.progress_event = threading.Event()
        if reset:
            for cls in sinks:
                _reset_sink(self.folder, cls.name)
        self.watcher = LogWatcher(self.folder / LOG_DIR) if live else None
        self.runners = [SinkRunner(self, cls) for cls in sinks]

    def warn(self, message: str) -> None:
        if self._warn is not None:
            self._warn(message)
        else:
            Terminal(2).lines([f"evlog: {message}"])

    def damage_seen(self, d) -> None:  # noqa: ANN001
        key = (d.file, d.offset)
        with self._lock:
            if key in self._damage_keys:
                return
            self._damage_keys.add(key)
            self.damage.append(d)
        if self.live:
            self.warn(f"damage in the log: {d}")

    def progressed(self) -> None:
        self.progress_event.set()

    def start(self) -> None:
        for r in self.runners:
            if r.ident is None:
                r.start()

    def join(self, timeout: Optional[float] = None) -> bool:
        deadline = None if timeout is None else time.monotonic() + timeout
        for r in self.runners:
            r.join(None if deadline is None else max(0.0, deadline - time.monotonic()))
        return not any(r.is_alive() for r in self.runners)

    def alive(self) -> bool:
        return any(r.is_alive() for r in self.runners)

    def run_all(self) -> List[SinkResult]:
        self.start()
        try:
            while self.alive():
                self.join(0.2)
        finally:
            if self.watcher is not None:
                self.watcher.stop()
        return [r.result for r in self.runners]

    def close(self) -> None:
        if self.watcher is not None:
            self.watcher.stop()


def _reset_sink(folder: Path, name: str) -> None:
    """Forget what a sink delivered for a run: its cursor file and its state folder."""
    try:
        os.unlink(cursor_path(folder, name))
    except FileNotFoundError:
        pass
    shutil.rmtree(folder / "sinks" / name, ignore_errors=True)


def run_info(folder: Path) -> Tuple[Optional[str], Dict[str, Any], bool]:
    """(run id, `run` record body, whether any record is readable yet)."""
    reader = LogReader(folder)
    for rec in reader.records():
        body = run_identity(rec.type, rec.body)  # a `run` record, or a log resumed from the server
        if body is not None:
            return str(body.get("id") or header_run_id(reader.folder) or ""), body, True
        return header_run_id(reader.folder), {}, True
    return header_run_id(reader.folder), {}, False


# ------------------------------------------------------------ live process
def _parent_alive(pid: int, original_ppid: int) -> bool:
    if pid == original_ppid:
        return os.getppid() == original_ppid
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            stat = f.read()
        return stat[stat.rindex(b")") + 2:stat.rindex(b")") + 3] not in (b"Z", b"X")
    except (OSError, ValueError):
        return True


def main(argv: Optional[List[str]] = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m eventlog.sinks.syncer",
                                     description="Deliver a live run to its sinks (started by eventlog.init()).")
    parser.add_argument("folder")
    parser.add_argument("--parent-pid", type=int, default=None,
                        help="the training process; when it is gone without an exit record, the run crashed")
    parser.add_argument("--sinks", default=None, help="comma-separated sinks (default: EVLOG_SINKS, else enabled ones)")
    parser.add_argument("--wait-record", type=float, default=60.0,
                        help="seconds to wait for the run's first record when there is no parent to watch")
    args = parser.parse_args(argv)
    folder = Path(args.folder).resolve()
    original_ppid = os.getppid()
    parent = args.parent_pid
    err = Terminal(2)
    left = threading.Event()  # the training process is gone: its terminal is the user's shell now

    said = set()

    def warn(msg: str) -> None:
        if left.is_set() or msg in said:  # once each; once the program is gone, finish() said what goes on
            return
        said.add(msg)
        err.lines([f"evlog: {msg}"])

    def parent_gone() -> bool:
        return parent is not None and not _parent_alive(parent, original_ppid)

    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C belongs to the training process
    terminate = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: terminate.set())

    lock = SyncerLock(folder)
    if not lock.acquire("syncer", wait=None, should_stop=lambda: terminate.is_set()):
        return 0
    try:
        deadline = time.monotonic() + args.wait_record
        while True:
            try:
                run_id, run, any_record = run_info(folder)
            except Exception as exc:  # noqa: BLE001
                warn(f"syncer: cannot read {folder}: {exc}")
                return 1
            if any_record:
                break
            if terminate.is_set() or parent_gone() or (parent is None and time.monotonic() > deadline):
                return 0
            time.sleep(0.05)
        from .registry import select
        requested = [s for s in args.sinks.split(",") if s.strip()] if args.sinks else None
        try:
            sinks = select(run, os.environ, live=True, requested=requested, warn=warn)
        except SinkError as exc:
            warn(f"syncer: {exc}")
            return 1
        if not sinks:
            return 0
        syncer = Syncer(folder, sinks, live=True, run_id=run_id or folder.name, run=run, warn=warn)
        syncer.orphan = parent is None

        def watch() -> None:
            while syncer.alive() or not started.is_set():
                if terminate.is_set():
                    syncer.terminate_event.set()
                    syncer.stop_event.set()
                if parent is not None and not syncer.parent_gone.is_set() and parent_gone():
                    left.set()
                    syncer.parent_gone.set()
                    syncer.stop_event.set()
                if syncer.stop_event.is_set() and syncer.watcher is not None:
                    syncer.watcher.wake()
                time.sleep(0.1)

        started = threading.Event()
        monitor = threading.Thread(target=watch, name="evlog-syncer-monitor", daemon=True)
        monitor.start()
        syncer.start()
        started.set()
        results = syncer.run_all()
        return 1 if any(r.error for r in results) else 0
    finally:
        lock.release()


if __name__ == "__main__":
    sys.exit(main())
