"""The run API: `init()`, `Run`, and the module-level `log` / `finish` / `save` of `eventlog`.

Every operation on a run is a record in the run's log (spec/format.md, section 3); the Run's
in-memory state (config, summary, step) mirrors what the records say and is changed only after
the record was appended. The Run writes only through `LogWriter.append`.

(The package is not called `run`: `eventlog.run` is the current Run, as in `wandb.run`.)
"""
from __future__ import annotations

import os
import sys
import threading
import time
import warnings
import weakref

from ..errors import (
    ArgumentTypeError,
    ConfigError,
    ForkedWriterError,
    LogValueError,
    NoRunError,
    ReinitWarning,
    RunFinishedError,
    StepWarning,
    UsageError,
)
from ..names import generate_id, generate_name
from ..runconfig import Config, load_defaults, normalize as normalize_config, source_to_dict
from ..runsummary import Summary
from ..settings import RESUME_WORDS, check_tags, resolve
from ..media import MediaBatch
from ..runops import RunOps
from ..values import FAST_TYPES as _FAST, INT_MAX, INT_MIN, normalize_log_data, normalize_log_value, same_value

_MAX_WARNING_RECORDS = 100
_MAX_KNOWN_KEYS = 100_000  # log() keys remembered as checked; beyond, new keys take the slow check
_SAVE_POLICIES = ("live", "now", "end")
INIT_ARGUMENTS = (
    "project", "entity", "save_code", "group", "job_type", "name", "notes", "config", "tags", "dir",
    "sync_tensorboard", "resume", "reinit", "anonymous", "force", "magic", "id", "monitor_gym",
    "allow_val_change", "mode", "settings", "config_exclude_keys", "config_include_keys",
)


class _NullWriter:
    """The writer of a disabled run: takes every record, keeps nothing."""

    next_seq = 0
    closed = False

    def append(self, type, body, *, when=None):  # noqa: A002 - LogWriter's signature
        return -1

    def append_record(self, type, body, when=None):  # noqa: A002 - LogWriter's signature
        return -1

    def flush(self, fsync=False):
        pass

    def close(self):
        pass


_NULL_WRITER = _NullWriter()

# ------------------------------------------------------------------------- module state
_glock = threading.RLock()          # init()/finish() and the module attributes
_current = None                     # the active Run, or None
_ever_started = False
_all_runs: "weakref.WeakSet[Run]" = weakref.WeakSet()
_hooks_installed = False
_exit_info = {"code": None, "error": None, "interrupted": False}
_deferred_signal = None             # (signum, frame) that arrived while the main thread held a run's lock
_prev_handlers: dict = {}


def _error_map(exc_type, exc) -> dict:
    mod = getattr(exc_type, "__module__", "builtins")
    name = exc_type.__qualname__ if mod in ("builtins", None) else f"{mod}.{exc_type.__qualname__}"
    try:
        msg = str(exc)
    except Exception:  # noqa: BLE001
        msg = "<str() of the exception failed>"
    return {"type": name, "message": msg[:10000]}


def _exit_code_of(status) -> int:
    if status is None:
        return 0
    if isinstance(status, bool):
        return int(status)
    if isinstance(status, int):
        return status
    return 1  # sys.exit("message") prints it and exits with 1


def _check_step(step) -> int:
    if type(step) is int:
        s = step
    elif isinstance(step, bool) or isinstance(step, float):
        raise ArgumentTypeError(f"step must be an int >= 0, got {type(step).__name__} {step!r}; pass step=int(...)")
    else:
        import operator

        try:
            s = operator.index(step)
        except TypeError:
            raise ArgumentTypeError(
                f"step must be an int >= 0, got {type(step).__name__} {step!r}; pass step=int(...)"
            ) from None
    if s < 0:
        raise UsageError(f"step must be >= 0, got {s}")
    if s > INT_MAX:
        raise UsageError(f"step {s} does not fit in 64 bits")
    return s


