"""evlog: an experiment tracker built on an append-only event log (import name `eventlog`).

`import eventlog as wandb` is a drop-in for the wandb.init() API: `init()`, `log()`, `finish()`,
`save()`, and `run`, `config`, `summary` for the current run. The engine (LogWriter, LogReader,
...) is exported too; it is imported on first use, so `import eventlog` stays light.
"""
from __future__ import annotations

from .errors import (
    ArgumentTypeError,
    ConfigError,
    ConfigValueError,
    Error,
    EvlogWarning,
    ForkedWriterError,
    FormatVersionError,
    LogValueError,
    NoRunError,
    NoSuchEntityError,
    NotARunFolderError,
    NotLoggedInError,
    PermissionDenied,
    ProjectPermissionError,
    ReinitWarning,
    ResumeError,
    RunDetachedError,
    RunExistsError,
    RunFinishedError,
    RunInUseError,
    RunNotFoundError,
    ServerUnreachableError,
    StepWarning,
    UnpackableValueError,
    UsageError,
    WriterClosedError,
    WriterIOError,
    WriterLockedError,
)
from .runapi import PREINIT_CONFIG as config
from .runapi import PREINIT_SUMMARY as summary
from .runapi import Run, finish, init, log, save
from .runconfig import Config
from .runsummary import Summary

__version__ = "0.1.0"

run = None  # the current Run (set by init(), back to None when it finishes)

# engine names, imported on first use (msgpack, zstandard and the segment code cost ~50 ms)
_LAZY = {
    "Cursor": ".reader",
    "LogReader": ".reader",
    "Damage": ".segment",
    "FORMAT_VERSION": ".segment",
    "Record": ".segment",
    "LogWriter": ".writer",
    "ConfigValueWarning": ".errors",
    # media values for log() (eventlog/media/; Pillow/numpy are imported only when one is logged)
    "Image": ".media",
    "Histogram": ".media",
    "Video": ".media",
    "Table": ".media",
    "MediaError": ".media",
    "Audio": ".media",
    "Html": ".media",
    # the wandb API beyond init/log (eventlog/runops: on the current run; eventlog/compat: wandb's helpers)
    "define_metric": ".runops.metrics",
    "watch": ".runops.watch",
    "unwatch": ".runops.watch",
    "log_artifact": ".runops.artifacts",
    "use_artifact": ".runops.artifacts",
    "alert": ".runops.alerts",
    "AlertLevel": ".runops.alerts",
    "log_code": ".runops.code",
    "mark_preempting": ".runops.wandbrun",
    "_attach": ".runops.attach",
    "Artifact": ".artifacts",
    "Api": ".client.readapi",
    "Settings": ".compat.settings",
    "login": ".compat.login",
    "termlog": ".compat.term",
    "termwarn": ".compat.term",
    "termerror": ".compat.term",
    "termsetup": ".compat.term",
    "require": ".compat.misc",
    "setup": ".compat.misc",
    "teardown": ".compat.misc",
    "sweep": ".compat.misc",
    "agent": ".compat.misc",
    "controller": ".compat.misc",
}
# names that are submodules (`wandb.plot.line(...)`)
_LAZY_MODULES = {"plot": ".media.plot"}


def __getattr__(name: str):
    import importlib

    mod = _LAZY_MODULES.get(name)
    if mod is not None:
        value = importlib.import_module(mod, __name__)
    else:
        mod = _LAZY.get(name)
        if mod is None:
            raise AttributeError(f"module 'eventlog' has no attribute {name!r}")
        value = getattr(importlib.import_module(mod, __name__), name)
    globals()[name] = value
    return value


def __dir__():
    return sorted(set(globals()) | set(_LAZY) | set(_LAZY_MODULES))


__all__ = [
    "ArgumentTypeError",
    "Config",
    "ConfigError",
    "ConfigValueError",
    "Cursor",
    "Damage",
    "Error",
    "EvlogWarning",
    "FORMAT_VERSION",
    "ForkedWriterError",
    "FormatVersionError",
    "LogReader",
    "LogValueError",
    "LogWriter",
    "NoRunError",
    "NoSuchEntityError",
    "NotARunFolderError",
    "NotLoggedInError",
    "PermissionDenied",
    "ProjectPermissionError",
    "Record",
    "ReinitWarning",
    "ResumeError",
    "Run",
    "RunDetachedError",
    "RunExistsError",
    "RunFinishedError",
    "RunInUseError",
    "RunNotFoundError",
    "ServerUnreachableError",
    "StepWarning",
    "Summary",
    "UnpackableValueError",
    "UsageError",
    "WriterClosedError",
    "WriterIOError",
    "WriterLockedError",
    "__version__",
    "config",
    "finish",
    "init",
    "log",
    "run",
    "save",
    "summary",
]
