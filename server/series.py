"""Chart series: per-chunk summaries of a run's numeric history, written at ingestion, so a chart of
a run with millions of steps is drawn from a few hundred small blobs instead of every record.

For each chunk holding history rows, `summarize` keeps, for every top-level key with a finite
number, its points (step, value) reduced to PAIRS buckets of consecutive points: each bucket's
minimum and maximum (in step order), plus the chunk's first and last point of the key. A series
read (`read_series`) joins the chunks' summaries and downsamples again to the number of points
asked for, bucket by bucket over the step range (again min and max of each bucket), so the
extremes of a series always survive, however far it is reduced.

Chunks stored before this table existed have no summary: they are summarized on read.
"""
from __future__ import annotations

import math
import sys
from array import array
from math import fsum
from bisect import bisect_left
from operator import itemgetter
from typing import Any, Dict, Iterable, List, Optional, Sequence, Tuple

import msgpack
from sqlalchemy import select
from sqlalchemy.engine import Connection

from . import schema as s
from .history import chunk_records

PAIRS = 64  # (min, max) pairs per key kept in a chunk summary: ~128 points, whatever the chunk's size
RAW_ROWS = 10_000  # runs with at most this many history rows are charted from their records
Series = Dict[str, Tuple[List[int], List[float]]]  # key -> (steps, values), in step order

_NUMBERS = frozenset((float, int, bool))
_FIRST, _SECOND = itemgetter(0), itemgetter(1)
_STEP, _DATA = itemgetter("step"), itemgetter("data")
_BIG_ENDIAN = sys.byteorder == "big"


def _numbers(steps: Sequence[int], col: Sequence[Any]) -> Tuple[List[int], List[Any]]:
    """The (step, value) pairs of a column whose value is a finite number (int, float, or bool)."""
    isfinite = math.isfinite
    kept = [(st, v) for st, v in zip(steps, col) if type(v) in _NUMBERS and isfinite(v)]
    return [p[0] for p in kept], [p[1] for p in kept]


def _points(rows: Iterable[Tuple[int, Dict[Any, Any]]]) -> Series:
    """Every finite number (int, float, or bool as 0/1) of each top-level string key, as (steps,
    values). A column of numbers only is checked in one C-level pass (fsum); a column holding
    anything else is filtered value by value."""
    rows = list(rows)
    if not rows:
        return {}
    steps = list(map(_FIRST, rows))
    datas = list(map(_SECOND, rows))
    out: Series = {}
    for k in set().union(*datas):
        if type(k) is not str:
            continue
        col = [d.get(k) for d in datas]
        try:
            if math.isfinite(fsum(col)):  # TypeError: not numbers only; not finite: a NaN or an infinity
                out[k] = (steps, col)
                continue
        except (TypeError, OverflowError):
            pass
        st, va = _numbers(steps, col)
        if st:
            out[k] = (st, va)
    return out


def _reduce(steps: List[int], values: List[float], size: int) -> Tuple[List[int], List[float]]:
    """Each run of `size` consecutive points -> its min and max point (in step order), and always
    the first and the last point."""
    n = len(steps)
    if size <= 1 or n <= 4:
        return steps, values
    keep = {0, n - 1}
    for a in range(0, n, size):
        chunk = values[a:a + size]
        keep.add(a + chunk.index(min(chunk)))
        keep.add(a + chunk.index(max(chunk)))
    idx = sorted(keep)
    return [steps[i] for i in idx], [values[i] for i in idx]