class Run(RunOps):
    """One run: what `init()` returns. Use `log()`, `config`, `summary`, `finish()`, or `with run:`.

    Do not construct it directly; call `eventlog.init()`.
    """

    def __init__(self, *, settings, run_id, name, folder, writer, mode, url, project, entity, start_time,
                 disabled):
        self._lock = threading.Lock()
        self._settings = settings
        self._id = run_id
        self._name = name
        self._notes = settings.notes
        self._tags = tuple(settings.tags)
        self._project = project
        self._entity = entity
        self._group = settings.group
        self._job_type = settings.job_type
        self._folder = folder
        self._writer = writer
        self._mode = mode
        self._url = url
        self._start_time = start_time
        self._t0 = time.monotonic()
        self._disabled = disabled
        self._step = 0
        self._pending = None
        self._last_step = None
        self._finished = False
        self._forked = False
        self._session_ended = False
        self._session = 0
        self._blocked = False  # finished, forked or session ended: log() takes the slow gate
        self._warning_records = 0
        self._syncer = None
        self._resumed = False  # set by eventlog.resume.open_run
        self._allow_val_change = settings.allow_val_change
        self._save_at_finish = {}  # rel path -> [source path, kind, sha256 at last copy, policy]
        self._media_known = set()  # media files announced by a `files` record (eventlog/media.py)
        self._integrations = None  # sync_tensorboard / magic / monitor_gym (eventlog/integrations/magic.py)
        self._console = None  # stdout/stderr capture (eventlog/capture/console.py)
        self._sampler = None  # system metrics (eventlog/capture/sysmetrics.py)
        self._config = Config(self)
        self._summary = Summary(self)
        self._summary_items = self._summary._items
        self._append = writer.append_record  # ("history", dict): append() without its argument checks
        self._ok_keys = set()  # keys log() has seen to be non-empty str: the fast path's key check
        _all_runs.add(self)

    # ---------------------------------------------------------------- properties
    @property
    def id(self) -> str:
        return self._id

    @property
    def name(self) -> str:
        return self._name

    @name.setter
    def name(self, value) -> None:
        if not isinstance(value, str):
            raise ArgumentTypeError(f"run.name must be a str, got {type(value).__name__} {value!r}")
        if not value.strip():
            raise UsageError("run.name must not be empty")
        self._set_meta(name=value)

    @property
    def notes(self):
        return self._notes

    @notes.setter
    def notes(self, value) -> None:
        if value is not None and not isinstance(value, str):
            raise ArgumentTypeError(f"run.notes must be a str, got {type(value).__name__}")
        self._set_meta(notes=value)

    @property
    def tags(self) -> tuple:
        return self._tags

    @tags.setter
    def tags(self, value) -> None:
        self._set_meta(tags=check_tags(value, "run.tags"))

    @property
    def project(self):
        return self._project

    @property
    def entity(self):
        return self._entity

    @property
    def group(self):
        return self._group

    @property
    def job_type(self):
        return self._job_type

    @property
    def dir(self):
        """The run folder; for a disabled run (which writes nothing) an empty temporary folder, as
        wandb gives one, so `os.path.join(run.dir, ...)` works."""
        if self._folder is None:
            if getattr(self, "_scratch", None) is None:
                import tempfile

                self._scratch = tempfile.mkdtemp(prefix=f"evlog-disabled-{self._id}-")
            return self._scratch
        return str(self._folder)

    @property
    def folder(self):
        return self._folder

    @property
    def url(self):
        return self._url

    @property
    def mode(self) -> str:
        return self._mode

    @property
    def offline(self) -> bool:
        return self._mode == "offline"

    @property
    def disabled(self) -> bool:
        return self._disabled

    @property
    def resumed(self) -> bool:
        """True when init() continued an existing run (resume=...) instead of starting one."""
        return self._resumed

    @property
    def start_time(self) -> float:
        return self._start_time

    @property
    def path(self) -> str:
        return "/".join(p for p in (self._entity, self._project, self._id) if p)

    @property
    def config(self) -> Config:
        return self._config

    @property
    def summary(self) -> Summary:
        return self._summary

    @property
    def step(self) -> int:
        """The step the next committed log() gets (the current, uncommitted step)."""
        return self._step

    @property
    def finished(self) -> bool:
        return self._finished

    def __repr__(self) -> str:
        where = f" folder={self.dir!r}" if self._folder is not None else " (disabled)"
        state = " finished" if self._finished else ""
        return f"<eventlog.Run id={self._id!r} name={self._name!r}{where}{state}>"

    # --------------------------------------------------------------------- gates
    def _gate(self) -> None:
        """Called with the lock held when `_blocked`: refuse, or open a new session."""
        if self._forked:
            raise ForkedWriterError(
                f"this process was forked from the one that owns run {self._id!r}; a child process must not "
                "write into its parent's log (call eventlog.init() in the child for a run of its own)"
            )
        if self._finished:
            raise RunFinishedError(
                f"run {self._id!r} ({self._name}) is finished and takes no more data; start a new run with "
                "eventlog.init()"
            )
        if self._session_ended:
            # an interrupt (SIGINT) ended the session with an exit record, and the program goes on
            self._session += 1
            u = os.uname()
            self._writer.append("resume", {
                "session": self._session, "pid": os.getpid(), "host": u.nodename, "start_time": time.time(),
                "last_step": self._last_step,
            })
            self._session_ended = False
            self._blocked = False

    def _leave(self) -> None:
        self._lock.release()
        if _deferred_signal is not None:
            _run_deferred_signal()

    def _warn_record(self, message: str, keys, shown: bool = False) -> None:
        """A `warning` record (lock held); at most _MAX_WARNING_RECORDS per run. `shown`: the program
        saw it already (a Python warning, an exception), so the stdout sink does not print it again."""
        if self._warning_records > _MAX_WARNING_RECORDS:
            return
        self._warning_records += 1
        if self._warning_records > _MAX_WARNING_RECORDS:
            message = f"more than {_MAX_WARNING_RECORDS} refused log() calls; further ones are not recorded"
            keys = []
        try:
            body = {"message": message, "keys": [str(k) for k in keys]}
            if shown:
                body["shown"] = True
            self._writer.append("warning", body)
        except Exception:  # noqa: BLE001 - a warning must never turn into an error
            pass

    # ----------------------------------------------------------------------- log
    def log(self, data, step=None, commit=None, sync=None) -> None:
        """Log a dict of values for a step.

        - no `step`: each call is a new step (unless `commit=False`, which accumulates into the
          current step until a call commits it);
        - `step=s`: the data goes to step s; it is committed when a later call moves past s (or with
          `commit=True`, or at finish). A step lower than the current one is refused with a
          StepWarning naming both steps, and that data is not written.
        - values: bool, int, float (NaN/inf kept), str, None, numpy scalars, torch scalar tensors,
          dicts and lists/tuples of those, numpy arrays and torch tensors (as wandb: up to 32
          values a list, more a histogram), media (eventlog/values.py). Anything else raises
          LogValueError (a TypeError) naming the key; that call writes no data and the run goes on.
        """
        if type(data) is not dict:
            data = self._coerce_data(data)
        # the hot path: plain values under keys seen before are stored as they are (in a copy)
        if _FAST.issuperset(map(type, data.values())) and self._ok_keys.issuperset(data):
            data = data.copy()
        else:
            data = self._slow_data(data)
        if step is not None and (type(step) is not int or not 0 <= step <= INT_MAX):
            step = _check_step(step)
        if commit is not None and type(commit) is not bool:
            raise ArgumentTypeError(f"commit must be True, False or None, got {type(commit).__name__} {commit!r}")
        if self._blocked and self._forked:
            self._gate()  # before touching the lock, which a fork may have copied held
        lock = self._lock
        lock.acquire()
        try:
            if self._blocked:
                self._gate()
            pending = self._pending
            cur = self._step
            if step is not None and step != cur:
                if step < cur:
                    self._refuse_step(step, data)
                    return
                if pending:  # a later step commits the open one
                    self._row(cur, pending)
                pending = None
                self._step = cur = step
            if pending is not None:
                pending.update(data)
                data = pending
            if commit or (commit is None and step is None):
                self._pending = None
                if data:
                    self._row(cur, data)
                self._step = cur + 1
            else:
                self._pending = data
        finally:
            lock.release()
            if _deferred_signal is not None:
                _run_deferred_signal()

    def _slow_data(self, data) -> dict:
        """The data of a log() call that is not all plain floats/str/bool/None under str keys:
        ints checked for range, numpy/torch scalars converted, nested dicts copied, bad values
        refused (LogValueError)."""
        out = None
        for k, v in data.items():
            if type(k) is not str or not k:
                break
            t = type(v)
            if t not in _FAST and (t is not int or not INT_MIN <= v <= INT_MAX):
                break
        else:
            out = data.copy()
        if out is None:
            out = self._normalize(data)
        if len(self._ok_keys) < _MAX_KNOWN_KEYS:
            self._ok_keys.update(k for k in out if type(k) is str and k)
        return out

    def _coerce_data(self, data):
        if isinstance(data, dict):
            return data
        keys = getattr(data, "keys", None)
        if callable(keys) and hasattr(data, "__getitem__"):
            return {k: data[k] for k in keys()}
        raise ArgumentTypeError(
            f"log() takes a dict of key -> value, got {type(data).__name__}; e.g. run.log({{\"loss\": 0.5}})"
        )

    def _normalize(self, data) -> dict:
        media = MediaBatch()
        try:
            out = normalize_log_data(data, media)
            if media.files:
                self._store_media(media.files)
            return out
        except LogValueError as exc:
            if not (self._blocked or self._disabled):
                self._lock.acquire()
                try:
                    if not self._blocked:
                        self._warn_record(f"log() refused: {exc}", list(data.keys()), shown=True)
                finally:
                    self._leave()
            raise

    def _store_media(self, files: dict) -> None:
        """Write the media files of one log() call into the run folder, then announce the new ones
        with a `files` record (before the history record that references them)."""
        if self._folder is None:
            return
        from ..media import store

        entries = store(self._folder, files, self._media_known)
        if not entries:
            return
        self._lock.acquire()
        try:
            if self._blocked:
                self._gate()
            self._writer.append("files", {"files": entries})
            self._media_known.update(e["path"] for e in entries)
        finally:
            self._leave()

    def _output(self, stream: str, text: str) -> None:
        """What the program printed (eventlog/capture/console.py): an `output` record. Called by the
        capture's thread, never by a print; under the lock, so nothing lands after an exit record."""
        self._append_unless_ended("output", {"stream": stream, "text": text})

    def _system(self, metrics: dict) -> None:
        """A sample of the system (eventlog/capture/sysmetrics.py): a `system` record."""
        self._append_unless_ended("system", {"metrics": metrics})

    def _append_unless_ended(self, type_: str, body: dict) -> None:
        """A record from a background thread of the run: dropped once the session has ended (a
        finish, a signal's exit record, a fork)."""
        with self._lock:
            if not self._blocked:
                self._writer.append(type_, body)

    def _refuse_step(self, step: int, data: dict) -> None:
        msg = (
            f"log(step={step}) refused: step {step} is lower than the run's current step {self._step}; steps "
            f"never go back, so this data (keys: {', '.join(sorted(map(str, data))) or 'none'}) was not "
            f"written. Log with step >= {self._step}, or leave step= out"
        )
        self._warn_record(msg, list(data.keys()), shown=True)
        warnings.warn(StepWarning(msg), stacklevel=3)

    def _commit(self) -> None:
        """Write the pending step (lock held)."""
        data = self._pending
        self._pending = None
        if data:
            self._row(self._step, data)

    def _row(self, step: int, data: dict) -> None:
        """Write the history row of `step` (lock held): a `history` record and the summary, or
        through the metric definitions once there are some (eventlog/runops/metrics.py)."""
        if self._mfold is None:
            self._append("history", {"step": step, "data": data})
            self._summary_items.update(data)
        else:
            self._metric_row(step, data)
        self._last_step = step

    # --------------------------------------------------------------- config etc.
    def _config_update(self, src: dict, *, allow_val_change=None, only_missing: bool = False) -> None:
        norm = normalize_config(src)
        self._lock.acquire()
        try:
            if self._blocked:
                self._gate()
            allow = self._allow_val_change if allow_val_change is None else allow_val_change
            items = self._config._items
            changes = {}
            for k, v in norm.items():
                if k in items:
                    if only_missing or same_value(items[k], v):
                        continue
                    if not allow:
                        raise ConfigError(
                            f"key {k!r}: {items[k]!r} -> {v!r}; pass allow_val_change=True (to "
                            "config.update() or init()) to change a config value"
                        )
                changes[k] = v
            if changes:
                self._writer.append("config", {"update": changes})
                items.update(changes)
        finally:
            self._leave()

    def _config_remove(self, keys) -> None:
        self._lock.acquire()
        try:
            if self._blocked:
                self._gate()
            keys = [k for k in keys if k in self._config._items]
            if keys:
                self._writer.append("config", {"update": {}, "remove": keys})
                for k in keys:
                    del self._config._items[k]
        finally:
            self._leave()

    def _summary_update(self, update: dict, remove) -> None:
        norm = {}
        media = MediaBatch()
        for k, v in update.items():
            if not isinstance(k, str) or not k:
                raise LogValueError(f"summary key {k!r} is not a non-empty str")
            norm[k] = normalize_log_value(k, v, 0, media)
        if media.files:
            self._store_media(media.files)
        self._lock.acquire()
        try:
            if self._blocked:
                self._gate()
            remove = [k for k in remove if k in self._summary._items and k not in norm]
            if not norm and not remove:
                return
            body = {"update": norm}
            if remove:
                body["remove"] = remove
            self._writer.append("summary", body)
            self._summary._items.update(norm)
            for k in remove:
                del self._summary._items[k]
        finally:
            self._leave()

    def _set_meta(self, **fields) -> None:
        self._lock.acquire()
        try:
            if self._blocked:
                self._gate()
            body = {k: (list(v) if isinstance(v, tuple) else v) for k, v in fields.items()}
            self._writer.append("meta", body)
            for k, v in fields.items():
                setattr(self, "_" + k, v)
        finally:
            self._leave()

    # ---------------------------------------------------------------------- save
    def save(self, glob_str=None, base_path=None, policy: str = "live"):
        """With no argument: flush the log (accepted for `run.name = ...; run.save()`).

        With a path or glob: copy the matching files into `<run folder>/files/` (paths relative to
        `base_path`, by default the folder of the glob) and write a `files` record. `policy`:
        "now" copies now, "live" now and again at finish if the file changed, "end" at finish.
        Returns the saved paths, relative to the run folder.
        """
        if glob_str is None:
            self._lock.acquire()
            try:
                if self._blocked:
                    self._gate()
                self._writer.flush()
            finally:
                self._leave()
            return True
        if not isinstance(glob_str, (str, os.PathLike)):
            raise ArgumentTypeError(f"save() takes a path or glob pattern (str), got {type(glob_str).__name__}")
        if base_path is not None and not isinstance(base_path, (str, os.PathLike)):
            raise ArgumentTypeError(f"base_path must be a folder path, got {type(base_path).__name__}")
        if policy not in _SAVE_POLICIES:
            raise UsageError(f"policy={policy!r} is not one of \"live\", \"now\", \"end\"")
        import glob

        pattern = os.path.abspath(os.path.expanduser(os.fspath(glob_str)))
        if base_path is None:
            base = pattern
            while glob.has_magic(base):
                base = os.path.dirname(base)
            base = base if glob.has_magic(pattern) else os.path.dirname(pattern)
        else:
            base = os.path.abspath(os.fspath(base_path))
        matches = sorted(p for p in glob.glob(pattern, recursive=True) if os.path.isfile(p))
        targets = []
        for src in matches:
            rel = os.path.relpath(src, base)
            if rel.startswith(".." + os.sep) or rel == ".." or os.path.isabs(rel):
                raise UsageError(f"save(): {src} is not inside base_path {base}; give a base_path that holds it")
            targets.append((src, "files/" + rel.replace(os.sep, "/")))
        if self._disabled:
            return [t for _, t in targets]
        self._lock.acquire()
        try:
            if self._blocked:
                self._gate()
            entries = []
            for src, rel in targets:
                if policy != "end":
                    entry = self._copy_file(src, rel, "other")
                    if entry is not None:
                        entries.append(entry)
                if policy != "now":
                    sha = entries[-1]["sha256"] if entries and entries[-1]["path"] == rel else None
                    self._save_at_finish[rel] = [src, "other", sha]
            if entries:
                self._writer.append("files", {"files": entries})
        finally:
            self._leave()
        return [t for _, t in targets]

    def _copy_file(self, src: str, rel: str, kind: str):
        from ..capture.sysinfo import copy_file, file_digest

        dest = self._folder / rel
        try:
            dest.parent.mkdir(parents=True, exist_ok=True)
            copy_file(src, dest)
            sha, size = file_digest(dest)
        except OSError as exc:
            warnings.warn(f"evlog: could not save {src}: {exc}", stacklevel=4)
            return None
        return {"path": rel, "sha256": sha, "size": size, "kind": kind}

    def _files_at_finish(self) -> None:
        """Copy the files saved with policy "live"/"end" once more if they changed (lock held)."""
        if not self._save_at_finish:
            return
        from ..capture.sysinfo import file_digest

        entries = []
        for rel, (src, kind, sha) in self._save_at_finish.items():
            try:
                now, _ = file_digest(src)
            except OSError:
                continue
            if now != sha:
                entry = self._copy_file(src, rel, kind)
                if entry is not None:
                    entries.append(entry)
        if entries:
            self._writer.append("files", {"files": entries})

    # -------------------------------------------------------------------- finish
    def finish(self, exit_code=None, quiet=None) -> None:
        """End the run: commit the pending step, write the summary and the `exit` record (exit code,
        runtime), flush and fsync the log, and wait for the syncer (EVLOG_FINISH_TIMEOUT, but at most
        5 s once the server is found unreachable: eventlog/syncproc.py). Idempotent."""
        if exit_code is not None and (type(exit_code) is bool or not isinstance(exit_code, int)):
            raise ArgumentTypeError(f"exit_code must be an int, got {type(exit_code).__name__} {exit_code!r}")
        self._finish(0 if exit_code is None else int(exit_code), None, False)

    def _finish(self, exit_code: int, error, interrupted: bool, wait: bool = True) -> None:
        if self._forked:
            return
        if self._sampler is not None:
            self._sampler.stop()
        if self._console is not None:
            self._console.stop()  # before the exit record: the last line printed without a newline too
        if self._integrations is not None and not self._finished:
            self._integrations.stop()  # outside the lock: it logs what it still holds
        self._lock.acquire()
        try:
            if self._finished:
                return
            self._finished = True
            self._blocked = True
            try:
                if not self._session_ended:
                    if self._pending is not None:
                        self._commit()
                    self._files_at_finish()
                    self._writer.append("summary", {"update": self._summary._items})
                    self._writer.append("exit", {
                        "exit_code": exit_code, "runtime": time.monotonic() - self._t0,
                        "interrupted": bool(interrupted), "error": error,
                    })
            finally:
                self._writer.close()
        finally:
            self._leave()
        self._close_attach()  # after the exit record: attached processes learn the run is finished
        if wait and self._syncer is not None:
            from ..syncproc import wait_syncer

            try:
                wait_syncer(self._syncer, self._settings.finish_timeout)
            except Exception as exc:  # noqa: BLE001 - the log is complete; delivery can be redone
                sys.stderr.write(f"evlog: waiting for the syncer failed ({exc}); sync later with: "
                                 f"evlog sync {self._folder}\n")
        with _glock:
            if _current is self:
                _set_current(None)

    def _interrupt_locked(self, signum: int) -> None:
        """A signal arrived: end the session with an interrupted exit record (lock held)."""
        if self._finished or self._session_ended or self._forked or self._disabled:
            return
        import signal

        try:
            signame = signal.Signals(signum).name
        except ValueError:
            signame = f"signal {signum}"
        if self._pending is not None:
            self._commit()
        self._writer.append("summary", {"update": self._summary._items})
        self._writer.append("exit", {
            "exit_code": 128 + signum, "runtime": time.monotonic() - self._t0, "interrupted": True,
            "error": {"type": "KeyboardInterrupt" if signame == "SIGINT" else signame,
                      "message": f"interrupted by {signame}"},
        })
        self._writer.flush(fsync=True)
        self._session_ended = True
        self._blocked = True

    def _close_after_signal(self) -> None:
        """The process is about to die of a signal: close the log without waiting for anyone."""
        self._lock.acquire()
        try:
            if self._finished:
                return
            self._finished = True
            self._blocked = True
            self._writer.close()
        finally:
            self._lock.release()

    # ----------------------------------------------------------- context manager
    def __enter__(self) -> "Run":
        return self

    def __exit__(self, exc_type, exc, tb) -> bool:
        if exc_type is None:
            self._finish(0, None, False)
        elif issubclass(exc_type, SystemExit):
            code = _exit_code_of(exc.code if exc is not None else None)
            self._finish(code, None if code == 0 else _error_map(exc_type, exc), False)
        else:
            interrupted = issubclass(exc_type, KeyboardInterrupt)
            self._finish(1, _error_map(exc_type, exc), interrupted)
        return False

    # ------------------------------------------------------- wandb compatibility (more: eventlog/runops/)
    def project_name(self):
        return self._project


