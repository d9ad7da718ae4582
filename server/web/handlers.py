"""The dashboard's endpoints: pages, sign-in/out, the JSON its scripts read, the run edit
endpoint (PATCH {run}, spec/protocol.md 4.5) and the static assets.

Callers are identified by an `Authorization: Bearer` key when the request has one (as on the
API), else by the session cookie (session.py). Pages answer a project the caller may not read
as 404, like a missing one.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any, List, Optional, Tuple
from urllib.parse import parse_qs, urlsplit

from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response
from starlette.routing import BaseRoute, Mount, Route
from starlette.staticfiles import StaticFiles

from ..auth import Principal, hash_key
from ..errors import ApiError, bad_request, not_logged_in
from ..names import check_name, check_run_id
from ..throttle import client_address
from ..wire import dumps
from . import data, pages, session

STATIC_DIR = Path(__file__).resolve().parent / "static"
FAVICON = STATIC_DIR / "favicon.ico"
CSP = ("default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; "
       "connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'")
HEADERS = {"Content-Security-Policy": CSP, "X-Content-Type-Options": "nosniff", "Referrer-Policy": "same-origin",
           "X-Frame-Options": "DENY", "Cache-Control": "no-store"}
MAX_COMPARE = 10
DEFAULT_SAMPLES = 2000


def html_response(body: str, status: int = 200) -> HTMLResponse:
    return HTMLResponse(body, status, headers=HEADERS)


def json_response(obj: Any, status: int = 200) -> Response:
    return Response(dumps(obj), status, media_type="application/json", headers={"Cache-Control": "no-store"})


def safe_next(url: Optional[str]) -> str:
    """A local path to go to after signing in (never another site)."""
    if not url or not url.startswith("/") or url.startswith("//") or "\\" in url or any(ord(c) < 32 for c in url):
        return "/"
    return url


class Web:
    def __init__(self, srv: Any) -> None:
        self.srv = srv
        self.engine = srv.engine

    # ------------------------------------------------------------- identity
    async def identify(self, request: Request) -> Tuple[Optional[Principal], Optional[session.Session]]:
        if request.headers.get("authorization") is not None:
            return await self.srv.principal(request), None
        token = request.cookies.get(session.COOKIE)
        if not token:
            return None, None
        sess = await self.srv.call(self._read_session, token)
        return (sess.principal if sess else None), sess

    def _read_session(self, token: str) -> Optional[session.Session]:
        with self.engine.connect() as conn:
            return session.read_session(conn, token)

    def origin_ok(self, request: Request) -> bool:
        """No Origin header (same-origin GET-style navigation, non-browser clients), or this server's."""
        origin = request.headers.get("origin")
        if origin is None:
            referer = request.headers.get("referer")
            if referer is None:
                return True
            parts = urlsplit(referer)
            origin = f"{parts.scheme}://{parts.netloc}"
        allowed = {f"{request.url.scheme}://{request.headers.get('host', request.url.netloc)}"}
        if self.srv.config.public_url:
            p = urlsplit(self.srv.config.public_url)
            allowed.add(f"{p.scheme}://{p.netloc}")
        return origin in allowed

    def check_csrf(self, request: Request, sess: session.Session, given: Optional[str]) -> None:
        if not self.origin_ok(request) or not session.same_token(given, sess.csrf):
            raise ApiError(403, "bad_csrf", "this request lacks the page's CSRF token (reload the page and retry)")

    def base_url(self, request: Request) -> str:
        return self.srv.base_url(request)

    def https(self, request: Request) -> bool:
        """Served over https (directly, or behind a proxy whose public URL is https)."""
        return request.url.scheme == "https" or (self.srv.config.public_url or "").startswith("https://")

    async def page(self, request: Request, render: Any) -> Response:
        """Run `render(principal, session)` (a coroutine giving HTML); errors become HTML pages."""
        try:
            principal, sess = await self.identify(request)
        except ApiError as exc:  # an invalid bearer key, or too many of them (429)
            resp = html_response(pages.error_page(exc.status, exc.message), exc.status)
            resp.headers.update(exc.headers())
            return resp
        who = principal.name if principal else None
        csrf = sess.csrf if sess else None
        try:
            return html_response(await render(principal, who, csrf))
        except ApiError as exc:
            exc = data.hide(exc)
            return html_response(pages.error_page(exc.status, exc.message, who=who, csrf=csrf,
                                                  next_url=safe_next(request.url.path)), exc.status)

    # ------------------------------------------------------------- pages
    async def home(self, request: Request) -> Response:
        async def render(p: Optional[Principal], who: Optional[str], csrf: Optional[str]) -> str:
            return pages.home_page(await self.srv.call(data.home, self.engine, p), who=who, csrf=csrf)
        return await self.page(request, render)

    async def entity(self, request: Request) -> Response:
        entity = request.path_params["entity"]

        async def render(p: Optional[Principal], who: Optional[str], csrf: Optional[str]) -> str:
            d = await self.srv.call(data.entity_projects, self.engine, p, entity)
            return pages.entity_page(d["entity"], d, who=who, csrf=csrf)
        return await self.page(request, render)

    async def project(self, request: Request) -> Response:
        pp = request.path_params

        async def render(p: Optional[Principal], who: Optional[str], csrf: Optional[str]) -> str:
            d = await self.srv.call(data.list_runs, self.engine, p, pp["entity"], pp["project"], self.base_url(request))
            return pages.project_page(d, who=who, csrf=csrf)
        return await self.page(request, render)

    async def run(self, request: Request) -> Response:
        pp = request.path_params

        async def render(p: Optional[Principal], who: Optional[str], csrf: Optional[str]) -> str:
            run = await self.srv.call(lambda: data.get_run(self.engine, p, pp["entity"], pp["project"], pp["run_id"],
                                                           self.base_url(request), files=True))
            return pages.run_page(run, who=who, csrf=csrf)
        return await self.page(request, render)

    async def compare(self, request: Request) -> Response:
        pp = request.path_params
        ids = [r for r in (request.query_params.get("runs") or "").split(",") if r][:MAX_COMPARE]

        async def render(p: Optional[Principal], who: Optional[str], csrf: Optional[str]) -> str:
            if not ids:
                raise bad_request("pick runs to compare: ?runs=ID,ID")
            for rid in ids:
                check_run_id(rid)

            def load() -> Tuple[List[Any], bool]:
                runs = [data.get_run(self.engine, p, pp["entity"], pp["project"], rid, self.base_url(request),
                                     files=True) for rid in ids]
                return runs, "program" in runs[0]
            runs, member = await self.srv.call(load)
            return pages.compare_page(pp["entity"], pp["project"], runs, who=who, csrf=csrf, member=member)
        return await self.page(request, render)

    # ------------------------------------------------------------- sign-in
    async def login(self, request: Request) -> Response:
        if request.method == "GET":
            return self._login_form(request, safe_next(request.query_params.get("next")))
        raw = await self.srv.body(request, 64 * 1024)
        form = {k: v[0] for k, v in parse_qs(raw.decode("utf-8", "replace"), keep_blank_values=True).items()}
        next_url = safe_next(form.get("next"))
        pre = request.cookies.get(session.PRE_COOKIE)
        if not self.origin_ok(request) or not session.same_token(form.get("csrf"), pre):
            return self._login_form(request, next_url, "The sign-in form expired: try again.", 403)
        key = (form.get("api_key") or "").strip()
        if not key:
            return self._login_form(request, next_url, "Give an API key.", 400)
        address, digest = client_address(request), hash_key(key)
        try:  # failed sign-ins count against the address like invalid API keys (server/throttle.py)
            self.srv.guard.check(address, digest)
            token, _principal = await self.srv.call(session.open_session, self.engine, key)
        except ApiError as exc:
            if exc.status == 429:
                resp = self._login_form(request, next_url, f"Too many failed sign-ins from your address: try "
                                        f"again in {exc.extra['retry_after']} s.", 429)
                resp.headers.update(exc.headers())
                return resp
            self.srv.guard.failed(address, digest)
            return self._login_form(request, next_url, "That API key is not valid on this server.", 401)
        self.srv.guard.succeeded(digest)
        resp = RedirectResponse(next_url, 303, headers={"Cache-Control": "no-store"})
        resp.set_cookie(session.COOKIE, token, max_age=session.MAX_AGE, path="/", httponly=True, samesite="lax",
                        secure=self.https(request))
        resp.delete_cookie(session.PRE_COOKIE, path="/-/login")
        return resp

    def _login_form(self, request: Request, next_url: str, error: Optional[str] = None,
                    status: int = 200) -> Response:
        pre = session.new_pre_token()
        resp = html_response(pages.login_page(pre, next_url, error), status)
        resp.set_cookie(session.PRE_COOKIE, pre, max_age=3600, path="/-/login", httponly=True, samesite="strict",
                        secure=self.https(request))
        return resp

    async def logout(self, request: Request) -> Response:
        raw = await self.srv.body(request, 64 * 1024)
        form = {k: v[0] for k, v in parse_qs(raw.decode("utf-8", "replace")).items()}
        _p, sess = await self.identify(request)
        if sess is not None:
            self.check_csrf(request, sess, form.get("csrf"))
            await self.srv.call(session.close_session, self.engine, sess.token)  # a copied cookie stops working
        resp = RedirectResponse("/", 303)
        resp.delete_cookie(session.COOKIE, path="/")
        return resp

    # ------------------------------------------------------------- JSON for the page scripts
    async def reader(self, request: Request) -> Optional[Principal]:
        principal, _ = await self.identify(request)
        return principal

    async def export(self, request: Request) -> Response:
        """GET /-/export/{entity}/{project}/{run_id}?format=csv|jsonl: the history download
        (as GET {run}/export, spec/protocol.md 4.6) under the page's session."""
        from ..export import respond

        return await respond(self.srv, await self.reader(request), request.path_params, request.query_params, data.hide)

    async def api_system(self, request: Request) -> Response:
        """GET /-/api/runs/{entity}/{project}/{run_id}/system: as GET {run}/system, for the run page."""
        from ..system import api_system

        return await api_system(self.srv, await self.reader(request), request, data.hide)

    async def api_runs(self, request: Request) -> Response:
        pp = request.path_params
        p = await self.reader(request)
        since = request.query_params.get("since")
        try:
            since_f = float(since) if since else None
        except ValueError:
            raise bad_request("since must be a number (server time)") from None
        return json_response(await self.srv.call(data.list_runs, self.engine, p, pp["entity"], pp["project"],
                                                 self.base_url(request), since_f))

    async def api_run(self, request: Request) -> Response:
        pp = request.path_params
        p = await self.reader(request)
        return json_response(await self.srv.call(data.get_run, self.engine, p, pp["entity"], pp["project"],
                                                 pp["run_id"], self.base_url(request)))

    async def api_series(self, request: Request) -> Response:
        pp, qp = request.path_params, request.query_params
        p = await self.reader(request)
        keys = [k for k in (qp.get("keys") or "").split(",") if k] or None
        try:
            samples = int(qp.get("samples") or DEFAULT_SAMPLES)
            from_seq = int(qp.get("from_seq") or 0)
        except ValueError:
            raise bad_request("samples and from_seq must be integers") from None
        if not 2 <= samples <= 100_000 or from_seq < 0:
            raise bad_request("samples must be between 2 and 100000, from_seq >= 0")
        out = await self.srv.call(data.read_series, self.engine, p, pp["entity"], pp["project"], pp["run_id"],
                                  keys, samples, from_seq)
        return Response(await self.srv.call(dumps, out), media_type="application/json",
                        headers={"Cache-Control": "no-store"})

    async def api_files(self, request: Request) -> Response:
        """GET /-/api/runs/{entity}/{project}/{run_id}/files: as GET {run}/files (code and diff
        files only for members), for the run page's Files section."""
        from ..views import list_files, run_answer

        return await run_answer(self.srv, await self.reader(request), request, list_files, refuse=data.hide)

    async def favicon(self, request: Request) -> Response:
        """GET /favicon.ico: the icon browsers ask every page for."""
        return Response(FAVICON.read_bytes(), media_type="image/x-icon",
                        headers={"Cache-Control": "public, max-age=86400"})

    # ------------------------------------------------------------- PATCH {run}
    async def patch_run(self, request: Request) -> Response:
        pp = request.path_params
        check_name("entity", pp["entity"])
        check_name("project", pp["project"])
        check_run_id(pp["run_id"])
        raw = await self.srv.body(request, 256 * 1024)
        principal, sess = await self.identify(request)
        if sess is not None:
            self.check_csrf(request, sess, request.headers.get(session.CSRF_HEADER))
        if principal is None:
            raise not_logged_in()
        ctype = request.headers.get("content-type", "").split(";")[0].strip().lower()
        if ctype not in ("application/json", ""):
            raise ApiError(415, "unsupported_media_type", f"send the changes as application/json, not {ctype}")
        try:
            changes = json.loads(raw or b"null")
        except ValueError:
            raise bad_request('the body must be JSON like {"name": "new name"}') from None
        return json_response(await self.srv.call(data.edit_run, self.engine, principal, pp["entity"], pp["project"],
                                                 pp["run_id"], changes, self.base_url(request)))


