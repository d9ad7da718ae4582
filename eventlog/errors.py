"""The exception hierarchy: every error evlog raises on purpose derives from `Error`."""
from __future__ import annotations


class Error(Exception):
    """Base class of every error evlog raises on purpose."""


class UsageError(Error, ValueError):
    """An argument has a wrong value; the message names the argument and the fix."""


class ArgumentTypeError(Error, TypeError):
    """An argument has a wrong type; the message names the argument and the fix."""


class NotARunFolderError(UsageError):
    """A path given as a run folder does not exist or holds no evlog log."""


class FormatVersionError(Error):
    """A segment was written in a format version this reader cannot read."""


class WriterLockedError(Error):
    """Another process already writes this run folder (one writer per run)."""


class WriterClosedError(Error):
    """The writer was closed (or the run finished); nothing more can be appended."""


class ForkedWriterError(Error):
    """A forked child tried to write into its parent's log."""


class WriterIOError(Error, OSError):
    """The background writer failed to write a frame (disk full, I/O error)."""


class UnpackableValueError(Error, TypeError):
    """A record payload holds a value msgpack cannot encode."""


class PermissionDenied(Error, PermissionError):
    """Logging to a project was refused; the message names which of the three causes and the fix."""


class NotLoggedInError(PermissionDenied):
    """No API key, or one the server does not know: `evlog login`."""


class NoSuchEntityError(PermissionDenied):
    """The entity (user or team) the run is logged to does not exist on the server."""


class ProjectPermissionError(PermissionDenied):
    """The user may not log to the project (a private project of another entity)."""


class RunPermissionError(PermissionDenied):
    """The run id names a run of another user in the project: only its creator and members of its
    entity may write to it (spec/protocol.md 2)."""


class RunIdTakenError(RunPermissionError):
    """The run id is taken by another user's run in the project: log under another id."""


class RunDeletedError(RunPermissionError):
    """The run with this id was deleted on the server; a deleted run's id is never used again."""


class ServerUnreachableError(Error, ConnectionError):
    """The evlog server did not answer; runs still log locally and sync later."""


# ----------------------------------------------------------------------------- the run API (issue 3)
class ConfigError(Error, ValueError):
    """A config change was refused: a key's value changed without allow_val_change=True, or a bad key."""


class ConfigValueError(ConfigError, TypeError):
    """A config value has a type that cannot be stored; the message names the key and the type."""


class LogValueError(Error, TypeError):
    """`log()` got a key or value it cannot store; the message names the key and the type. Nothing of
    that call was written; the run goes on."""


class NoRunError(Error, RuntimeError):
    """A module-level call (`log`, `save`, `config`, ...) was made with no active run: call init() first."""


class RunFinishedError(Error, RuntimeError):
    """The run was finished; it takes no more data. Start another with init()."""


class RunDetachedError(Error, RuntimeError):
    """A process attached to a run (eventlog._attach, a pickled Run) lost the process that owns the
    run: it ended without finishing it. The call that raised was not applied; the message says
    where the run's data is."""


# ----------------------------------------------------------------------------- resume (issue 6)
class ResumeError(UsageError):
    """init(resume=...) cannot do what was asked; the message names the run id and what to do."""


class RunNotFoundError(ResumeError):
    """resume="must" (or a run id to resume): no such run in this folder, nor on the server."""


class RunExistsError(ResumeError):
    """resume="never": a run with this id exists already (in this folder or on the server)."""


class RunInUseError(ResumeError):
    """The run to resume is still being written by a live process (it holds the log's lock)."""


# ----------------------------------------------------------------------------- the read API (issue 13)
class NotFoundError(Error, LookupError):
    """The read API (eventlog.Api) asked the server for something it does not have; the message names the path."""


class NoSuchProjectError(NotFoundError):
    """No such project in a readable entity."""


class NoSuchRunError(NotFoundError):
    """No run with that id in the project."""


class NoSuchFileError(NotFoundError):
    """No such file in the run (or not uploaded yet)."""


class FilterError(UsageError):
    """`Api.runs()` got a filter or order it does not support; the message names the operator or field."""


class ReadOnlyError(UsageError):
    """A change the server cannot store was asked of a run read through eventlog.Api (e.g. its config)."""


class EvlogWarning(UserWarning):
    """Base class of the warnings evlog emits."""


class StepWarning(EvlogWarning):
    """`log()` was given a step lower than the run's current step; that data was not written."""


class ReinitWarning(EvlogWarning):
    """init() was called while a run is active without reinit=True; the active run was returned."""


class ConfigValueWarning(EvlogWarning):
    """A config value was converted as wandb converts it (a callable to its qualified name, a
    dataclass to a dict, another object to its str()); the message names the key and the result."""


# ----------------------------------------------------------------------------- artifacts (issue 13)
class ArtifactError(UsageError):
    """An artifact cannot be built, logged or used as asked; the message names the argument and the fix."""


class ArtifactNotFoundError(ArtifactError, LookupError):
    """No artifact version matches the name and version or alias asked for (locally or on the server)."""


class ArtifactIntegrityError(Error, OSError):
    """A file of an artifact does not have the SHA-256 its manifest names (changed, truncated or corrupt)."""


# ----------------------------------------------------------------------------- interop (issue 18)
class ImportSourceError(UsageError):
    """`evlog import` cannot read a source as asked (not a run folder of that tracker, a missing
    optional package, an id taken by another source); the message names the source and the fix."""
