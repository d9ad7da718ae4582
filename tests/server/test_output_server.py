"""Console output on the server (server/output.py): the `output` records of each uploaded chunk are
indexed at ingestion (with history in the chunk or not; migration 4 for chunks stored before),
GET {run}/output pages through them by seq (after / limit / more / next), readable as the run's
history is, and the dashboard reads the same JSON under its session."""
from __future__ import annotations

import textwrap

import pytest
from sqlalchemy import delete, event, func, select

from support.run import of_type, only_run_folder, records, run_script, scrubbed_env
from support.server import T0, history, run_record
from support.client import evlog_sync, sync_env


def out(seq: int, stream: str, text) -> list:
    return [seq, "output", T0 + seq, {"stream": stream, "text": text}]


def exit_record(seq: int) -> list:
    return [seq, "exit", T0 + seq, {"exit_code": 0, "runtime": 1.0, "interrupted": False, "error": None}]


def sample_records(run_id: str) -> list:
    """40 records in chunks of 5 (batch=5): output in the chunks starting at 0, 10, 15 (output only,
    no history), 25 (one malformed, one good); the chunk at 30 holds malformed output only."""
    recs = [run_record(run_id), out(1, "stdout", "hello\n"), out(2, "stderr", "warning: x\n")]
    while len(recs) < 40:
        seq = len(recs)
        if seq == 12:
            recs.append(out(seq, "stdout", "epoch 1\repoch 2\n"))
        elif 15 <= seq < 20:
            recs.append(out(seq, "stdout" if seq % 2 else "stderr", f"line {seq}\n"))
        elif seq == 26:
            recs.append([seq, "output", T0 + seq, {"stream": "stdout", "text": b"bytes, not text"}])
        elif seq == 28:
            recs.append(out(seq, "stdout", "partial"))
        elif seq == 31:
            recs.append([seq, "output", T0 + seq, {"stream": 1, "text": "a stream that is not a name"}])
        elif seq == 33:
            recs.append([seq, "output", T0 + seq, {"text": "no stream"}])
        elif seq == 34:
            recs.append([seq, "output", T0 + seq, {"stream": "stdout"}])
        else:
            recs.append(history(seq, seq))
    return recs


WANT = [[1, "stdout", "hello\n"], [2, "stderr", "warning: x\n"], [12, "stdout", "epoch 1\repoch 2\n"],
        [15, "stdout", "line 15\n"], [16, "stderr", "line 16\n"], [17, "stdout", "line 17\n"],
        [18, "stderr", "line 18\n"], [19, "stdout", "line 19\n"], [28, "stdout", "partial"]]


def run_pk(srv, run_id: str) -> int:
    from eventlog.server import schema

    with srv.engine.connect() as conn:
        return conn.execute(select(schema.runs.c.id).where(schema.runs.c.run_id == run_id)).scalar_one()


def index_starts(srv, pk: int) -> list:
    from eventlog.server import schema

    with srv.engine.connect() as conn:
        return conn.execute(select(schema.output.c.first_seq).where(schema.output.c.run_pk == pk)
                            .order_by(schema.output.c.first_seq)).scalars().all()


def test_output_is_indexed_per_chunk_and_paged_by_seq(srv):
    user, key = srv.user()
    srv.upload(user, "logs", "out1", sample_records("out1"), key, batch=5)
    pk = run_pk(srv, "out1")
    assert index_starts(srv, pk) == [0, 10, 15, 25]  # chunks without (well-formed) output have no row
    url = f"/api/v1/runs/{user}/logs/out1/output"
    assert srv.get(url, key).json() == {"output": WANT, "next": 28, "more": False, "state": "running"}
    assert srv.get(url, key, after=-1, limit=10000).json()["output"] == WANT

    # pages of 2: each ends at the seq it returned last; `more` until the last one
    pages, after = [], -1
    while True:
        got = srv.get(url, key, after=after, limit=2).json()
        pages.append(got)
        after = got["next"]
        if not got["more"]:
            break
    assert [p["output"] for p in pages] == [WANT[0:2], WANT[2:4], WANT[4:6], WANT[6:8], WANT[8:9]]
    assert [p["next"] for p in pages] == [2, 15, 17, 19, 28]
    assert [p["more"] for p in pages] == [True, True, True, True, False]

    # `after` inside a chunk (15..19): its tail follows, then the later chunks
    assert srv.get(url, key, after=16, limit=2).json() == {"output": WANT[5:7], "next": 18, "more": True,
                                                           "state": "running"}
    assert srv.get(url, key, after=16).json()["output"] == WANT[5:]
    assert srv.get(url, key, after=3, limit=1).json()["output"] == [WANT[2]]  # after a chunk with none left
    assert srv.get(url, key, after=19, limit=1).json() == {"output": [WANT[8]], "next": 28, "more": False,
                                                           "state": "running"}
    # exactly as many as there are: no more
    assert srv.get(url, key, limit=len(WANT)).json()["more"] is False
    assert srv.get(url, key, limit=len(WANT) - 1).json()["more"] is True
    # nothing after: `next` is the `after` given
    assert srv.get(url, key, after=28).json() == {"output": [], "next": 28, "more": False, "state": "running"}
    assert srv.get(url, key, after=10 ** 9).json() == {"output": [], "next": 10 ** 9, "more": False,
                                                       "state": "running"}

    # more output and the exit: appended, the state follows
    srv.upload(user, "logs", "out1", [out(40, "stdout", " done\n"), exit_record(41)], key)
    assert srv.get(url, key, after=28).json() == {"output": [[40, "stdout", " done\n"]], "next": 40, "more": False,
                                                  "state": "finished"}


