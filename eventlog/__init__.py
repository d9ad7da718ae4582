"""evlog: an experiment tracker built on an append-only event log (import name `eventlog`)."""
from __future__ import annotations

from .errors import (
    ArgumentTypeError,
    Error,
    ForkedWriterError,
    FormatVersionError,
    NotARunFolderError,
    UnpackableValueError,
    UsageError,
    WriterClosedError,
    WriterIOError,
    WriterLockedError,
)
from .reader import Cursor, LogReader
from .segment import FORMAT_VERSION, Damage, Record
from .writer import LogWriter

__version__ = "0.1.0"

__all__ = [
    "ArgumentTypeError",
    "Cursor",
    "Damage",
    "Error",
    "FORMAT_VERSION",
    "ForkedWriterError",
    "FormatVersionError",
    "LogReader",
    "LogWriter",
    "NotARunFolderError",
    "Record",
    "UnpackableValueError",
    "UsageError",
    "WriterClosedError",
    "WriterIOError",
    "WriterLockedError",
    "__version__",
]

from .errors import (  # noqa: E402  (server-related errors, issue 5)
    NoSuchEntityError,
    NotLoggedInError,
    PermissionDenied,
    ProjectPermissionError,
    ServerUnreachableError,
)

__all__ += [
    "NoSuchEntityError",
    "NotLoggedInError",
    "PermissionDenied",
    "ProjectPermissionError",
    "ServerUnreachableError",
]