# --------------------------------------------------------------- module-level API
class _Preinit:
    """`eventlog.config` / `eventlog.summary` while no run is active: every use says to call init()
    first; once a run is active, uses are forwarded to it (so `from eventlog import config` before
    init() keeps working after it)."""

    def __init__(self, what: str) -> None:
        object.__setattr__(self, "_what", what)

    def _target(self):
        run = _current
        if run is None:
            raise NoRunError(f"eventlog.{self._what} is used before eventlog.init(): call eventlog.init() first")
        return getattr(run, self._what)

    def __getattr__(self, key):
        if key.startswith("__"):
            raise AttributeError(key)
        return getattr(self._target(), key)

    def __setattr__(self, key, value) -> None:
        setattr(self._target(), key, value)

    def __delattr__(self, key) -> None:
        delattr(self._target(), key)

    def __getitem__(self, key):
        return self._target()[key]

    def __setitem__(self, key, value) -> None:
        self._target()[key] = value

    def __delitem__(self, key) -> None:
        del self._target()[key]

    def __contains__(self, key) -> bool:
        return key in self._target()

    def __iter__(self):
        return iter(self._target())

    def __len__(self) -> int:
        return len(self._target())

    def __bool__(self) -> bool:
        return _current is not None and bool(len(self._target()))

    def __repr__(self) -> str:
        if _current is None:
            return f"<eventlog.{self._what}: no active run; call eventlog.init() first>"
        return repr(self._target())


