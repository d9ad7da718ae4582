"""`termlog`, `termwarn`, `termerror`: wandb's terminal messages, printed as evlog's (`evlog: ...` on
stderr), silent under EVLOG_SILENT / WANDB_SILENT. `repeat=False` prints a message once per process."""
from __future__ import annotations

import sys
import threading

_seen: set = set()
_lock = threading.Lock()
PREFIX = "evlog:"


def _silent() -> bool:
    from ..runapi.settings import env_flag

    try:
        return env_flag("silent")
    except Exception:  # noqa: BLE001 - a bad EVLOG_SILENT must not break a message
        return False


def _emit(level: str, string: str, newline: bool, repeat: bool, prefix: bool) -> None:
    text = str(string)
    if not repeat:
        with _lock:
            if (level, text) in _seen:
                return
            _seen.add((level, text))
    if _silent():
        return
    head = f"{PREFIX} {level}" if level else PREFIX
    lines = text.split("\n") if prefix else [text]
    out = "\n".join(f"{head} {ln}" if prefix else ln for ln in lines)
    sys.stderr.write(out + ("\n" if newline else ""))
    sys.stderr.flush()


def termlog(string: str = "", newline: bool = True, repeat: bool = True, prefix: bool = True) -> None:
    """Print an informational line, as wandb.termlog."""
    _emit("", string, newline, repeat, prefix)


def termwarn(string: str, newline: bool = True, repeat: bool = True, prefix: bool = True) -> None:
    """Print a warning line ("evlog: WARNING ..."), as wandb.termwarn."""
    _emit("WARNING", string, newline, repeat, prefix)


def termerror(string: str, newline: bool = True, repeat: bool = True, prefix: bool = True) -> None:
    """Print an error line ("evlog: ERROR ..."), as wandb.termerror."""
    _emit("ERROR", string, newline, repeat, prefix)


def termsetup(settings=None, logger=None) -> None:
    """Accepted for wandb compatibility: evlog's terminal needs no setup."""
