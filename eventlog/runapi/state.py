"""The process-wide registry of runs: the current one, every one alive, whether one ever started.

Below the rest of the run API (it imports only the errors), so code that needs the current run
(eventlog.alert(), an Artifact's staging folder) imports this alone. `_current` and `_ever_started`
are rebound: read them here (`state._current`), never through a from-import, which copies them once.
"""
from __future__ import annotations

import os
import threading
import weakref

from ..errors import NoRunError

_glock = threading.RLock()  # init()/finish() and the current run (eventlog.run, .config, .summary)
_current = None  # the active Run, or None
_ever_started = False
_all_runs: "weakref.WeakSet" = weakref.WeakSet()  # every Run of the process (each adds itself)


def current_run():
    """The active Run, or None."""
    return _current


def _no_run(what: str) -> NoRunError:
    if _ever_started:
        return NoRunError(f"eventlog.{what}() needs an active run, and the last run has finished: call "
                          "eventlog.init() first to start a new one")
    return NoRunError(f"eventlog.{what}() needs a run: call eventlog.init() first")


def _after_fork_in_child() -> None:
    # the child's copies of the runs must not write into the parent's logs (Run._gate refuses)
    for run in list(_all_runs):
        run._forked = True
        run._blocked = True
        run._lock = threading.Lock()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_in_child)
