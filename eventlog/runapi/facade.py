"""The run API as module functions: `eventlog.log()` / `finish()` / `save()` on the current run,
`eventlog.config` / `eventlog.summary` before init() (proxies), and what sets `eventlog.run`."""
from __future__ import annotations

import sys

from ..errors import NoRunError
from . import state


class _Preinit:
    """`eventlog.config` / `eventlog.summary` while no run is active: every use says to call init()
    first; once a run is active, uses are forwarded to it (so `from eventlog import config` before
    init() keeps working after it)."""

    def __init__(self, what: str) -> None:
        object.__setattr__(self, "_what", what)

    def _target(self):
        run = state._current
        if run is None:
            raise NoRunError(f"eventlog.{self._what} is used before eventlog.init(): call eventlog.init() first")
        return getattr(run, self._what)

    def __getattr__(self, key):
        if key.startswith("__"):
            raise AttributeError(key)
        return getattr(self._target(), key)

    def __setattr__(self, key, value) -> None:
        setattr(self._target(), key, value)

    def __delattr__(self, key) -> None:
        delattr(self._target(), key)

    def __getitem__(self, key):
        return self._target()[key]

    def __setitem__(self, key, value) -> None:
        self._target()[key] = value

    def __delitem__(self, key) -> None:
        del self._target()[key]

    def __contains__(self, key) -> bool:
        return key in self._target()

    def __iter__(self):
        return iter(self._target())

    def __len__(self) -> int:
        return len(self._target())

    def __bool__(self) -> bool:
        return state._current is not None and bool(len(self._target()))

    def __repr__(self) -> str:
        if state._current is None:
            return f"<eventlog.{self._what}: no active run; call eventlog.init() first>"
        return repr(self._target())


PREINIT_CONFIG = _Preinit("config")
PREINIT_SUMMARY = _Preinit("summary")


def _set_current(run) -> None:
    state._current = run
    pkg = sys.modules.get(__name__.partition(".")[0])  # the top package: eventlog.run, .config, .summary
    if pkg is None:
        return
    if run is None:
        pkg.run = None
        pkg.config = PREINIT_CONFIG
        pkg.summary = PREINIT_SUMMARY
    else:
        pkg.run = run
        pkg.config = run.config
        pkg.summary = run.summary


def log(data, step=None, commit=None, sync=None) -> None:
    """`log()` on the current run (see Run.log)."""
    run = state._current
    if run is None:
        raise state._no_run("log")
    run.log(data, step, commit)


def finish(exit_code=None, quiet=None) -> None:
    """Finish the current run. After a run has finished, calling it again does nothing."""
    run = state._current
    if run is None:
        if state._ever_started:
            return
        raise state._no_run("finish")
    run.finish(exit_code)


def save(glob_str=None, base_path=None, policy: str = "live"):
    """`save()` on the current run (see Run.save)."""
    run = state._current
    if run is None:
        raise state._no_run("save")
    return run.save(glob_str, base_path, policy)