PREINIT_CONFIG = _Preinit("config")
PREINIT_SUMMARY = _Preinit("summary")


def _set_current(run) -> None:
    global _current
    _current = run
    pkg = sys.modules.get(__name__.partition(".")[0])  # the top package: eventlog.run, .config, .summary
    if pkg is None:
        return
    if run is None:
        pkg.run = None
        pkg.config = PREINIT_CONFIG
        pkg.summary = PREINIT_SUMMARY
    else:
        pkg.run = run
        pkg.config = run.config
        pkg.summary = run.summary


def current_run():
    """The active Run, or None."""
    return _current


def _no_run(what: str) -> NoRunError:
    if _ever_started:
        return NoRunError(f"eventlog.{what}() needs an active run, and the last run has finished: call "
                          "eventlog.init() first to start a new one")
    return NoRunError(f"eventlog.{what}() needs a run: call eventlog.init() first")


def log(data, step=None, commit=None, sync=None) -> None:
    """`log()` on the current run (see Run.log)."""
    run = _current
    if run is None:
        raise _no_run("log")
    run.log(data, step, commit)


def finish(exit_code=None, quiet=None) -> None:
    """Finish the current run. After a run has finished, calling it again does nothing."""
    run = _current
    if run is None:
        if _ever_started:
            return
        raise _no_run("finish")
    run.finish(exit_code)


