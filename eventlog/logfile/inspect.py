"""Looking at a log from outside a run: verification reports and printable forms of records."""
from __future__ import annotations

import base64
import datetime
import json
import os
from dataclasses import dataclass, field
from typing import Any, Dict, List, Optional, Tuple, Union

from .reader import LogReader
from .segment import Damage, Record


@dataclass
class VerifyReport:
    """What `verify()` found in one run folder."""

    folder: str
    records: int = 0
    damage: List[Damage] = field(default_factory=list)
    seq_gaps: List[tuple] = field(default_factory=list)  # (first missing seq, count)
    pending_bytes: int = 0
    torn: Optional[Tuple[str, int, int]] = None  # (file, offset, length) of a torn tail: not damage

    @property
    def clean(self) -> bool:
        return not self.damage and not self.seq_gaps

    @property
    def bytes_lost(self) -> int:
        return sum(d.length for d in self.damage)


def verify(folder: Union[str, os.PathLike]) -> VerifyReport:
    """Read a whole run folder and report damage, seq gaps and a torn (pending) tail
    (spec/format.md 4: seqs are checked from segment 0's header, which may begin past 0)."""
    reader = LogReader(folder)
    report = VerifyReport(str(reader.folder))
    for _ in reader.records():
        report.records += 1
    report.damage = list(reader.damage)
    report.seq_gaps = list(reader.seq_gaps)
    report.pending_bytes = reader.pending_bytes
    report.torn = reader.torn
    return report


_ENVELOPE_NAMES = ("seq", "type", "time")


def json_value(value: Any) -> Any:
    """A decoded msgpack value as the JSON form of spec/format.md 4.3 (floats stay floats: NaN
    and the infinities become JSON's NaN / Infinity / -Infinity tokens when dumped)."""
    t = type(value)
    if value is None or t is bool or t is int or t is float or t is str:
        return value
    if t is dict:
        return {_json_key(k): json_value(v) for k, v in value.items()}
    if t is list or t is tuple:
        return [json_value(v) for v in value]
    if isinstance(value, (bytes, bytearray)):
        return {"$bytes": base64.b64encode(bytes(value)).decode("ascii")}
    import msgpack

    if isinstance(value, msgpack.Timestamp):  # the ext type -1, which msgpack decodes itself
        return {"$ext": [-1, base64.b64encode(value.to_bytes()).decode("ascii")]}
    if isinstance(value, msgpack.ExtType):
        return {"$ext": [value.code, base64.b64encode(value.data).decode("ascii")]}
    return repr(value)  # no msgpack value decodes to anything else


def _json_key(key: Any) -> str:
    """A map key: a str as it is (with one more leading `$` when it begins with `$`); any other
    key `$` followed by its value's JSON text."""
    if type(key) is str:
        return "$" + key if key.startswith("$") else key
    return "$" + json.dumps(json_value(key), ensure_ascii=False, separators=(",", ":"))


def record_dict(rec: Record) -> Dict[str, Any]:
    """A record as one flat dict: seq, type, time, then the body's fields (their keys escaped as
    spec/format.md 4.3 says, so a body field named `seq`, `type` or `time` is `$seq`, ...)."""
    out: Dict[str, Any] = {"seq": rec.seq, "type": rec.type, "time": float(rec.time)}
    for k, v in rec.body.items():
        key = _json_key(k)
        out["$" + key if key in _ENVELOPE_NAMES else key] = json_value(v)
    return out


def record_json(rec: Record) -> str:
    """One JSON line for a record (spec/format.md 4.3: `evlog tail --json`, the jsonl sink)."""
    return json.dumps(record_dict(rec), ensure_ascii=False)


def format_record(rec: Record) -> str:
    """A human-readable line for a record."""
    try:
        when = datetime.datetime.fromtimestamp(rec.time).strftime("%H:%M:%S.%f")[:-3]
    except (OverflowError, ValueError, OSError):  # NaN or a time no clock shows: as it is
        when = f"{rec.time!r:>12}"
    body = rec.body
    if rec.type == "output" and isinstance(body.get("text"), str):  # what the program printed, as it printed it
        text = f"{body.get('stream')}: " + body["text"].rstrip("\n").replace("\n", "\n" + " " * 31)
    elif rec.type == "history":
        data = body.get("data", {})
        fields = " ".join(f"{k}={_short(v)}" for k, v in (data.items() if isinstance(data, dict) else []))
        text = f"step {body.get('step')}: {fields}"
    else:
        text = " ".join(f"{k}={_short(v)}" for k, v in body.items())
    return f"{rec.seq:>8} {when} {rec.type:<8} {text}"


def _short(v: Any) -> str:
    if isinstance(v, float):
        return f"{v:.6g}"
    s = json.dumps(json_value(v), ensure_ascii=False) if not isinstance(v, str) else v
    return s if len(s) <= 80 else s[:77] + "..."
