"""The HTTP sink end to end: `evlog sync` of offline runs into a real server, idempotent re-syncs,
a server killed mid-sync, refusals that stop the sink, retries, backfill and damaged logs."""
from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, Dict, List, Optional

import pytest

from eventlog import Cursor, LogReader, LogWriter
from eventlog.client import credentials
from eventlog.logfile.segment import LOG_DIR, list_segments
from eventlog.server.testing import SERVER_BOOT
from eventlog.sinks.base import SinkContext, SinkError
from eventlog.sinks.http import HttpSink
from support.client import evlog_sync, sync_env
from support.server import T0, new_db_url, start_harness, wait_until

CODE = b"import eventlog\nprint('train')\n"


def make_run(root: Path, run_id: str, steps: int, *, entity: Optional[str] = None, project: str = "sync",
             exit_code: Optional[int] = 0, mode: str = "offline", frame_bytes: int = 16384,
             settings: Optional[Dict[str, Any]] = None) -> Path:
    """A run folder as the run API writes it (offline), with a saved code file."""
    folder = root / f"run-20260101_000000-{run_id}"
    (folder / "code").mkdir(parents=True)
    (folder / "code" / "train.py").write_bytes(CODE)
    w = LogWriter(folder, run_id, frame_bytes=frame_bytes)
    w.append("run", {"id": run_id, "name": f"name-{run_id}", "project": project, "entity": entity, "group": "g",
                     "job_type": "train", "notes": None, "tags": ["t"], "mode": mode, "start_time": T0,
                     "settings": settings or {}, "program": {"argv": ["train.py"]},
                     "git": {"commit": "c0ffee", "branch": "main", "remote": None, "dirty": False, "diff_file": None},
                     "code": {"path": "code/train.py", "original": "/x/train.py",
                              "sha256": hashlib.sha256(CODE).hexdigest()}}, when=T0)
    w.append("files", {"files": [{"path": "code/train.py", "sha256": hashlib.sha256(CODE).hexdigest(),
                                  "size": len(CODE), "kind": "code"}]}, when=T0)
    w.append("config", {"update": {"lr": 0.001, "batch": 64}}, when=T0)
    for i in range(steps):
        w.append("history", {"step": i, "data": {f"m{j}": i * 10 + j for j in range(10)}}, when=T0 + i)
    if exit_code is not None:
        w.append("exit", {"exit_code": exit_code, "runtime": 5.0, "interrupted": False, "error": None},
                 when=T0 + steps)
    w.close()
    return folder


def expected_rows(steps: int) -> List[dict]:
    return [{"step": i, "data": {f"m{j}": i * 10 + j for j in range(10)}} for i in range(steps)]


def test_an_offline_run_synced_holds_everything_and_syncing_twice_adds_nothing(srv, tmp_path):
    user, key = srv.user()
    folder = make_run(tmp_path, "off1", 3000)
    env = sync_env(tmp_path, srv.url, key)
    out = evlog_sync(str(folder), env=env)
    assert out.returncode == 0, out.stderr + out.stdout
    run = srv.run(user, "sync", "off1", key).json()
    assert run["state"] == "finished" and run["history_rows"] == 3000 and run["config"] == {"lr": 0.001, "batch": 64}
    assert run["summary"] == expected_rows(3000)[-1]["data"] and run["git"]["commit"] == "c0ffee"
    assert srv.rows(user, "sync", "off1", key) == expected_rows(3000)
    files = srv.get(f"/api/v1/runs/{user}/sync/off1/files", key).json()["files"]
    assert [(f["path"], f["kind"], f["uploaded"]) for f in files] == [("code/train.py", "code", True)]
    assert srv.get(f"/api/v1/runs/{user}/sync/off1/files/code/train.py", key).content == CODE

    again = evlog_sync(str(folder), env=env)
    assert again.returncode == 0 and "nothing new" in again.stdout + again.stderr
    forced = evlog_sync(str(folder), "--include-synced", env=env)
    assert forced.returncode == 0, forced.stderr
    run2 = srv.run(user, "sync", "off1", key).json()
    assert run2["history_rows"] == 3000 and run2["next_seq"] == run["next_seq"]
    assert srv.rows(user, "sync", "off1", key) == expected_rows(3000)


