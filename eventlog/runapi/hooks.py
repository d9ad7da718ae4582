"""The process hooks of the run API: at exit (atexit, sys.exit, sys.excepthook) the runs still open
are finished with the program's exit code and error; SIGTERM / SIGINT end the current run's
session with an interrupted exit record (spec/format.md 3, 5). Installed by the first init()."""
from __future__ import annotations

import functools
import os
import sys
import threading

from . import run as _run
from . import state
from .exits import _error_map, _exit_code_of

_hooks_installed = False
_exit_info = {"code": None, "error": None, "interrupted": False}
_prev_handlers: dict = {}


def _excepthook(exc_type, exc, tb):
    if issubclass(exc_type, KeyboardInterrupt):
        _exit_info.update(code=130, interrupted=True)
    else:
        _exit_info.update(code=1)
    _exit_info["error"] = _error_map(exc_type, exc)
    _prev_excepthook(exc_type, exc, tb)


def _exit(status=None):
    code = _exit_code_of(status)
    _exit_info.update(code=code, error=None if code == 0 else {"type": "SystemExit", "message": str(status)})
    _prev_exit(status)


_prev_excepthook = sys.excepthook
_prev_exit = sys.exit


def _atexit() -> None:
    code = _exit_info["code"]
    code = 0 if code is None else code
    for run in list(state._all_runs):
        if run._finished or run._forked or run._disabled:
            continue
        try:
            run._finish(code, _exit_info["error"], _exit_info["interrupted"])
        except Exception as exc:  # noqa: BLE001 - at exit, report and go on with the others
            sys.stderr.write(f"evlog: finishing run {run.id} at exit failed: {exc}\n")


def _chain_signal(signum, frame) -> None:
    import signal

    prev = _prev_handlers.get(signum, signal.SIG_DFL)
    if callable(prev):
        prev(signum, frame)  # default_int_handler raises KeyboardInterrupt
        return
    if prev == signal.SIG_IGN:
        return
    signal.signal(signum, signal.SIG_DFL)
    os.kill(os.getpid(), signum)


def _on_signal(signum, frame) -> None:
    import signal

    run = state._current
    if run is not None and not (run._forked or run._finished or run._disabled):
        if not run._lock.acquire(timeout=0.2):
            # the main thread itself holds the lock (we interrupted log()): handled when it leaves
            _run._deferred_signal = functools.partial(_on_signal, signum, frame)
            return
        try:
            run._interrupt_locked(signum)
        finally:
            run._lock.release()
        prev = _prev_handlers.get(signum, signal.SIG_DFL)
        if not callable(prev):  # the default action ends the process: close the log now
            run._close_after_signal()
    _chain_signal(signum, frame)


def _install_hooks() -> None:
    """atexit, sys.exit / sys.excepthook (to learn the exit code), SIGTERM / SIGINT handlers."""
    global _hooks_installed, _prev_excepthook, _prev_exit
    if _hooks_installed:
        return
    _hooks_installed = True
    import atexit
    import signal

    atexit.register(_atexit)
    if sys.excepthook is not _excepthook:
        _prev_excepthook = sys.excepthook
        sys.excepthook = _excepthook
    if sys.exit is not _exit:
        _prev_exit = sys.exit
        sys.exit = _exit
    if threading.current_thread() is threading.main_thread():
        for signum, default in ((signal.SIGTERM, signal.SIG_DFL), (signal.SIGINT, signal.default_int_handler)):
            try:
                cur = signal.getsignal(signum)
                if cur is default or cur == default:
                    _prev_handlers[signum] = cur
                    signal.signal(signum, _on_signal)
            except (ValueError, OSError):
                pass