def test_a_resent_body_indexes_only_the_records_it_applies(srv):
    user, key = srv.user()
    recs = [run_record("out2")] + [out(i, "stdout", f"{i}\n") for i in range(1, 30)]
    srv.upload(user, "logs", "out2", recs[:20], key, batch=10)
    r = srv.post_records(user, "logs", "out2", recs[15:25], key)  # 15..19 are there already
    assert r.status_code == 200 and r.json()["applied"] == 5
    srv.upload(user, "logs", "out2", recs[25:], key)
    assert index_starts(srv, run_pk(srv, "out2")) == [0, 10, 20, 25]
    got = srv.get(f"/api/v1/runs/{user}/logs/out2/output", key).json()["output"]
    assert got == [[i, "stdout", f"{i}\n"] for i in range(1, 30)]


def test_many_chunks_are_paged_without_reading_the_whole_run(srv):
    from eventlog.server import output

    user, key = srv.user()
    recs = [run_record("out3")]
    for i in range(1, 400):
        recs.append(out(i, "stderr" if i % 3 == 0 else "stdout", f"{i}\n") if i % 2 else history(i, i))
    srv.upload(user, "logs", "out3", recs, key, batch=4)  # 100 chunks, each holding output
    want = [[i, "stderr" if i % 3 == 0 else "stdout", f"{i}\n"] for i in range(1, 400, 2)]
    url = f"/api/v1/runs/{user}/logs/out3/output"
    pages, after = [], -1
    while True:
        got = srv.get(url, key, after=after, limit=7).json()
        pages.append(got["output"])
        after = got["next"]
        if not got["more"]:
            break
    assert [x for p in pages for x in p] == want and len(pages) == 29 and after == 399
    assert srv.get(url, key).json()["output"] == want

    # a page near the end reads the chunk spanning `after` and the few after it: two small queries
    pk = run_pk(srv, "out3")
    seen = []

    def count(conn, cursor, statement, params, context, executemany):
        if "output" in statement:
            seen.append(statement)

    event.listen(srv.engine, "before_cursor_execute", count)
    try:
        with srv.engine.connect() as conn:
            items, more = output.read_page(conn, pk, 390, 10000)
    finally:
        event.remove(srv.engine, "before_cursor_execute", count)
    assert items == want[-5:] and more is False and len(seen) == 2


def test_bad_queries_are_refused(srv):
    user, key = srv.user()
    srv.upload(user, "logs", "out4", [run_record("out4"), out(1, "stdout", "x\n")], key)
    url = f"/api/v1/runs/{user}/logs/out4/output"
    for q in ({"limit": 0}, {"limit": 10001}, {"limit": "ten"}, {"after": "x"}, {"after": -2}, {"limit": ""}):
        r = srv.get(url, key, **q)
        assert r.status_code == 400 and r.json()["reason"] == "bad_request", (q, r.text)
        assert srv.get(f"/-/api/runs/{user}/logs/out4/output", key, **q).status_code == 400
    assert srv.get(url, key, limit=1).status_code == 200 and srv.get(url, key, limit=10000).status_code == 200
    assert srv.get(f"/api/v1/runs/{user}/logs/nope/output", key).json()["reason"] == "no_such_run"


