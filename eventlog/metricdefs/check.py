"""The arguments of `define_metric()` checked (typed errors naming the argument), and merged with
an earlier definition of the same name as wandb does."""
from __future__ import annotations

from typing import Any, Dict, Optional

from ..errors import ArgumentTypeError, UsageError

SUMMARY_OPS = ("min", "max", "mean", "last", "best", "first", "none", "copy")
GOALS = {"minimize": "minimize", "min": "minimize", "maximize": "maximize", "max": "maximize"}
FIELDS = ("name", "step_metric", "step_sync", "hidden", "summary", "goal")


def _typed(arg: str, value: Any, kind: type, example: str) -> None:
    if value is not None and not isinstance(value, kind):
        raise ArgumentTypeError(
            f"define_metric({arg}=...) must be a {kind.__name__} or None, got {type(value).__name__} {value!r}; "
            f"e.g. {arg}={example}")


def check_definition(name: Any, step_metric: Any = None, step_sync: Any = None, hidden: Any = None,
                     summary: Any = None, goal: Any = None, overwrite: Any = None) -> Dict[str, Any]:
    """The fields of one define_metric() call (None: not given), validated."""
    step_metric = getattr(step_metric, "name", step_metric)  # a Metric object names its metric
    _typed("name", name, str, '"loss" or "train/*"')
    if not name:
        raise UsageError('define_metric() needs a metric name (or a glob ending in "*", such as "train/*")')
    if "*" in name[:-1]:
        raise UsageError(f'define_metric(name={name!r}): a glob may only end in "*" (e.g. "train/*" or "*"), '
                         "as in wandb")
    _typed("step_metric", step_metric, str, '"epoch"')
    if step_metric is not None and ("*" in step_metric or not step_metric):
        raise UsageError(f"define_metric(step_metric={step_metric!r}) must name one metric, not a glob")
    for arg, value in (("step_sync", step_sync), ("hidden", hidden), ("overwrite", overwrite)):
        if value is not None and type(value) is not bool:
            raise ArgumentTypeError(f"define_metric({arg}=...) must be True, False or None, got "
                                    f"{type(value).__name__} {value!r}")
    _typed("summary", summary, str, '"min" or "min,max"')
    ops = None
    if summary is not None:
        ops = []
        for op in (s.strip().lower() for s in summary.split(",")):
            if op not in SUMMARY_OPS:
                raise UsageError(f"define_metric(summary={summary!r}): {op!r} is not one of "
                                 '"min", "max", "mean", "last", "best", "first", "none" (comma-separated)')
            if op not in ops:
                ops.append(op)
    _typed("goal", goal, str, '"minimize"')
    if goal is not None:
        if goal.lower() not in GOALS:
            raise UsageError(f'define_metric(goal={goal!r}) must be "minimize" or "maximize"')
        goal = GOALS[goal.lower()]
    if ops and "best" in ops and goal is None:
        raise UsageError(f'define_metric({name!r}, summary={summary!r}): "best" needs goal="minimize" or '
                         'goal="maximize" (which values are better)')
    return {"name": name, "step_metric": step_metric, "step_sync": step_sync, "hidden": hidden, "summary": ops,
            "goal": goal}


def merge_definition(old: Optional[Dict[str, Any]], call: Dict[str, Any], overwrite: Optional[bool]) -> Dict[str, Any]:
    """The definition after a call: unless overwrite=True, fields the call leaves out keep their
    earlier values and summary operations add up (define_metric("loss", summary="min") then
    summary="max" keeps both, as wandb). step_sync defaults to True with a step_metric."""
    if old is None or overwrite:
        new = dict(call)
    else:
        new = dict(old)
        for k in FIELDS:
            if call.get(k) is not None:
                new[k] = call[k]
        if old.get("summary") and call.get("summary"):
            new["summary"] = list(old["summary"]) + [op for op in call["summary"] if op not in old["summary"]]
    if new.get("step_metric") is not None and new.get("step_sync") is None:
        new["step_sync"] = True
    if new.get("summary") and "best" in new["summary"] and new.get("goal") is None:
        raise UsageError(f'define_metric({new["name"]!r}): "best" needs goal="minimize" or goal="maximize"')
    return {k: new.get(k) for k in FIELDS}
