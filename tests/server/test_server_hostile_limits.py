"""Hostile limits (issue 15, items 2 3 4 5 8 9): what one request may cost, nesting depth, huge numbers,
NUL characters, stalled connections and the places the server and spec/protocol.md disagreed. Each on
SQLite and PostgreSQL against a real `evlog server` process, with the default body limits."""
from __future__ import annotations

import base64
import json
import math
import os
import socket
import threading
from typing import List, Optional

import msgpack
import pytest
import zstandard

from support.server import FRAMES, T0, Harness, history, new_db_url, run_record, simple_run, start_harness, uniq

IDLE_TIMEOUT = 2  # seconds the fixture's server waits for the rest of a request (EVLOG_SERVER_*_TIMEOUT)
MiB = 1 << 20


@pytest.fixture(scope="module")
def hl(backend, request, tmp_path_factory):
    tmp = tmp_path_factory.mktemp(f"limits-{backend}")
    env = dict(os.environ, EVLOG_SERVER_HEADER_TIMEOUT=str(IDLE_TIMEOUT), EVLOG_SERVER_BODY_TIMEOUT=str(IDLE_TIMEOUT))
    h = start_harness(new_db_url(backend, request, tmp), tmp, env=env, allow_anonymous=True)
    h.backend = backend
    h.owner = h.user("owner")
    o, okey = h.owner
    assert h.upload(o, "safe", "control", simple_run("control", 50), okey) == 53
    yield h
    assert h.proc.alive()
    assert h.get("/api/v1/health").status_code == 200
    run = h.run(o, "safe", "control", okey).json()
    assert run["history_rows"] == 50 and run["state"] == "finished" and run["next_seq"] == 53
    h.proc.stop()
    h.close()


def _frame(payload: bytes) -> bytes:
    return zstandard.ZstdCompressor(level=19, write_checksum=True, write_content_size=True).compress(payload)


def _assert_4xx(r, status: int, reason: str) -> None:
    assert r.status_code == status, r.text
    body = r.json()
    assert body["reason"] == reason and body["error"]


def _post(hl: Harness, run_id: str, body: bytes, key: Optional[str] = None, user: Optional[str] = None, **params):
    user = user or hl.owner[0]
    return hl.http.post(f"{hl.url}/api/v1/runs/{user}/p/{run_id}/records", data=body, params=params or None,
                        headers={**hl.headers(key or hl.owner[1]), "Content-Type": FRAMES}, timeout=120)


def _packed(records: List[list], raw: Optional[bytes] = None) -> bytes:
    """msgpack of `records`, the string "@RAW@" anywhere in them replaced by the msgpack bytes `raw`
    (values msgpack-python refuses to pack, e.g. nested past its recursion limit)."""
    out = b"".join(msgpack.packb(r) for r in records)
    return out.replace(msgpack.packb("@RAW@"), raw) if raw is not None else out


def _deep(n: int) -> bytes:
    """msgpack of a value nested n arrays deep: [[[... nil ...]]]."""
    return b"\x91" * n + b"\xc0"


def _status_kib(pid: int, field: str) -> int:
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    raise AssertionError(f"no {field} in /proc/{pid}/status")


