"""A run's media on the server (spec/protocol.md 4.4).

- `file_response`: serving a run's files to browsers: media files (spec/format.md section 7) get
  their content type, long-lived caching (they are named by their content hash) and byte ranges
  (video and audio players seek with Range requests); logged HTML pages a sandboxing CSP; every
  other file stays application/octet-stream.
- `media_index`: every media value of a run's history, per key, in step order (what a step slider
  needs), read from the `media` table: ingestion (`write`) stores each chunk's media values there,
  so a page load reads only the media, never the run's history (a million steps of numbers cost
  nothing here).
"""
from __future__ import annotations

import re
from typing import Any, Dict, Iterable, List, Optional, Sequence

from sqlalchemy.engine import Connection

from starlette.responses import Response

from eventlog.records.media import media_kind

from . import chunkindex
from . import schema as s
from .access import run_row
from .names import MEDIA_PATH

# the media types a browser may render from a run's files (html only sandboxed); anything else (svg, ...) never is
MEDIA_TYPES = {
    "png": "image/png",
    "jpg": "image/jpeg",
    "jpeg": "image/jpeg",
    "gif": "image/gif",
    "webp": "image/webp",
    "mp4": "video/mp4",
    "webm": "video/webm",
    "ogg": "video/ogg",
    "json": "application/json",  # tables (eventlog.Table): data for the page's script, never rendered
    "wav": "audio/wav",
    "mp3": "audio/mpeg",
    "oga": "audio/ogg",
    "flac": "audio/flac",
    "html": "text/html; charset=utf-8",  # eventlog.Html: only ever rendered sandboxed (HTML_HEADERS)
}
# a logged HTML page runs nothing and reaches nothing, wherever it is opened: the CSP sandbox gives
# it an opaque origin without scripts (no cookie, no API call with the dashboard's session)
HTML_CSP = ("sandbox; default-src 'none'; style-src 'unsafe-inline'; img-src data:; font-src data:; "
            "frame-ancestors 'self'; base-uri 'none'; form-action 'none'")
HTML_HEADERS = {"Content-Security-Policy": HTML_CSP, "Referrer-Policy": "no-referrer",
                "Cross-Origin-Resource-Policy": "same-origin"}
_RANGE = re.compile(r"^bytes=(\d*)-(\d*)$")


def media_type(path: str) -> Optional[str]:
    """The content type of a media file path (`media/<sha256>.<ext>`), or None."""
    m = MEDIA_PATH.match(path)
    return MEDIA_TYPES.get(m.group(2)) if m else None


def file_response(path: str, data: bytes, range_header: Optional[str]) -> Response:
    """The response of GET {run}/files/{path}: whole, or the byte range asked for (206 / 416)."""
    ctype = media_type(path)
    headers = {"X-Content-Type-Options": "nosniff", "Accept-Ranges": "bytes"}
    if ctype is None:
        return Response(data, media_type="application/octet-stream", headers=headers)
    headers["Cache-Control"] = "private, max-age=31536000, immutable"  # content-addressed
    if ctype.startswith("text/html"):
        headers.update(HTML_HEADERS)
    total = len(data)
    m = _RANGE.match(range_header.strip()) if range_header else None
    if m is None or (not m.group(1) and not m.group(2)):
        return Response(data, media_type=ctype, headers=headers)
    if m.group(1):
        start = int(m.group(1))
        end = min(int(m.group(2)), total - 1) if m.group(2) else total - 1
    else:  # the last N bytes
        start = max(0, total - int(m.group(2)))
        end = total - 1
    if start >= total or start > end:
        headers["Content-Range"] = f"bytes */{total}"
        return Response(b"", status_code=416, headers=headers)
    headers["Content-Range"] = f"bytes {start}-{end}/{total}"
    return Response(data[start:end + 1], status_code=206, media_type=ctype, headers=headers)


def describe(m: Any) -> str:
    """A media value in a few words (tables of the dashboard; EV.fmtValue says the same)."""
    if type(m) is list:
        return f"{len(m)} x {describe(m[0])}"
    if m.get("_type") == "histogram":
        return f"histogram, {len(m.get('counts') or [])} bins"
    if m.get("_type") == "table":
        return f"table, {m.get('nrows')} rows x {len(m.get('columns') or [])} columns"
    if m.get("_type") == "chart":
        return f"chart, {m.get('kind')}"
    if m.get("_type") == "audio":
        duration = m.get("duration")
        return f"audio {m.get('format')}" + (f", {duration:g} s" if isinstance(duration, (int, float)) else "")
    size = f" {m['width']}x{m['height']}" if m.get("width") and m.get("height") else ""
    return f"{m.get('_type')}{size}{' ' + str(m['format']) if m.get('format') else ''}"


