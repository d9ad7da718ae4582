"""A run's system metrics on the server (spec/protocol.md 4.8): the `system` records
(spec/format.md section 3) of each chunk are kept at ingestion in the `system` table, so the run
page's System charts read only them, never the run's history.
"""
from __future__ import annotations

from typing import Any, Dict, Iterable, List, Sequence

from sqlalchemy.engine import Connection, Engine
from starlette.responses import Response

from . import chunkindex
from . import schema as s
from .access import run_row
from .series import downsample

SYSTEM_MARK = b"\xa6system"  # the msgpack string "system", the type of every system record
DEFAULT_SAMPLES = 1000
MAX_SAMPLES = 100_000


def chunk_samples(records: Iterable[Sequence[Any]]) -> List[List[Any]]:
    """[time, {name: number}] of every well-formed system record, in record order."""
    out: List[List[Any]] = []
    for rec in records:
        if rec[1] != "system" or type(rec[3]) is not dict or type(rec[3].get("metrics")) is not dict:
            continue
        t = rec[2]
        m = {k: v for k, v in rec[3]["metrics"].items()
             if type(k) is str and type(v) in (int, float) and v == v and abs(v) != float("inf")}
        if m and type(t) in (int, float):
            out.append([float(t), m])
    return out


def write(conn: Connection, run_pk: int, first_seq: int, records: Sequence[Sequence[Any]],
          payloads: Iterable[bytes]) -> None:
    """Store the system samples of the chunk starting at `first_seq` (in the ingesting transaction)."""
    chunkindex.write(conn, s.system, SYSTEM_MARK, chunk_samples, run_pk, first_seq, records, payloads)


def system_metrics(engine: Engine, principal: Any, entity: str, project: str, run_id: str,
                   samples: int = DEFAULT_SAMPLES) -> Dict[str, Any]:
    """{"start", "state", "metrics": {name: [[seconds since start...], [values...]]}}: each metric
    downsampled to about `samples` points, keeping each time bucket's minimum and maximum."""
    from .access import for_read

    with engine.connect() as conn:
        row = run_row(conn, for_read(conn, principal, entity, project), run_id)
        stored = chunkindex.items(conn, s.system, row.id)
    start = row.started_at
    found: Dict[str, List[List[float]]] = {}
    for t, m in stored:
        if start is None:
            start = t
        for k, v in m.items():
            pair = found.get(k)
            if pair is None:
                pair = found[k] = [[], []]
            pair[0].append(round(t - start, 3))
            pair[1].append(float(v))
    out = {k: list(downsample(xs, ys, samples)) for k, (xs, ys) in sorted(found.items())}
    return {"start": start, "state": row.state, "metrics": out}


async def api_system(srv: Any, principal: Any, request: Any, refuse=None) -> Response:
    """GET {run}/system and its dashboard copy (whose refusals `refuse` turns into 404)."""
    from .errors import int_param
    from .views import run_answer

    n = int_param("samples", request.query_params.get("samples"), DEFAULT_SAMPLES, 2, MAX_SAMPLES)
    return await run_answer(srv, principal, request, system_metrics, n, refuse=refuse)
