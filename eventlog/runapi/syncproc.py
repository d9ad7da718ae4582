"""Starting and waiting for a run's syncer process.

eventlog never imports the sinks: it starts `python -m eventlog.sinks.syncer` by module path, and
reads only the cursor files the syncer writes (`<run>/sinks/<name>.cursor.json`, spec/sinks.md),
through eventlog/rundir/cursors.py, to show progress while `finish()` waits.
"""
from __future__ import annotations

import importlib.util
import os
import shlex
import subprocess
import sys
import time
from pathlib import Path
from typing import Optional, TextIO, Union

from ..rundir.cursors import delivery

SYNCER_MODULE = "eventlog.sinks.syncer"
_OFF = {"none", "-", "off", "false", "0"}


class SyncerHandle:
    """The running syncer of a run: its process and run folder."""

    def __init__(self, proc: subprocess.Popen, folder: Path) -> None:
        self.proc = proc
        self.folder = folder

    @property
    def pid(self) -> int:
        return self.proc.pid

    @property
    def returncode(self) -> Optional[int]:
        return self.proc.returncode

    def poll(self) -> Optional[int]:
        return self.proc.poll()

    def wait(self, timeout: Optional[float] = None) -> int:
        return self.proc.wait(timeout)

    def __repr__(self) -> str:
        return f"SyncerHandle(pid={self.proc.pid}, folder={str(self.folder)!r})"


def start_syncer(
    run_folder: Union[str, os.PathLike],
    *,
    parent_pid: Optional[int] = None,
    sinks: Optional[str] = None,
    env: Optional[dict] = None,
) -> Optional[SyncerHandle]:
    """Start the one background syncer process of a run; None when no syncer is installed or the
    sinks are switched off (EVLOG_SINKS=none).

    Returns at once (the syncer imports what it needs itself). The syncer's stdout and stderr are
    the caller's, so the stdout sink prints on the program's terminal; it runs in its own session
    so Ctrl-C in the terminal reaches only the training process. `env`: its environment (default:
    this process's), e.g. with the variables that `init(settings=...)` set.
    """
    chosen = sinks if sinks is not None else (os.environ if env is None else env).get("EVLOG_SINKS")
    if chosen is not None and chosen.strip().lower() in _OFF:
        return None
    try:  # is the sinks package installed? (find_spec of it imports only `eventlog`, not the sinks)
        if importlib.util.find_spec(SYNCER_MODULE.rsplit(".", 1)[0]) is None:
            return None
    except (ImportError, ValueError):
        return None
    folder = Path(run_folder).resolve()
    cmd = [sys.executable, "-m", SYNCER_MODULE, str(folder),
           "--parent-pid", str(parent_pid if parent_pid is not None else os.getpid())]
    if sinks is not None:
        cmd += ["--sinks", sinks]
    try:
        proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, start_new_session=True, close_fds=True,
                                env=env)
    except OSError as exc:
        sys.stderr.write(f"evlog: could not start the syncer ({exc}); "
                         f"deliver the run later with: evlog sync {shlex.quote(str(folder))}\n")
        return None
    return SyncerHandle(proc, folder)


UNREACHABLE_WAIT = 5.0
"""Seconds finish() waits once a sink reports its receiver unreachable (the evlog server down): the
sink's first retries (0.25, 0.5, 1, 2 s apart) fall within it, so a blip of the network or a
server restart still gets the last records out, and a job never hangs on a dead server."""


def _delivered(folder: Path) -> Optional[int]:
    """The smallest next-seq among the run's sink cursors (how far every sink got)."""
    return delivery(folder)[0]


def _log_end(folder: Path, start: int) -> Optional[int]:
    """The next seq after the last record on disk (reading from about `start`)."""
    try:
        from ..logfile.reader import Cursor, LogReader

        reader = LogReader(folder)
        end = start
        for rec in reader.records(Cursor(start, 10**9, 0)):
            end = rec.seq + 1
        return end
    except Exception:  # noqa: BLE001 - progress is a nicety
        return None


def wait_syncer(
    proc: Optional[Union[SyncerHandle, subprocess.Popen]],
    timeout: float,
    *,
    stream: Optional[TextIO] = None,
    quiet_for: float = 0.5,
    unreachable_wait: float = UNREACHABLE_WAIT,
) -> bool:
    """Wait until the syncer has delivered the run to every sink, at most `timeout` seconds, and at
    most `unreachable_wait` seconds once a sink says its receiver cannot be reached.

    On a terminal (stderr), shows how many records every sink acknowledged once the wait lasts longer
    than `quiet_for`. Past the timeout (or on Ctrl-C, or with the server down) it leaves the syncer
    running in the background and says where the run is kept and which command delivers the rest.
    Returns True when the syncer finished in time.
    """
    if proc is None:
        return True
    popen = proc.proc if isinstance(proc, SyncerHandle) else proc
    folder = proc.folder if isinstance(proc, SyncerHandle) else None
    stream = stream if stream is not None else sys.stderr
    timeout = max(0.0, float(timeout))
    deadline = time.monotonic() + timeout
    unreachable: Optional[str] = None
    try:
        try:
            popen.wait(min(quiet_for, timeout))
            return True
        except subprocess.TimeoutExpired:
            pass
        tty = folder is not None and hasattr(stream, "isatty") and stream.isatty()
        end = None
        shown = False
        while True:
            done, retrying = delivery(folder) if folder is not None else (None, None)
            if retrying and unreachable is None:
                unreachable = retrying
                deadline = min(deadline, time.monotonic() + unreachable_wait)
            left = deadline - time.monotonic()
            if left <= 0:
                break
            if tty and done is not None:
                if end is None:
                    end = _log_end(folder, done)
                total = f"/{end}" if end is not None else ""
                why = f"; {unreachable}" if unreachable else ""
                stream.write(f"\revlog: waiting for the syncer: {done}{total} records delivered{why} "
                             f"({left:.0f} s left) ")
                stream.flush()
                shown = True
            try:
                popen.wait(min(0.25, left))
                if shown:
                    stream.write("\r\033[K")
                    stream.flush()
                return True
            except subprocess.TimeoutExpired:
                continue
        reason = f"has not finished after {timeout:g} s"
    except KeyboardInterrupt:
        reason = "was left (interrupted)"
    if getattr(stream, "isatty", lambda: False)():
        stream.write("\r\033[K")
    if folder is None:
        stream.write(f"evlog: the syncer {reason}; deliver the rest with `evlog sync <run folder>`\n")
    elif unreachable:
        cmd = f"evlog sync {shlex.quote(str(folder))}"
        stream.write(f"evlog: {unreachable}: the run is kept locally in {folder} ({_count(folder)}). The syncer "
                     f"goes on retrying in the background for a few minutes (pid {popen.pid}); if the server is "
                     f"still down by then, upload the run later with: {cmd}\n")
    else:
        stream.write(f"evlog: the syncer {reason} ({_count(folder)}); it goes on in the background (pid "
                     f"{popen.pid}). If it does not finish, deliver the rest with: evlog sync "
                     f"{shlex.quote(str(folder))}\n")
    try:
        stream.flush()
    except (OSError, ValueError):
        pass
    return False


def _count(folder: Path) -> str:
    """"N of M records delivered" (every sink's acknowledged records against the log's)."""
    done = _delivered(folder) or 0
    end = _log_end(folder, done)
    return f"{done} of {end} records delivered" if end is not None else f"{done} records delivered"
