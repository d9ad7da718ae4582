"""An artifact's metadata as plain JSON-able data: frameworks put model configs (int keys),
numpy/torch scalars, paths and odd objects in it, which wandb stores as their JSON or str form."""
from __future__ import annotations

import json
import math
from typing import Any

from ..errors import ArgumentTypeError

_MAX_DEPTH = 32
_INT_MIN, _INT_MAX = -(1 << 63), (1 << 64) - 1


def normalize(metadata: Any) -> dict:
    """A copy of `metadata` (a dict or None) made of dicts with str keys, lists, None, bool, int,
    float and str: non-str keys as their JSON text (1 -> "1", True -> "true"), scalars of numpy/torch
    as Python numbers, arrays as lists, anything else as str()."""
    if metadata is None:
        return {}
    if not isinstance(metadata, dict):
        raise ArgumentTypeError(f"artifact metadata must be a dict, got {type(metadata).__name__}")
    return _value(metadata, 0)


def _key(k: Any) -> str:
    if isinstance(k, str):
        return k
    if k is None or isinstance(k, (bool, int)) or (isinstance(k, float) and math.isfinite(k)):
        return json.dumps(k)
    return str(k)


def _value(v: Any, depth: int) -> Any:
    if v is None or isinstance(v, (bool, str, float)):
        return v
    if isinstance(v, int):
        return int(v) if _INT_MIN <= v <= _INT_MAX else str(v)
    if depth > _MAX_DEPTH:
        return str(v)
    if isinstance(v, dict):
        return {_key(k): _value(x, depth + 1) for k, x in v.items()}
    if isinstance(v, (list, tuple, set, frozenset)):
        return [_value(x, depth + 1) for x in v]
    mod = type(v).__module__.partition(".")[0]
    if mod in ("numpy", "torch"):
        try:
            return _value(v.item() if _ndim(v) == 0 else v.tolist(), depth + 1)
        except Exception:  # noqa: BLE001 - odd dtypes: their text
            return str(v)
    import dataclasses
    import enum

    if isinstance(v, enum.Enum):
        return _value(v.value, depth + 1)
    if dataclasses.is_dataclass(v) and not isinstance(v, type):
        return _value(dataclasses.asdict(v), depth + 1)
    return str(v)


def _ndim(v: Any) -> int:
    dim = getattr(v, "dim", None)  # torch tensors; numpy arrays and scalars have ndim
    return dim() if callable(dim) else getattr(v, "ndim", -1)