# ---------------------------------------------------------------- 2. memory
def _bombs():
    """(name, body) of small bodies that decompress into millions of msgpack values."""
    empty_arrays = _frame(b"\x90" * (48 * MiB))
    records = _frame(b"".join(msgpack.packb([i, "x", 0, {}]) for i in range(16 * MiB // 10)))
    one_record = _frame(_packed([[0, "run", T0, {"id": "x", "name": "@RAW@"}]], b"\xdd" + (8 * MiB).to_bytes(4, "big")
                                + b"\x90" * (8 * MiB)))
    nested = _frame(_packed([[0, "run", T0, {"id": "x", "name": "@RAW@"}]],
                            (b"\xdc\xff\xff" + b"\xa2ab" * 65534) * 200 + b"\xc0"))
    return [("48 MiB of empty arrays", empty_arrays), ("16 MiB of records", records),
            ("one record of 8M empty arrays", one_record), ("strings inside unfinished arrays", nested)]


def test_bodies_of_millions_of_values_are_refused_while_health_answers_and_memory_stays_bounded(hl):
    pid = hl.proc.proc.pid
    before = _status_kib(pid, "VmRSS")
    anon = hl.http.post(hl.url + "/api/v1/auth/anonymous", timeout=60).json()
    answers: list = []
    done = threading.Event()

    def attack() -> None:
        try:
            for name, body in _bombs():
                assert len(body) < 1 * MiB, name
                for key, user in ((None, None), (anon["api_key"], anon["entity"])):
                    answers.append((name, _post(hl, uniq("bomb"), body, key, user)))
        finally:
            done.set()

    t = threading.Thread(target=attack)
    t.start()
    health_during = 0
    try:
        while not done.is_set():
            r = hl.get("/api/v1/health")
            assert r.status_code == 200 and r.json()["ok"] is True
            if not done.is_set():
                health_during += 1
    finally:
        t.join()
    peak = _status_kib(pid, "VmHWM")
    print(f"\nRSS before {before} KiB, peak {peak} KiB, /health answered {health_during} times during the attack")
    # the bodies decompress to up to 48 MiB each; what decoding them costs on top stays in tens of MiB
    assert peak - before < 200 * 1024, (before, peak)
    assert len(answers) == 8
    for name, r in answers:
        assert r.status_code == 413, (name, r.status_code, r.text)
        assert r.json()["reason"] == "body_too_large", (name, r.text)
    assert health_during >= 1
    assert hl.run(anon["entity"], "p", "bomb1", anon["api_key"]).status_code in (403, 404)


def test_a_body_of_too_many_records_is_413_and_a_smaller_one_is_applied(hl):
    o, key = hl.owner
    rid = uniq("many")
    recs = [run_record(rid)] + [[i, "warning", T0, {}] for i in range(1, 100_002)]
    r = _post(hl, rid, _frame(_packed(recs)))
    _assert_4xx(r, 413, "body_too_large")
    assert "records" in r.json()["error"]
    assert hl.run(o, "p", rid, key).status_code == 404
    assert _post(hl, rid, _frame(_packed(recs[:50_000]))).json()["next_seq"] == 50_000


# --------------------------------------------------------------- 3. nesting
@pytest.mark.parametrize("where", ["config", "history", "summary", "run"])
def test_a_value_nested_too_deep_is_400_bad_record(hl, where):
    o, key = hl.owner
    rid = uniq("deep")
    rec = {"config": [1, "config", T0, {"update": {"deep": "@RAW@"}}],
           "history": [1, "history", T0, {"step": 0, "data": {"deep": "@RAW@"}}],
           "summary": [1, "summary", T0, {"update": {"deep": "@RAW@"}}],
           "run": [0, "run", T0, dict(run_record(rid)[3], settings={"deep": "@RAW@"})]}[where]
    recs = [rec] if where == "run" else [run_record(rid), rec]
    for depth in (120, 600):
        r = _post(hl, rid, _frame(_packed(recs, _deep(depth))))
        _assert_4xx(r, 400, "bad_record")
        assert "deep" in r.json()["error"]
    assert hl.run(o, "p", rid, key).status_code == 404
    assert _post(hl, rid, _frame(_packed(recs, _deep(60)))).status_code == 200  # deep, not too deep


def test_pages_and_lists_render_a_stored_value_nested_past_every_limit(hl):
    """Defensive rendering: a value nested 700 deep already in the database (from before the
    limit) shows as a truncated value, not a 500 for everyone."""
    o, key = hl.owner
    rid = uniq("stored")
    project = uniq("deeproj")
    assert hl.post_records(o, project, rid, simple_run(rid, 3), key).status_code == 200
    from sqlalchemy import update

    from eventlog.server import schema as s

    deep = b"\x81\xa4deep" + _deep(700)
    with hl.engine.begin() as conn:
        conn.execute(update(s.runs).where(s.runs.c.run_id == rid).values(config=deep, summary=deep))
    for path in (f"/api/v1/runs/{o}/{project}", f"/api/v1/runs/{o}/{project}/{rid}", f"/-/api/runs/{o}/{project}",
                 f"/-/api/runs/{o}/{project}/{rid}", f"/{o}/{project}", f"/{o}/{project}/runs/{rid}"):
        r = hl.get(path, key)
        assert r.status_code == 200, (path, r.status_code, r.text[:300])
        assert "deep" in r.text
        if not path.startswith(("/api/", "/-/api/")):  # the pages show the value cut short
            assert '"_type": "truncated"' in r.text or '"_type":"truncated"' in r.text, path
    from eventlog.server.wire import dumps

    value = json.loads(dumps({"deep": msgpack.unpackb(_deep(1000))}))["deep"]
    depth = 0
    while isinstance(value, list):
        value, depth = value[0], depth + 1
    assert 64 < depth < 1000 and value == {"_type": "truncated"}


# ---------------------------------------------------------- 4. huge numbers
@pytest.mark.parametrize("case,record", [
    ("step 2**63", [1, "history", T0, {"step": 2 ** 63, "data": {"x": 1}}]),
    ("step 2**64-1", [1, "history", T0, {"step": 2 ** 64 - 1, "data": {"x": 1}}]),
    ("exit time 1e300", [1, "exit", 1e300, {"exit_code": 0}]),
    ("exit time inf", [1, "exit", math.inf, {"exit_code": 0}]),
    ("record time nan", [1, "warning", math.nan, {}]),
    ("runtime inf", [1, "exit", T0, {"exit_code": 0, "runtime": math.inf}]),
    ("file size 2**64-1", [1, "files", T0, {"files": [{"path": "a.txt", "size": 2 ** 64 - 1}]}]),
])
def test_huge_numbers_are_400_bad_record(hl, case, record):
    o, key = hl.owner
    rid = uniq("num")
    r = _post(hl, rid, _frame(_packed([run_record(rid), record])))
    _assert_4xx(r, 400, "bad_record")
    assert hl.run(o, "p", rid, key).status_code == 404


@pytest.mark.parametrize("start_time", [1e300, math.inf, -1e300])
def test_a_start_time_out_of_range_is_400_bad_record(hl, start_time):
    rid = uniq("start")
    _assert_4xx(_post(hl, rid, _frame(_packed([run_record(rid, start_time=start_time)]))), 400, "bad_record")


def test_a_gap_ok_jump_past_the_largest_seq_is_400_and_the_run_goes_on(hl):
    o, key = hl.owner
    rid = uniq("jump")
    assert _post(hl, rid, _frame(_packed([run_record(rid)]))).status_code == 200
    for seq in (2 ** 63 - 1, 2 ** 63, 2 ** 64 - 1):
        _assert_4xx(_post(hl, rid, _frame(_packed([[seq, "warning", T0, {}]])), gap_ok="1"), 400, "bad_record")
    r = _post(hl, rid, _frame(_packed([[2 ** 62, "warning", T0, {}]])), gap_ok="1")
    assert r.status_code == 200 and r.json()["next_seq"] == 2 ** 62 + 1
    assert hl.run(o, "p", rid, key).json()["missing_records"] == 2 ** 62 - 1


def test_pages_render_stored_times_out_of_range(hl):
    o, key = hl.owner
    rid = uniq("times")
    project = uniq("timeproj")
    assert hl.post_records(o, project, rid, simple_run(rid, 2), key).status_code == 200
    from sqlalchemy import update

    from eventlog.server import schema as s

    for value in (1e300, -1e300, 1e18):
        with hl.engine.begin() as conn:
            conn.execute(update(s.runs).where(s.runs.c.run_id == rid).values(started_at=value, ended_at=value,
                                                                              runtime=value))
        for path in (f"/{o}/{project}", f"/{o}/{project}/runs/{rid}", f"/-/api/runs/{o}/{project}/{rid}"):
            r = hl.get(path, key)
            assert r.status_code == 200, (value, path, r.status_code, r.text[:300])


# ------------------------------------------------------------------- 5. NUL
def test_nul_characters_in_text_fields_are_stored_the_same_on_both_databases(hl):
    o, key = hl.owner
    rid = uniq("nul")
    evil = "a\x00b"
    recs = [run_record(rid, name=evil, notes=evil, group=evil, job_type=evil, tags=[evil]),
            [1, "files", T0, {"files": [{"path": "f.txt", "sha256": "\x00" * 64, "kind": "other"}]}],
            [2, "meta", T0, {"name": "m" + evil, "notes": "n" + evil}], history(3, 0)]
    r = hl.post_records(o, "p", rid, recs, key)
    assert r.status_code == 200, r.text
    run = hl.run(o, "p", rid, key).json()
    assert run["name"] == "ma\ufffdb" and run["notes"] == "na\ufffdb"
    assert run["group"] == "a\ufffdb" and run["job_type"] == "a\ufffdb"
    assert run["tags"] == [evil]  # tags are not text columns: verbatim
    assert hl.get(f"/api/v1/runs/{o}/p/{rid}/files", key).json()["files"][0]["sha256"] is None
    r = hl.http.patch(f"{hl.url}/api/v1/runs/{o}/p/{rid}", json={"name": "p" + evil, "notes": evil},
                      headers=hl.headers(key))
    assert r.status_code == 200, r.text
    run = hl.run(o, "p", rid, key).json()
    assert run["name"] == "pa\ufffdb" and run["notes"] == "a\ufffdb"
    assert hl.get(f"/api/v1/runs/{o}/p", key, group="a\ufffdb").json()["runs"][0]["id"] == rid


def test_a_nul_in_an_artifact_description_is_stored_the_same_on_both_databases(hl):
    o, key = hl.owner
    rid = uniq("nulart")
    assert hl.post_records(o, "p", rid, [run_record(rid), [1, "warning", T0, {}]], key).status_code == 200
    r = hl.http.post(f"{hl.url}/api/v1/runs/{o}/p/{rid}/artifacts/log", headers=hl.headers(key),
                     json={"seq": 1, "name": "ds", "type": "dataset", "files": [], "description": "a\x00b"})
    assert r.status_code in (200, 201), r.text
    r = hl.get(f"/api/v1/artifacts/{o}/p/ds/latest", key)
    assert r.status_code == 200 and r.json()["description"] == "a\ufffdb", r.text


# -------------------------------------------------------------- 8. timeouts
def _connect(hl: Harness) -> socket.socket:
    s = socket.create_connection(("127.0.0.1", hl.proc.port), timeout=60)
    return s


def _read_all(s: socket.socket) -> bytes:
    """What the server sends until it closes the connection (the socket timeout guards a hang)."""
    out = b""
    while True:
        try:
            data = s.recv(65536)
        except ConnectionResetError:
            return out
        if not data:
            return out
        out += data


def test_stalled_headers_are_timed_out(hl):
    socks = [_connect(hl) for _ in range(20)]
    for s in socks:
        s.sendall(b"GET /api/v1/health HTTP/1.1\r\nHost: x\r\n")  # headers never finished
    for s in socks:
        assert b"200 OK" not in _read_all(s)  # closed by the server, without an answer
        s.close()
    assert hl.get("/api/v1/health").status_code == 200


@pytest.mark.parametrize("case", ["trickle", "promise"])
def test_stalled_bodies_are_timed_out_with_408(hl, case):
    o, key = hl.owner
    socks = []
    for _ in range(5):
        s = _connect(hl)
        length = 10 * 1024 ** 3 if case == "promise" else 1000
        s.sendall((f"POST /api/v1/runs/{o}/p/{uniq('slow')}/records HTTP/1.1\r\nHost: x\r\n"
                   f"Authorization: Bearer {key}\r\nContent-Type: {FRAMES}\r\nContent-Length: {length}\r\n\r\n")
                  .encode() + b"x" * 100)
        socks.append(s)
    if case == "trickle":  # one byte at a time, each within the idle timeout: the body's deadline ends it
        for _ in range(3 * IDLE_TIMEOUT * 4):
            for s in socks:
                try:
                    s.sendall(b"x")
                except OSError:
                    pass
            threading.Event().wait(0.5)
    for s in socks:
        answer = _read_all(s)
        assert answer.startswith(b"HTTP/1.1 408"), answer[:200]
        assert b'"reason":"timeout"' in answer
        s.close()
    assert hl.get("/api/v1/health").status_code == 200


# --------------------------------------------------- 9. protocol mismatches
def test_binary_values_are_exported_as_section_1_says(hl):
    o, key = hl.owner
    rid = uniq("bin")
    recs = [run_record(rid), history(1, 0, {"blob": b"\x00\xffab", "nested": {"b": b"\x01"}, "x": 1.5})]
    assert hl.post_records(o, "p", rid, recs, key).status_code == 200
    want = {"_type": "bytes", "base64": base64.b64encode(b"\x00\xffab").decode()}
    r = hl.get(f"/api/v1/runs/{o}/p/{rid}/export", key, format="jsonl")
    row = json.loads(r.text.splitlines()[0])
    assert row == {"_step": 0, "blob": want, "nested/b": {"_type": "bytes", "base64": "AQ=="}, "x": 1.5}
    csv_text = hl.get(f"/api/v1/runs/{o}/p/{rid}/export", key, format="csv").text
    assert "b'" not in csv_text
    assert json.dumps(want, separators=(",", ":")).replace('"', '""') in csv_text


def test_health_with_an_invalid_key_is_401(hl):
    _assert_4xx(hl.get("/api/v1/health", "0" * 40), 401, "invalid_key")
    assert hl.get("/api/v1/health", hl.owner[1]).status_code == 200


def test_history_of_decreasing_steps_comes_in_seq_order_as_the_spec_says(hl):
    o, key = hl.owner
    rid = uniq("dec")
    recs = [run_record(rid), history(1, 5), history(2, 3), history(3, 9)]
    assert hl.post_records(o, "p", rid, recs, key).status_code == 200
    assert [r["step"] for r in hl.rows(o, "p", rid, key)] == [5, 3, 9]
    with open(os.path.join(os.path.dirname(__file__), "..", "..", "spec", "protocol.md")) as f:
        spec = f.read()
    row = next(line for line in spec.splitlines() if line.startswith("| GET | `{run}/history`"))
    assert "in seq order" in row and "in step order" not in row


def test_a_run_id_with_an_encoded_slash_is_404_not_found_as_the_spec_says(hl):
    o, key = hl.owner
    r = hl.get(f"/api/v1/runs/{o}/p/a%2Fb", key)
    _assert_4xx(r, 404, "not_found")
    with open(os.path.join(os.path.dirname(__file__), "..", "..", "spec", "protocol.md")) as f:
        assert "%2F" in f.read().split("## 2.")[0]


# ------------------------------------------------- the limits, at their edges
def test_the_depth_limit_is_exactly_64_levels_counting_the_body():
    from eventlog.server.errors import ApiError
    from eventlog.server.recordcheck import check_records
    from eventlog.server.wire import MAX_DEPTH, decode_body

    def body(levels: int) -> list:  # a record whose body nests `levels` maps and arrays in all
        raw = _frame(_packed([[0, "config", T0, {"update": "@RAW@"}]], b"\x91" * (levels - 1) + b"\xc0"))
        return decode_body(raw, max_decompressed=MiB).records

    check_records(body(MAX_DEPTH))
    with pytest.raises(ApiError) as exc:
        check_records(body(MAX_DEPTH + 1))
    assert exc.value.reason == "bad_record" and "record seq 0 (config)" in exc.value.message


def test_the_value_and_record_budgets_refuse_while_decoding():
    from eventlog.server.errors import ApiError
    from eventlog.server.wire import decode_body

    good = _frame(_packed(simple_run("b", 100)))
    assert len(decode_body(good, max_decompressed=MiB, max_records=103, max_values=100_000).records) == 103
    for kw in ({"max_records": 102}, {"max_values": 200}):
        with pytest.raises(ApiError) as exc:
            decode_body(good, max_decompressed=MiB, **kw)
        assert exc.value.status == 413 and exc.value.reason == "body_too_large"
