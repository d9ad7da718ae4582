"""A run's console output on the server (spec/protocol.md 4.7): the `output` records
(spec/format.md section 3: what the program wrote to stdout / stderr) of each chunk are kept at
ingestion in the `output` table as [seq, stream, text], so GET {run}/output and the run page's Logs
read only them, a page at a time by seq, never the run's history.
"""
from __future__ import annotations

from typing import Any, Dict, Iterable, List, Optional, Sequence, Tuple

import msgpack
from sqlalchemy import select
from sqlalchemy.engine import Connection, Engine
from starlette.responses import Response

from . import chunkindex
from . import schema as s
from .access import run_row

OUTPUT_MARK = b"\xa6output"  # the msgpack string "output", the type of every output record
MAX_LIMIT = 10_000
_ROWS_PER_READ = 32  # index rows (chunks) read per query while filling a page


def chunk_output(records: Iterable[Sequence[Any]]) -> List[List[Any]]:
    """[seq, stream, text] of every well-formed output record, in seq order."""
    out: List[List[Any]] = []
    for rec in records:
        if rec[1] != "output":
            continue
        stream, text = rec[3].get("stream"), rec[3].get("text")
        if type(stream) is str and type(text) is str:
            out.append([rec[0], stream, text])
    return out


def write(conn: Connection, run_pk: int, first_seq: int, records: Sequence[Sequence[Any]],
          payloads: Iterable[bytes]) -> None:
    """Store the output of the chunk starting at `first_seq` (in the ingesting transaction)."""
    chunkindex.write(conn, s.output, OUTPUT_MARK, chunk_output, run_pk, first_seq, records, payloads)


def parse_query(after: Optional[str], limit: Optional[str]) -> Tuple[int, int]:
    """(after, limit) of GET {run}/output: `after` a seq (default -1: from the start), `limit` 1..10000."""
    from .errors import int_param

    return int_param("after", after, -1, -1, 2 ** 63 - 1), int_param("limit", limit, MAX_LIMIT, 1, MAX_LIMIT)


def read_page(conn: Connection, run_pk: int, after: int, limit: int) -> Tuple[List[List[Any]], bool]:
    """(items, more): the first `limit` items of the run's output with a seq above `after`, and
    whether any follow. Reads the one chunk that may span `after`, then chunks from `after` on,
    a few at a time, only until the page is full."""
    t = s.output.c
    items: List[List[Any]] = []
    spanning = conn.execute(select(t.data).where(t.run_pk == run_pk, t.first_seq <= after)
                            .order_by(t.first_seq.desc()).limit(1)).scalar()
    if spanning is not None:  # the chunk starting at or before `after`: its tail may follow it
        items.extend(i for i in msgpack.unpackb(spanning, raw=False) if i[0] > after)
    start = after
    while len(items) <= limit:
        rows = conn.execute(select(t.first_seq, t.data).where(t.run_pk == run_pk, t.first_seq > start)
                            .order_by(t.first_seq).limit(_ROWS_PER_READ)).all()
        for first_seq, blob in rows:
            items.extend(msgpack.unpackb(blob, raw=False))
            start = first_seq
            if len(items) > limit:
                break
        if len(rows) < _ROWS_PER_READ:
            break
    return items[:limit], len(items) > limit


def output_page(engine: Engine, principal: Any, entity: str, project: str, run_id: str,
                after: int = -1, limit: int = MAX_LIMIT) -> Dict[str, Any]:
    """{"output": [[seq, stream, text], ...], "next", "more", "state"}: the output records after
    seq `after`, at most `limit`; `next` is the last seq returned (`after` when none)."""
    from .access import for_read

    with engine.connect() as conn:
        row = run_row(conn, for_read(conn, principal, entity, project), run_id)
        items, more = read_page(conn, row.id, after, limit)
    return {"output": items, "next": items[-1][0] if items else after, "more": more, "state": row.state}


async def api_output(srv: Any, principal: Any, request: Any, refuse=None) -> Response:
    """GET {run}/output and its dashboard copy (whose refusals `refuse` turns into 404)."""
    from .views import run_answer

    q = request.query_params
    return await run_answer(srv, principal, request, output_page, *parse_query(q.get("after"), q.get("limit")),
                            refuse=refuse)


def web_routes(web: Any) -> list:
    """The dashboard's output route: GET /-/api/runs/{entity}/{project}/{run_id}/output under its
    session cookie (refusals as 404, like its pages)."""
    from starlette.routing import Route

    from .errors import hide

    async def output(request: Any) -> Response:
        return await api_output(web.srv, await web.reader(request), request, hide)

    return [Route("/-/api/runs/{entity}/{project}/{run_id}/output", output)]