def save(glob_str=None, base_path=None, policy: str = "live"):
    """`save()` on the current run (see Run.save)."""
    run = _current
    if run is None:
        raise _no_run("save")
    return run.save(glob_str, base_path, policy)


# ----------------------------------------------------------------- exit handling
def _excepthook(exc_type, exc, tb):
    if issubclass(exc_type, KeyboardInterrupt):
        _exit_info.update(code=130, interrupted=True)
    else:
        _exit_info.update(code=1)
    _exit_info["error"] = _error_map(exc_type, exc)
    _prev_excepthook(exc_type, exc, tb)


def _exit(status=None):
    code = _exit_code_of(status)
    _exit_info.update(code=code, error=None if code == 0 else {"type": "SystemExit", "message": str(status)})
    _prev_exit(status)


_prev_excepthook = sys.excepthook
_prev_exit = sys.exit


def _atexit() -> None:
    code = _exit_info["code"]
    code = 0 if code is None else code
    for run in list(_all_runs):
        if run._finished or run._forked or run._disabled:
            continue
        try:
            run._finish(code, _exit_info["error"], _exit_info["interrupted"])
        except Exception as exc:  # noqa: BLE001 - at exit, report and go on with the others
            sys.stderr.write(f"evlog: finishing run {run.id} at exit failed: {exc}\n")


