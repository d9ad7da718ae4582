"""The run API: `init()`, `Run`, and the module-level `log` / `finish` / `save` of `eventlog`.

One module per job, imports pointing down: state (the registry of runs) <- facade (module-level
functions, pre-init proxies) <- run (the Run; files.py its saving, port.py what resume and the
integrations may do to it) <- hooks (exit and signal handling) <- start (init()). The names below
load their module on first use, so `import eventlog.runapi.state` loads the registry alone.
Rebound state (`_current`, `_ever_started`) is read on eventlog.runapi.state, never re-exported.
"""
from __future__ import annotations

# name -> the module of this package that holds it
_LAZY = {
    "Run": ".run",
    "init": ".start",
    "_start": ".start",
    "log": ".facade",
    "finish": ".facade",
    "save": ".facade",
    "PREINIT_CONFIG": ".facade",
    "PREINIT_SUMMARY": ".facade",
    "_set_current": ".facade",
    "current_run": ".state",
    "_glock": ".state",
    "_all_runs": ".state",
    "_no_run": ".state",
}

__all__ = ["Run", "init", "log", "finish", "save", "current_run", "PREINIT_CONFIG", "PREINIT_SUMMARY"]


def __getattr__(name: str):
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    import importlib

    value = getattr(importlib.import_module(module, __name__), name)
    globals()[name] = value
    return value
