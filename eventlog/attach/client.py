"""The attached side: `AttachedRun`, a Run whose every write is sent over the attach channel to
the process that owns the run, which applies it (spec/format.md 8). Calls are synchronous: one
that returns was applied by the owner; one that raises was not (the caller still has its data)."""
from __future__ import annotations

import json
import os
import pickle
import socket
import threading
import warnings
import weakref
from pathlib import Path
from typing import Any, Optional

from ..errors import ArgumentTypeError, Error, LogValueError, RunDetachedError, RunFinishedError, UsageError
from ..runapi.run import Run
from ..runapi.config import Config
from ..runapi.summary import Summary
from . import wire
from .methods import FORWARDED

_attached: "weakref.WeakValueDictionary[str, AttachedRun]" = weakref.WeakValueDictionary()
_attached_lock = threading.Lock()
_exit_hooked = False


class Unsendable(ArgumentTypeError):
    """An argument of a call cannot be pickled, so it cannot reach the owner; nothing was sent."""

    def __init__(self, op: str, exc: Exception) -> None:
        super().__init__(f"{op}(): an argument cannot be sent to the process that owns the run ({exc}); pass "
                         "values that pickle (module-level functions, not lambdas); nothing of this call was applied")


class _Link:
    """The connection to the owner; made again in a process forked from the one that made it."""

    def __init__(self, attach_id: str) -> None:
        self.attach_id = attach_id
        self.run_id, self._token, self._path = wire.parse_id(attach_id)
        self._lock = threading.Lock()
        self._sock: Optional[socket.socket] = None
        self._pid = None
        self.owner_pid = None
        self.folder = None
        self.name = None
        self._ended = "lost"  # why the link ended: "lost" (the owner is gone) or "finished"

    def connect(self) -> dict:
        """Connect and say hello; the run's state as the owner has it."""
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            sock.connect(self._path)
        except OSError as exc:
            sock.close()
            raise RunDetachedError(
                f"cannot attach to run {self.run_id!r}: no process serves it at {self._path} any more ({exc.strerror}); "
                "the process that owns the run finished it or ended. Its data is in its run folder "
                "(evlog/run-*-" + self.run_id + "/ under that process's dir); start a new run with eventlog.init()"
            ) from None
        try:
            wire.send_frame(sock, json.dumps({"token": self._token, "pid": os.getpid()}).encode())
            reply = self._read(sock)
        except OSError:
            reply = None
        if reply is None or reply[0] != "ok":
            sock.close()
            if reply is not None and reply[0] == "refused":
                raise UsageError(f"attach to run {self.run_id!r} refused: {reply[1]}; pass the run._attach_id the "
                                 "owning process gives now")
            raise RunDetachedError(f"cannot attach to run {self.run_id!r}: its owner finished it or ended while "
                                   "this process attached; start a new run with eventlog.init()")
        state = reply[1]
        self._sock, self._pid = sock, os.getpid()
        self.owner_pid, self.folder, self.name = state["pid"], state["folder"], state["name"]
        return state

    def call(self, op: str, args: tuple = (), kwargs: Optional[dict] = None) -> Any:
        """Have the owner run `op`; its result, or its exception raised here (warnings too)."""
        try:
            payload = pickle.dumps((op, args, kwargs or {}))
        except Exception as exc:  # noqa: BLE001 - pickle raises PicklingError, TypeError, AttributeError
            raise Unsendable(op, exc) from None
        with self._lock:
            if self._pid != os.getpid():
                if self._sock is not None:  # a fork of the process that connected: the socket is not ours
                    self._sock = None
                self.connect()
            sock = self._sock
            if sock is None:
                raise self.gone(op)
            try:
                wire.send_frame(sock, payload)
            except OSError:
                pass  # the owner may have sent a `closed` frame before it went: read it
            reply = self._read(sock)
            if reply is None or reply[0] == "closed":
                self._sock = None
                self._ended = "lost" if reply is None else "finished"
                sock.close()
                raise self.gone(op)
        status, value, warns = reply
        for category, message in warns:
            warnings.warn(category(message) if isinstance(category, type) else UserWarning(message), stacklevel=3)
        if status == "error":
            if isinstance(value, BaseException):
                raise value
            raise Error(f"{value[0]}: {value[1]}")
        return value

    def detach(self) -> None:
        """Say goodbye (the owner records a `detach`) and close; idempotent."""
        with self._lock:
            sock, self._sock = self._sock, None
            if sock is None or self._pid != os.getpid():
                return
            try:
                wire.send_frame(sock, pickle.dumps(("detach", (), {})))
                self._read(sock)
            except OSError:
                pass
            sock.close()

    @property
    def ended(self) -> bool:
        """The owner finished the run or is gone (or this process detached): the link is no use."""
        return self._sock is None and self._pid == os.getpid()

    def gone(self, op: str) -> Exception:
        """The error of a call made once the link ended: why, and where the run's data is."""
        if self._ended == "finished":
            return RunFinishedError(
                f"run {self.run_id!r} ({self.name}) was finished by the process that owns it (pid {self.owner_pid}): "
                f"this {op}() was not applied. The run's data up to here is in {self.folder}"
            )
        how = "closed the channel" if _alive(self.owner_pid) else "ended without finishing the run"
        return RunDetachedError(
            f"run {self.run_id!r} ({self.name}): the process that owns it (pid {self.owner_pid}) {how}; this {op}() "
            f"was not applied. Every call that returned before is in the run folder {self.folder} (a run whose owner "
            "died reads as crashed; continue it with eventlog.init(id=..., resume=\"allow\"))"
        )

    @staticmethod
    def _read(sock: socket.socket):
        frame = wire.recv_frame(sock)
        return pickle.loads(frame) if frame is not None else None


