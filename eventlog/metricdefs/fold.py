"""A run's metric definitions and what they do to its summary and rows (spec/format.md 3, "Metric
definitions"): the one implementation the Run, resume, the server and the sinks fold with."""
from __future__ import annotations

import math
from typing import Any, Dict, List, Optional

_NUMBER = (int, float, bool)


class MetricFold:
    """Definitions in the order they were made, plus the little state the summary cannot hold:
    the last value of each step metric (for step_sync) and each mean's total and count."""

    def __init__(self) -> None:
        self.defs: Dict[str, Dict[str, Any]] = {}   # exact names and globs ("train/*"), in order
        self._globs: List[tuple] = []                # (prefix, definition)
        self._resolved: Dict[Any, Optional[Dict[str, Any]]] = {}
        self._step_keys: set = set()                 # step metrics of step_sync definitions
        self._ops = False                            # does any definition name summary operations?
        self._sync_of: Dict[Any, Optional[str]] = {}  # key -> the step metric step_sync adds to its rows
        self.step_last: Dict[str, Any] = {}
        self.means: Dict[str, List[float]] = {}      # key -> [total, count]

    @property
    def active(self) -> bool:
        return bool(self.defs)

    # ------------------------------------------------------------ definitions
    def define(self, body: Dict[str, Any]) -> None:
        """Apply a `metric` record's body: it replaces the definition of its name."""
        name = body.get("name")
        if type(name) is not str or not name:
            return
        d = {k: body.get(k) for k in ("name", "step_metric", "step_sync", "hidden", "summary", "goal")}
        if not isinstance(d["summary"], list):
            d["summary"] = None
        self.defs[name] = d
        self._globs = [(n[:-1], v) for n, v in self.defs.items() if n.endswith("*")]
        self._step_keys = {v["step_metric"] for v in self.defs.values()
                           if v.get("step_sync") and type(v.get("step_metric")) is str}
        self._ops = any(v["summary"] and v["summary"] != ["copy"] for v in self.defs.values())
        self._resolved.clear()
        self._sync_of.clear()

    def resolve(self, key: Any) -> Optional[Dict[str, Any]]:
        """The definition of a logged key: its own, else the first glob (in definition order) whose
        prefix it starts with; keys starting with "_" match no glob (as wandb)."""
        try:
            return self._resolved[key]
        except KeyError:
            pass
        except TypeError:
            return None
        d = self.defs.get(key)
        if d is None and type(key) is str and not key.startswith("_"):
            for prefix, g in self._globs:
                if key.startswith(prefix):
                    d = g
                    break
        self._resolved[key] = d
        return d

    # ------------------------------------------------------------ rows
    def sync(self, data: Dict[Any, Any]) -> None:
        """step_sync (writers only, before the row is written): a row that logs a metric without its
        step metric gets the step metric's last logged value."""
        if not self._step_keys:
            return
        sync_of, last = self._sync_of, self.step_last
        add = None
        for k in data:
            try:
                sm = sync_of[k]
            except KeyError:
                d = self.resolve(k)
                sm = sync_of[k] = d.get("step_metric") if d is not None and d.get("step_sync") else None
            if sm is not None and sm not in data and sm in last:
                if add is None:
                    add = {}
                add[sm] = last[sm]
        if add:
            data.update(add)

    def apply(self, summary: Dict[Any, Any], data: Dict[Any, Any]) -> None:
        """A history row's effect on the summary: each key's last value, unless its definition
        names summary operations: then summary[key] is a map of them ("none": no key at all)."""
        step_last = self.step_last
        if not self._ops:  # definitions for charts only (transformers, Lightning): the plain summary
            summary.update(data)
            for k in self._step_keys:
                if k in data:
                    step_last[k] = data[k]
            return
        for k, v in data.items():
            if k in self._step_keys:
                step_last[k] = v
            d = self.resolve(k)
            ops = d.get("summary") if d is not None else None
            if not ops or "copy" in ops:
                summary[k] = v
            elif "none" not in ops:
                self._aggregate(summary, k, v, ops, d.get("goal"))

    def _aggregate(self, summary: Dict[Any, Any], k: Any, v: Any, ops: List[str], goal: Any) -> None:
        if type(v) not in _NUMBER or (type(v) is float and math.isnan(v)):
            return  # as wandb: only numbers are summarized
        cur = summary.get(k)
        new = dict(cur) if isinstance(cur, dict) and "_type" not in cur else {}
        if "last" in ops:
            new["last"] = v
        if "first" in ops and "first" not in new:
            new["first"] = v
        if "min" in ops and not _le(new.get("min"), v):
            new["min"] = v
        if "max" in ops and not _ge(new.get("max"), v):
            new["max"] = v
        if "best" in ops:
            b = new.get("best")
            if (not _ge(b, v)) if goal == "maximize" else (not _le(b, v)):
                new["best"] = v
        if "mean" in ops:
            tot = self.means.setdefault(k, [0.0, 0])
            tot[0] += float(v)
            tot[1] += 1
            new["mean"] = tot[0] / tot[1]
        summary[k] = new

    # ------------------------------------------------------------ state
    def state(self) -> Dict[str, Any]:
        """What restores this fold elsewhere (a resume record, the server's run row)."""
        return {"definitions": list(self.defs.values()), "step_last": dict(self.step_last),
                "means": {k: list(v) for k, v in self.means.items()}}

    @classmethod
    def restore(cls, state: Any) -> "MetricFold":
        fold = cls()
        if not isinstance(state, dict):
            return fold
        for body in state.get("definitions") or ():
            if isinstance(body, dict):
                fold.define(body)
        if isinstance(state.get("step_last"), dict):
            fold.step_last.update(state["step_last"])
        for k, v in (state.get("means") or {}).items() if isinstance(state.get("means"), dict) else ():
            if isinstance(v, list) and len(v) == 2:
                fold.means[k] = [float(v[0]), int(v[1])]
        return fold


def _le(a: Any, v: Any) -> bool:
    """a <= v, False when a is not a number yet."""
    return type(a) in _NUMBER and a <= v


def _ge(a: Any, v: Any) -> bool:
    return type(a) in _NUMBER and a >= v