def test_output_is_readable_as_the_history_is(srv):
    user, key = srv.user()
    outsider, okey = srv.user("outsider")
    srv.upload(user, "private", "out5", [run_record("out5"), out(1, "stdout", "secret\n")], key)
    api = f"/api/v1/runs/{user}/private/out5/output"
    web = f"/-/api/runs/{user}/private/out5/output"
    want = {"output": [[1, "stdout", "secret\n"]], "next": 1, "more": False, "state": "running"}
    assert srv.get(api, key).json() == want and srv.get(web, key).json() == want
    assert srv.get(web, key).headers["cache-control"] == "no-store"
    # outsiders and anonymous readers: as GET {run}/history answers them; the dashboard: not found
    for k in (okey, None):
        hist = srv.get(f"/api/v1/runs/{user}/private/out5/history", k).status_code
        r = srv.get(api, k)
        assert r.status_code == hist and r.status_code in (401, 403, 404) and "secret" not in r.text
        r = srv.get(web, k)
        assert r.status_code == 404 and r.json()["reason"] == "not_found" and "secret" not in r.text
    assert srv.get(api, "not-a-key").status_code == 401
    # an open project: anyone reads it
    srv.visibility(user, "private", "open")
    assert srv.get(api).json() == want and srv.get(web).json() == want and srv.get(api, okey).json() == want


def test_migration_4_rebuilds_the_index_from_stored_chunks(srv):
    from eventlog.server import migrations, schema

    user, key = srv.user()
    srv.upload(user, "logs", "out6", sample_records("out6"), key, batch=5)
    pk = run_pk(srv, "out6")
    url = f"/api/v1/runs/{user}/logs/out6/output"
    with srv.engine.connect() as conn:
        before = conn.execute(select(schema.output.c.run_pk, schema.output.c.first_seq, schema.output.c.data)
                              .order_by(schema.output.c.run_pk, schema.output.c.first_seq)).all()
    assert before
    # a database from before the index (migration 5 applied, 4 not): migrate() applies 4
    with srv.engine.begin() as conn:
        conn.execute(delete(schema.output))
        conn.execute(delete(schema.schema_version).where(schema.schema_version.c.version == 4))
        schema.output.drop(conn)
    assert migrations.migrate(srv.engine) == migrations.LATEST
    with srv.engine.connect() as conn:
        after = conn.execute(select(schema.output.c.run_pk, schema.output.c.first_seq, schema.output.c.data)
                             .order_by(schema.output.c.run_pk, schema.output.c.first_seq)).all()
        versions = conn.execute(select(schema.schema_version.c.version)
                                .order_by(schema.schema_version.c.version)).scalars().all()
        assert conn.execute(select(func.count()).select_from(schema.output)
                            .where(schema.output.c.run_pk == pk)).scalar_one() == 4
    assert after == before and versions == list(range(1, migrations.LATEST + 1))
    assert srv.get(url, key).json()["output"] == WANT


@pytest.mark.parametrize("body", [
    {"stream": "stdout", "text": None},
    {"stream": None, "text": "x"},
    {"stream": ["stdout"], "text": "x"},
    {"stream": "stdout", "text": {"a": 1}},
    {},
])
def test_malformed_output_bodies_are_ignored(srv, body):
    user, key = srv.user()
    recs = [run_record("out7"), [1, "output", T0, body], out(2, "stderr", "fine\n"), history(3, 0)]
    srv.upload(user, "logs", "out7", recs, key)
    assert srv.get(f"/api/v1/runs/{user}/logs/out7/output", key).json()["output"] == [[2, "stderr", "fine\n"]]
    assert srv.rows(user, "logs", "out7", key) == [{"step": 0, "data": recs[3][3]["data"]}]


def test_a_real_run_s_captured_output_is_served_as_printed(srv, tmp_path):
    user, key = srv.user()
    script = tmp_path / "train.py"
    script.write_text(textwrap.dedent("""
        import sys
        import eventlog as wandb
        run = wandb.init(project="consolereal", id="real1")
        print("hello from the program")
        for i in range(3):
            sys.stdout.write(f"\\rprogress {i + 1}/3")
        print()
        print("a warning", file=sys.stderr)
        wandb.log({"x": 1.0})
        run.finish()
    """))
    env = scrubbed_env(tmp_path, EVLOG_MODE="offline", EVLOG_SYSTEM_INTERVAL="0")
    proc = run_script(script, tmp_path, env, timeout=120)
    assert proc.returncode == 0, proc.stderr
    folder = only_run_folder(tmp_path)
    local = [[r.seq, r.body["stream"], r.body["text"]] for r in of_type(records(folder), "output")]
    assert evlog_sync(str(folder), env=sync_env(tmp_path, srv.url, key)).returncode == 0
    got = srv.get(f"/api/v1/runs/{user}/consolereal/real1/output", key).json()
    assert got["output"] == local and got["state"] == "finished" and got["more"] is False
    streams = {st: "".join(t for _, s, t in local if s == st) for st in ("stdout", "stderr")}
    assert "hello from the program\n\rprogress 1/3\rprogress 2/3\rprogress 3/3\n" in streams["stdout"]
    assert "a warning\n" in streams["stderr"]
