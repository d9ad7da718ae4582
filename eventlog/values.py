"""Normalising the values a run stores: `log()` data, summary values and config values.

Log values are bool, int (64-bit), float (NaN and infinities kept), str, None, numpy scalars and
torch scalar tensors (when torch is importable; never imported here), dicts of those with non-empty
str keys, lists and tuples of those (stored as lists, nested lists kept), numpy arrays and torch
tensors (as wandb: one value as a scalar, up to 32 values as a list, more as a histogram of 32
bins); media values (eventlog/media) and lists of media of one kind.

Config values also allow sets, paths (stored as str), enums (their value), numpy arrays (nested
lists, whole); keys of nested dicts may be int, float, bool or None (stored as their JSON text:
1 -> "1"), and top-level str keys lose their leading and trailing dashes (`--lr` -> `lr`), as wandb
does. Callables, dataclasses and other objects are converted as wandb converts them (qualified
name, `asdict`, `str`), each with a ConfigValueWarning naming the key.

numpy and torch are recognised by the module name of a value's type, so neither is imported here.
"""
from __future__ import annotations

from .errors import ConfigError, ConfigValueError, LogValueError
from .media.base import Histogram, Media

# The types a value may have to be stored as it is (the hot path of log()).
FAST_TYPES = frozenset((float, str, bool, type(None)))
INT_MIN = -(1 << 63)
INT_MAX = (1 << 64) - 1
_MAX_DEPTH = 32
MAX_MEDIA_LIST = 1000  # media values in one list (one key, one step)
# wandb (util.json_friendly, maybe_compress_history): an array of up to 32 values is a list, a larger
# one a histogram of 32 bins
ARRAY_LIST_MAX = 32
ARRAY_HISTOGRAM_BINS = 32


def _type_name(v: object) -> str:
    t = type(v)
    mod = t.__module__
    return t.__qualname__ if mod == "builtins" else f"{mod}.{t.__qualname__}"


def _root(v: object) -> str:
    return (type(v).__module__ or "").partition(".")[0]


def _scalar_item(v: object):
    """The Python scalar of a numpy scalar / one-value array or a one-value torch tensor, else a
    sentinel. Returns (ok, value, why-not)."""
    root = _root(v)
    if root == "numpy":
        size = getattr(v, "size", None)
        if size == 1 and hasattr(v, "item"):
            try:
                return True, v.item(), ""
            except Exception as exc:  # noqa: BLE001 - odd dtypes
                return False, None, f"cannot convert to a Python scalar ({exc})"
        shape = getattr(v, "shape", None)
        return False, None, f"an array of shape {shape}"
    if root == "torch":
        dim = getattr(v, "dim", None)
        if callable(dim):
            try:
                if v.dim() == 0 or v.numel() == 1:
                    return True, v.item(), ""
            except Exception as exc:  # noqa: BLE001
                return False, None, f"cannot convert to a Python scalar ({exc})"
            return False, None, f"a tensor of shape {tuple(v.shape)}"
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


# ----------------------------------------------------------------------- log values
def _array_size(v: object) -> int:
    """The number of values of a numpy array or torch tensor of one or more dimensions, else -1."""
    root = _root(v)
    if root == "numpy":
        if getattr(v, "ndim", 0) and hasattr(v, "tolist"):
            return int(v.size)
    elif root == "torch" and callable(getattr(v, "dim", None)) and callable(getattr(v, "numel", None)):
        if v.dim() != 0:
            return int(v.numel())
    return -1


def _log_array(key: str, v, size: int, depth: int) -> object:
    """An array or tensor as wandb logs it: one value as a scalar, up to ARRAY_LIST_MAX values as a
    (nested) list, more as a histogram map of ARRAY_HISTOGRAM_BINS bins."""
    where = f"key {key!r}"
    torch = _root(v) == "torch"
    if torch:
        v = v.detach().cpu()
    if size == 1:
        return _scalar(v.item(), where, LogValueError)
    if size <= ARRAY_LIST_MAX:
        return _plain_list(key, v.tolist(), depth)
    if torch:
        try:
            v = v.numpy()
        except (TypeError, RuntimeError):  # bfloat16 and other dtypes numpy lacks
            v = v.float().numpy()
    kind = v.dtype.kind
    if kind not in "biuf":
        raise LogValueError(f"{where}: an array of {size} values of dtype {v.dtype}; more than {ARRAY_LIST_MAX} "
                            "values are logged as a histogram, which needs numbers: log a list (.tolist()) "
                            "or fewer values")
    import numpy as np

    arr = v.astype(np.float64, copy=False).ravel()
    bad = int(arr.size - np.isfinite(arr).sum())
    if bad:
        raise LogValueError(f"{where}: an array of {size} values is logged as a histogram (more than "
                            f"{ARRAY_LIST_MAX} values, as wandb does), and {bad} of them are NaN or infinite: "
                            "log the finite ones (x[np.isfinite(x)]) or a summary of them")
    return dict(Histogram(arr, num_bins=ARRAY_HISTOGRAM_BINS)._prepare(key).map)