def routes(srv: Any) -> List[BaseRoute]:
    """The dashboard's routes; they go before the API's in the app's route list."""
    w = Web(srv)
    srv.web = w
    return [
        Route("/", w.home),
        Route("/-/login", w.login, methods=["GET", "POST"]),
        Route("/-/logout", w.logout, methods=["POST"]),
        Mount("/-/static", app=StaticFiles(directory=str(STATIC_DIR)), name="static"),
        Route("/-/api/runs/{entity}/{project}", w.api_runs),
        Route("/-/api/runs/{entity}/{project}/{run_id}", w.api_run),
        Route("/-/api/runs/{entity}/{project}/{run_id}/series", w.api_series),
        Route("/-/export/{entity}/{project}/{run_id}", w.export),
        Route("/-/api/runs/{entity}/{project}/{run_id}/system", w.api_system),
        Route("/-/api/runs/{entity}/{project}/{run_id}/files", w.api_files),
        Route("/favicon.ico", w.favicon),  # before /{entity}, which would take it for an entity
        Route("/api/v1/runs/{entity}/{project}/{run_id}", w.patch_run, methods=["PATCH"]),
        Route("/{entity}", w.entity),
        Route("/{entity}/{project}", w.project),
        Route("/{entity}/{project}/compare", w.compare),
        Route("/{entity}/{project}/runs/{run_id}", w.run),
    ]