def _chain_signal(signum, frame) -> None:
    import signal

    prev = _prev_handlers.get(signum, signal.SIG_DFL)
    if callable(prev):
        prev(signum, frame)  # default_int_handler raises KeyboardInterrupt
        return
    if prev == signal.SIG_IGN:
        return
    signal.signal(signum, signal.SIG_DFL)
    os.kill(os.getpid(), signum)


def _on_signal(signum, frame) -> None:
    global _deferred_signal
    import signal

    run = _current
    if run is not None and not (run._forked or run._finished or run._disabled):
        if not run._lock.acquire(timeout=0.2):
            # the main thread itself holds the lock (we interrupted log()): handled when it leaves
            _deferred_signal = (signum, frame)
            return
        try:
            run._interrupt_locked(signum)
        finally:
            run._lock.release()
        prev = _prev_handlers.get(signum, signal.SIG_DFL)
        if not callable(prev):  # the default action ends the process: close the log now
            run._close_after_signal()
    _chain_signal(signum, frame)


def _run_deferred_signal() -> None:
    global _deferred_signal
    if threading.current_thread() is not threading.main_thread():
        return
    sig, _deferred_signal = _deferred_signal, None
    if sig is not None:
        _on_signal(*sig)


def _after_fork_in_child() -> None:
    for run in list(_all_runs):
        run._forked = True
        run._blocked = True
        run._lock = threading.Lock()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_in_child)


