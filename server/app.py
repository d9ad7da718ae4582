"""The ASGI application (Starlette): routes of spec/protocol.md, error mapping, body limits.

Database work runs in the thread pool; each request is one short transaction. Run by uvicorn as
`eventlog.server.app:create_app` (a factory reading ServerConfig.from_env()).
"""
from __future__ import annotations

import contextlib
import functools
import gc
import json
import logging
import time
from typing import Any, AsyncIterator, Callable, Dict, Optional, Tuple

from sqlalchemy import text
from sqlalchemy.exc import OperationalError
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from eventlog import __version__
from eventlog.protocol import FRAMES_TYPE

from . import accounts, deletion, export, ingest, resume, system, views, web
from .auth import Principal, bearer_key, hash_key, key_owner, principal_of
from .config import ServerConfig
from .db import make_engine
from .errors import ApiError, not_logged_in, too_large
from .migrations import LATEST, check_version, migrate
from .throttle import KeyGuard, client_address
from .wire import decode_body, dumps

log = logging.getLogger("evlog.server")

# A records body decodes into ~30 container objects per record, all alive until the chunk is stored:
# at CPython's default thresholds (700, 10, 10) the collector scans them over and over, which cost
# as much CPU as the rest of ingestion (bench/ingest.py). Young collections every 50,000 allocations
# and rarer old ones leave that work to the end of the request, when the objects are gone.
GC_THRESHOLDS = (50_000, 20, 100)
_DRAIN_CAP = 256 * 1024 * 1024
AUTH_CACHE_SECONDS = 5.0


def json_response(data: Any, status: int = 200) -> Response:
    return Response(dumps(data), status_code=status, media_type="application/json")


