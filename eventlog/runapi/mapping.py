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

    # ------------------------------------------------------------------ writes
    def __setitem__(self, key: str, value: Any) -> None:
        self._set({key: value})

    def __setattr__(self, key: str, value: Any) -> None:
        if key.startswith("_"):
            object.__setattr__(self, key, value)
        else:
            self._set({key: value})

    def __delitem__(self, key: str) -> None:
        if key not in self._items:
            raise KeyError(key)
        self._remove([key])

    def __delattr__(self, key: str) -> None:
        if key not in self._items:
            raise AttributeError(key)
        self._remove([key])

    # ------------------------------------------------------------------- reads
    def __getitem__(self, key: str) -> Any:
        return deep_copy(self._items[key])

    def __getattr__(self, key: str) -> Any:
        if key.startswith("__"):
            raise AttributeError(key)
        try:
            return deep_copy(self._items[key])
        except KeyError:
            raise AttributeError(f"{self._what} has no key {key!r}") from None

    def get(self, key: str, default: Any = None) -> Any:
        return deep_copy(self._items[key]) if key in self._items else default

    def __contains__(self, key: object) -> bool:
        return key in self._items

    def __iter__(self) -> Iterator[str]:
        return iter(list(self._items))

    def __len__(self) -> int:
        return len(self._items)

    def keys(self) -> List[str]:
        return list(self._items.keys())

    def values(self) -> List[Any]:
        return [deep_copy(v) for v in self._items.values()]

    def items(self) -> List[Tuple[str, Any]]:
        return [(k, deep_copy(v)) for k, v in self._items.items()]

    def as_dict(self) -> Dict[str, Any]:
        """A (deep) copy as a plain dict."""
        return deep_copy(self._items)

    def __eq__(self, other: object) -> bool:
        if isinstance(other, type(self)):
            return self._items == other._items
        if isinstance(other, dict):
            return self._items == other
        return NotImplemented

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self._items!r})"

    def __dir__(self) -> List[str]:
        return list(super().__dir__()) + list(self._items)
