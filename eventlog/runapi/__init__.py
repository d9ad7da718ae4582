"""The run API: `init()`, `Run`, and the module-level `log` / `finish` / `save` of `eventlog`.

Re-exports only. Process-wide state that is rebound (the current run, whether a run ever started)
lives in its own module: read it there (or through `current_run()`), never as `eventlog.runapi.X`,
since a name re-exported here is a copy taken once.
"""
from __future__ import annotations

import sys
import types

from . import run as _run
from .run import (
    PREINIT_CONFIG,
    PREINIT_SUMMARY,
    Run,
    _all_runs,
    _glock,
    _no_run,
    _set_current,
    _start,
    current_run,
    finish,
    init,
    log,
    save,
)

__all__ = ["Run", "init", "log", "finish", "save", "current_run", "PREINIT_CONFIG", "PREINIT_SUMMARY"]

# Interim, until the tests patch the owning modules (issue 17's tests reorganization): these names are
# read and set on the module that owns them, so `monkeypatch.setattr(runapi, "_ever_started", ...)` works.
def _forwarded(name: str) -> property:
    return property(lambda self: getattr(_run, name), lambda self, value: setattr(_run, name, value))


class _Package(types.ModuleType):
    _current = _forwarded("_current")
    _ever_started = _forwarded("_ever_started")
    normalize_log_data = _forwarded("normalize_log_data")


sys.modules[__name__].__class__ = _Package
