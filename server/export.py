"""A run's history as a CSV or JSON Lines download (spec/protocol.md 4.6).

The bytes are those of `evlog export` on the run folder (eventlog/rundir/export.py). The response is
streamed: chunks are read from the database a page at a time, each page in its own short read, so
a run of millions of steps costs the server neither memory nor a long-held transaction. The CSV
reads the chunks twice (the header needs every key first).
"""
from __future__ import annotations

from typing import Any, Callable, Iterator, List, Optional, Tuple

from sqlalchemy.engine import Engine
from starlette.responses import StreamingResponse

from eventlog.rundir import export

from .access import run_row
from .errors import ApiError, bad_request
from .history import history_records

BLOCK_BYTES = 64 * 1024   # response body pieces
CONTENT_TYPES = {"csv": "text/csv; charset=utf-8", "jsonl": "application/x-ndjson; charset=utf-8"}


def parse_query(fmt: Optional[str], keys: Optional[str]) -> Tuple[str, Optional[List[str]]]:
    """(format, keys) of the query; a bad format is a 400 naming the ones there are."""
    fmt = (fmt or "csv").lower()
    if fmt not in export.FORMATS:
        raise bad_request(f"format must be one of {', '.join(export.FORMATS)}, got {fmt!r}")
    return fmt, ([k for k in keys.split(",") if k] or None) if keys else None


def run_pk(engine: Engine, principal: Any, entity: str, project: str, run_id: str) -> int:
    """The run's key, once the caller may read it (the refusals of GET {run})."""
    from .access import for_read

    with engine.connect() as conn:
        return run_row(conn, for_read(conn, principal, entity, project), run_id).id


def rows_of(engine: Engine, pk: int) -> Callable[[], Iterator[export.Row]]:
    """A `rows` function (eventlog/rundir/export.py) over the stored history of run `pk`, in seq order,
    each page of chunks read in a connection of its own."""
    return lambda: ((step, data) for _, step, data in history_records(engine.connect, pk))


def _blocks(lines: Iterator[str]) -> Iterator[bytes]:
    buf: List[str] = []
    size = 0
    for line in lines:
        buf.append(line)
        size += len(line)
        if size >= BLOCK_BYTES:
            yield "".join(buf).encode()
            buf, size = [], 0
    if buf:
        yield "".join(buf).encode()


async def respond(srv: Any, principal: Any, path_params: dict, query: Any,
                  refuse: Callable[[ApiError], ApiError] = lambda e: e) -> StreamingResponse:
    """The download, for the API route and the dashboard's (whose refusals `refuse` turns into 404)."""
    pp = path_params
    fmt, keys = parse_query(query.get("format"), query.get("keys"))
    try:
        pk = await srv.call(run_pk, srv.engine, principal, pp["entity"], pp["project"], pp["run_id"])
    except ApiError as exc:
        raise refuse(exc) from None
    body = _blocks(export.lines(fmt, rows_of(srv.engine, pk), keys))
    name = f'{pp["run_id"]}.{fmt}'
    return StreamingResponse(body, media_type=CONTENT_TYPES[fmt],
                             headers={"Content-Disposition": f'attachment; filename="{name}"',
                                      "Cache-Control": "no-store", "X-Content-Type-Options": "nosniff"})