def test_the_server_killed_mid_sync_and_restarted_loses_and_doubles_nothing(backend, request, tmp_path):
    h = start_harness(new_db_url(backend, request, tmp_path), tmp_path)
    try:
        user, key = h.user()
        steps = 60_000
        folder = make_run(tmp_path, "big", steps, frame_bytes=4096)
        env = sync_env(tmp_path, h.url, key, EVLOG_HTTP_BATCH_RECORDS="200")
        proc = subprocess.Popen([sys.executable, "-c", SERVER_BOOT, "sync", str(folder)], env=env,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)

        def rows_now() -> int:
            r = h.run(user, "sync", "big", key)
            return r.json()["history_rows"] if r.status_code == 200 else 0

        wait_until(lambda: rows_now() >= steps // 10, what="the sync to be under way")
        h.proc.kill()
        assert proc.poll() is None  # still syncing: the kill came in the middle
        with h.engine.connect() as conn:  # what the killed server had committed
            from sqlalchemy import func, select

            from eventlog.server import schema
            at_kill = conn.execute(select(func.sum(schema.chunks.c.history_rows))).scalar() or 0
        assert 0 < at_kill < steps
        # down for longer than the syncer's own retries of a sync (3 tries, at most 1 s apart): only
        # the sink's backoff carries the sync over the outage
        time.sleep(6)
        h.proc.start()
        out, err = proc.communicate(timeout=600)
        assert proc.returncode == 0, err + out
        run = h.run(user, "sync", "big", key).json()
        assert run["history_rows"] == steps and run["state"] == "finished"
        rows = h.rows(user, "sync", "big", key)
        assert [r["step"] for r in rows] == list(range(steps))
        assert rows == expected_rows(steps)
    finally:
        h.proc.stop()
        h.close()


def test_a_batch_too_large_for_the_server_is_split(backend, request, tmp_path):
    env = dict(os.environ, EVLOG_SERVER_MAX_BODY=str(64 * 1024))
    h = start_harness(new_db_url(backend, request, tmp_path), tmp_path, env=env)
    try:
        user, key = h.user()
        folder = tmp_path / "run-20260101_000000-noisy"
        w = LogWriter(folder, "noisy")
        w.append("run", {"id": "noisy", "name": "noisy", "project": "sync", "entity": None, "mode": "offline",
                         "settings": {}}, when=T0)
        for i in range(3000):  # incompressible: 3000 records are far more than 64 KiB on the wire
            w.append("history", {"step": i, "data": {"noise": os.urandom(40)}}, when=T0 + i)
        w.close()
        out = evlog_sync(str(folder), env=sync_env(tmp_path, h.url, key))
        assert out.returncode == 0, out.stderr
        run = h.run(user, "sync", "noisy", key).json()
        assert run["history_rows"] == 3000 and run["next_seq"] == 3001
        assert [r["step"] for r in h.rows(user, "sync", "noisy", key)] == list(range(3000))
    finally:
        h.proc.stop()
        h.close()


def test_a_bad_key_stops_the_sink_with_a_clear_message_and_keeps_its_cursor(srv, tmp_path):
    user, key = srv.user()
    folder = make_run(tmp_path, "badkey", 50, entity=user)
    env = sync_env(tmp_path, srv.url, "0" * 40)
    out = evlog_sync(str(folder), env=env)
    assert out.returncode == 1
    assert "evlog login" in out.stderr and "not valid" in out.stderr
    cursor = json.loads((folder / "sinks" / "http.cursor.json").read_text())
    assert cursor["cursor"]["seq"] == 0 and cursor["error"]
    assert srv.run(user, "sync", "badkey", key).status_code == 404
    credentials.save(srv.url, key, env=env)
    out = evlog_sync(str(folder), env=env)
    assert out.returncode == 0, out.stderr
    assert srv.run(user, "sync", "badkey", key).json()["history_rows"] == 50


def test_no_permission_and_no_entity_stop_the_sink_with_the_cause(srv, tmp_path):
    (owner, _), (_, xkey) = srv.user("owner"), srv.user("other")
    denied = make_run(tmp_path, "denied", 5, entity=owner)
    out = evlog_sync(str(denied), env=sync_env(tmp_path, srv.url, xkey))
    assert out.returncode == 1 and "may not log" in out.stderr and owner in out.stderr
    ghost = make_run(tmp_path, "ghost", 5, entity="ghost-entity")
    out = evlog_sync(str(ghost), env=sync_env(tmp_path, srv.url, xkey))
    assert out.returncode == 1 and "does not exist" in out.stderr and "ghost-entity" in out.stderr


def test_without_credentials_the_http_sink_is_not_chosen(tmp_path):
    run = {"id": "x", "mode": "offline", "settings": {}}
    env = sync_env(tmp_path, "http://127.0.0.1:9", None)
    assert HttpSink.enabled(run, env) is False
    credentials.save("http://127.0.0.1:9", "k" * 40, env=env)
    assert HttpSink.enabled(run, env) is True
    assert HttpSink.enabled(dict(run, mode="disabled"), env) is False


def test_a_crashed_run_is_marked_crashed(srv, tmp_path):
    user, key = srv.user()
    folder = make_run(tmp_path, "crash", 20, exit_code=None)
    out = evlog_sync(str(folder), env=sync_env(tmp_path, srv.url, key))
    assert out.returncode == 0, out.stderr
    run = srv.run(user, "sync", "crash", key).json()
    assert run["state"] == "crashed" and run["history_rows"] == 20


def test_a_damaged_log_syncs_everything_readable_and_counts_what_is_missing(srv, tmp_path):
    user, key = srv.user()
    folder = make_run(tmp_path, "dmg", 2000, frame_bytes=2048)
    seg = folder / LOG_DIR / list_segments(folder / LOG_DIR)[0][1]
    data = bytearray(seg.read_bytes())
    mid = len(data) // 2
    data[mid:mid + 64] = b"\xAA" * 64  # spoil a frame in the middle
    seg.write_bytes(bytes(data))
    readable = [r for r in LogReader(folder).records()]
    out = evlog_sync(str(folder), env=sync_env(tmp_path, srv.url, key))
    assert out.returncode == 0, out.stderr
    run = srv.run(user, "sync", "dmg", key).json()
    hist = [r for r in readable if r.type == "history"]
    assert run["history_rows"] == len(hist) < 2000
    assert run["missing_records"] == (readable[-1].seq + 1) - len(readable) > 0
    assert [r["step"] for r in srv.rows(user, "sync", "dmg", key)] == [r.body["step"] for r in hist]


# ----------------------------------------------------- the sink in-process
def _ctx(folder: Path, env: Dict[str, str], state: Optional[dict] = None, cursor: int = 0) -> SinkContext:
    reader = LogReader(folder)
    run = next(r.body for r in reader.records() if r.type == "run")
    msgs: List[str] = []
    ctx = SinkContext(name="http", folder=folder, run_id=run["id"], run=run, cursor=Cursor(cursor), state=state,
                      live=False, env=env, warn=msgs.append)
    ctx.messages = msgs
    return ctx


def test_the_sink_sends_again_what_the_server_lost(srv, tmp_path):
    user, key = srv.user()
    folder = make_run(tmp_path, "lost", 500)
    records = list(LogReader(folder).records())
    # the sink's saved state says the server had 300 records; this server has none (restored backup)
    sink = HttpSink()
    sink.open(_ctx(folder, sync_env(tmp_path, srv.url, key), state={"next_seq": 300, "entity": user,
                                                                       "project": "sync"}, cursor=300))
    assert sink.write(records[300:]) is None
    sink.flush()
    sink.close("finished")
    run = srv.run(user, "sync", "lost", key).json()
    assert run["next_seq"] == len(records) and run["history_rows"] == 500 and run["missing_records"] == 0
    assert srv.rows(user, "sync", "lost", key) == expected_rows(500)


def test_a_retried_write_does_not_double_records(srv, tmp_path):
    user, key = srv.user()
    folder = make_run(tmp_path, "retry", 100)
    records = list(LogReader(folder).records())
    sink = HttpSink()
    sink.open(_ctx(folder, sync_env(tmp_path, srv.url, key)))
    sink.write(records[:60])
    sink.write(records[40:80])  # the syncer delivering a batch again
    sink.write(records[80:])
    sink.flush()
    assert srv.rows(user, "sync", "retry", key) == expected_rows(100)


class _Flaky(BaseHTTPRequestHandler):
    """Answers 503, then 429 with Retry-After, then a connection drop, then 200."""

    script: List[Any] = []
    seen: List[str] = []

    def do_POST(self) -> None:  # noqa: N802
        self.rfile.read(int(self.headers.get("Content-Length", 0)))
        self.seen.append(self.headers.get("Authorization"))
        step = self.script.pop(0)
        if step == "drop":
            self.close_connection = True
            self.wfile.write(b"")
            self.connection.shutdown(2)
            return
        status, headers, body = step
        self.send_response(status)
        for k, v in headers.items():
            self.send_header(k, v)
        data = json.dumps(body).encode()
        self.send_header("Content-Length", str(len(data)))
        self.send_header("Content-Type", "application/json")
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *a: Any) -> None:
        pass


