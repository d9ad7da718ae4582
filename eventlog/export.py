"""A run's history as CSV or JSON Lines: one line per step, for pandas, spreadsheets and scripts.

Used by `evlog export` (from a run folder) and the server's `GET {run}/export` (spec/protocol.md
4.6), so both write the same bytes for the same history. Rows are `(step, data)` pairs in step
order; nested maps become columns named with "/" (`{"eval": {"acc": 1}}` -> `eval/acc`), as in
TensorBoard and the dashboard. The first column is `_step` (wandb's name for it).

- CSV (RFC 4180, `\\r\\n` line ends): a header of `_step` and every key in the order first seen (or
  the `keys` asked for), then a row per step; an absent value is an empty cell. Floats are written
  with `repr` (they read back exactly), NaN and infinities as `nan`, `inf`, `-inf` (what pandas and
  numpy read), bools as `true`/`false`, a media value as its file path (`media/<sha256>.png`; a
  histogram and other maps as compact JSON), a list of media as a JSON array of those.
- JSON Lines: one JSON object per step, `{"_step": 3, "loss": 0.25, "eval/acc": 0.5}`, NaN and
  infinities as the strings "NaN", "Infinity", "-Infinity" (spec/protocol.md 1), media as their maps.

Making the CSV header needs every key first: `csv_lines` takes a function that returns a fresh
iterator over the rows and reads them twice, so memory stays flat for a run of any length.
"""
from __future__ import annotations

import json
import math
from typing import Any, Callable, Dict, Iterable, Iterator, List, Optional, Sequence, Tuple

FORMATS = ("csv", "jsonl")
STEP_COLUMN = "_step"
MEDIA_TYPES = ("image", "histogram", "video")  # eventlog.media.MEDIA_TYPES (not imported: it is heavy)
Row = Tuple[int, Dict[str, Any]]


def flat(data: Dict[str, Any], prefix: str = "", out: Optional[Dict[str, Any]] = None) -> Dict[str, Any]:
    """A history row's data as one level: nested maps joined with "/"; media maps are values."""
    if out is None:
        out = {}
    for k, v in data.items():
        key = f"{prefix}{k}"
        if type(v) is dict and v.get("_type") not in MEDIA_TYPES:
            flat(v, key + "/", out)
        else:
            out[key] = v
    return out


def _jsonable(v: Any) -> Any:
    t = type(v)
    if t is float:
        if math.isfinite(v):
            return v
        return "NaN" if math.isnan(v) else ("Infinity" if v > 0 else "-Infinity")
    if t is dict:
        return {str(k): _jsonable(x) for k, x in v.items()}
    if t is list or t is tuple:
        return [_jsonable(x) for x in v]
    if v is None or t is str or t is int or t is bool:
        return v
    return str(v)


def _dumps(v: Any) -> str:
    return json.dumps(_jsonable(v), ensure_ascii=False, separators=(",", ":"))


def _media_ref(v: Any) -> Any:
    """What a CSV cell holds for a media map: the file's path, else the map."""
    if type(v) is dict and v.get("_type") in MEDIA_TYPES and isinstance(v.get("path"), str):
        return v["path"]
    return v


def cell(v: Any) -> str:
    """One CSV cell (unquoted): see the module docstring."""
    t = type(v)
    if t is float:
        if math.isnan(v):
            return "nan"
        if math.isinf(v):
            return "inf" if v > 0 else "-inf"
        return repr(v)
    if t is bool:
        return "true" if v else "false"
    if t is int or t is str:
        return str(v)
    if v is None:
        return ""
    if t is dict:
        ref = _media_ref(v)
        return ref if type(ref) is str else _dumps(ref)
    if t is list:
        return _dumps([_media_ref(x) for x in v])
    return _dumps(v)


def _quote(s: str) -> str:
    if not any(c in s for c in ',"\r\n'):
        return s
    return '"' + s.replace('"', '""') + '"'


def csv_lines(rows: Callable[[], Iterable[Row]], keys: Optional[Sequence[str]] = None) -> Iterator[str]:
    """The CSV of a history, a line at a time. `rows()` returns a fresh iterator over (step, data);
    without `keys` it is read twice: once for the header (every key, in the order first seen)."""
    if keys:
        columns: List[str] = [k for k in dict.fromkeys(keys) if k != STEP_COLUMN]
    else:
        seen: Dict[str, None] = {}
        for _, data in rows():
            for k in flat(data):
                if k not in seen and k != STEP_COLUMN:
                    seen[k] = None
        columns = list(seen)
    yield ",".join(_quote(c) for c in [STEP_COLUMN] + columns) + "\r\n"
    for step, data in rows():
        f = flat(data)
        if keys and not any(k in f for k in columns):
            continue
        yield ",".join([str(step)] + [_quote(cell(f[k])) if k in f else "" for k in columns]) + "\r\n"


def jsonl_lines(rows: Iterable[Row], keys: Optional[Sequence[str]] = None) -> Iterator[str]:
    """The JSON Lines of a history, a line at a time (`keys`: only those columns; rows holding none
    of them are left out)."""
    wanted = set(keys) if keys else None
    for step, data in rows:
        f = flat(data)
        if wanted is not None:
            f = {k: v for k, v in f.items() if k in wanted}
            if not f:
                continue
        obj = {STEP_COLUMN: step}
        obj.update((k, v) for k, v in f.items() if k != STEP_COLUMN)
        yield _dumps(obj) + "\n"


def lines(fmt: str, rows: Callable[[], Iterable[Row]], keys: Optional[Sequence[str]] = None) -> Iterator[str]:
    """`csv_lines` or `jsonl_lines` by format name ("csv" or "jsonl")."""
    if fmt == "csv":
        return csv_lines(rows, keys)
    if fmt == "jsonl":
        return jsonl_lines(rows(), keys)
    raise ValueError(f"format must be one of {', '.join(FORMATS)}, got {fmt!r}")


def folder_rows(folder: Any, on_damage: Optional[Callable[[Any], None]] = None) -> Callable[[], Iterator[Row]]:
    """A `rows` function over the history records of a run folder's log (damage is skipped and
    reported to `on_damage`, as the reader does)."""
    from .reader import LogReader

    def rows() -> Iterator[Row]:
        for rec in LogReader(folder, on_damage=on_damage).records():
            if rec.type == "history" and type(rec.body.get("data")) is dict:
                yield rec.body.get("step"), rec.body["data"]

    return rows
