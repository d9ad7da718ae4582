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
    # media values for log() (eventlog/media.py; Pillow/numpy are imported only when one is logged)
    "Image": ".media",
    "Histogram": ".media",
    "Video": ".media",
    "Table": ".media",
    "MediaError": ".media",
}


def __getattr__(name: str):
    mod = _LAZY.get(name)
    if mod is None:
        raise AttributeError(f"module 'eventlog' has no attribute {name!r}")
    import importlib

    value = getattr(importlib.import_module(mod, __name__), name)
    globals()[name] = value
    return value


def __dir__():
    return sorted(set(globals()) | set(_LAZY))


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