@pytest.fixture
def flaky():
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _Flaky)
    t = threading.Thread(target=httpd.serve_forever, daemon=True)
    t.start()
    yield httpd
    httpd.shutdown()
    httpd.server_close()


def test_retries_back_off_with_jitter_and_honour_retry_after(flaky, tmp_path, monkeypatch):
    url = f"http://127.0.0.1:{flaky.server_address[1]}"
    _Flaky.seen = []
    _Flaky.script = [(503, {}, {}), (429, {"Retry-After": "7"}, {}), "drop", (502, {}, {}),
                     (200, {}, {"next_seq": 4})]
    folder = make_run(tmp_path, "flaky", 1, entity="someone")
    waits: List[float] = []
    import eventlog.sinks.http as http_mod
    monkeypatch.setattr(http_mod.time, "sleep", waits.append)
    sink = HttpSink()
    ctx = _ctx(folder, sync_env(tmp_path, url, "k" * 40))
    sink.open(ctx)
    sink.write(list(LogReader(folder).records())[:4])
    sink.flush()
    assert sink.server_next == 4 and len(_Flaky.seen) == 5 and set(_Flaky.seen) == {"Bearer " + "k" * 40}
    assert len(waits) == 4 and waits[1] == 7.0
    base = http_mod.BACKOFF_FIRST
    for attempt, w in ((1, waits[0]), (3, waits[2]), (4, waits[3])):
        cap = min(http_mod.BACKOFF_MAX, base * 2 ** (attempt - 1))
        assert cap / 2 <= w <= cap  # exponential, jittered
    assert waits[3] > waits[0]


def test_a_refusal_is_final_and_not_retried(flaky, tmp_path, monkeypatch):
    url = f"http://127.0.0.1:{flaky.server_address[1]}"
    _Flaky.seen = []
    _Flaky.script = [(403, {}, {"reason": "no_permission", "error": "nope"})]
    folder = make_run(tmp_path, "refused", 1, entity="someone")
    import eventlog.sinks.http as http_mod
    monkeypatch.setattr(http_mod.time, "sleep", lambda s: pytest.fail("a refusal must not be retried"))
    sink = HttpSink()
    ctx = _ctx(folder, sync_env(tmp_path, url, "k" * 40))
    sink.open(ctx)
    with pytest.raises(SinkError) as exc:
        sink.write(list(LogReader(folder).records()))
        sink.flush()
    assert "may not log" in str(exc.value) and len(_Flaky.seen) == 1 and ctx.messages
