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
  infinities as the strings "NaN", "Infinity", "-Infinity", binary as `{"_type": "bytes", "base64": ...}`
  (spec/protocol.md 1; in CSV that map as compact JSON), media as their maps.

Making the CSV header needs every key first: `csv_lines` takes a function that returns a fresh
iterator over the rows and reads them twice, so memory stays flat for a run of any length. Both
give their text in pieces of many lines (what a file or an HTTP response wants).
"""
from __future__ import annotations

import base64
import csv
import json
import math
from typing import Any, Callable, Dict, Iterable, Iterator, List, Optional, Sequence, Tuple

from ..records.media import is_media_map

FORMATS = ("csv", "jsonl")
STEP_COLUMN = "_step"
Row = Tuple[int, Dict[str, Any]]


def flat(data: Dict[str, Any], prefix: str = "", out: Optional[Dict[str, Any]] = None) -> Dict[str, Any]:
    """A history row's data as one level: nested maps joined with "/"; media maps are values.
    A row without nested maps is returned as it is (not copied)."""
    if out is None:
        if dict not in map(type, data.values()):
            return data
        out = {}
    for k, v in data.items():
        key = f"{prefix}{k}"
        if type(v) is dict and not is_media_map(v):
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
    if isinstance(v, (bytes, bytearray, memoryview)):  # spec/protocol.md 1's mapping, as in JSON answers
        return {"_type": "bytes", "base64": base64.b64encode(bytes(v)).decode("ascii")}
    if t.__name__ == "ExtType" and isinstance(v, tuple):  # msgpack.ExtType(code, data)
        return {"_type": "ext", "code": v[0], "base64": base64.b64encode(v[1]).decode("ascii")}
    return str(v)


_strict = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"), allow_nan=False).encode
_lenient = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode


def json_text(v: Any) -> str:
    """Compact JSON (UTF-8 kept), NaN and infinities as the strings "NaN", "Infinity", "-Infinity"."""
    try:  # the common case, all in C: no NaN, no infinity, nothing JSON lacks
        return _strict(v)
    except (ValueError, TypeError):
        return _lenient(_jsonable(v))


def _media_ref(v: Any) -> Any:
    """What a CSV cell holds for a media map: the file's path, else the map."""
    if is_media_map(v) and isinstance(v.get("path"), str):
        return v["path"]
    return v


_PLAIN = frozenset((float, int, str, type(None)))  # the csv module writes these as this format wants


def cell(v: Any) -> Any:
    """One CSV field, before the csv module quotes it: see the module docstring."""
    t = type(v)
    if t in _PLAIN:
        return v  # floats as repr (nan, inf, -inf), None as an empty field
    if t is bool:
        return "true" if v else "false"
    if t is dict:
        ref = _media_ref(v)
        return ref if type(ref) is str else json_text(ref)
    if t is list:
        return json_text([_media_ref(x) for x in v])
    return json_text(v)


class _Pieces:
    """The file the csv writer writes to: keeps what it wrote until taken."""

    def __init__(self) -> None:
        self.parts: List[str] = []
        self.write = self.parts.append

    def take(self) -> str:
        out = "".join(self.parts)
        self.parts.clear()
        return out


def csv_lines(rows: Callable[[], Iterable[Row]], keys: Optional[Sequence[str]] = None,
              block_rows: int = 512) -> Iterator[str]:
    """The CSV of a history, in pieces of up to `block_rows` lines. `rows()` returns a fresh iterator
    over (step, data); without `keys` it is read twice: once for the header (every key, in the
    order first seen)."""
    if keys:
        columns: List[str] = [k for k in dict.fromkeys(keys) if k != STEP_COLUMN]
    else:
        seen: Dict[str, Any] = {}
        for _, data in rows():
            seen.update(flat(data))  # keys keep the order they were first met in
        seen.pop(STEP_COLUMN, None)
        columns = list(seen)
    out = _Pieces()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow([STEP_COLUMN] + columns)
    n = 0
    for step, data in rows():
        f = flat(data)
        if keys and not any(k in f for k in columns):
            continue
        fields = [f.get(k) for k in columns]
        if not _PLAIN.issuperset(map(type, fields)):
            fields = [cell(v) for v in fields]
        fields.insert(0, step)
        writer.writerow(fields)
        n += 1
        if n >= block_rows:
            yield out.take()
            n = 0
    yield out.take()


def jsonl_lines(rows: Iterable[Row], keys: Optional[Sequence[str]] = None, block_rows: int = 512) -> Iterator[str]:
    """The JSON Lines of a history, in pieces of up to `block_rows` lines (`keys`: only those
    columns; rows holding none of them are left out)."""
    wanted = set(keys) if keys else None
    parts: List[str] = []
    for step, data in rows:
        f = flat(data)
        if wanted is not None:
            f = {k: v for k, v in f.items() if k in wanted}
            if not f:
                continue
        obj = {STEP_COLUMN: step, **f}
        obj[STEP_COLUMN] = step
        parts.append(json_text(obj))
        if len(parts) >= block_rows:
            parts.append("")
            yield "\n".join(parts)
            parts = []
    if parts:
        parts.append("")
        yield "\n".join(parts)


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
    from ..logfile.reader import LogReader

    def rows() -> Iterator[Row]:
        for rec in LogReader(folder, on_damage=on_damage).records():
            if rec.type == "history" and type(rec.body.get("data")) is dict:
                yield rec.body.get("step"), rec.body["data"]

    return rows
