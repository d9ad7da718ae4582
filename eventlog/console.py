"""Console capture: what the program prints to stdout and stderr also goes into the run's log, as
`output` records (spec/format.md section 3), so the dashboard can show a run's logs as wandb does.

`sys.stdout` and `sys.stderr` are wrapped while the run is active: every write goes to the real
stream first, unchanged (the terminal sees what it always saw), then the text is kept, and each
completed line (or a partial line older than a second, or 64 KiB without a newline) is appended
to the log. Output of C code or child processes writing to the file descriptors directly is not
seen (wandb's "wrap" mode). Capture never raises into the program: a write the log cannot take
(the run finished, a forked child, ...) only reaches the terminal. `EVLOG_CONSOLE=off` turns it off.
"""
from __future__ import annotations

import os
import sys
import threading
import time
from typing import Any, Callable, List

MAX_PENDING = 64 * 1024   # characters held without a newline before they are appended anyway
MAX_AGE = 1.0             # seconds a partial line (a progress bar) waits for its newline

_inside = threading.local()  # set while a capture appends: output made then is not captured again


class StreamTee:
    """A text stream that writes through to `stream` and hands completed text to `emit(name, text)`."""

    def __init__(self, stream: Any, name: str, emit: Callable[[str, str], None]) -> None:
        self._stream = stream
        self._name = name
        self._emit = emit
        self._lock = threading.Lock()
        self._pending: List[str] = []
        self._size = 0
        self._since = 0.0
        self._pid = os.getpid()
        self.active = True

    def write(self, s: Any) -> Any:
        n = self._stream.write(s)
        if self.active and type(s) is str and s and not getattr(_inside, "on", False) and os.getpid() == self._pid:
            self._take(s)
        return n

    def writelines(self, lines: Any) -> None:
        for line in lines:
            self.write(line)

    def _take(self, s: str) -> None:
        out = None
        with self._lock:
            cut = s.rfind("\n") + 1
            if cut:
                self._pending.append(s[:cut])
                out = "".join(self._pending)
                self._pending = [s[cut:]] if cut < len(s) else []
                self._size = len(s) - cut
                self._since = time.monotonic()
            else:
                if not self._pending:
                    self._since = time.monotonic()
                self._pending.append(s)
                self._size += len(s)
                if self._size >= MAX_PENDING or time.monotonic() - self._since >= MAX_AGE:
                    out = "".join(self._pending)
                    self._pending, self._size = [], 0
        if out:
            self._send(out)

    def _send(self, text: str) -> None:
        _inside.on = True
        try:
            self._emit(self._name, text)
        except Exception:  # noqa: BLE001 - capture must never break the program's printing
            pass
        finally:
            _inside.on = False

    def drain(self) -> None:
        """Append what is held (a last line without its newline)."""
        with self._lock:
            out = "".join(self._pending)
            self._pending, self._size = [], 0
        if out:
            self._send(out)

    def __getattr__(self, name: str) -> Any:  # flush, fileno, isatty, encoding, buffer, ...
        return getattr(self._stream, name)

    def __repr__(self) -> str:
        return f"<evlog capture of {self._stream!r}>"


class Capture:
    """The capture of one run: installs the two tees, and takes them out again at `stop()`."""

    def __init__(self, emit: Callable[[str, str], None]) -> None:
        self.tees = {}
        for name in ("stdout", "stderr"):
            stream = getattr(sys, name)
            if stream is None:  # pythonw, some embedded interpreters
                continue
            tee = StreamTee(stream, name, emit)
            setattr(sys, name, tee)
            self.tees[name] = tee

    def stop(self) -> None:
        """Append what is held and restore the streams (unless something replaced our wrapper since:
        then it stays, passing writes through)."""
        for name, tee in self.tees.items():
            tee.drain()
            tee.active = False
            if getattr(sys, name) is tee:
                setattr(sys, name, tee._stream)
