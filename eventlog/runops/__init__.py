"""What a Run does beyond log/config/summary/save/finish, one module per job: metric definitions
(`define_metric`), artifacts, alerts, code saving (`log_code`), model watching (`watch`), attaching
other processes (`_attach_id`), and wandb's run odds and ends (`_label`, `project_url`,
`mark_preempting`). Each module holds a mixin class with the Run's methods of its job and the
module-level function of `eventlog` that acts on the current run.

`eventlog.Run` inherits `RunOps`, whose attributes load their module on first use, so
`import eventlog` imports none of these modules.
"""
from __future__ import annotations

import importlib

# module -> (its mixin class, the attributes that class gives the Run)
PARTS = {
    "metrics": ("MetricOps", ("define_metric", "_metric_row")),
    "artifacts": ("ArtifactOps", ("log_artifact", "use_artifact", "link_artifact", "log_model", "use_model",
                                  "_artifact_record")),
    "alerts": ("AlertOps", ("alert",)),
    "code": ("CodeOps", ("log_code",)),
    "watch": ("WatchOps", ("watch", "unwatch")),
    "attach": ("AttachOps", ("_attach_id", "__reduce__", "_close_attach")),
    "wandbrun": ("WandbRunOps", ("_label", "project_url", "get_project_url", "get_url", "sweep_id", "display_name",
                                 "get_sweep_url", "mark_preempting", "status")),
}


def mixin(module: str) -> type:
    """The mixin class of one module of PARTS (importing it)."""
    return getattr(importlib.import_module(f"{__name__}.{module}"), PARTS[module][0])


def mixins() -> list:
    """Every mixin class of PARTS, in order."""
    return [mixin(m) for m in PARTS]


def _load(module: str, name: str):
    """Import `module`, put its mixin's attributes on RunOps in place of the placeholders, and
    return the attribute `name`."""
    cls = mixin(module)
    for attr in PARTS[module][1]:
        setattr(RunOps, attr, cls.__dict__[attr])
    return cls.__dict__[name]


class _Placeholder:
    """An attribute of RunOps whose code is in a runops module not imported yet."""

    __slots__ = ("module", "name")

    def __init__(self, module: str, name: str) -> None:
        self.module, self.name = module, name

    def __get__(self, obj, owner=None):
        return _load(self.module, self.name).__get__(obj, owner)

    def __set__(self, obj, value) -> None:  # a property's setter (or its refusal), as after loading
        _load(self.module, self.name).__set__(obj, value)


class RunOps:
    """The mixin `eventlog.Run` inherits these operations from."""

    __slots__ = ()
    _mfold = None  # the run's metric definitions, once define_metric() is called (metrics.py)
    _alerted = None  # alert titles and times, for wait_duration (alerts.py)


for _module, (_cls, _attrs) in PARTS.items():
    for _attr in _attrs:
        setattr(RunOps, _attr, _Placeholder(_module, _attr))
del _module, _cls, _attrs, _attr
