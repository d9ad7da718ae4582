"""Console capture: what the program prints to stdout and stderr also goes into the run's log, as
`output` records (spec/format.md section 3), so the dashboard can show a run's logs as wandb does.

`sys.stdout` and `sys.stderr` are wrapped while the run is active: every write goes to the real
stream first, unchanged (the terminal sees what it always saw), and the text is kept. A thread
appends what was kept every TICK seconds, up to its last newline (a partial line, such as a
progress bar redrawn with "\\r", waits for its newline up to MAX_AGE seconds); MAX_PENDING
characters are appended at once (the thread is woken for them). Only that thread (and `stop()`)
appends, never a print itself: a print may come from code holding the run's lock, which appending
takes. So a print costs a few microseconds, not a record. Output of C
code or child processes writing to the file descriptors directly is not seen (wandb's "wrap"
mode). Capture never raises into the program: text the log cannot take (the run finished, a
forked child, ...) only reaches the terminal. `EVLOG_CONSOLE=off` turns it off.
"""
from __future__ import annotations

import os
import sys
import threading
import time
import weakref
from typing import Any, Callable, List

TICK = 0.2                # seconds between appends of what was printed
MAX_AGE = 1.0             # seconds a partial line waits for its newline
MAX_PENDING = 64 * 1024   # characters held before they are appended at once

_live: "weakref.WeakSet[StreamTee]" = weakref.WeakSet()


def _forked_child() -> None:
    for tee in list(_live):  # a forked child's prints reach its terminal, not its parent's log
        tee.active = False


class StreamTee:
    """A text stream that writes through to `stream` and hands the text to `emit(name, text)`
    (whole lines at `tick()`, everything at `drain()`); `wake()` is called when MAX_PENDING
    characters are held."""

    def __init__(self, stream: Any, name: str, emit: Callable[[str, str], None],
                 wake: Callable[[], None] = lambda: None) -> None:
        self._stream = stream
        self._name = name
        self._emit = emit
        self._wake = wake
        self._lock = threading.Lock()
        self._pending: List[str] = []
        self._size = 0
        self._first = 0.0  # when the oldest text held was written
        self.active = True
        _live.add(self)

    def write(self, s: Any) -> Any:
        n = self._stream.write(s)
        if self.active and type(s) is str:
            with self._lock:
                if not self._pending:
                    self._first = time.monotonic()
                self._pending.append(s)
                self._size += len(s)
                full = self._size >= MAX_PENDING
            if full:
                self._wake()
        return n

    def writelines(self, lines: Any) -> None:
        for line in lines:
            self.write(line)

    def tick(self, now: float) -> None:
        """Append the whole lines held, and a partial line older than MAX_AGE or MAX_PENDING long."""
        with self._lock:
            if not self._pending:
                return
            text = "".join(self._pending)
            cut = text.rfind("\n") + 1
            if cut == len(text) or now - self._first >= MAX_AGE or len(text) >= MAX_PENDING:
                out, rest = text, ""
            else:
                out, rest = text[:cut], text[cut:]
            self._pending = [rest] if rest else []
            self._size = len(rest)
            if rest:
                self._first = now
        if out:
            self._send(out)

    def drain(self) -> None:
        """Append all that is held (a last line without its newline too)."""
        with self._lock:
            out = "".join(self._pending)
            self._pending, self._size = [], 0
        if out:
            self._send(out)

    def _send(self, text: str) -> None:
        try:
            self._emit(self._name, text)
        except Exception:  # noqa: BLE001 - capture must never break the program's printing
            pass

    def __getattr__(self, name: str) -> Any:  # flush, fileno, isatty, encoding, buffer, ...
        return getattr(self._stream, name)

    def __repr__(self) -> str:
        return f"<evlog capture of {self._stream!r}>"


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_forked_child)


class Capture:
    """The capture of one run: installs the two tees and the thread that appends their text, and
    takes them out again at `stop()`."""

    def __init__(self, emit: Callable[[str, str], None]) -> None:
        self.tees = {}
        self._stop = threading.Event()
        self._wake = threading.Event()
        for name in ("stdout", "stderr"):
            stream = getattr(sys, name)
            if stream is None:  # pythonw, some embedded interpreters
                continue
            tee = StreamTee(stream, name, emit, self._wake.set)
            setattr(sys, name, tee)
            self.tees[name] = tee
        self._thread = threading.Thread(target=self._run, name="evlog-console", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            self._wake.wait(TICK)
            self._wake.clear()
            now = time.monotonic()
            for tee in self.tees.values():
                tee.tick(now)

    def stop(self) -> None:
        """Append what is held and restore the streams (unless something replaced our wrapper since:
        then it stays, passing writes through)."""
        self._stop.set()
        self._wake.set()
        if self._thread.is_alive() and self._thread is not threading.current_thread():
            self._thread.join()
        for name, tee in self.tees.items():
            tee.drain()
            tee.active = False
            if getattr(sys, name) is tee:
                setattr(sys, name, tee._stream)
