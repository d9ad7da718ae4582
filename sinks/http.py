"""The HTTP sink: uploads a run to an evlog server (spec/protocol.md), live or with `evlog sync`.

Records are packed as in the log (msgpack envelopes) and sent in zstd-compressed batches to
`POST /api/v1/runs/{entity}/{project}/{run_id}/records`. The server is idempotent on seq, so a
resend never doubles anything; when it answers that it is missing earlier records (409), the sink
reads them from the run's log and sends them first. Connection errors, 5xx and 429 are retried with
exponential backoff and jitter (honouring Retry-After); an authentication or permission refusal
stops the sink with the client's message (the cursor stays where the server has everything).
Files named by `files` records (and the run's saved code and diff) are uploaded after the records
that name them, and artifact records' files and manifests after them (sinks/http_artifacts.py).
The sink never imports the server: it speaks HTTP.
"""
from __future__ import annotations

import hashlib
import os
import random
import sys
import time
from collections import deque
from typing import Any, Deque, Dict, List, Mapping, Optional, Tuple
from urllib.parse import quote, urlsplit

import msgpack
import zstandard

from eventlog import Cursor, LogReader, Record
from eventlog.client import credentials
from eventlog.logfile.reader import log_start_seq
from eventlog.protocol import DEFAULT_PROJECT, FRAMES_TYPE, run_path

from .base import CRASHED, Sink, SinkContext, SinkError, env_value
from .http_artifacts import ARTIFACT_TYPES, upload as upload_artifact

BATCH_RECORDS = 10_000          # records per request at most
BATCH_BYTES = 8 * 1024 * 1024   # packed bytes per request at most (before compression)
# How long one request is retried before the syncer is told it failed: short in a live run (the
# syncer itself keeps retrying while the run lives, and can be stopped), longer in `evlog sync`
# (which gives up after 3 failed attempts), so a server restart does not fail a sync.
RETRY_SECONDS_LIVE = 30.0
RETRY_SECONDS_SYNC = 300.0
TIMEOUT = 60.0
CONNECT_TIMEOUT = 5.0  # a server that does not accept a connection in 5 s counts as unreachable
BACKOFF_FIRST, BACKOFF_MAX = 0.25, 15.0
RETRY_STATUSES = (408, 429, 500, 502, 503, 504)  # 408: the server timed out a stalled body
FILE_KINDS = ("code", "diff", "media", "other")


class _Refused(Exception):
    """A final (non-retryable) answer from the server."""

    def __init__(self, status: int, body: Dict[str, Any]) -> None:
        super().__init__(f"{status} {body.get('reason')}: {body.get('error')}")
        self.status, self.body = status, body


def _in_live_syncer() -> bool:
    """True inside the run's own syncer process (`python -m eventlog.sinks.syncer`)."""
    spec = getattr(sys.modules.get("__main__"), "__spec__", None)
    return spec is not None and spec.name == "eventlog.sinks.syncer"


def _base_url(run: Mapping[str, Any], env: Mapping[str, str]) -> str:
    """The server: EVLOG_BASE_URL / the stored default, else the base of the run's recorded URL."""
    if env_value(env, *credentials.URL_VARS) is None and run.get("url"):
        stored = credentials.base_url(env)
        if credentials.lookup(stored, env).api_key is None:
            parts = urlsplit(str(run["url"]))
            if parts.scheme and parts.netloc:
                return f"{parts.scheme}://{parts.netloc}"
    return credentials.base_url(env)


def _key_for(run: Mapping[str, Any], env: Mapping[str, str], url: str) -> Tuple[Optional[str], bool]:
    """(API key, anonymous) to upload this run with, following its `anonymous` setting."""
    settings = run.get("settings") if isinstance(run.get("settings"), dict) else {}
    mode = settings.get("anonymous")
    anon = credentials.lookup_anonymous(url, env)
    user_key = credentials.lookup(url, env).api_key
    if anon is not None and (mode == "must" or (run.get("entity") and run.get("entity") == anon[1])):
        return anon[0], True
    if user_key:
        return user_key, False
    if anon is not None and mode == "allow":
        return anon[0], True
    return None, False