class Server:
    """Holds the engine and config; its methods are the endpoints."""

    def __init__(self, config: ServerConfig) -> None:
        self.config = config
        self.engine = make_engine(config.db_url, pool_size=config.pool_size)
        self._auth_cache: Dict[str, Tuple[tuple, float]] = {}
        self.guard = KeyGuard()  # failed authentication per client address (server/throttle.py)

    # ------------------------------------------------------------- helpers
    def base_url(self, request: Request) -> str:
        return self.config.public_url or str(request.base_url).rstrip("/")

    async def principal(self, request: Request) -> Optional[Principal]:
        key = bearer_key(request.headers.get("authorization"))
        if key is None:
            return None
        address, digest = client_address(request), hash_key(key)
        self.guard.check(address, digest)
        try:
            found = await run_in_threadpool(self._authenticate, key)
        except ApiError as exc:
            if exc.reason == "invalid_key":
                self.guard.failed(address, digest)
            raise
        self.guard.succeeded(digest)
        return found

    def _authenticate(self, key: str) -> Optional[Principal]:
        """The key's Principal. Key owners are remembered for AUTH_CACHE_SECONDS (a sync posts many
        requests with one key) by the key's hash, so no key is kept; team membership is read fresh."""
        digest = hash_key(key)
        now = time.monotonic()
        with self.engine.connect() as conn:
            hit = self._auth_cache.get(digest)
            if hit is not None and hit[1] > now:
                owner = hit[0]
            else:
                owner = key_owner(conn, key)
                if len(self._auth_cache) > 10_000:
                    self._auth_cache.clear()
                self._auth_cache[digest] = (owner, now + AUTH_CACHE_SECONDS)
            return principal_of(conn, owner)

    async def body(self, request: Request, limit: int) -> bytes:
        """The request body, or 413 once it passes `limit` (the rest is drained, up to a cap, so the
        client reads the answer instead of a reset connection)."""
        length = request.headers.get("content-length")
        declared = int(length) if length and length.isdigit() else None
        chunks = []
        size = 0
        over = declared is not None and declared > limit
        async for chunk in request.stream():
            size += len(chunk)
            if size > limit:
                over = True
            if over:
                if size > _DRAIN_CAP:
                    break
                continue
            chunks.append(chunk)
        if over:
            raise too_large(f"the body is larger than this server's limit of {limit} bytes")
        return b"".join(chunks)

    @staticmethod
    async def call(fn: Callable[..., Any], *args: Any) -> Any:
        return await run_in_threadpool(fn, *args)

    # ----------------------------------------------------------- endpoints
    async def health(self, request: Request) -> Response:
        def probe() -> int:
            with self.engine.connect() as conn:
                conn.execute(text("SELECT 1"))
            return check_version(self.engine)

        if request.headers.get("authorization") is not None:
            await self.principal(request)  # an invalid key is 401 here too (spec/protocol.md 1)
        try:
            version = await self.call(probe)
        except OperationalError:
            return json_response({"ok": False, "error": "the database is unreachable", "reason": "unavailable"}, 503)
        return json_response({"ok": True, "version": __version__, "schema_version": version,
                              "allow_anonymous": self.config.allow_anonymous})

    async def whoami(self, request: Request) -> Response:
        p = await self.principal(request)
        return json_response(await self.call(views.whoami, self.engine, p))

    async def check(self, request: Request) -> Response:
        p = await self.principal(request)
        q = request.query_params
        return json_response(await self.call(views.check_write, self.engine, p, q.get("entity") or None,
                                             q.get("project"), self.base_url(request), q.get("run_id") or None))

    async def anonymous(self, request: Request) -> Response:
        if not self.config.allow_anonymous:
            raise ApiError(403, "anonymous_disabled",
                           "this server does not allow anonymous logging (start it with --allow-anonymous); "
                           "run `evlog login` with a key from its admin instead")
        accounts.anonymous_throttle(self, request)
        key, name = await self.call(accounts.create_anonymous, self.engine)
        return json_response({"api_key": key, "user": name, "entity": name}, 201)

    async def projects(self, request: Request) -> Response:
        p = await self.principal(request)
        return json_response(await self.call(views.list_projects, self.engine, p, request.path_params["entity"]))

    async def runs(self, request: Request) -> Response:
        p = await self.principal(request)
        pp, q = request.path_params, request.query_params
        filters = {k: q.get(k) for k in ("group", "tag", "job_type", "state")}
        return json_response(await self.call(views.list_runs, self.engine, p, pp["entity"], pp["project"],
                                             self.base_url(request), filters))

    async def run(self, request: Request) -> Response:
        p = await self.principal(request)
        pp = request.path_params
        return json_response(await self.call(views.get_run, self.engine, p, pp["entity"], pp["project"],
                                             pp["run_id"], self.base_url(request)))

    async def history(self, request: Request) -> Response:
        p = await self.principal(request)
        pp, q = request.path_params, request.query_params
        keys, samples, after, limit = views.parse_history_query(q.get("keys"), q.get("samples"), q.get("after"),
                                                                q.get("limit"))
        every = views.parse_all_keys(q.get("all_keys"))
        data = await self.call(views.get_history, self.engine, p, pp["entity"], pp["project"], pp["run_id"],
                               keys, samples, after, limit, every)
        return Response(await self.call(dumps, data), media_type="application/json")

    async def export(self, request: Request) -> Response:
        """GET {run}/export: the history as CSV or JSON Lines, streamed (server/export.py)."""
        return await export.respond(self, await self.principal(request), request.path_params, request.query_params)

    async def records(self, request: Request) -> Response:
        pp = request.path_params
        if request.method == "GET":
            p = await self.principal(request)
            n = await self.call(ingest.next_seq, self.engine, p, pp["entity"], pp["project"], pp["run_id"])
            return json_response({"next_seq": n})
        ctype = request.headers.get("content-type", "").split(";")[0].strip().lower()
        if ctype != FRAMES_TYPE:
            raise ApiError(415, "unsupported_media_type", f"records must be sent as {FRAMES_TYPE}, not {ctype or 'nothing'}")
        # the body is read before any refusal, so the client gets the answer rather than a reset
        # connection; it is decoded only for a valid key
        raw = await self.body(request, self.config.max_body)
        p = await self.principal(request)
        if p is None:
            raise not_logged_in()
        cfg = self.config
        records = await self.call(lambda: decode_body(raw, max_decompressed=cfg.max_decompressed,
                                                      max_records=cfg.max_records, max_values=cfg.max_values))
        gap_ok = request.query_params.get("gap_ok") in ("1", "true")
        out = await self.call(lambda: ingest.ingest(self.engine, p, pp["entity"], pp["project"], pp["run_id"],
                                                    records, gap_ok=gap_ok))
        out["url"] = views.run_url(self.base_url(request), pp["entity"], pp["project"], pp["run_id"])
        return json_response(out)

    async def state(self, request: Request) -> Response:
        pp = request.path_params
        if request.method == "GET":  # the run's resumable state (server/resume.py)
            p = await self.principal(request)
            data = await self.call(resume.resume_state, self.engine, p, pp["entity"], pp["project"], pp["run_id"],
                                   self.base_url(request))
            return Response(data, media_type=resume.STATE_TYPE)
        raw = await self.body(request, 64 * 1024)
        p = await self.principal(request)
        try:
            state = json.loads(raw).get("state")
        except (ValueError, AttributeError):
            raise ApiError(400, "bad_request", 'the body must be JSON like {"state": "crashed"}') from None
        return json_response(await self.call(views.set_state, self.engine, p, pp["entity"], pp["project"],
                                             pp["run_id"], state, self.base_url(request)))

    async def files(self, request: Request) -> Response:
        pp = request.path_params
        p = await self.principal(request)
        return json_response(await self.call(views.list_files, self.engine, p, pp["entity"], pp["project"],
                                             pp["run_id"]))

    async def system(self, request: Request) -> Response:
        """GET {run}/system: the run's system metrics (server/system.py)."""
        return await system.api_system(self, await self.principal(request), request)

    async def output(self, request: Request) -> Response:
        """GET {run}/output: the run's console output, a page at a time (server/output.py)."""
        from .output import api_output

        return await api_output(self, await self.principal(request), request)

    async def media(self, request: Request) -> Response:
        from .media import media_index

        pp = request.path_params
        p = await self.principal(request)
        keys = [k for k in (request.query_params.get("keys") or "").split(",") if k] or None
        data = await self.call(media_index, self.engine, p, pp["entity"], pp["project"], pp["run_id"], keys)
        return Response(await self.call(dumps, data), media_type="application/json")

    async def file(self, request: Request) -> Response:
        pp = request.path_params
        if request.method == "GET":
            p = await self.principal(request)
            data = await self.call(views.get_file, self.engine, p, pp["entity"], pp["project"], pp["run_id"],
                                   pp["path"])
            from .media import file_response  # media types, caching, byte ranges (server/media.py)

            return file_response(pp["path"], data, request.headers.get("range"))
        content = await self.body(request, self.config.max_file)
        p = await self.principal(request)
        out = await self.call(views.put_file, self.engine, p, pp["entity"], pp["project"], pp["run_id"],
                              pp["path"], content, request.query_params.get("kind"))
        return json_response(out, 201)