def summarize_rows(rows: Iterable[Tuple[int, Dict[Any, Any]]]) -> Series:
    """A chunk's summary: each key's points reduced to PAIRS (min, max) pairs. The usual chunk,
    whose rows all have the same keys holding numbers, is done column by column with C-level
    passes only (the reduction itself fails on anything that is not a number, and its few kept
    points are checked); anything else goes through the value-by-value filter first."""
    rows = list(rows)
    if not rows:
        return {}
    steps = list(map(_FIRST, rows))
    datas = list(map(_SECOND, rows))
    size = -(-len(rows) // PAIRS)
    out: Series = {}
    keys0 = tuple(datas[0])
    try:
        if set(map(len, datas)) != {len(keys0)}:
            raise KeyError  # rows with other keys: the general way
        # one C-level pass per row and a transpose; KeyError: a row lacks one of the keys
        cols = list(zip(keys0, zip(*map(itemgetter(*keys0), datas)))) if len(keys0) > 1 else \
            [(k, list(map(itemgetter(k), datas))) for k in keys0]
    except KeyError:
        cols = [(k, [d.get(k) for d in datas]) for k in set().union(*datas)]
    for k, col in cols:
        if type(k) is not str:
            continue
        try:
            st, va = _reduce(steps, col, size)  # TypeError: something that does not compare as a number
            if math.isfinite(fsum(va)) and all(type(v) in _NUMBERS for v in va):
                out[k] = (st, va)
                continue
        except (TypeError, OverflowError):
            pass
        st, va = _numbers(steps, col)
        if st:
            out[k] = _reduce(st, va, -(-len(st) // PAIRS))
    return out


def summarize(records: Sequence[Sequence[Any]]) -> Optional[bytes]:
    """The stored summary of a chunk's records (None when they hold no chartable history)."""
    bodies = [rec[3] for rec in records if rec[1] == "history"]
    series = summarize_rows(zip(map(_STEP, bodies), map(_DATA, bodies)))
    if not series:
        return None
    return msgpack.packb({k: [_pack_array("q", st), _pack_array("d", va)] for k, (st, va) in series.items()},
                         use_bin_type=True)


def _pack_array(code: str, items: Sequence[Any]) -> bytes:
    """Little-endian int64 ("q") or float64 ("d") bytes: read back with one copy, no per-item objects."""
    arr = array(code, items)
    if _BIG_ENDIAN:
        arr.byteswap()
    return arr.tobytes()


def _unpack_array(code: str, data: bytes) -> "array[Any]":
    arr = array(code)
    arr.frombytes(data)
    if _BIG_ENDIAN:
        arr.byteswap()
    return arr


def write(conn: Connection, run_pk: int, first_seq: int, records: Sequence[Sequence[Any]]) -> None:
    """Store the summary of the chunk starting at `first_seq` (in the ingesting transaction)."""
    blob = summarize(records)
    conn.execute(s.series.insert().values(run_pk=run_pk, first_seq=first_seq, data=blob or b""))


def _chunk_rows(blob: bytes, from_seq: int = 0) -> List[Tuple[int, Dict[Any, Any]]]:
    return [(r[3]["step"], r[3]["data"]) for r in chunk_records(blob) if r[1] == "history" and r[0] >= from_seq]


def _merge(parts: List[Series], keys: Optional[Any], arrays: bool = False) -> Series:
    """The parts' points per key, concatenated (as int64/float64 arrays with `arrays`)."""
    out: Series = {}
    for part in parts:
        for k, (st, va) in part.items():
            if keys is not None and k not in keys:
                continue
            pair = out.get(k)
            if pair is None:
                out[k] = (array("q", st), array("d", va)) if arrays else (list(st), list(va))
            else:
                pair[0].extend(st)
                pair[1].extend(va)
    return out


def downsample(steps: List[int], values: List[float], samples: int) -> Tuple[List[int], List[float]]:
    """At most about `samples` points: the step range cut into samples/2 equal buckets, each
    represented by its min and max point; the first and last points always stay."""
    n = len(steps)
    if n <= samples:
        return list(steps), list(values)
    buckets = max(1, samples // 2)
    lo_s = steps[0]
    width = (steps[-1] - lo_s) / buckets or 1
    keep = {0, n - 1}
    a = 0
    for b in range(1, buckets + 1):  # steps are ints: an int bound compares faster, same split
        e = n if b == buckets else bisect_left(steps, math.ceil(lo_s + b * width), a)
        if e > a:
            seg = values[a:e]
            keep.add(a + seg.index(min(seg)))
            keep.add(a + seg.index(max(seg)))
            a = e
    idx = sorted(keep)
    return [steps[i] for i in idx], [values[i] for i in idx]


def read_series(conn: Connection, run_pk: int, keys: Optional[Sequence[str]] = None,
                samples: int = 2000, from_seq: int = 0, history_rows: Optional[int] = None) -> Series:
    """The run's chartable series (key -> (steps, values)), each downsampled to about `samples`
    points. Runs of at most RAW_ROWS history rows (`history_rows`) are read from their records,
    longer ones from the chunk summaries. With `from_seq`, only points of records from that seq on,
    not downsampled (the new points of a live run)."""
    keyset = set(keys) if keys else None
    parts: List[Series] = []
    if from_seq > 0 or (history_rows is not None and history_rows <= RAW_ROWS):
        q = (select(s.chunks.c.data).where(s.chunks.c.run_pk == run_pk, s.chunks.c.history_rows > 0,
                                            s.chunks.c.last_seq >= from_seq).order_by(s.chunks.c.first_seq))
        for (blob,) in conn.execute(q):
            parts.append(_points(_chunk_rows(blob, from_seq)))
        merged = {k: (st, array("d", va)) for k, (st, va) in _merge(parts, keyset).items()}  # floats
        if from_seq > 0:
            return {k: (st, va.tolist()) for k, (st, va) in merged.items()}
        return {k: downsample(st, va, samples) for k, (st, va) in merged.items()}
    q = (
        select(s.chunks.c.first_seq, s.series.c.data)
        .select_from(s.chunks.outerjoin(s.series, (s.series.c.run_pk == s.chunks.c.run_pk)
                                        & (s.series.c.first_seq == s.chunks.c.first_seq)))
        .where(s.chunks.c.run_pk == run_pk, s.chunks.c.history_rows > 0)
        .order_by(s.chunks.c.first_seq)
    )
    for first_seq, data in conn.execute(q).all():
        if data is None:  # a chunk stored before summaries existed: summarize it now
            blob = conn.execute(select(s.chunks.c.data).where(s.chunks.c.run_pk == run_pk,
                                                              s.chunks.c.first_seq == first_seq)).scalar_one()
            parts.append(summarize_rows(_chunk_rows(blob)))
        elif data:
            parts.append({k: (_unpack_array("q", v[0]), _unpack_array("d", v[1]))
                          for k, v in msgpack.unpackb(data, raw=False).items()
                          if keyset is None or k in keyset})
    merged = _merge(parts, keyset, arrays=True)
    return {k: downsample(st, va, samples) for k, (st, va) in merged.items()}
