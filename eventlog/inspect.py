"""Looking at a log from outside a run: verification reports and printable forms of records."""
from __future__ import annotations

import base64
import datetime
import json
import os
from dataclasses import dataclass, field
from typing import Any, Dict, List, Union

from .reader import LogReader, log_start_seq
from .segment import Damage, Record


@dataclass
class VerifyReport:
    """What `verify()` found in one run folder."""

    folder: str
    records: int = 0
    damage: List[Damage] = field(default_factory=list)
    seq_gaps: List[tuple] = field(default_factory=list)  # (first missing seq, count)
    pending_bytes: int = 0

    @property
    def clean(self) -> bool:
        return not self.damage and not self.seq_gaps

    @property
    def bytes_lost(self) -> int:
        return sum(d.length for d in self.damage)


def verify(folder: Union[str, os.PathLike]) -> VerifyReport:
    """Read a whole run folder and report damage, seq gaps and a torn (pending) tail."""
    reader = LogReader(folder)
    report = VerifyReport(str(reader.folder))
    expected = log_start_seq(reader.folder)  # a log resumed from the server begins past 0
    for rec in reader.records():
        if rec.seq > expected:
            report.seq_gaps.append((expected, rec.seq - expected))
        expected = rec.seq + 1
        report.records += 1
    report.damage = list(reader.damage)
    report.pending_bytes = reader.pending_bytes
    return report


def _jsonable(value: Any) -> Any:
    if isinstance(value, bytes):
        return {"$bytes": base64.b64encode(value).decode("ascii")}
    return repr(value)


def record_dict(rec: Record) -> Dict[str, Any]:
    """A record as one flat dict: seq, type, time, then the body's fields."""
    out: Dict[str, Any] = {"seq": rec.seq, "type": rec.type, "time": rec.time}
    for k, v in rec.body.items():
        out.setdefault(str(k), v)
    return out


def record_json(rec: Record) -> str:
    """One JSON line for a record (NaN and Infinity kept as JavaScript spells them)."""
    return json.dumps(record_dict(rec), default=_jsonable, ensure_ascii=False)


def format_record(rec: Record) -> str:
    """A human-readable line for a record."""
    when = datetime.datetime.fromtimestamp(rec.time).strftime("%H:%M:%S.%f")[:-3]
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
    s = json.dumps(v, default=_jsonable, ensure_ascii=False) if not isinstance(v, str) else v
    return s if len(s) <= 80 else s[:77] + "..."