def _install_hooks() -> None:
    """atexit, sys.exit / sys.excepthook (to learn the exit code), SIGTERM / SIGINT handlers."""
    global _hooks_installed, _prev_excepthook, _prev_exit
    if _hooks_installed:
        return
    _hooks_installed = True
    import atexit
    import signal

    atexit.register(_atexit)
    if sys.excepthook is not _excepthook:
        _prev_excepthook = sys.excepthook
        sys.excepthook = _excepthook
    if sys.exit is not _exit:
        _prev_exit = sys.exit
        sys.exit = _exit
    if threading.current_thread() is threading.main_thread():
        for signum, default in ((signal.SIGTERM, signal.SIG_DFL), (signal.SIGINT, signal.default_int_handler)):
            try:
                cur = signal.getsignal(signum)
                if cur is default or cur == default:
                    _prev_handlers[signum] = cur
                    signal.signal(signum, _on_signal)
            except (ValueError, OSError):
                pass


# ----------------------------------------------------------------------- init()
def _online(s, run_id):
    """Where init() meets the server: (mode, entity, project, url). Online without credentials (or
    with the server unreachable, unless force=True) logs offline; the run syncs later."""
    if s.mode != "online":
        return s.mode, s.entity, s.project, None
    from ..client import accounts as api
    from ..errors import ServerUnreachableError

    try:
        login = api.resolve_online(s.entity, s.project, anonymous=s.anonymous, force=s.force, env=s.env,
                                   run_id=run_id)  # a new run: its id must be free on the server
    except ServerUnreachableError as exc:
        if s.force:
            raise
        if not s.silent:
            sys.stderr.write(f"evlog: {exc}; logging offline\n")
        return "offline", s.entity, s.project, None
    if login is None:
        return "offline", s.entity, s.project, None
    return "online", login.entity, login.project, login.run_url(run_id)


def _record_files(folder, code_file, git):
    files = []
    if code_file is not None:
        files.append(code_file)
    if git is not None and git.get("diff_file"):
        from ..capture.sysinfo import file_digest

        try:
            sha, size = file_digest(folder / git["diff_file"])
            files.append({"path": git["diff_file"], "sha256": sha, "size": size, "kind": "diff"})
        except OSError:
            pass
    return files


def _start(s) -> Run:
    from ..rundir import folder as runfolder
    from ..capture import sysinfo

    start_time = time.time()
    script = sysinfo.main_script()
    script_dir = os.path.dirname(script) if script else os.getcwd()
    run_id = s.id
    if run_id is None and isinstance(s.resume, str) and s.resume not in RESUME_WORDS:
        run_id = s.resume
    if run_id is None:
        run_id = generate_id()

    # the config first: a bad config fails init() before anything is created
    cfg = normalize_config(load_defaults(script_dir))
    cfg.update(normalize_config(source_to_dict(s.config, "config")))

    if s.mode == "disabled":
        run = Run(settings=s, run_id=run_id, name=s.name or generate_name(), folder=None, writer=_NULL_WRITER,
                  mode="disabled", url=None, project=s.project, entity=s.entity, start_time=start_time,
                  disabled=True)
        run._config._items.update(cfg)
        return run

    online = None
    if s.resume:  # continue an existing run when there is one (eventlog/resume.py)
        from .. import resume

        plan = resume.plan(s, run_id)
        run_id, online = plan.run_id, plan.online
        if plan.kind != resume.NEW:
            def make_run(**kw):
                return Run(settings=s, run_id=run_id, disabled=False, **kw)

            return _launch(s, resume.open_run(s, plan, cfg, make_run))
    count, taken = runfolder.scan_runs(s.dir, run_id if s.id is not None or s.resume else None)
    if taken is not None:
        raise UsageError(
            f"run id {run_id!r} is already used by {runfolder.run_root(s.dir) / taken}; a run id names one run: "
            "give another id (or leave id= out), or pass resume=\"allow\" to continue that run"
        )
    mode, entity, project, url = online or _online(s, run_id)
    name = s.name or generate_name(count + 1)
    folder = runfolder.create(s.dir, run_id, start_time)
    probe = None if s.disable_git else sysinfo.GitProbe(script_dir, folder)
    from ..logfile.writer import LogWriter

    try:
        writer = LogWriter(folder, run_id, flush_interval=s.flush_interval, fsync=s.fsync)
    except BaseException:
        if probe is not None:
            probe.result()
        raise
    try:
        code, code_file = sysinfo.save_code(folder) if s.save_code else (None, None)
        git = probe.result() if probe is not None else None
        body = {
            "id": run_id, "name": name, "project": project, "entity": entity, "group": s.group,
            "job_type": s.job_type, "notes": s.notes, "tags": list(s.tags), "mode": mode,
            "start_time": start_time, "settings": s.record(), "program": sysinfo.program_info(),
            "git": git, "code": code,
        }
        if url is not None:
            body["url"] = url
        writer.append("run", body, when=start_time)
        if cfg:
            writer.append("config", {"update": cfg})
        files = _record_files(folder, code_file, git)
        if files:
            writer.append("files", {"files": files})
        writer.flush()
    except BaseException:
        writer.close()
        raise
    run = Run(settings=s, run_id=run_id, name=name, folder=folder, writer=writer, mode=mode, url=url,
              project=project, entity=entity, start_time=start_time, disabled=False)
    run._config._items.update(cfg)
    return _launch(s, run)


