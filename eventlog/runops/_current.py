"""The current run for the module-level functions of runops (from the run registry, which sits below runops)."""
from __future__ import annotations

from ..runapi import state


def current(what: str):
    """The active Run, or NoRunError naming `eventlog.<what>()`."""
    run = state.current_run()
    if run is None:
        raise state._no_run(what)
    return run