def _no_media(key: str, value: Media) -> dict:
    raise LogValueError(f"key {key!r}: media ({type(value).__name__}) inside a nested list or a list of "
                        "other values; media go at a key of their own, or in a list of media of one kind")


def _plain_list(key: str, items, depth: int) -> list:
    """A list (or tuple) of plain values, nested lists and maps kept: stored as a msgpack array
    (spec/format.md section 3). Media may not be in it."""
    if depth >= _MAX_DEPTH:
        raise LogValueError(f"key {key!r}: lists nested deeper than {_MAX_DEPTH} levels")
    out = []
    for i, x in enumerate(items):
        t = type(x)
        if t in FAST_TYPES or (t is int and INT_MIN <= x <= INT_MAX):
            out.append(x)
        else:
            out.append(normalize_log_value(f"{key}[{i}]", x, depth + 1, _no_media))
    return out


def normalize_log_value(key: str, v: object, _depth: int = 0, media=None) -> object:
    """A log/summary value ready to store; LogValueError names the key and the type otherwise.

    Media values (eventlog.Image, Histogram, Video, ...) become their map (`media(key, value)`,
    which also collects the files to write); without a `media` hook they are refused. Maps with a
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
    if isinstance(v, (list, tuple)):
        if any(isinstance(x, Media) for x in v):
            return _media_list(key, v, media)
        return _plain_list(key, v, _depth)
    if isinstance(v, Media):
        if media is None:
            raise LogValueError(f"key {key!r}: a {type(v).__name__} cannot be stored here; log it with log()")
        return media(key, v)
    size = _array_size(v)
    if size >= 0:
        return _log_array(key, v, size, _depth)
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


# -------------------------------------------------------------------- config values
def _json_key_text(k: object):
    """The JSON text of a non-str key as json.dumps writes it (1 -> "1", True -> "true", None ->
    "null", 1.5 -> "1.5"), or None for a key JSON cannot have."""
    ok, item, _ = _scalar_item(k)
    if ok:
        k = item
    if k is None:
        return "null"
    if isinstance(k, bool):
        return "true" if k else "false"
    if isinstance(k, int):
        return str(int(k))
    if isinstance(k, float):
        f = float(k)
        if f != f:
            return "NaN"
        if f in (float("inf"), float("-inf")):
            return "Infinity" if f > 0 else "-Infinity"
        return repr(f)
    return None


def config_key(k: object, where: str, top: bool = False) -> str:
    """A config key as stored: a str key as it is (at the top level, `top`, without leading and
    trailing dashes, as wandb strips them), an int, float, bool or None key as its JSON text.
    ConfigError (prefixed by `where`) for an empty key or a key of another type."""
    if isinstance(k, str):
        name = str.__str__(k)
        if top:
            name = name.strip("-")
        if not name:
            why = " once its dashes are stripped (as wandb does)" if k else ""
            raise ConfigError(f"{where}key {k!r} is empty{why}; config keys must be non-empty")
        return name
    name = _json_key_text(k)
    if name is None:
        raise ConfigError(f"{where}key {k!r} has type {_type_name(k)}; config keys are str, int, float, "
                               "bool or None (non-str keys are stored as their JSON text)")
    return name


def _note(notes, key: str, message: str) -> None:
    """A conversion to warn about: collected in `notes`, or warned now when there is no list."""
    text = f"config key {key!r}: {message}"
    if notes is not None:
        notes.append(text)
        return
    import warnings

    from .errors import ConfigValueWarning

    warnings.warn(ConfigValueWarning(text), stacklevel=4)


def _short(text: str) -> str:
    return text if len(text) <= 80 else text[:77] + "..."


def _qualified_name(v: object) -> str:
    qual, mod = getattr(v, "__qualname__", None), getattr(v, "__module__", None)
    if isinstance(qual, str) and isinstance(mod, str):
        return f"{mod}.{qual}"
    if isinstance(qual, str):
        return qual
    return str(v)


def normalize_config_value(key: str, v: object, _depth: int = 0, notes=None) -> object:
    """A config value ready to store; ConfigValueError names the key and the type otherwise.
    Conversions (callables, dataclasses, other objects) are warned about: appended to `notes`
    when given (the caller warns once the whole update was accepted), else warned at once."""
    if _depth >= _MAX_DEPTH:
        raise ConfigValueError(f"config key {key!r}: nested deeper than {_MAX_DEPTH} levels")
    t = type(v)
    if t in FAST_TYPES:
        return v
    if t is int:
        return _scalar(v, f"config key {key!r}", ConfigValueError)
    if isinstance(v, dict) or _is_mapping(v):
        out, given = {}, {}
        for k, sub in v.items():
            name = config_key(k, f"config key {key!r}: nested ")
            if name in out:
                raise ConfigError(f"config key {key!r}: nested keys {given[name]!r} and {k!r} are both stored "
                                       f"as {name!r} (non-str keys are stored as their JSON text): keep one")
            given[name] = k
            out[name] = normalize_config_value(f"{key}.{name}", sub, _depth + 1, notes)
        return out
    if isinstance(v, (list, tuple)):
        return [normalize_config_value(f"{key}[{i}]", x, _depth + 1, notes) for i, x in enumerate(v)]
    mod = _root(v)
    if mod == "numpy" and getattr(v, "ndim", 0) != 0 and hasattr(v, "tolist"):
        return normalize_config_value(key, v.tolist(), _depth + 1, notes)
    if mod == "torch" and callable(getattr(v, "tolist", None)) and getattr(v, "dim", lambda: 0)() != 0:
        return normalize_config_value(key, v.tolist(), _depth + 1, notes)
    if isinstance(v, (set, frozenset)):
        try:
            items = sorted(v)
        except TypeError:
            items = list(v)
        return normalize_config_value(key, items, _depth + 1, notes)
    import enum

    if isinstance(v, enum.Enum) and not isinstance(v, (int, float, str)):
        return normalize_config_value(key, v.value, _depth + 1, notes)
    import os

    if isinstance(v, os.PathLike):
        return os.fspath(v) if isinstance(os.fspath(v), str) else str(v)
    if isinstance(v, Media):
        raise ConfigValueError(f"config key {key!r}: media ({type(v).__name__}) cannot be a config value (as in wandb); "
                               "log it with log(), or store its path or caption as a str")
    if isinstance(v, (bytes, bytearray)):
        try:
            text = bytes(v).decode("utf-8")
        except UnicodeDecodeError:
            raise ConfigValueError(f"config key {key!r}: {len(v)} bytes that are not UTF-8 text; store them as "
                                   "a str (e.g. their hex or base64)") from None
        _note(notes, key, f"bytes are stored as the str they decode to ({_short(repr(text))}), as wandb does")
        return text
    return _converted(key, v, _depth, notes)


def _is_mapping(v: object) -> bool:
    from collections.abc import Mapping

    return isinstance(v, Mapping)


def _converted(key: str, v: object, depth: int, notes) -> object:
    """The last resort for a config value, as wandb's json_friendly_val: scalars of numpy/torch and
    subclasses of the plain types as those; datetimes as ISO text; dataclasses as their `asdict`;
    callables as their qualified name; anything else as its str()."""
    import dataclasses

    where = f"config key {key!r}"
    if isinstance(v, int) and not isinstance(v, bool):
        return _scalar(v, where, ConfigValueError)  # an int subclass too large for 64 bits stays an error
    try:
        return _scalar(v, where, ConfigValueError)
    except ConfigValueError:
        pass
    if dataclasses.is_dataclass(v) and not isinstance(v, type):
        _note(notes, key, f"the dataclass {_type_name(v)} is stored as a dict of its fields (as wandb stores "
                          "dataclasses.asdict)")
        fields = {f.name: getattr(v, f.name) for f in dataclasses.fields(v)}  # asdict deep-copies: not always possible
        return normalize_config_value(key, fields, depth + 1, notes)
    import datetime

    if isinstance(v, (datetime.date, datetime.time)):
        text = v.isoformat()
        _note(notes, key, f"a {type(v).__name__} is stored as its ISO text {text!r}, as wandb does")
        return text
    if callable(v):
        text = _qualified_name(v)
        _note(notes, key, f"{_short(repr(v))} is stored as its qualified name {_short(text)!r}, as wandb does")
        return text
    try:
        text = str(v)
    except Exception as exc:  # noqa: BLE001 - a broken __str__
        raise ConfigValueError(f"{where}: cannot store a value of type {_type_name(v)}: its str() fails ({exc}); "
                               "store a str, number, bool, list or dict") from None
    if type(text) is not str:
        text = str.__str__(text)
    _note(notes, key, f"a value of type {_type_name(v)} is stored as its str() {_short(repr(text))}, as wandb "
                      "does; config values are numbers, str, bools, None, lists and dicts")
    return text


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
