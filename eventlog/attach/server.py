"""The owner's side of the attach channel: a Unix socket served by a thread per attached process;
each call is applied through the owner's own Run methods, under its lock, so seq order, step rules
and the single writer hold (spec/format.md 8)."""
from __future__ import annotations

import hmac
import json
import os
import pickle
import secrets
import socket
import threading
import warnings
from typing import Any, Optional

from . import wire
from .methods import OWNER_CALLS, STATE_CALLS

# warnings.catch_warnings is process-wide: one attached call at a time collects the warnings its
# Run method emits, to raise them in the attached process (where the call was made)
_warn_lock = threading.Lock()


def run_state(run) -> dict:
    """What an attached process mirrors of the run (sent when it attaches, and on `state`)."""
    return {
        "id": run._id, "name": run._name, "notes": run._notes, "tags": list(run._tags), "project": run._project,
        "entity": run._entity, "group": run._group, "job_type": run._job_type, "folder": str(run._folder),
        "mode": run._mode, "url": run._url, "start_time": run._start_time, "resumed": run._resumed,
        "pid": os.getpid(), "step": run._step, "finished": run._finished,
        "config": dict(run._config._items), "summary": dict(run._summary_view()),
    }


class Channel:
    """The run's attach channel: started on the first read of `run._attach_id`, closed by finish()."""

    def __init__(self, run) -> None:
        self._run = run
        self._token = secrets.token_hex(16)
        self._closed = False
        self._conns: set = set()
        self._lock = threading.Lock()
        self.path = os.path.join(wire.socket_dir(), f"{run._id}-{secrets.token_hex(4)}.sock")
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            sock.bind(self.path)
            os.chmod(self.path, 0o600)
            sock.listen(16)
        except BaseException:
            sock.close()
            raise
        self._sock = sock
        self.attach_id = wire.make_id(run._id, self._token, self.path)
        threading.Thread(target=self._accept, name=f"evlog-attach-{run._id}", daemon=True).start()

    def close(self) -> None:
        """Stop serving: new attaches fail, each attached process gets a `closed` frame instead of
        its next reply. Called once the owner's exit record is written, so every call already
        received was applied, or refused with RunFinishedError."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
            conns = list(self._conns)
        for s in (self._sock, *conns):
            try:
                s.shutdown(socket.SHUT_RD)  # wakes the thread blocked in accept() / recv()
            except OSError:
                pass
        self._sock.close()
        try:
            os.unlink(self.path)
        except OSError:
            pass

    # ------------------------------------------------------------------ serving
    def _accept(self) -> None:
        while True:
            try:
                conn, _ = self._sock.accept()
            except OSError:
                return
            uid = wire.peer_uid(conn)
            with self._lock:
                if self._closed or (uid is not None and uid != os.getuid()):
                    conn.close()
                    if self._closed:
                        return
                    continue
                self._conns.add(conn)
            threading.Thread(target=self._serve, args=(conn,), name="evlog-attach-conn", daemon=True).start()

    def _serve(self, conn: socket.socket) -> None:
        pid = None
        detached = False
        try:
            pid = self._hello(conn)
            if pid is None:
                return
            while True:
                frame = wire.recv_frame(conn)
                if frame is None or self._closed:
                    break
                op, args, kwargs = pickle.loads(frame)
                if op == "detach":  # recorded before the reply: the owner may finish right after it
                    detached = True
                    self._record("detach", pid)
                    pid = None
                    self._reply(conn, ("ok", None, []))
                    break
                self._reply(conn, self._apply(op, args, kwargs))
            if self._closed and not detached:
                self._reply(conn, ("closed", "finished", []))
        except OSError:
            pass
        finally:
            if pid is not None:
                self._record("lost", pid)
            with self._lock:
                self._conns.discard(conn)
            conn.close()

    def _hello(self, conn: socket.socket) -> Optional[int]:
        """Check the attach token (before anything is unpickled); send the run's state. The pid of
        the attached process, or None when it was refused."""
        frame = wire.recv_frame(conn)
        try:
            hello = json.loads(frame) if frame is not None else None
            token, pid = hello["token"], int(hello["pid"])
            ok = isinstance(token, str) and hmac.compare_digest(token.encode(), self._token.encode())
        except (ValueError, TypeError, KeyError):
            ok, pid = False, None
        if not ok:
            self._reply(conn, ("refused", "the attach id's token does not match this run's channel", []))
            return None
        if self._closed:
            self._reply(conn, ("closed", "finished", []))
            return None
        self._record("attach", pid)  # before the reply, so it precedes every record of the process's calls
        self._reply(conn, ("ok", run_state(self._run), []))
        return pid

    def _apply(self, op: str, args: tuple, kwargs: dict) -> tuple:
        run = self._run
        with _warn_lock, warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            try:
                if op == "state":
                    value = run_state(run)
                elif op in OWNER_CALLS:
                    value = getattr(run, op)(*args, **kwargs)
                    if op in STATE_CALLS:
                        value = {"config": dict(run._config._items), "summary": dict(run._summary_view())}
                else:
                    raise ValueError(f"the attach channel has no operation {op!r}")
                status = "ok"
            except Exception as exc:  # noqa: BLE001 - raised again in the attached process
                status, value = "error", exc
        return status, value, [(w.category, str(w.message)) for w in caught]

    def _reply(self, conn: socket.socket, reply: tuple) -> None:
        try:
            payload = pickle.dumps(reply)
        except Exception:  # noqa: BLE001 - a value that cannot cross processes
            status, value, warns = reply
            if status == "error":
                value = (type(value).__qualname__, str(value))
            else:
                value = None
            payload = pickle.dumps((status, value, [(UserWarning, m) for _, m in warns]))
        wire.send_frame(conn, payload)

    def _record(self, event: str, pid: int) -> None:
        try:
            self._run._append_unless_ended("attach", {"event": event, "pid": pid})
        except Exception:  # noqa: BLE001 - bookkeeping must never break the run
            pass


def channel_of(run, start: bool) -> Optional[Channel]:
    """The run's channel; started when `start` and there is none yet."""
    ch: Any = run.__dict__.get("_attach_channel")
    if ch is None and start:
        with run._lock:
            ch = run.__dict__.get("_attach_channel")
            if ch is None:
                ch = Channel(run)
                run.__dict__["_attach_channel"] = ch
    return ch
