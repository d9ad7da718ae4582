"""The mapping side shared by `run.config` and `run.summary`: reads come from an in-memory mirror
and hand out copies (changing one in place would bypass the log); every write goes through the run,
which writes a record first and then updates the mirror."""
from __future__ import annotations

from typing import Any, Dict, Iterable, Iterator, List, Tuple


def deep_copy(v: Any) -> Any:
    """A copy of the dicts and lists in `v` (leaves are shared: they are immutable or media)."""
    if isinstance(v, dict):
        return {k: deep_copy(x) for k, x in v.items()}
    if isinstance(v, list):
        return [deep_copy(x) for x in v]
    return v


class RunMapping:
    """Base of Config and Summary; a subclass says how a change reaches the run (`_set`, `_remove`)."""

    _what = "mapping"  # in messages: "config has no key 'x'"

    def __init__(self, run: Any) -> None:
        object.__setattr__(self, "_run", run)
        object.__setattr__(self, "_items", {})

    def _set(self, d: Dict[str, Any]) -> None:
        raise NotImplementedError

    def _remove(self, keys: Iterable[str]) -> None:
        raise NotImplementedError

    def _view(self) -> Dict[str, Any]:
        """The items as they stand, for reads (Summary folds the run's last row in first)."""
        return self._items

    # ------------------------------------------------------------------ writes
    def __setitem__(self, key: str, value: Any) -> None:
        self._set({key: value})

    def __setattr__(self, key: str, value: Any) -> None:
        if key.startswith("_"):
            object.__setattr__(self, key, value)
        else:
            self._set({key: value})

    def __delitem__(self, key: str) -> None:
        if key not in self._view():
            raise KeyError(key)
        self._remove([key])

    def __delattr__(self, key: str) -> None:
        if key not in self._view():
            raise AttributeError(key)
        self._remove([key])

    # ------------------------------------------------------------------- reads
    def __getitem__(self, key: str) -> Any:
        return deep_copy(self._view()[key])

    def __getattr__(self, key: str) -> Any:
        if key.startswith("__"):
            raise AttributeError(key)
        try:
            return deep_copy(self._view()[key])
        except KeyError:
            raise AttributeError(f"{self._what} has no key {key!r}") from None

    def get(self, key: str, default: Any = None) -> Any:
        view = self._view()
        return deep_copy(view[key]) if key in view else default

    def __contains__(self, key: object) -> bool:
        return key in self._view()

    def __iter__(self) -> Iterator[str]:
        return iter(list(self._view()))

    def __len__(self) -> int:
        return len(self._view())

    def keys(self) -> List[str]:
        return list(self._view().keys())

    def values(self) -> List[Any]:
        return [deep_copy(v) for v in self._view().values()]

    def items(self) -> List[Tuple[str, Any]]:
        return [(k, deep_copy(v)) for k, v in self._view().items()]

    def as_dict(self) -> Dict[str, Any]:
        """A (deep) copy as a plain dict."""
        return deep_copy(self._view())

    def __eq__(self, other: object) -> bool:
        if isinstance(other, type(self)):
            return self._view() == other._view()
        if isinstance(other, dict):
            return self._view() == other
        return NotImplemented

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self._view()!r})"

    def __dir__(self) -> List[str]:
        return list(super().__dir__()) + list(self._view())
