"""A run's mutable state, loaded from its row, changed by records in seq order, saved back."""
from __future__ import annotations

import time
from typing import Any, Dict, List, Optional

from eventlog.metricdefs import MetricFold
from eventlog.records.fold import exit_state, later_step
from eventlog.records.update import apply_update

from . import schema as s
from .access import check_media_name
from .errors import ApiError
from .names import check_path
from .text import column_text
from .wire import pack, unpack

FILE_KINDS = ("code", "diff", "media", "other")
ALERT_LEVELS = ("INFO", "WARN", "ERROR")
ALERTS_KEPT = 1000  # a run keeps its newest alerts (the Run itself drops repeats within wait_duration)

Rec = List[Any]  # a decoded envelope: [seq, type, time, body, ...]


def bad_record(rec: Rec, message: str) -> ApiError:
    return ApiError(400, "bad_record", f"record seq {rec[0]} ({rec[1]}): {message}")


def _opt_str(rec: Rec, body: Dict[Any, Any], key: str) -> Optional[str]:
    v = body.get(key)
    if v is not None and type(v) is not str:
        raise bad_record(rec, f"{key!r} must be a string or nil")
    return column_text(v)


def _tags(rec: Rec, v: Any) -> List[str]:
    if v is None:
        return []
    if type(v) is not list or any(type(t) is not str for t in v):
        raise bad_record(rec, "'tags' must be a list of strings")
    return v


def _map(rec: Rec, v: Any, key: str) -> Optional[Dict[Any, Any]]:
    if v is not None and type(v) is not dict:
        raise bad_record(rec, f"{key!r} must be a map or nil")
    return v


def _num(rec: Rec, v: Any, key: str) -> Optional[float]:
    if v is None:
        return None
    if type(v) not in (int, float):
        raise bad_record(rec, f"{key!r} must be a number")
    return float(v)


