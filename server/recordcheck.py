"""Checks of a decoded body's records before any is applied: nesting depth, seqs, steps, times and
sizes the database and the pages can hold (spec/protocol.md 3.3). A breach is `400 bad_record`."""
from __future__ import annotations

import math
from functools import lru_cache
from itertools import compress
from operator import itemgetter
from typing import Any, List

import msgpack

from .runstate import Rec, bad_record
from .wire import MAX_DEPTH

INT64 = 2 ** 63
MAX_SEQ = INT64 - 2  # the run's next_seq (seq + 1) must fit a signed 64-bit column
MAX_TIME = 253402300800.0  # 10000-01-01: record times and start_time are Unix seconds in 0 .. MAX_TIME
_TIME_KEYS = {"run": ("start_time",), "exit": ("runtime",)}


@lru_cache(maxsize=None)
def _pack_nest_limit() -> int:
    """How many levels of nested arrays msgpack's packer takes (1024 in msgpack 1.x)."""
    lo, hi = 1, 1 << 16
    while lo < hi - 1:
        mid = (lo + hi) // 2
        value: Any = None
        for _ in range(mid):
            value = [value]
        try:
            msgpack.packb(value)
            lo = mid
        except ValueError:
            hi = mid
    return lo


def depth(value: Any) -> int:
    """Levels of maps and arrays in `value` (a scalar is 0), without recursion."""
    best = 0
    stack = [(value, 1)]
    while stack:
        v, d = stack.pop()
        t = type(v)
        if t is dict:
            items = v.values()
        elif t is list:
            items = v
        else:
            continue
        best = max(best, d)
        stack.extend((x, d + 1) for x in items if type(x) is dict or type(x) is list)
    return best


def check_depth(records: List[Rec]) -> None:
    """Every record's body (and any element after it) nests at most MAX_DEPTH levels.

    Checked in one C pass: the records, wrapped in as many arrays as leave exactly MAX_DEPTH levels
    of msgpack's packing limit, are packed; only when that fails are the records walked to name one."""
    value: Any = records
    for _ in range(_pack_nest_limit() - MAX_DEPTH - 2):
        value = [value]
    try:
        msgpack.packb(value)
        return
    except ValueError:
        pass
    for rec in records:
        if max(map(depth, rec[3:])) > MAX_DEPTH:
            raise bad_record(rec, f"a value is nested deeper than {MAX_DEPTH} maps and arrays; flatten it")


def _time_ok(v: Any) -> bool:
    return type(v) in (int, float) and 0 <= v < MAX_TIME  # NaN compares false: refused too


def check_numbers(records: List[Rec]) -> None:
    """Seqs, history steps, record times, start times, runtimes and file sizes in the ranges the
    database columns and the pages hold."""
    seqs = list(map(itemgetter(0), records))
    if seqs and max(seqs) > MAX_SEQ:
        rec = next(r for r in records if r[0] > MAX_SEQ)
        raise bad_record(rec, f"seq must be at most {MAX_SEQ} (2**63 - 2)")
    times = list(map(itemgetter(2), records))
    if times and not (0 <= min(times) and max(times) < MAX_TIME and all(map(math.isfinite, times))):
        rec = next(r for r in records if not _time_ok(r[2]))
        raise bad_record(rec, f"the record time must be Unix seconds from 0 to {MAX_TIME:.0f}, got {rec[2]!r}")
    kinds = list(map(itemgetter(1), records))
    for rec in compress(records, (k != "history" and k in _RARE for k in kinds)):
        _check_rare(rec)
    for rec in compress(records, (k == "history" for k in kinds)):
        step = rec[3].get("step")
        if type(step) is int and not -INT64 <= step < INT64:
            raise bad_record(rec, f"'step' must fit a signed 64-bit integer, got {step}")


_RARE = {"run", "exit", "files"}


def _check_rare(rec: Rec) -> None:
    body = rec[3]
    if rec[1] == "run":
        v = body.get("start_time")
        if v is not None and type(v) in (int, float) and not _time_ok(v):
            raise bad_record(rec, f"'start_time' must be Unix seconds from 0 to {MAX_TIME:.0f}, got {v!r}")
    elif rec[1] == "exit":
        v = body.get("runtime")
        if type(v) is float and not math.isfinite(v):
            raise bad_record(rec, f"'runtime' must be a finite number, got {v!r}")
    elif rec[1] == "files" and type(body.get("files")) is list:
        for it in body["files"]:
            size = it.get("size") if type(it) is dict else None
            if type(size) is int and size >= INT64:
                raise bad_record(rec, f"a file's 'size' must be below 2**63, got {size}")


def check_records(records: List[Rec]) -> None:
    """All checks of this module; 400 bad_record naming the first record that breaks one."""
    if records:
        check_numbers(records)
        check_depth(records)