class HttpSink(Sink):
    """Delivers a run to an evlog server."""

    name = "http"

    @classmethod
    def enabled(cls, run: Mapping[str, Any], env: Mapping[str, str]) -> bool:
        """On when credentials for the server exist; for offline runs only in `evlog sync`."""
        mode = run.get("mode")
        if mode == "disabled" or (mode == "offline" and _in_live_syncer()):
            return False
        key, _ = _key_for(run, env, _base_url(run, env))
        return key is not None

    # ------------------------------------------------------------------ open
    def open(self, ctx: SinkContext) -> None:
        self.ctx = ctx
        run = ctx.run or {}
        env = ctx.env
        state = ctx.state or {}
        self.base_url = _base_url(run, env)
        self.key, self.anonymous = _key_for(run, env, self.base_url)
        if not self.key:
            raise self._stop(f"not logged in: run `evlog login` (or set EVLOG_API_KEY) for {self.base_url}, "
                             f"then `evlog sync {ctx.folder}`")
        self.run_id = str(run.get("id") or ctx.run_id)
        self.entity: Optional[str] = state.get("entity") or run.get("entity") or None
        self.project: str = state.get("project") or run.get("project") or DEFAULT_PROJECT
        self.server_next: int = int(state.get("next_seq", 0))
        # A log that begins past seq 0 continues a run resumed from the server: the server holds the
        # records before it, and they are not in this folder, so they are never asked for.
        self.log_start = log_start_seq(ctx.folder)
        self.server_next = max(self.server_next, self.log_start)
        self.uploaded: Dict[str, Optional[str]] = dict(state.get("uploaded") or {})
        self.pending_files: Dict[str, str] = {}  # path -> kind, named by records already sent
        self.pending_artifacts: Dict[int, Tuple[str, Any]] = {}  # seq -> (type, body): sinks/http_artifacts.py
        self.buf: List[bytes] = []
        self.buf_first: Optional[int] = None
        self.buf_next: Optional[int] = None
        self.buf_bytes = 0
        self.batch_records = int(env_value(env, "EVLOG_HTTP_BATCH_RECORDS") or BATCH_RECORDS)
        self.retry_seconds = float(env_value(env, "EVLOG_HTTP_RETRY_SECONDS")
                                   or (RETRY_SECONDS_LIVE if ctx.live else RETRY_SECONDS_SYNC))
        self.timeout = float(env_value(env, "EVLOG_HTTP_TIMEOUT") or TIMEOUT)
        self.latencies: Deque[float] = deque(maxlen=10_000)  # seconds per records request (benchmarks)
        self.requests_sent = 0
        self._packer = msgpack.Packer(use_bin_type=True)
        self._cctx = zstandard.ZstdCompressor(level=1, write_checksum=True, write_content_size=True)
        self._session = None
        for k in ("code", "git"):
            info = run.get(k) if isinstance(run.get(k), dict) else {}
            path = info.get("path") if k == "code" else info.get("diff_file")
            if isinstance(path, str) and path:
                self.pending_files.setdefault(path, "code" if k == "code" else "diff")

    # ------------------------------------------------------------- the sink
    def write(self, records: List[Record]) -> Optional[int]:
        for rec in records:
            if self.buf_next is not None and rec.seq != self.buf_next:
                if self.buf_first is not None and self.buf_first <= rec.seq < self.buf_next:
                    continue  # buffered already (the syncer retries a write that failed)
                self._send_buffer()  # keep every request contiguous
            if rec.type in ARTIFACT_TYPES:  # also when the server has the record: its commit is idempotent
                self.pending_artifacts[rec.seq] = (rec.type, rec.body)
            if rec.seq < self.server_next:
                continue  # the server has it already
            packed = self._packer.pack([rec.seq, rec.type, rec.time, rec.body])
            if not self.buf:
                self.buf_first = rec.seq
            self.buf.append(packed)
            self.buf_bytes += len(packed)
            self.buf_next = rec.seq + 1
            if rec.type == "files":
                self._note_files(rec.body)
            if len(self.buf) >= self.batch_records or self.buf_bytes >= BATCH_BYTES:
                self._send_buffer()
        return None

    def flush(self) -> Dict[str, Any]:
        self._send_buffer()
        self._upload_files()
        self._upload_artifacts()
        return {"next_seq": self.server_next, "entity": self.entity, "project": self.project,
                "uploaded": self.uploaded, "url": self.run_page()}

    def run_page(self) -> Optional[str]:
        """The run's page on the server, once the server has some of it (`evlog sync` prints it)."""
        from eventlog.client import accounts as api

        if self.entity is None or self.server_next <= self.log_start:
            return None
        return api.run_url(self.base_url, self.entity, self.project, self.run_id)

    def close(self, state: str) -> None:
        try:
            if state == CRASHED and self.entity is not None:
                try:
                    self._request("POST", f"{self._run_path()}/state", json={"state": "crashed"})
                except _Refused:
                    pass  # already finished on the server, or not ours to mark
        finally:
            if self._session is not None:
                self._session.close()
                self._session = None

    # ------------------------------------------------------------- records
    def _run_path(self) -> str:
        return run_path(self.entity or "", self.project, self.run_id)

    def _send_buffer(self) -> None:
        if not self.buf:
            return
        first, chunks = self.buf_first, self.buf
        self._send(first, chunks)
        self.buf, self.buf_first, self.buf_next, self.buf_bytes = [], None, None, 0

    def _send(self, first: int, chunks: List[bytes], gap_ok: bool = False) -> None:
        """Post records first .. first+len(chunks)-1 until the server has them all."""
        self._resolve_entity()
        while chunks:
            if first < self.server_next:  # the server has a prefix already
                drop = min(self.server_next - first, len(chunks))
                chunks, first = chunks[drop:], first + drop
                continue
            if first > self.server_next and not gap_ok:
                if self.server_next < self.log_start:
                    raise self._stop(
                        f"the server has run {self.run_id} only up to seq {self.server_next - 1}, but the log in "
                        f"{self.ctx.folder} begins at seq {self.log_start} (the run was resumed from the server "
                        f"here): records {self.server_next}..{self.log_start - 1} are not in this folder. Sync "
                        "the run folder that holds them first, then this one")
                self._backfill(self.server_next, first)
                if first > self.server_next:  # still missing: lost to damage in our log
                    gap_ok = True
                continue
            body = self._cctx.compress(b"".join(chunks))
            started = time.monotonic()
            try:
                resp = self._request("POST", f"{self._run_path()}/records", data=body,
                                     headers={"Content-Type": FRAMES_TYPE},
                                     params={"gap_ok": "1"} if gap_ok else None, ok=(200, 409))
            except _Refused as exc:
                if exc.status == 413 and len(chunks) > 1:
                    half = len(chunks) // 2
                    self._send(first, chunks[:half], gap_ok)
                    self._send(first + half, chunks[half:], gap_ok)
                    return
                raise self._stop(self._refusal_message(exc)) from None
            data = resp.json()
            if resp.status_code == 409 and data.get("reason") != "seq_gap":  # run_id_taken: final
                raise self._stop(self._refusal_message(_Refused(409, data)))
            if resp.status_code == 409:
                self.server_next = int(data.get("expected_seq", self.server_next))
                continue
            self.latencies.append(time.monotonic() - started)
            self.server_next = int(data["next_seq"])
            gap_ok = False

    def _backfill(self, start: int, end: int) -> None:
        """Send records [start, end) again, read from the run's log (the server lost or never got them)."""
        chunks: List[bytes] = []
        first: Optional[int] = None
        reader = LogReader(self.ctx.folder)
        for rec in reader.records(Cursor(start)):
            if rec.seq >= end:
                break
            if first is not None and rec.seq != first + len(chunks):
                self._send(first, chunks)
                chunks, first = [], None
            if first is None:
                first = rec.seq
            chunks.append(self._packer.pack([rec.seq, rec.type, rec.time, rec.body]))
            if rec.type == "files":
                self._note_files(rec.body)
            elif rec.type in ARTIFACT_TYPES:
                self.pending_artifacts[rec.seq] = (rec.type, rec.body)
            if len(chunks) >= self.batch_records:
                self._send(first, chunks, gap_ok=first > self.server_next)
                chunks, first = [], None
        if chunks:
            self._send(first, chunks, gap_ok=first > self.server_next)

    def _resolve_entity(self) -> None:
        if self.entity is not None:
            return
        resp = self._request("GET", "/api/v1/auth/whoami", ok=(200,), refused_stops=True)
        self.entity = resp.json()["entity"]

    # --------------------------------------------------------------- files
    def _note_files(self, body: Any) -> None:
        items = body.get("files") if isinstance(body, dict) else None
        for it in items if isinstance(items, list) else ():
            if isinstance(it, dict) and isinstance(it.get("path"), str):
                kind = it.get("kind") if it.get("kind") in FILE_KINDS else "other"
                self.pending_files[it["path"]] = kind

    def _upload_files(self) -> None:
        if not self.pending_files or self.entity is None or self.server_next == 0:
            return
        for path, kind in sorted(self.pending_files.items()):
            full = os.path.join(str(self.ctx.folder), path)
            try:
                with open(full, "rb") as f:
                    content = f.read()
            except OSError:
                self.pending_files.pop(path, None)
                continue  # gone, or never written: nothing to upload
            sha = hashlib.sha256(content).hexdigest()
            if self.uploaded.get(path) == sha:
                self.pending_files.pop(path, None)
                continue
            try:
                self._request("PUT", f"{self._run_path()}/files/{quote(path)}", data=content,
                              params={"kind": kind}, headers={"Content-Type": "application/octet-stream"},
                              ok=(201,))
            except _Refused as exc:
                if exc.status in (401, 403):
                    raise self._stop(self._refusal_message(exc)) from None
                self.ctx.warn(f"file {path} was not uploaded: {exc.body.get('error') or exc}")
            else:
                if kind != "media":  # media files are named by their hash and announced once: not kept,
                    self.uploaded[path] = sha  # so the cursor's state does not grow with every image
            self.pending_files.pop(path, None)

    def _upload_artifacts(self) -> None:
        """Artifact records the server has: their files, then their manifest (sinks/http_artifacts.py)."""
        for seq in sorted(self.pending_artifacts):
            if seq >= self.server_next or self.entity is None:
                break
            type_, body = self.pending_artifacts[seq]
            try:
                upload_artifact(self, seq, type_, body)
            except _Refused as exc:
                if exc.status in (401, 403):
                    raise self._stop(self._refusal_message(exc)) from None
                self.ctx.warn(f"{type_} record {seq} was not taken by the server: {exc.body.get('error') or exc}")
            del self.pending_artifacts[seq]

    # ---------------------------------------------------------------- HTTP
    def _request(self, method: str, path: str, *, ok: Tuple[int, ...] = (200,), refused_stops: bool = False,
                 **kw: Any) -> Any:
        """One request, retried on connection errors, 5xx and 429 with backoff and jitter.

        Raises _Refused for other answers outside `ok` (SinkError when `refused_stops`), and
        ConnectionError once the retry budget is spent (the syncer retries later)."""
        import requests

        if self._session is None:
            self._session = requests.Session()
            self._session.headers["Authorization"] = f"Bearer {self.key}"
        deadline = time.monotonic() + self.retry_seconds
        attempt = 0
        while True:
            attempt += 1
            wait: Optional[float] = None
            try:
                resp = self._session.request(method, self.base_url + path,
                                             timeout=(min(CONNECT_TIMEOUT, self.timeout), self.timeout), **kw)
                self.requests_sent += 1
            except requests.RequestException as exc:
                what = f"cannot reach {self.base_url} ({type(exc).__name__})"
                self.ctx.retrying(what)  # a waiting finish() stops waiting early (spec/sinks.md 3)
            else:
                self.ctx.retrying(None)
                if resp.status_code in ok:
                    return resp
                if resp.status_code not in RETRY_STATUSES:
                    try:
                        body = resp.json()
                    except ValueError:
                        body = {}
                    refused = _Refused(resp.status_code, body if isinstance(body, dict) else {})
                    if refused_stops:
                        raise self._stop(self._refusal_message(refused))
                    raise refused
                what = f"{self.base_url} answered {resp.status_code}"
                ra = resp.headers.get("Retry-After")
                if ra is not None:
                    try:
                        wait = max(0.0, float(ra))
                    except ValueError:
                        wait = None
            if wait is None:
                cap = min(BACKOFF_MAX, BACKOFF_FIRST * (2 ** (attempt - 1)))
                wait = random.uniform(cap / 2, cap)  # jitter: concurrent syncers do not retry in step
            if time.monotonic() + wait > deadline:
                raise ConnectionError(f"{what}; gave up after {attempt} attempts")
            if attempt == 1 or attempt % 10 == 0:
                self.ctx.warn(f"{what}; retrying")
            time.sleep(wait)

    def _refusal_message(self, exc: _Refused) -> str:
        from eventlog.client import accounts as api

        reason = exc.body.get("reason")
        if exc.status in (401, 403) or reason in ("no_such_entity", "run_id_taken", "run_deleted"):
            err = api.refusal(exc.status, exc.body, base_url=self.base_url, entity=self.entity,
                              project=self.project)
            return f"{err} The run stays in {self.ctx.folder}; sync it later with `evlog sync {self.ctx.folder}`."
        return (f"the server refused the run ({exc.status} {reason}: {exc.body.get('error')}); "
                f"the run stays in {self.ctx.folder}")

    def _stop(self, message: str) -> SinkError:
        """A final refusal: say it once on the syncer's stderr and stop this sink (cursor kept)."""
        self.ctx.warn(message)
        return SinkError(message)