def _media_items(data: Dict[str, Any], prefix: str, out: Dict[str, List[Any]], step: int, depth: int = 0) -> None:
    for k, v in data.items():
        if depth > 32:
            continue
        if media_kind(v) is not None:
            out.setdefault(f"{prefix}{k}", []).append((step, v))
        elif type(v) is dict:
            _media_items(v, f"{prefix}{k}/", out, step, depth + 1)


MEDIA_MARK = b"\xa5_type"  # the msgpack string "_type", the key of every media map: chunks without it hold none


def chunk_media(records: Iterable[Sequence[Any]]) -> List[List[Any]]:
    """[step, key, media map] for every media value of the history records, in record order."""
    found: Dict[str, List[Any]] = {}
    out: List[List[Any]] = []
    for rec in records:
        if rec[1] != "history":
            continue
        found.clear()
        _media_items(rec[3]["data"], "", found, rec[3]["step"])
        for key, items in found.items():
            out.extend([step, key, m] for step, m in items)
    return out


def write(conn: Connection, run_pk: int, first_seq: int, records: Sequence[Sequence[Any]],
          payloads: Iterable[bytes]) -> None:
    """Store the media values of the chunk starting at `first_seq` (in the ingesting transaction).
    `payloads` are the chunk's msgpack bytes: without the media mark in them, nothing is walked."""
    chunkindex.write(conn, s.media, MEDIA_MARK, chunk_media, run_pk, first_seq, records, payloads)


def media_index(engine: Any, principal: Any, entity: str, project: str, run_id: str,
                keys: Optional[List[str]] = None) -> Dict[str, Any]:
    """{"media": {key: {"type", "steps": [...], "items": [media map, ...]}}}: every media value of
    the run's history (nested keys joined with "/"), in step order; `keys` keeps only those. An
    item is a list of media maps where that step logged a list."""
    from .access import for_read

    with engine.connect() as conn:
        target = for_read(conn, principal, entity, project)
        row = run_row(conn, target, run_id)
        stored = chunkindex.items(conn, s.media, row.id)
    found: Dict[str, List[Any]] = {}
    for step, key, m in stored:
        if not keys or key in keys:
            found.setdefault(key, []).append((step, m))
    out = {}
    for key in sorted(found):
        items = found[key]
        out[key] = {"type": media_kind(items[-1][1]), "steps": [st for st, _ in items], "items": [m for _, m in items]}
    return {"media": out, "last_step": row.last_step, "state": row.state}


# ------------------------------------------------------- the dashboard's side
# The dashboard (server/web/) reads with its session cookie, which the /api/v1 routes ignore: these
# two handlers serve the same data under /-/ for it (wired in server/web/handlers.routes).
async def web_media(web: Any, request: Any) -> Response:
    """GET /-/api/runs/{entity}/{project}/{run_id}/media: media_index for the page's scripts."""
    from .errors import hide
    from .views import run_answer

    return await run_answer(web.srv, await web.reader(request), request, media_index, refuse=hide)


async def web_file(web: Any, request: Any) -> Response:
    """GET /-/files/{entity}/{project}/{run_id}/{path}: a run's file for the page (as GET {run}/files/{path})."""
    from . import views
    from .errors import ApiError, hide

    pp = request.path_params
    principal = await web.reader(request)
    try:
        data = await web.srv.call(views.get_file, web.engine, principal, pp["entity"], pp["project"], pp["run_id"],
                                  pp["path"])
    except ApiError as exc:
        raise hide(exc) from None
    return file_response(pp["path"], data, request.headers.get("range"))


def web_routes(web: Any) -> list:
    """The dashboard's media routes (before its `/{entity}/...` pages)."""
    from starlette.routing import Route

    async def media(request: Any) -> Response:
        return await web_media(web, request)

    async def file(request: Any) -> Response:
        return await web_file(web, request)

    return [Route("/-/api/runs/{entity}/{project}/{run_id}/media", media),
            Route("/-/files/{entity}/{project}/{run_id}/{path:path}", file)]