async def _api_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, ApiError)
    resp = json_response(exc.body(), exc.status)
    resp.headers.update(exc.headers())
    return resp


async def _http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    reason = {404: "not_found", 405: "method_not_allowed"}.get(exc.status_code, "bad_request")
    return json_response({"error": exc.detail or reason, "reason": reason}, exc.status_code)


async def _db_error(request: Request, exc: Exception) -> Response:
    orig = getattr(exc, "orig", None)  # the driver's message only: the SQL and its parameters stay out
    log.error("database error: %s: %s", type(orig or exc).__name__, str(orig or "").splitlines()[0] if orig else "")
    return json_response({"error": "the database is unavailable; retry later", "reason": "unavailable"}, 503)


async def _internal(request: Request, exc: Exception) -> Response:
    log.exception("internal error on %s %s", request.method, request.url.path)
    return json_response({"error": "internal server error", "reason": "internal"}, 500)


def create_app(config: Optional[ServerConfig] = None) -> Starlette:
    """The ASGI app; migrates the database on startup (safe with several workers and hosts)."""
    config = config or ServerConfig.from_env()
    srv = Server(config)

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        await run_in_threadpool(migrate, srv.engine)
        gc.collect()
        gc.freeze()  # the modules and app objects of startup are never collected: keep them out of every scan
        gc.set_threshold(*GC_THRESHOLDS)
        yield
        srv.engine.dispose()

    run = "/api/v1/runs/{entity}/{project}/{run_id}"
    from .media import web_routes as media_web_routes
    from .output import web_routes as output_web_routes

    # the dashboard's pages (server/web/), its media routes (server/media.py) and output (server/output.py)
    from . import artifacts  # artifact blobs, versions, a run's artifacts (spec/protocol.md 8)

    routes = web.routes(srv) + media_web_routes(srv.web) + output_web_routes(srv.web) + artifacts.web_routes(srv.web) + \
        artifacts.routes(srv) + [
        Route("/api/v1/health", srv.health),
        Route("/api/v1/auth/whoami", srv.whoami),
        Route("/api/v1/auth/check", srv.check),
        Route("/api/v1/auth/anonymous", srv.anonymous, methods=["POST"]),
        Route("/api/v1/projects/{entity}", srv.projects),
        Route("/api/v1/runs/{entity}/{project}", srv.runs),
        Route(run, srv.run),
        Route(run, functools.partial(deletion.api_delete, srv), methods=["DELETE"]),  # server/deletion.py
        Route(run + "/history", srv.history),
        Route(run + "/export", srv.export),
        Route(run + "/records", srv.records, methods=["GET", "POST"]),
        Route(run + "/state", srv.state, methods=["GET", "POST"]),
        Route(run + "/media", srv.media),  # server/media.py (spec/protocol.md 4.4)
        Route(run + "/output", srv.output),  # server/output.py (4.7)
        Route(run + "/system", srv.system),  # server/system.py (4.8)
        Route(run + "/files", srv.files),
        Route(run + "/files/{path:path}", srv.file, methods=["GET", "PUT"]),
    ]
    app = Starlette(
        routes=routes,
        lifespan=lifespan,
        exception_handlers={ApiError: _api_error, HTTPException: _http_error, OperationalError: _db_error,
                            Exception: _internal},
    )
    from .timeouts import BodyTimeout

    app.add_middleware(BodyTimeout, idle=config.body_timeout)  # stalled bodies: 408 (spec/protocol.md 3.3)
    app.state.server = srv
    app.state.schema_version = LATEST
    return app
