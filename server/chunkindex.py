"""Per-chunk indexes: tables holding, for each stored chunk that has any, the part of its records
one page needs (media values, system samples), written in the chunk's ingesting transaction and
rebuilt by a migration from the chunks already stored, so that page never reads the history.

An index is a table (run_pk, first_seq, data: msgpack array of items), a `mark` (msgpack bytes
every chunk with items contains, so other chunks are not walked) and an `extract(records) -> items`.
"""
from __future__ import annotations

from typing import Any, Callable, Iterable, List, Sequence

import msgpack
from sqlalchemy import Table, select
from sqlalchemy.engine import Connection

from . import schema

Extract = Callable[[Iterable[Sequence[Any]]], List[Any]]


def write(conn: Connection, table: Table, mark: bytes, extract: Extract, run_pk: int, first_seq: int,
          records: Sequence[Sequence[Any]], payloads: Iterable[bytes]) -> None:
    """Store the items of the chunk starting at `first_seq`; `payloads` are its msgpack bytes."""
    if not any(mark in p for p in payloads):
        return
    items = extract(records)
    if items:
        conn.execute(table.insert().values(run_pk=run_pk, first_seq=first_seq,
                                           data=msgpack.packb(items, use_bin_type=True)))


def backfill(conn: Connection, table: Table, mark: bytes, extract: Extract, history_only: bool = False) -> None:
    """Create `table` (or empty it) and fill it from every stored chunk (with history only, when
    `history_only`), one chunk in memory at a time."""
    from .history import chunk_payload, chunk_records

    table.create(conn, checkfirst=True)
    conn.execute(table.delete())  # a rebuild: what is there is filled in again
    c = schema.chunks.c
    query = select(c.run_pk, c.first_seq)
    for run_pk, first_seq in conn.execute(query.where(c.history_rows > 0) if history_only else query).all():
        blob = conn.execute(select(c.data).where(c.run_pk == run_pk, c.first_seq == first_seq)).scalar_one()
        payload = chunk_payload(blob)
        if mark in payload:
            write(conn, table, mark, extract, run_pk, first_seq, list(chunk_records(blob, payload)), [payload])


def items(conn: Connection, table: Table, run_pk: int) -> List[Any]:
    """Every item of run `run_pk` in `table`, in seq order."""
    out: List[Any] = []
    for blob in conn.execute(select(table.c.data).where(table.c.run_pk == run_pk)
                             .order_by(table.c.first_seq)).scalars():
        out.extend(msgpack.unpackb(blob, raw=False, strict_map_key=False))
    return out
