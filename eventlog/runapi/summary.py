"""`run.summary`: for each key the last value logged, unless set explicitly.

Explicit changes (`run.summary["best"] = x`, `run.summary.update({...})`, `del run.summary[k]`)
are `summary` records; the whole summary is written once more at finish. Readers compute the same
thing from the log (spec/format.md, "History and summary semantics"): history values and summary
records applied in seq order.

(The module is not called `summary.py`: `eventlog.summary` is the current run's summary object.)
"""
from __future__ import annotations

from ..errors import ArgumentTypeError
from .mapping import RunMapping


class Summary(RunMapping):
    """The run's summary; reads from memory, writes through the run."""

    _what = "summary"

    def _view(self) -> dict:
        return self._run._summary_view()

    def _set(self, d: dict) -> None:
        self._run._summary_update(d, ())

    def _remove(self, keys) -> None:
        self._run._summary_update({}, tuple(keys))

    def update(self, d=None, **kwargs) -> None:
        if d is None:
            d = {}
        elif not isinstance(d, dict):
            keys = getattr(d, "keys", None)
            if not callable(keys):
                raise ArgumentTypeError(f"summary.update() takes a dict, got {type(d).__name__}")
            d = {k: d[k] for k in keys()}
        else:
            d = dict(d)
        d.update(kwargs)
        self._run._summary_update(d, ())
