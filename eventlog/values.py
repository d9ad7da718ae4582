"""Normalising the values a run stores: `log()` data, summary values and config values.

Log values are bool, int (64-bit), float (NaN and infinities kept), str, None, numpy scalars and
0-d arrays, torch scalar tensors (when torch is importable; never imported here), and dicts of
those with non-empty str keys; media values (eventlog/media.py) and lists of media of one kind.
Config values also allow lists and tuples (stored as lists) and numpy arrays (stored as nested
lists), paths (stored as str) and enums (their value).

numpy and torch are recognised by the module name of a value's type, so neither is imported here.
"""
from __future__ import annotations

from .errors import ConfigValueError, LogValueError
from .media import Media

# The types a value may have to be stored as it is (the hot path of log()).
FAST_TYPES = frozenset((float, str, bool, type(None)))
INT_MIN = -(1 << 63)
INT_MAX = (1 << 64) - 1
_MAX_DEPTH = 32
MAX_MEDIA_LIST = 1000  # media values in one list (one key, one step)


def _type_name(v: object) -> str:
    t = type(v)
    mod = t.__module__
    return t.__qualname__ if mod == "builtins" else f"{mod}.{t.__qualname__}"


def _scalar_item(v: object):
    """The Python scalar of a numpy scalar / 0-d array or a one-element torch tensor, else a
    sentinel. Returns (ok, value, why-not)."""
    mod = type(v).__module__ or ""
    root = mod.partition(".")[0]
    if root == "numpy":
        ndim = getattr(v, "ndim", None)
        if ndim == 0:
            try:
                return True, v.item(), ""
            except Exception as exc:  # noqa: BLE001 - odd dtypes
                return False, None, f"cannot convert to a Python scalar ({exc})"
        shape = getattr(v, "shape", None)
        return False, None, f"an array of shape {shape}; log a scalar (e.g. .mean()) or a list in config"
    if root == "torch":
        dim = getattr(v, "dim", None)
        if callable(dim):
            try:
                if v.dim() == 0 or v.numel() == 1:
                    return True, v.item(), ""
            except Exception as exc:  # noqa: BLE001
                return False, None, f"cannot convert to a Python scalar ({exc})"
            return False, None, f"a tensor of shape {tuple(v.shape)}; log a scalar (e.g. .mean().item())"
    return False, None, ""


def _scalar(v: object, where: str, err):
    """Normalise a non-container value; raise `err` naming `where` when it cannot be stored."""
    t = type(v)
    if t in FAST_TYPES:
        return v
    if t is int:
        if INT_MIN <= v <= INT_MAX:
            return v
        raise err(f"{where}: int {v} does not fit in 64 bits; log it as a float or a str")
    # subclasses of the plain types (IntEnum, numpy.float64 is a float subclass, str enums, ...)
    if isinstance(v, bool):
        return bool(v)
    ok, item, why = _scalar_item(v)
    if ok:
        return _scalar(item, where, err)
    if why:
        raise err(f"{where}: cannot store a value of type {_type_name(v)}: {why}")
    if isinstance(v, int):
        return _scalar(int(v), where, err)
    if isinstance(v, float):
        return float(v)
    if isinstance(v, str):
        return str(v)
    raise err(f"{where}: cannot store a value of type {_type_name(v)}")


def _check_key(k: object, where: str, err) -> None:
    if type(k) is not str and not isinstance(k, str):
        raise err(f"{where}key {k!r} has type {_type_name(k)}; keys must be non-empty str")
    if not k:
        raise err(f"{where}key is empty; keys must be non-empty str")


def normalize_log_value(key: str, v: object, _depth: int = 0, media=None) -> object:
    """A log/summary value ready to store; LogValueError names the key and the type otherwise.

    Media values (eventlog.Image, Histogram, Video) become their map (`media(key, value)`, which
    also collects the files to write); without a `media` hook they are refused. Maps with a
    `_type` key are reserved for media and refused."""
    if isinstance(v, dict):
        if _depth >= _MAX_DEPTH:
            raise LogValueError(f"key {key!r}: dicts nested deeper than {_MAX_DEPTH} levels")
        if "_type" in v:
            raise LogValueError(f"key {key!r}: a dict with a \"_type\" key; \"_type\" is reserved for media "
                                "values (eventlog.Image, Histogram, Video)")
        out = {}
        for k, sub in v.items():
            _check_key(k, f"in key {key!r}: ", LogValueError)
            out[str(k)] = normalize_log_value(f"{key}.{k}", sub, _depth + 1, media)
        return out
    if isinstance(v, (list, tuple)) and any(isinstance(x, Media) for x in v):
        return _media_list(key, v, media)
    if isinstance(v, Media):
        if media is None:
            raise LogValueError(f"key {key!r}: a {type(v).__name__} cannot be stored here; log it with log()")
        return media(key, v)
    return _scalar(v, f"key {key!r}", LogValueError)


