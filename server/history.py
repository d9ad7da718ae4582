"""Reading a run's history: key filtering and a downsample that keeps the extremes."""
from __future__ import annotations

import contextlib
import math
from typing import Any, Callable, ContextManager, Dict, Iterable, Iterator, List, Optional, Sequence, Tuple

import msgpack
import zstandard
from sqlalchemy import select
from sqlalchemy.engine import Connection

from . import schema as s

MAX_EXTREME_KEYS = 32
PAGE_CHUNKS = 32  # stored chunks fetched per database read (history_records)
Row = Dict[str, Any]


def chunk_payload(blob: bytes) -> bytes:
    """The msgpack bytes of a stored chunk (schema.chunks.data: zstd frames)."""
    return zstandard.ZstdDecompressor().decompressobj(read_across_frames=True).decompress(blob)


def chunk_records(blob: bytes, payload: Optional[bytes] = None) -> Iterator[List[Any]]:
    """The record envelopes of a stored chunk, in seq order (`payload`: its bytes, when decompressed already)."""
    if payload is None:
        payload = chunk_payload(blob)
    unpacker = msgpack.Unpacker(raw=False, strict_map_key=False, max_buffer_size=max(len(payload), 1))
    unpacker.feed(payload)
    return iter(unpacker)


def history_records(connect: Callable[[], ContextManager[Connection]], run_pk: int,
                    after: int = -1) -> Iterator[Tuple[int, int, Dict[str, Any]]]:
    """(seq, step, data) of every history record of run `run_pk` after seq `after`, in seq order.
    Chunks are fetched PAGE_CHUNKS at a time, each page in its own `with connect() as conn`, so a
    reader that stops early fetches little and a long read holds no transaction open."""
    c = s.chunks.c
    chunk_after = -1
    while True:
        with connect() as conn:
            page = conn.execute(
                select(c.first_seq, c.data)
                .where(c.run_pk == run_pk, c.history_rows > 0, c.last_seq > after, c.first_seq > chunk_after)
                .order_by(c.first_seq).limit(PAGE_CHUNKS)
            ).all()
        for first_seq, blob in page:
            for rec in chunk_records(blob):
                if rec[1] == "history" and rec[0] > after:
                    yield rec[0], rec[3]["step"], rec[3]["data"]
            chunk_after = first_seq
        if len(page) < PAGE_CHUNKS:
            return


def read_rows(conn: Connection, run_pk: int, keys: Optional[Sequence[str]] = None, after: int = -1,
              limit: Optional[int] = None, every: bool = False) -> Tuple[List[Row], Optional[int]]:
    """(rows, next): the history rows of a run in seq order as {"step", "data"}, from the records
    after seq `after`; with `keys`, only those keys, and rows holding none of them (with `every`:
    not all of them) are left out.
    With `limit`, at most that many rows and `next` the cursor of the following page (the seq of
    the last row returned), None when no row follows; chunks ending before `after` are not read."""
    out: List[Row] = []
    append = out.append
    last_seq = after
    wanted = len(set(keys)) if keys and every else 1
    for seq, step, d in history_records(lambda: contextlib.nullcontext(conn), run_pk, after):
        if keys:
            d = {k: d[k] for k in keys if k in d}
            if len(d) < wanted:
                continue
        if limit is not None and len(out) == limit:
            return out, last_seq
        append({"step": step, "data": d})
        last_seq = seq
    return out, None


def _number(v: Any) -> bool:
    t = type(v)
    return (t is int or t is float) and (t is int or math.isfinite(v))


def extreme_keys(rows: Iterable[Row]) -> List[str]:
    """The keys (up to MAX_EXTREME_KEYS, sorted) that hold a number in some row."""
    found = set()
    for r in rows:
        for k, v in r["data"].items():
            if type(k) is str and _number(v):
                found.add(k)
    return sorted(found)[:MAX_EXTREME_KEYS]


def downsample(rows: List[Row], samples: int, keys: Optional[Sequence[str]] = None) -> List[Row]:
    """At most max(samples, 2 + 2*len(keys)) rows in order: first, last, each key's min and max,
    and the rest spread evenly across the run."""
    total = len(rows)
    if total <= samples:
        return rows
    keep = {0, total - 1}
    for k in (list(keys)[:MAX_EXTREME_KEYS] if keys else extreme_keys(rows)):
        lo = hi = None
        lo_v = hi_v = 0.0
        for i, r in enumerate(rows):
            v = r["data"].get(k)
            if not _number(v):
                continue
            if lo is None or v < lo_v:
                lo, lo_v = i, v
            if hi is None or v > hi_v:
                hi, hi_v = i, v
        if lo is not None:
            keep.add(lo)
            keep.add(hi)
    free = samples - len(keep)
    if free > 0:
        for j in range(1, free + 1):
            keep.add(round(j * (total - 1) / (free + 1)))
    return [rows[i] for i in sorted(keep)]
