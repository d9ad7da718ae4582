"""`run.summary`: for each key the last value logged, unless set explicitly.

Explicit changes (`run.summary["best"] = x`, `run.summary.update({...})`, `del run.summary[k]`)
are `summary` records; the whole summary is written once more at finish. Readers compute the same
thing from the log (spec/format.md, "History and summary semantics"): history values and summary
records applied in seq order.

(The module is not called `summary.py`: `eventlog.summary` is the current run's summary object.)
"""
from __future__ import annotations

from .errors import ArgumentTypeError


def _copy(v):
    if isinstance(v, dict):
        return {k: _copy(x) for k, x in v.items()}
    return v


class Summary:
    """The run's summary; reads from memory, writes through the run."""

    def __init__(self, run) -> None:
        object.__setattr__(self, "_run", run)
        object.__setattr__(self, "_items", {})

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

    def __setitem__(self, key, value) -> None:
        self._run._summary_update({key: value}, ())

    def __setattr__(self, key, value) -> None:
        if key.startswith("_"):
            object.__setattr__(self, key, value)
        else:
            self._run._summary_update({key: value}, ())

    def __delitem__(self, key) -> None:
        if key not in self._items:
            raise KeyError(key)
        self._run._summary_update({}, (key,))

    def __delattr__(self, key) -> None:
        if key not in self._items:
            raise AttributeError(key)
        self._run._summary_update({}, (key,))

    def __getitem__(self, key):
        return _copy(self._items[key])

    def __getattr__(self, key):
        if key.startswith("__"):
            raise AttributeError(key)
        try:
            return _copy(self._items[key])
        except KeyError:
            raise AttributeError(f"summary has no key {key!r}") from None

    def get(self, key, default=None):
        return _copy(self._items[key]) if key in self._items else default

    def __contains__(self, key) -> bool:
        return key in self._items

    def __iter__(self):
        return iter(list(self._items))

    def __len__(self) -> int:
        return len(self._items)

    def keys(self):
        return list(self._items.keys())

    def values(self):
        return [_copy(v) for v in self._items.values()]

    def items(self):
        return [(k, _copy(v)) for k, v in self._items.items()]

    def as_dict(self) -> dict:
        return _copy(self._items)

    def __eq__(self, other) -> bool:
        if isinstance(other, Summary):
            return self._items == other._items
        if isinstance(other, dict):
            return self._items == other
        return NotImplemented

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"Summary({self._items!r})"
