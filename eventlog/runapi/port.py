"""The port of a Run: what code outside the run API does to a run beyond its public API, in one place.

eventlog/runapi/resume.py and eventlog/integrations/ (tensorboard, gym) reach a Run's state only through
`run._port()`, so the Run's fields stay the run API's own. (The console and system capture get
callbacks instead: Run._output, Run._system.)
"""
from __future__ import annotations

from typing import Iterable, Optional


class RunPort:
    """The operations of one Run that its integrations and resume need."""

    __slots__ = ("_run",)

    def __init__(self, run) -> None:
        self._run = run

    def holds(self, keys: Iterable) -> bool:
        """True when the step not committed yet (log(commit=False)) holds a value under one of `keys`."""
        pending = self._run._pending
        return bool(pending) and any(k in pending for k in keys)

    def warn(self, message: str, keys: Iterable) -> None:
        """A `warning` record naming `keys`, for the stdout sink to show (the program has not seen it)."""
        run = self._run
        with run._lock:
            run._warn_record(message, list(keys))

    def append(self, type_: str, body: dict) -> None:
        """A record of another job (spec/format.md 3), dropped once the session has ended."""
        self._run._append_unless_ended(type_, body)

    def restore(self, ident: dict, *, config: dict, summary: dict, metrics, last_step: Optional[int],
                session: int) -> None:
        """A Run made by resume, before anyone uses it, takes the state of the run it continues
        (spec/format.md 6): `ident` the run record with the later meta changes, `metrics` a
        MetricFold when metrics are defined, else None."""
        run = self._run
        run._notes = ident.get("notes")
        run._tags = tuple(ident.get("tags") or ())
        if ident.get("group") is not None:
            run._group = ident["group"]
        if ident.get("job_type") is not None:
            run._job_type = ident["job_type"]
        run._config._items.update(config)
        run._fold_summary()
        run._summary._items.update(summary)  # in place: the Run holds this very dict
        if metrics is not None:
            run._mfold = metrics
        run._last_step = last_step
        run._step = 0 if last_step is None else last_step + 1
        run._session = session
        run._resumed = True
