"""The fold of a run's records into its state (spec/format.md 3, "History and summary semantics";
spec/protocol.md 3: how records change the run): the rules every reader applies, and RunFold,
which applies them all to a log read in seq order.

The summary is the reading of spec/protocol.md: records apply in seq order, a `history` row
setting its top-level keys (as the metric definitions say) and a `summary` record setting or
removing its own; whichever has the higher seq wins, so a summary record does not outrank later
history rows.
"""
from __future__ import annotations

from typing import Any, Callable, Dict, Optional

from ..metricdefs import MetricFold
from .types import CONFIG, EXIT, HISTORY, IDENTITY, META, META_FIELDS, METRIC, RESUME, RUN, SUMMARY
from .update import apply_update


def later_step(last: Optional[int], step: Any) -> Optional[int]:
    """The highest committed step once a row (or a resume record's `last_step`) says `step`: steps
    that are not ints leave it."""
    if type(step) is int and (last is None or step > last):
        return step
    return last


def run_identity(rtype: str, body: Dict[Any, Any]) -> Optional[Dict[Any, Any]]:
    """The run map a record carries, as written: a `run` record's body, or the `run` map of the
    `resume` record that opens a log beginning past seq 0 (spec/format.md 1); None for others."""
    if rtype == RUN:
        return body
    if rtype == RESUME and isinstance(body.get("run"), dict):
        return body["run"]
    return None


def exit_state(body: Dict[Any, Any]) -> str:
    """The run state an `exit` record leaves: "finished" for exit code 0, else "failed"."""
    return "finished" if body.get("exit_code", 0) == 0 else "failed"


class RunFold:
    """A run's state from its records fed in seq order: identity (IDENTITY fields, as last changed),
    config, summary and metric definitions, the last step, the number of history rows, the last
    session's number, `program` and exit body (None while it has none: crashed or running)."""

    def __init__(self) -> None:
        self.run: Dict[Any, Any] = {}
        self.config: Dict[Any, Any] = {}
        self.summary: Dict[Any, Any] = {}
        self.metrics = MetricFold()  # define_metric definitions and their summary state
        self.last_step: Optional[int] = None  # the highest committed step, None before the first
        self.rows = 0            # history records
        self.records = 0         # records fed
        self.next_seq = 0
        self.session = 0         # number of the last session (0: the first, k: the k-th resume)
        self.ended: Optional[Dict[Any, Any]] = None  # the last session's exit body
        self.program: Optional[Dict[Any, Any]] = None  # the last session's `program` map

    def feed(self, seq: int, rtype: str, body: Dict[Any, Any]) -> None:
        """Apply one record; types without an effect on the run's state only count."""
        self.records += 1
        self.next_seq = seq + 1
        apply = _APPLY.get(rtype)
        if apply is not None:
            apply(self, body)

    def _history(self, b: Dict[Any, Any]) -> None:
        self.rows += 1
        self.last_step = later_step(self.last_step, b.get("step"))
        data = b.get("data")
        if isinstance(data, dict):
            self.metrics.apply(self.summary, data)

    def _metric(self, b: Dict[Any, Any]) -> None:
        self.metrics.define(b)

    def _summary(self, b: Dict[Any, Any]) -> None:
        apply_update(self.summary, b)

    def _config(self, b: Dict[Any, Any]) -> None:
        apply_update(self.config, b)

    def _meta(self, b: Dict[Any, Any]) -> None:
        for k in META_FIELDS:
            if k in b:
                self.run[k] = b[k]

    def _run(self, b: Dict[Any, Any]) -> None:
        self.run = {k: b.get(k) for k in IDENTITY}
        self.program = b.get("program")
        self.ended = None

    def _resume(self, b: Dict[Any, Any]) -> None:
        base = run_identity(RESUME, b)
        if base is not None:
            # the first record of a log that begins past seq 0: the state the run had before it
            self.run.update({k: base.get(k) for k in IDENTITY})
            for key in ("config", "summary"):
                if isinstance(b.get(key), dict):
                    merged = dict(b[key])
                    merged.update(getattr(self, key))
                    setattr(self, key, merged)
            if isinstance(b.get("metrics"), dict) and not self.metrics.active:
                self.metrics = MetricFold.restore(b["metrics"])
        self.last_step = later_step(self.last_step, b.get("last_step"))
        session = b.get("session")
        self.session = session if type(session) is int and session > self.session else self.session + 1
        if isinstance(b.get("program"), dict):
            self.program = b["program"]
        self.ended = None

    def _exit(self, b: Dict[Any, Any]) -> None:
        self.ended = b


_APPLY: Dict[str, Callable[[RunFold, Dict[Any, Any]], None]] = {
    HISTORY: RunFold._history, METRIC: RunFold._metric, SUMMARY: RunFold._summary, CONFIG: RunFold._config,
    META: RunFold._meta, RUN: RunFold._run, RESUME: RunFold._resume, EXIT: RunFold._exit,
}