def _media_list(key: str, items, media) -> list:
    """A list of media values of one kind (`log({"examples": [Image, Image]})`): stored as a list of
    media maps, in order (spec/format.md section 7)."""
    kinds = {type(x) for x in items}
    if len(kinds) > 1 or not all(isinstance(x, Media) for x in items):
        names = ", ".join(sorted({_type_name(x) if not isinstance(x, Media) else type(x).__name__ for x in items}))
        raise LogValueError(f"key {key!r}: a list that mixes {names}; a list of media holds one kind "
                            f"(all Image, all Histogram or all Video): log the others under their own keys")
    if len(items) > MAX_MEDIA_LIST:
        raise LogValueError(f"key {key!r}: a list of {len(items)} {type(items[0]).__name__} values; at most "
                            f"{MAX_MEDIA_LIST} fit in one step: log a sample of them, or spread them over keys")
    if media is None:
        raise LogValueError(f"key {key!r}: a list of {type(items[0]).__name__} cannot be stored here; log it with log()")
    return [media(f"{key}[{i}]", x) for i, x in enumerate(items)]


def normalize_log_data(data: dict, media=None) -> dict:
    """A copy of a whole `log()` dict with every key checked and every value normalised (media
    values through the `media` hook, see normalize_log_value)."""
    out = {}
    for k, v in data.items():
        _check_key(k, "", LogValueError)
        out[str(k)] = normalize_log_value(k, v, 0, media)
    return out


def normalize_config_value(key: str, v: object, _depth: int = 0) -> object:
    """A config value ready to store; ConfigValueError names the key and the type otherwise."""
    if _depth >= _MAX_DEPTH:
        raise ConfigValueError(f"config key {key!r}: nested deeper than {_MAX_DEPTH} levels")
    t = type(v)
    if t in FAST_TYPES:
        return v
    if isinstance(v, dict):
        out = {}
        for k, sub in v.items():
            _check_key(k, f"config key {key!r}: nested ", ConfigValueError)
            out[str(k)] = normalize_config_value(f"{key}.{k}", sub, _depth + 1)
        return out
    if isinstance(v, (list, tuple)):
        return [normalize_config_value(f"{key}[{i}]", x, _depth + 1) for i, x in enumerate(v)]
    mod = (t.__module__ or "").partition(".")[0]
    if mod == "numpy" and getattr(v, "ndim", 0) != 0 and hasattr(v, "tolist"):
        return normalize_config_value(key, v.tolist(), _depth + 1)
    if mod == "torch" and callable(getattr(v, "tolist", None)) and getattr(v, "dim", lambda: 0)() != 0:
        return normalize_config_value(key, v.tolist(), _depth + 1)
    if isinstance(v, (set, frozenset)):
        try:
            items = sorted(v)
        except TypeError:
            items = list(v)
        return normalize_config_value(key, items, _depth + 1)
    import enum

    if isinstance(v, enum.Enum) and not isinstance(v, (int, float, str)):
        return normalize_config_value(key, v.value, _depth + 1)
    import os

    if isinstance(v, os.PathLike):
        return os.fspath(v) if isinstance(os.fspath(v), str) else str(v)
    return _scalar(v, f"config key {key!r}", ConfigValueError)


def same_value(a: object, b: object) -> bool:
    """Equality for stored values where NaN equals NaN and 1 == 1.0 but True != 1."""
    if type(a) is bool or type(b) is bool:
        return type(a) is type(b) and a == b
    if isinstance(a, float) and isinstance(b, float) and a != a and b != b:
        return True
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(same_value(a[k], b[k]) for k in a)
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(same_value(x, y) for x, y in zip(a, b))
    if isinstance(a, (dict, list)) or isinstance(b, (dict, list)):
        return False
    try:
        return bool(a == b)
    except Exception:  # noqa: BLE001
        return False