def _alive(pid) -> bool:
    if not pid:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:
        return True
    return True


def _forward(name: str):
    def method(self, *args, **kwargs):
        self._check_open(name)
        return self._link.call(name, args, kwargs)

    method.__name__ = method.__qualname__ = name
    method.__doc__ = f"`{name}()` of the run, applied by the process that owns it."
    return method


class AttachedRun(Run):
    """The run of another process (its owner), as seen from an attached process: `eventlog._attach(id)`
    or a Run unpickled in a spawned child. It behaves as the Run: `log()`, `config`, `summary`,
    `define_metric()`, ... are applied by the owner, in its log; `watch()` hooks models here;
    `finish()` only detaches this process (the owner finishes the run)."""

    def __init__(self, link: _Link, state: dict) -> None:  # noqa: D107 - not Run.__init__: no writer here
        self._link = link
        self._lock = threading.Lock()
        self._id = state["id"]
        self._finished = False
        self._disabled = False
        self._forked = False
        self._blocked = False
        self._config = Config(self)
        self._summary = Summary(self)
        self._apply_state(state)

    def _apply_state(self, state: dict) -> None:
        self._name, self._notes, self._tags = state["name"], state["notes"], tuple(state["tags"])
        self._project, self._entity, self._group = state["project"], state["entity"], state["group"]
        self._job_type, self._folder, self._mode = state["job_type"], Path(state["folder"]), state["mode"]
        self._url, self._start_time, self._resumed = state["url"], state["start_time"], state["resumed"]
        self._step = state["step"]
        self._mirror(state)

    def _mirror(self, state: dict) -> None:
        for mapping, key in ((self._config, "config"), (self._summary, "summary")):
            items = mapping._items
            items.clear()
            items.update(state[key])

    def _refresh(self) -> None:
        if not self._finished:
            self._apply_state(self._link.call("state"))

    # ------------------------------------------------------------- what changes
    @property
    def step(self) -> int:
        """The step the owner gives the next committed log()."""
        self._refresh()
        return self._step

    @property
    def config(self) -> Config:
        self._refresh()
        return self._config

    @property
    def summary(self) -> Summary:
        self._refresh()
        return self._summary

    @property
    def _attach_id(self) -> str:
        return self._link.attach_id

    @property
    def attached(self) -> bool:
        """True: this Run is owned by another process (pid `owner_pid`)."""
        return True

    @property
    def owner_pid(self) -> int:
        return self._link.owner_pid

    def __repr__(self) -> str:
        state = " detached" if self._finished else ""
        return (f"<eventlog.Run id={self._id!r} name={self._name!r} folder={self.dir!r} attached to pid "
                f"{self._link.owner_pid}{state}>")

    # ---------------------------------------------------------- sent to the owner
    def log(self, data, step=None, commit=None, sync=None) -> None:
        """`log()` into the run, as Run.log: the owner applies it (steps are the run's, shared by every
        process that logs into it)."""
        self._check_open("log")
        try:
            self._link.call("log", (data, step, commit))
        except Unsendable as exc:
            from ..media.batch import MediaBatch
            from ..values import normalize_log_data

            normalize_log_data(data if isinstance(data, dict) else self._coerce_data(data), MediaBatch())
            raise LogValueError(str(exc)) from None  # a value that pickles nowhere: as Run.log refuses it

    def save(self, glob_str=None, base_path=None, policy: str = "live"):
        """`save()`, as Run.save, done by the owner (paths are absolute, so both processes see the same files)."""
        self._check_open("save")
        if isinstance(glob_str, (str, os.PathLike)):
            glob_str = os.path.abspath(os.fspath(glob_str))
        if isinstance(base_path, (str, os.PathLike)):
            base_path = os.path.abspath(os.fspath(base_path))
        return self._link.call("save", (glob_str, base_path, policy))

    def _config_update(self, src: dict, *, allow_val_change=None, only_missing: bool = False) -> None:
        self._check_open("config")
        self._mirror(self._link.call("_config_update", (src,), {"allow_val_change": allow_val_change,
                                                                 "only_missing": only_missing}))

    def _config_remove(self, keys) -> None:
        self._check_open("config")
        self._mirror(self._link.call("_config_remove", (list(keys),)))

    def _summary_update(self, update: dict, remove) -> None:
        self._check_open("summary")
        self._mirror(self._link.call("_summary_update", (update, tuple(remove))))

    def _set_meta(self, **fields) -> None:
        self._check_open("run." + next(iter(fields), "meta"))
        self._link.call("_set_meta", (), fields)
        for k, v in fields.items():
            setattr(self, "_" + k, tuple(v) if k == "tags" else v)

    def _check_open(self, what: str) -> None:
        if self._finished:
            raise RunFinishedError(
                f"{what}: this process detached from run {self._id!r} ({self._name}) with finish(); the run goes on in "
                f"its owner (pid {self._link.owner_pid}). Attach again with eventlog._attach(run._attach_id)"
            )

    def _interrupt_locked(self, signum: int) -> None:
        """A signal in an attached process ends nothing of the run: its owner decides."""

    def _close_after_signal(self) -> None:
        self._finish(0, None, True)

    # ------------------------------------------------------------------ finish
    def finish(self, exit_code=None, quiet=None) -> None:
        """Detach this process from the run; the owner goes on, and finishes the run itself. A step
        logged with commit=False and not committed yet stays with the owner (its next step or its
        finish writes it). Idempotent."""
        if exit_code is not None and (type(exit_code) is bool or not isinstance(exit_code, int)):
            raise ArgumentTypeError(f"exit_code must be an int, got {type(exit_code).__name__} {exit_code!r}")
        self._finish(0, None, False)

    def _finish(self, exit_code: int, error, interrupted: bool, wait: bool = True) -> None:
        if self._finished:
            return
        self._finished = True
        self._link.detach()
        from ..runapi import facade, state

        with state._glock:
            if state.current_run() is self:
                facade._set_current(None)