class RunState:
    """Everything of a run that records change, plus the history rows and file entries to write."""

    def __init__(self, row: Any = None) -> None:
        self.pk: Optional[int] = None
        self.fields: Dict[str, Any] = {}
        self.config: Dict[Any, Any] = {}
        self.summary: Dict[Any, Any] = {}
        self.history_added = 0
        self.files: Dict[str, Dict[str, Any]] = {}
        self.next_seq = 0
        self.metrics = MetricFold()
        self.alerts: Optional[List[Dict[str, Any]]] = None  # loaded only when an alert record comes
        self._row_alerts = None
        if row is not None:
            self.pk = row.id
            self.fields = {c: getattr(row, c) for c in _SCALARS}
            self.fields["tags"] = unpack(row.tags) or []
            self.config = unpack(row.config) or {}
            self.summary = unpack(row.summary) or {}
            self.next_seq = row.next_seq
            if row.metrics is not None:
                self.metrics = MetricFold.restore(unpack(row.metrics))
            self._row_alerts = row.alerts

    # ------------------------------------------------------------ applying
    def start(self, rec: Rec, run_id: str, principal_anonymous: bool) -> None:
        """Initialise from the run's `run` record (seq 0)."""
        b = rec[3]
        if rec[0] != 0 or rec[1] != "run":
            raise bad_record(rec, "a run's first record must be its `run` record at seq 0")
        if b.get("id") != run_id:
            raise bad_record(rec, f"the run record's id {b.get('id')!r} is not the run id of the URL ({run_id!r})")
        now = time.time()
        self.fields = {
            "name": _opt_str(rec, b, "name"), "notes": _opt_str(rec, b, "notes"),
            "group_name": _opt_str(rec, b, "group"), "job_type": _opt_str(rec, b, "job_type") or "train",
            "state": "running", "exit_code": None, "created_at": now, "updated_at": now,
            "started_at": _num(rec, b.get("start_time"), "start_time") or float(rec[2]),
            "ended_at": None, "runtime": None, "sessions": 1, "missing_records": 0, "warnings": 0,
            "history_rows": 0, "last_step": None, "anonymous": principal_anonymous,
            "tags": _tags(rec, b.get("tags")),
        }
        self.blobs = {k: _map(rec, b.get(k), k) for k in ("settings", "program", "git", "code")}

    def apply(self, records: List[Rec], first: int) -> int:
        """Apply records[first:] while their seqs are contiguous; returns how many were applied."""
        f = self.fields
        summary = self.summary
        metrics = self.metrics
        expected = self.next_seq
        last_step = f["last_step"]
        n = hist = 0
        for i in range(first, len(records)):
            rec = records[i]
            seq = rec[0]
            if seq != expected:
                break
            expected = seq + 1
            n += 1
            if rec[1] == "history":
                body = rec[3]
                step = body.get("step")
                data = body.get("data")
                if type(step) is not int or type(data) is not dict:
                    raise bad_record(rec, "a history record needs an int 'step' and a map 'data'")
                last_step = later_step(last_step, step)
                metrics.apply(summary, data)
                hist += 1
            elif rec[1] == "run":
                if seq != 0:
                    raise bad_record(rec, "a `run` record may only be the run's first record")
            else:
                self._apply_other(rec)
        if n and f.get("state") == "crashed":
            f["state"] = "running"  # a crashed run that gets new records lives again (resumed)
        f["last_step"] = last_step
        f["history_rows"] = (f["history_rows"] or 0) + hist
        self.history_added = hist
        self.next_seq = expected
        return n

    def _apply_other(self, rec: Rec) -> None:
        t, b, f = rec[1], rec[3], self.fields
        if t == "config" or t == "summary":
            target = self.config if t == "config" else self.summary
            upd, rem = b.get("update"), b.get("remove")
            if upd is not None and type(upd) is not dict:
                raise bad_record(rec, "'update' must be a map")
            if rem is not None and type(rem) is not list:
                raise bad_record(rec, "'remove' must be a list")
            apply_update(target, b)
        elif t == "meta":
            if "name" in b:
                f["name"] = _opt_str(rec, b, "name")
            if "notes" in b:
                f["notes"] = _opt_str(rec, b, "notes")
            if "tags" in b:
                f["tags"] = _tags(rec, b.get("tags"))
        elif t == "exit":
            code = b.get("exit_code", 0)
            if type(code) is not int or not -(2 ** 31) <= code < 2 ** 31:
                raise bad_record(rec, "'exit_code' must be an int")
            f["exit_code"] = code
            f["state"] = exit_state(b)
            f["runtime"] = _num(rec, b.get("runtime"), "runtime")
            f["ended_at"] = float(rec[2])
        elif t == "resume":
            f["state"] = "running"
            f["sessions"] = (f["sessions"] or 1) + 1
            f["ended_at"] = None
        elif t == "warning":
            f["warnings"] = (f["warnings"] or 0) + 1
        elif t == "metric":
            if type(b.get("name")) is not str or not b["name"]:
                raise bad_record(rec, "a metric record needs a non-empty string 'name'")
            self.metrics.define(b)
        elif t == "alert":
            self._alert(rec)
        elif t == "files":
            items = b.get("files")
            if type(items) is not list:
                raise bad_record(rec, "'files' must be a list of maps")
            for it in items:
                if type(it) is not dict or type(it.get("path")) is not str:
                    raise bad_record(rec, "each file needs a string 'path'")
                try:
                    check_path(it["path"])
                except ApiError as exc:
                    raise bad_record(rec, exc.message) from None
                kind = it.get("kind") if it.get("kind") in FILE_KINDS else "other"
                sha, size = it.get("sha256"), it.get("size")
                wrong = check_media_name(it["path"], sha if type(sha) is str else None)
                if wrong:
                    raise bad_record(rec, wrong)
                self.files[it["path"]] = {
                    "kind": kind,
                    "sha256": sha if type(sha) is str and len(sha) <= 64 and "\x00" not in sha else None,
                    "size": size if type(size) is int and size >= 0 else None,
                }

    def _alert(self, rec: Rec) -> None:
        b = rec[3]
        if type(b.get("title")) is not str or type(b.get("text")) is not str or b.get("level") not in ALERT_LEVELS:
            raise bad_record(rec, "an alert record needs string 'title' and 'text' and a 'level' of INFO, WARN, ERROR")
        if self.alerts is None:
            self.alerts = (unpack(self._row_alerts) if self._row_alerts is not None else None) or []
        wait = b.get("wait_duration")
        self.alerts.append({"seq": rec[0], "time": float(rec[2]), "title": b["title"], "text": b["text"],
                            "level": b["level"], "wait_duration": wait if type(wait) in (int, float) else None})
        del self.alerts[:-ALERTS_KEPT]

    # ------------------------------------------------------------- saving
    def row_values(self) -> Dict[str, Any]:
        """Column values for the runs table."""
        out = {c: self.fields.get(c) for c in _SCALARS}
        out.update(
            tags=pack(self.fields.get("tags") or []), config=pack(self.config), summary=pack(self.summary),
            next_seq=self.next_seq, updated_at=time.time(),
        )
        if self.metrics.active:  # its summary state changes with history rows too
            out["metrics"] = pack(self.metrics.state())
        if self.alerts is not None:
            out["alerts"] = pack(self.alerts)
        return out


_SCALARS = (
    "name", "notes", "group_name", "job_type", "state", "exit_code", "created_at", "updated_at", "started_at",
    "ended_at", "runtime", "sessions", "missing_records", "warnings", "history_rows", "last_step", "anonymous",
)
assert all(c in s.runs.c for c in _SCALARS)
