"""The current run for the module-level functions of runops (imported lazily: runapi imports runops)."""
from __future__ import annotations


def current(what: str):
    """The active Run, or NoRunError naming `eventlog.<what>()`."""
    from .. import runapi

    run = runapi.current_run()
    if run is None:
        raise runapi._no_run(what)
    return run
