"""The Run: what `init()` returns; its log() write path, config / summary / meta changes, finish.

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
from contextlib import contextmanager
from typing import Iterator, Optional

from ..errors import (
    ArgumentTypeError,
    ConfigError,
    EvlogWarning,
    ForkedWriterError,
    LogValueError,
    RunFinishedError,
    StepWarning,
    UnpackableValueError,
    UsageError,
)
from .config import Config, normalize as normalize_config
from .summary import Summary
from .settings import check_tags
from ..media.batch import MediaBatch
from ..runops import RunOps
from ..values import FAST_TYPES as _FAST, INT_MAX, INT_MIN, normalize_log_data, normalize_log_value, same_value
from . import state
from .exits import _error_map, _exit_code_of
from .facade import _set_current
from .files import RunFiles
from .port import RunPort

_MAX_WARNING_RECORDS = 100
_MAX_KNOWN_KEYS = 100_000  # log() keys remembered as checked; beyond, new keys take the slow check

_deferred_signal = None  # a signal's handling, while the main thread held a run's lock (hooks.py)


_PLAIN = frozenset({float, bool, type(None)})  # a plain row's values (LogWriter.append_plain)
_SUM_MAX = 1.8e19  # a row of numbers summing beyond may hold an int beyond 64 bits: checked one by one


def _encodes(key: str) -> bool:
    """Whether `key` packs as UTF-8 (a lone surrogate does not): keys of the fast path must."""
    if key.isascii():
        return True
    try:
        key.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


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


class Run(RunFiles, RunOps):
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
        self._resumed = False  # set by eventlog.runapi.resume.open_run
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
        self._append_plain = writer.append_plain  # the same for plain rows (numbers, bools, None)
        self._pending_plain = False  # the pending row is plain
        self._numbers = True  # the last plain row held only numbers and bools: sum() checks the next
        self._last_keys = None  # the keys of the last row log() took (a view of it; None: none to compare)
        self._pending_same = False  # the pending row has the keys of the row committed before it
        self._pending_loose = False  # the pending row was let through by sum() (see _checked)
        self._ok_keys = set()  # keys log() has seen to be non-empty str: the fast path's key check
        state._all_runs.add(self)

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

    @contextmanager
    def _open(self) -> Iterator[None]:
        """The run's lock, held for a change of the run: refused (or a new session opened) once the
        run is blocked (_gate); on leaving, a signal that arrived meanwhile is handled (_leave)."""
        self._lock.acquire()
        try:
            if self._blocked:
                self._gate()
            yield
        finally:
            self._leave()

    def _port(self) -> RunPort:
        """What resume and the integrations do to this run (eventlog/runapi/port.py)."""
        return RunPort(self)

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
        # the hot path, under keys checked before (those of the last row first: then the summary
        # need not take that row, this one replaces each of its values): a plain row (numbers,
        # bools, None) is stored as it is (in a copy) and written by the writer's append_plain,
        # other plain values (str) the same through append_record. After a row of numbers, sum()
        # tells the next one in a loop of C: anything else raises or sums to another type (an int
        # beyond 64 bits, to a large total). What sum() lets through that the encoder refuses
        # (subclasses of int or float, a Fraction) is checked where it is written (_checked).
        plain = loose = False  # loose: let through by sum(), not checked value by value
        last_keys = self._last_keys
        same = data.keys() == last_keys
        keyed = same or self._ok_keys.issuperset(data)
        if keyed:
            if self._numbers:
                try:
                    total = sum(data.values(), 0.0)
                    plain = loose = type(total) is float and -_SUM_MAX < total < _SUM_MAX
                except Exception:  # noqa: BLE001 - not numbers (a value's __radd__ may raise anything)
                    pass
            if not plain:
                plain = _PLAIN.issuperset(map(type, data.values()))
                self._numbers = plain and None not in data.values()  # sum() raises on None
            if plain or _FAST.issuperset(map(type, data.values())):
                data = data.copy()
            else:
                data = self._slow_data(data)
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
                if pending:  # a later step commits the open one (_row, inlined: the hot path)
                    try:
                        if self._mfold is None:
                            if self._pending_plain:
                                self._append_plain("history", {"step": cur, "data": pending})
                            else:
                                self._append("history", {"step": cur, "data": pending})
                            if self._tail is not None and not self._pending_same:
                                self._summary_items.update(self._tail)
                            self._tail = pending
                            self._last_step = cur
                        elif self._pending_loose:
                            self._rewrite_row(cur, pending)
                        else:
                            self._row(cur, pending)
                    except UnpackableValueError:
                        self._rewrite_row(cur, pending)
                    pending = None
                elif pending is not None:
                    pending = None
                self._step = cur = step
            if pending is not None:  # merged, the row is written by _row: its parts checked first
                if loose:
                    data = self._checked(data)  # a refusal leaves the pending row as it was
                if self._pending_loose:
                    self._pending_loose = False
                    self._pending = pending = self._loose_row(cur, pending)
                if pending is not None:
                    pending.update(data)
                    data = pending
                plain = same = loose = False
                self._last_keys = None
            elif not (same and self._last_keys is last_keys):  # (a row dropped meanwhile resets it)
                same = False
                # a view of this copy's keys (changed only by a merge, which resets it); only keys
                # the fast path checked stand for checked keys
                self._last_keys = data.keys() if keyed else None
            if commit or (commit is None and step is None):
                self._pending = None
                if data:
                    if plain and self._mfold is None:  # _row, inlined: the hot path
                        try:
                            self._append_plain("history", {"step": cur, "data": data})
                        except UnpackableValueError:
                            self._row(cur, self._checked(data))
                        else:
                            if self._tail is not None and not same:
                                self._summary_items.update(self._tail)
                            self._tail = data
                            self._last_step = cur
                    else:
                        self._row(cur, self._checked(data) if loose else data)
                self._step = cur + 1
            else:
                self._pending = data
                self._pending_plain = plain
                self._pending_loose = loose
                self._pending_same = same
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
            self._ok_keys.update(k for k in out if type(k) is str and k and _encodes(k))
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
        from ..media.batch import store

        entries = store(self._folder, files, self._media_known)
        if not entries:
            return
        with self._open():
            self._writer.append("files", {"files": entries})
            self._media_known.update(e["path"] for e in entries)

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
            if self._pending_loose:
                self._rewrite_row(self._step, data)
                return
            try:
                self._row(self._step, data)
            except UnpackableValueError:
                self._rewrite_row(self._step, data)

    # A row sum() let through (loose) is written by append_plain, whose encoder refuses all but
    # exact floats, bools and 64-bit ints; where it goes another way, or the encoder refuses it,
    # it is checked value by value first, as log() checks any row.
    def _checked(self, data: dict) -> dict:
        """The data of this log() call, loose, checked (lock held): a bad value raises
        LogValueError, with its warning record, as log()'s own check would have."""
        try:
            return normalize_log_data(data, None)
        except LogValueError as exc:
            self._last_keys = None  # this row is not written: the next one is not compared with it
            self._warn_record(f"log() refused: {exc}", list(data.keys()), shown=True)
            raise

    def _loose_row(self, step: int, data: dict) -> Optional[dict]:
        """A pending loose row (an earlier call's) checked: None when a value is refused, the row
        dropped with a warning (lock held)."""
        try:
            return normalize_log_data(data, None)
        except LogValueError as exc:
            self._drop_row(step, data, exc)
            return None

    def _rewrite_row(self, step: int, data: dict) -> None:
        """A pending row that is loose or that the writer refused: written checked, or dropped with
        a warning when a value is refused (lock held)."""
        self._last_keys = None  # the next row follows another one than the row it was compared with
        fixed = self._loose_row(step, data)
        if fixed is not None:
            try:
                self._row(step, fixed)
            except UnpackableValueError as exc:
                self._drop_row(step, data, exc)

    def _drop_row(self, step: int, data: dict, exc: Exception) -> None:
        """A pending row that cannot be written (a str with a lone surrogate, or a value only the
        encoder refuses): reported with a warning record and a warning; the calls after it go on
        (lock held)."""
        self._last_keys = None
        keys = [str(k).encode("utf-8", "backslashreplace").decode("utf-8") for k in data]
        hint = "; log keys and str values as valid UTF-8 text" if isinstance(exc, UnpackableValueError) else ""
        msg = (f"the row of step {step} was not written: {exc}{hint} (keys: {', '.join(sorted(keys))})")
        self._warn_record(msg, keys, shown=True)
        warnings.warn(EvlogWarning(msg), stacklevel=4)

    def _row(self, step: int, data: dict) -> None:
        """Write the history row of `step` (lock held): a `history` record and the summary, or
        through the metric definitions once there are some (eventlog/runops/metrics.py)."""
        self._fold_summary()
        if self._mfold is None:
            self._append("history", {"step": step, "data": data})
            self._summary_items.update(data)
        else:
            self._metric_row(step, data)
        self._last_step = step

    # The summary without a dict update a row: log()'s inlined commits leave the last row as the
    # tail, over the summary, and drop the tail they replace when the new row has its keys (each
    # of its values is overwritten); anything else that writes or needs the summary folds it in.
    _tail = None  # the last committed row, not folded into the summary yet

    def _fold_summary(self) -> None:
        """Fold the last row into the summary (lock held)."""
        tail = self._tail
        if tail is not None:
            self._summary_items.update(tail)
            self._tail = None

    def _summary_view(self) -> dict:
        """The summary as it stands, for run.summary's reads: folded here when the run's lock is
        free, else (this thread holds it, or another thread is logging) a merged copy."""
        tail = self._tail
        if tail is None:
            return self._summary._items
        if self._lock.acquire(blocking=False):
            try:
                self._fold_summary()
            finally:
                self._leave()
            return self._summary._items
        merged = dict(self._summary._items)
        merged.update(tail)
        return merged

    # --------------------------------------------------------------- config etc.
    def _config_update(self, src: dict, *, allow_val_change=None, only_missing: bool = False) -> None:
        norm = normalize_config(src)
        with self._open():
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

    def _config_remove(self, keys) -> None:
        with self._open():
            keys = [k for k in keys if k in self._config._items]
            if keys:
                self._writer.append("config", {"update": {}, "remove": keys})
                for k in keys:
                    del self._config._items[k]

    def _summary_update(self, update: dict, remove) -> None:
        norm = {}
        media = MediaBatch()
        for k, v in update.items():
            if not isinstance(k, str) or not k:
                raise LogValueError(f"summary key {k!r} is not a non-empty str")
            norm[k] = normalize_log_value(k, v, 0, media)
        if media.files:
            self._store_media(media.files)
        with self._open():
            self._fold_summary()
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

    def _set_meta(self, **fields) -> None:
        with self._open():
            body = {k: (list(v) if isinstance(v, tuple) else v) for k, v in fields.items()}
            self._writer.append("meta", body)
            for k, v in fields.items():
                setattr(self, "_" + k, v)

    # -------------------------------------------------------------------- finish (save: files.py)
    def finish(self, exit_code=None, quiet=None) -> None:
        """End the run: commit the pending step, write the summary and the `exit` record (exit code,
        runtime), flush and fsync the log, and wait for the syncer (EVLOG_FINISH_TIMEOUT, but at most
        5 s once the server is found unreachable: eventlog/runapi/syncproc.py). Idempotent."""
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
                    self._fold_summary()
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
            from .syncproc import wait_syncer

            try:
                wait_syncer(self._syncer, self._settings.finish_timeout)
            except Exception as exc:  # noqa: BLE001 - the log is complete; delivery can be redone
                sys.stderr.write(f"evlog: waiting for the syncer failed ({exc}); sync later with: "
                                 f"evlog sync {self._folder}\n")
        with state._glock:
            if state._current is self:
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
        self._fold_summary()
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


def _run_deferred_signal() -> None:
    """Handle the signal that arrived while the main thread held a run's lock, once it let go."""
    global _deferred_signal
    if threading.current_thread() is not threading.main_thread():
        return
    handle, _deferred_signal = _deferred_signal, None
    if handle is not None:
        handle()