def _launch(s, run) -> Run:
    """A run whose log is open and flushed: point latest-run at it, install the exit hooks, start
    its syncer (a resumed session gets one too; the sinks continue from their cursors)."""
    from ..rundir import folder as runfolder
    from ..capture import sysinfo

    folder, mode = run._folder, run._mode
    runfolder.link_latest(folder)
    _install_hooks()
    from ..syncproc import start_syncer
    from ..terminal import banner

    # the banner before init() returns (before the program's next print); the syncer's stdout sink then skips it
    env = os.environ if s.env is None else s.env
    shown = not s.silent and banner.stdout_sink_on(env)
    if shown:
        banner.show(banner.for_run(run, env))
    try:
        run._syncer = start_syncer(folder, parent_pid=os.getpid(), env=banner.syncer_env(s.env) if shown else s.env)
    except Exception as exc:  # noqa: BLE001 - the run logs; it can be synced later
        sys.stderr.write(f"evlog: could not start the syncer ({exc}); sync later with: evlog sync {folder}\n")
    if s.sync_tensorboard or s.monitor_gym or s.magic:
        from ..integrations import magic

        run._integrations = magic.start(run, s)
    if mode == "offline" and not s.silent and not shown and getattr(run, "_syncer", None) is None:
        # otherwise the banner has this hint
        sys.stderr.write(f"evlog: run stored offline in {folder}; sync it later with: "
                         f"evlog sync {sysinfo.shell_quote(str(folder))}\n")
    if s.console:
        from ..capture.console import Capture

        run._console = Capture(run._output)
    if s.system_interval > 0:
        from ..capture.sysmetrics import Sampler

        run._sampler = Sampler(run._system, s.system_interval, str(folder), nvidia_smi=sysinfo.which("nvidia-smi"))
    return run


def _filter_config(config, include, exclude) -> dict:
    """init()'s config with only `include`d keys, or without `exclude`d ones (not both, as wandb)."""
    if include is not None and exclude is not None:
        raise UsageError("init(): give config_include_keys or config_exclude_keys, not both")
    for name, keys in (("config_include_keys", include), ("config_exclude_keys", exclude)):
        if keys is not None and (isinstance(keys, str) or not all(isinstance(k, str) for k in keys)):
            raise ArgumentTypeError(f"{name} must be a list of str, got {keys!r}")
    src = source_to_dict(config, "config")
    if include is not None:
        return {k: v for k, v in src.items() if k in set(include)}
    return {k: v for k, v in src.items() if k not in set(exclude)}


def init(
    *,
    project=None, entity=None, save_code=None, group=None, job_type=None, name=None, notes=None,
    config=None, tags=None, dir=None, sync_tensorboard=None, resume=None, reinit=None, anonymous=None,  # noqa: A002
    force=None, magic=None, id=None, monitor_gym=None, allow_val_change=None, mode=None,  # noqa: A002
    settings=None, config_exclude_keys=None, config_include_keys=None,
    **unknown,
) -> Run:
    """Start a run and return it; also sets `eventlog.run`, `eventlog.config`, `eventlog.summary`.

    Every argument of the seed's table is accepted and validated (a wrong type raises
    ArgumentTypeError, a wrong value UsageError, both naming the argument). Environment variables
    (EVLOG_*, then WANDB_*) fill in what the arguments leave out; see README "Environment variables".
    While a run is active, init() returns it with a ReinitWarning unless reinit=True, which
    finishes it and starts a new one. `settings` (an eventlog.Settings or a dict of wandb's Settings
    fields) fills in what the arguments leave out (eventlog/compat/settings.py);
    `config_include_keys` / `config_exclude_keys` filter `config` as wandb does.
    """
    global _ever_started
    for wandb_only in ("fork_from", "resume_from"):
        if wandb_only in unknown:
            raise UsageError(f"init({wandb_only}=...) (forking or rewinding a run) is not supported by evlog; "
                             "use resume=\"allow\" with id= to continue a run")
    if unknown:
        import difflib

        bad = sorted(unknown)[0]
        close = difflib.get_close_matches(bad, INIT_ARGUMENTS, n=1)
        hint = f" Did you mean {close[0]}=?" if close else ""
        raise ArgumentTypeError(
            f"init() got an unknown argument {bad}=.{hint} It takes: {', '.join(INIT_ARGUMENTS)}"
        )
    args = dict(
        project=project, entity=entity, save_code=save_code, group=group, job_type=job_type, name=name,
        notes=notes, config=config, tags=tags, dir=dir, sync_tensorboard=sync_tensorboard, resume=resume,
        reinit=reinit, anonymous=anonymous, force=force, magic=magic, id=id, monitor_gym=monitor_gym,
        allow_val_change=allow_val_change, mode=mode,
    )
    env = None
    if settings is not None:
        from ..compat.settings import apply

        env = apply(settings, args, os.environ)
    if config_include_keys is not None or config_exclude_keys is not None:
        args["config"] = _filter_config(args["config"], config_include_keys, config_exclude_keys)
    s = resolve(args, env)
    with _glock:
        cur = _current
        if cur is not None and (cur._forked or cur._finished):
            _set_current(None)
            cur = None
        if cur is not None:
            if not s.reinit:
                warnings.warn(ReinitWarning(
                    f"init() was called while run {cur.id!r} ({cur.name}) is active: returning that run. Pass "
                    "reinit=True to finish it and start a new run, or call run.finish() first"
                ), stacklevel=2)
                return cur
            cur.finish()
        run = _start(s)
        _ever_started = True
        _set_current(run)
        return run
