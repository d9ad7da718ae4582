"""Run operations: metrics. `define_metric()` writes a `metric` record and keeps the run's
MetricFold (eventlog/metricdefs), which log() consults only once a metric is defined."""
from __future__ import annotations

from typing import Any, Optional, Tuple


class Metric:
    """What define_metric() returns (as wandb's): the definition of one metric or glob, as it is
    after that call. Passing it as another metric's step_metric names this metric."""

    __slots__ = ("_d",)

    def __init__(self, definition: dict) -> None:
        self._d = definition

    name = property(lambda self: self._d["name"])
    step_metric = property(lambda self: self._d.get("step_metric"))
    step_sync = property(lambda self: self._d.get("step_sync"))
    hidden = property(lambda self: self._d.get("hidden"))
    goal = property(lambda self: self._d.get("goal"))

    @property
    def summary(self) -> Optional[Tuple[str, ...]]:
        ops = self._d.get("summary")
        return tuple(ops) if ops is not None else None

    def __repr__(self) -> str:
        fields = ", ".join(f"{k}={v!r}" for k, v in self._d.items() if v is not None and k != "name")
        return f"<eventlog.Metric {self.name!r}{', ' + fields if fields else ''}>"


class MetricOps:
    __slots__ = ()
    _mfold = None  # the run's MetricFold once a metric is defined (None keeps log() on its fast path)

    def define_metric(self, name: str, step_metric: Any = None, step_sync: Optional[bool] = None,
                      hidden: Optional[bool] = None, summary: Optional[str] = None, goal: Optional[str] = None,
                      overwrite: Optional[bool] = None) -> Metric:
        """Define how a metric (or a glob ending in "*": "train/*", "*") is summarized and charted,
        as wandb's define_metric: `step_metric` is its chart's x axis, `step_sync` (default True
        with a step_metric) adds the step metric's last value to rows that lack it, `summary`
        ("min,max", "mean", "best" with `goal`, "first", "last", "none") what the summary keeps,
        `hidden` keeps it off the default charts. Written as a `metric` record."""
        from ..metricdefs import MetricFold, check_definition, merge_definition

        call = check_definition(name, step_metric, step_sync, hidden, summary, goal, overwrite)
        with self._open():
            fold = self._mfold if self._mfold is not None else MetricFold()
            new = merge_definition(fold.defs.get(call["name"]), call, overwrite)
            sm = new.get("step_metric")
            if sm is not None and sm not in fold.defs:  # as wandb: the step metric gets a definition
                auto = merge_definition(None, {"name": sm}, None)
                self._writer.append("metric", auto)
                fold.define(auto)
            self._writer.append("metric", new)
            fold.define(new)
            self._mfold = fold
        return Metric(new)

    def _metric_row(self, step: int, data: dict) -> None:
        """Write a history row of a run with metric definitions (lock held): step_sync, the
        record, the summary as the definitions say."""
        fold = self._mfold
        fold.sync(data)
        self._append("history", {"step": step, "data": data})
        fold.apply(self._summary_items, data)


def define_metric(name: str, step_metric: Any = None, step_sync: Optional[bool] = None, hidden: Optional[bool] = None,
                  summary: Optional[str] = None, goal: Optional[str] = None,
                  overwrite: Optional[bool] = None) -> Metric:
    """`define_metric()` on the current run (see Run.define_metric)."""
    from ._current import current

    return current("define_metric").define_metric(name, step_metric, step_sync, hidden, summary, goal, overwrite)
