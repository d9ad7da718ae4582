"""evlog: an experiment tracker built on an append-only event log (import name `eventlog`).

`import eventlog as wandb` is a drop-in for the wandb.init() API: `init()`, `log()`, `finish()`,
`save()`, and `run`, `config`, `summary` for the current run; the engine (LogWriter, LogReader,
...) is exported too. Everything but the error classes is imported on first use, so `import
eventlog` stays light and `import eventlog.logfile.segment` loads the engine alone. The names: README.md.
"""
from __future__ import annotations

# every error and warning class (eventlog/errors.py imports nothing)
from .errors import (
    ArgumentTypeError,
    ArtifactError,
    ArtifactIntegrityError,
    ArtifactNotFoundError,
    ConfigError,
    ConfigValueError,
    ConfigValueWarning,
    Error,
    EvlogWarning,
    FilterError,
    ForkedWriterError,
    FormatVersionError,
    ImportSourceError,
    LogValueError,
    NoRunError,
    NoSuchEntityError,
    NoSuchFileError,
    NoSuchProjectError,
    NoSuchRunError,
    NotARunFolderError,
    NotFoundError,
    NotLoggedInError,
    PermissionDenied,
    ProjectPermissionError,
    ReadOnlyError,
    ReinitWarning,
    ResumeError,
    RunDeletedError,
    RunDetachedError,
    RunExistsError,
    RunFinishedError,
    RunIdTakenError,
    RunInUseError,
    RunNotFoundError,
    RunPermissionError,
    ServerUnreachableError,
    StepWarning,
    UnpackableValueError,
    UsageError,
    WriterClosedError,
    WriterIOError,
    WriterLockedError,
)

__version__ = "0.1.0"

run = None  # the current Run (set by init(), back to None when it finishes)

# Everything else is imported on first use, so `import eventlog` (and `import eventlog.logfile.segment`, the
# engine alone) loads neither the run API nor msgpack/zstandard. name -> "module" or "module:attribute".
_LAZY = {
    # the run API (eventlog/runapi/); init() then sets `run`, `config`, `summary` here itself
    "init": ".runapi.start",
    "log": ".runapi.facade",
    "finish": ".runapi.facade",
    "save": ".runapi.facade",
    "Run": ".runapi.run",
    "config": ".runapi.facade:PREINIT_CONFIG",
    "summary": ".runapi.facade:PREINIT_SUMMARY",
    "Config": ".runapi.config",
    "Summary": ".runapi.summary",
    # the engine
    "Cursor": ".logfile.reader",
    "LogReader": ".logfile.reader",
    "Damage": ".logfile.segment",
    "FORMAT_VERSION": ".logfile.segment",
    "Record": ".logfile.segment",
    "LogWriter": ".logfile.writer",
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
        where = _LAZY.get(name)
        if where is None:
            raise AttributeError(f"module 'eventlog' has no attribute {name!r}")
        mod, _, attr = where.partition(":")
        value = getattr(importlib.import_module(mod, __name__), attr or name)
    globals()[name] = value
    return value


def __dir__():
    return sorted(set(globals()) | set(_LAZY) | set(_LAZY_MODULES))


__all__ = [
    "agent",
    "alert",
    "AlertLevel",
    "Api",
    "ArgumentTypeError",
    "Artifact",
    "ArtifactError",
    "ArtifactIntegrityError",
    "ArtifactNotFoundError",
    "Audio",
    "Config",
    "config",
    "ConfigError",
    "ConfigValueError",
    "ConfigValueWarning",
    "controller",
    "Cursor",
    "Damage",
    "define_metric",
    "Error",
    "EvlogWarning",
    "FilterError",
    "finish",
    "ForkedWriterError",
    "FORMAT_VERSION",
    "FormatVersionError",
    "Histogram",
    "Html",
    "Image",
    "ImportSourceError",
    "init",
    "log",
    "log_artifact",
    "log_code",
    "login",
    "LogReader",
    "LogValueError",
    "LogWriter",
    "mark_preempting",
    "MediaError",
    "NoRunError",
    "NoSuchEntityError",
    "NoSuchFileError",
    "NoSuchProjectError",
    "NoSuchRunError",
    "NotARunFolderError",
    "NotFoundError",
    "NotLoggedInError",
    "PermissionDenied",
    "plot",
    "ProjectPermissionError",
    "ReadOnlyError",
    "Record",
    "ReinitWarning",
    "require",
    "ResumeError",
    "Run",
    "run",
    "RunDeletedError",
    "RunDetachedError",
    "RunExistsError",
    "RunFinishedError",
    "RunIdTakenError",
    "RunInUseError",
    "RunNotFoundError",
    "RunPermissionError",
    "save",
    "ServerUnreachableError",
    "Settings",
    "setup",
    "StepWarning",
    "Summary",
    "summary",
    "sweep",
    "Table",
    "teardown",
    "termerror",
    "termlog",
    "termsetup",
    "termwarn",
    "UnpackableValueError",
    "unwatch",
    "UsageError",
    "use_artifact",
    "Video",
    "watch",
    "WriterClosedError",
    "WriterIOError",
    "WriterLockedError",
]