for _name in FORWARDED:
    if _name not in AttachedRun.__dict__:
        setattr(AttachedRun, _name, _forward(_name))
del _name


def attach(attach_id: str) -> Run:
    """The Run that `attach_id` names, for this process: the owner's own Run when this process owns
    it, else an AttachedRun (one per attach id and process), made the current run if none is."""
    from ..runapi import facade, state

    run_id, _token, _path = wire.parse_id(attach_id)
    for run in list(state._all_runs):
        ch = run.__dict__.get("_attach_channel")
        if ch is not None and ch.attach_id == attach_id and not run._forked:
            return run
    with _attached_lock:
        run = _attached.get(attach_id)
        if run is None or run._finished or run._link.ended:
            link = _Link(attach_id)
            run = AttachedRun(link, link.connect())
            _attached[attach_id] = run
            _hook_exit()
    with state._glock:
        cur = state.current_run()
        if cur is None or cur._finished:
            facade._set_current(run)
    return run


def _detach_all() -> None:
    for run in list(_attached.values()):
        try:
            run._finish(0, None, False)
        except Exception:  # noqa: BLE001 - at exit, go on with the others
            pass


def _hook_exit() -> None:
    """Detach at exit: atexit, and multiprocessing's exit (its children end with os._exit)."""
    global _exit_hooked
    if _exit_hooked:
        return
    _exit_hooked = True
    import atexit
    import sys

    atexit.register(_detach_all)
    if "multiprocessing" in sys.modules:
        from multiprocessing import util

        util.Finalize(None, _detach_all, exitpriority=100)
