"""Hostile input: every bad request gets a 4xx with a reason, the server stays up, and other runs
are unaffected. On SQLite and PostgreSQL, with small limits so oversized bodies are cheap."""
from __future__ import annotations

import os
from urllib.parse import quote

import msgpack
import pytest
import zstandard

from support.server import FRAMES, T0, Harness, history, new_db_url, run_record, simple_run, start_harness, uniq

MAX_BODY = 1 << 20
MAX_DECOMPRESSED = 4 << 20
MAX_FILE = 256 << 10


@pytest.fixture(scope="module")
def hs(backend, request, tmp_path_factory):
    tmp = tmp_path_factory.mktemp(f"hostile-{backend}")
    env = dict(os.environ, EVLOG_SERVER_MAX_BODY=str(MAX_BODY), EVLOG_SERVER_MAX_DECOMPRESSED=str(MAX_DECOMPRESSED),
               EVLOG_SERVER_MAX_FILE=str(MAX_FILE))
    h = start_harness(new_db_url(backend, request, tmp), tmp, env=env)
    h.victim = h.user("victim")
    h.attacker = h.user("attacker")
    v, vkey = h.victim
    assert h.upload(v, "safe", "control", simple_run("control", 200), vkey) == 203
    yield h
    # the server survived everything, and the victim's run is intact
    assert h.proc.alive()
    assert h.get("/api/v1/health").status_code == 200
    run = h.run(v, "safe", "control", vkey).json()
    assert run["history_rows"] == 200 and run["state"] == "finished" and run["next_seq"] == 203
    assert len(h.rows(v, "safe", "control", vkey)) == 200
    h.proc.stop()
    h.close()


def _frame(payload: bytes, *, content_size: bool = True) -> bytes:
    return zstandard.ZstdCompressor(write_checksum=True, write_content_size=content_size).compress(payload)


def _post_raw(hs: Harness, body: bytes, run_id: str = None, content_type: str = FRAMES):
    user, key = hs.attacker
    run_id = run_id or uniq("r")
    return hs.post_records(user, "p", run_id, [], key, body=body, content_type=content_type)


def _assert_4xx(r, status: int, reason: str) -> None:
    assert r.status_code == status, r.text
    body = r.json()
    assert body["reason"] == reason and body["error"]


def test_an_oversized_body_is_413(hs):
    _assert_4xx(_post_raw(hs, os.urandom(MAX_BODY + 1)), 413, "body_too_large")


def test_an_oversized_body_without_content_length_is_413(hs):
    user, key = hs.attacker

    def chunks():
        for _ in range(40):
            yield b"\0" * 65536

    r = hs.http.post(f"{hs.url}/api/v1/runs/{user}/p/{uniq('r')}/records", data=chunks(),
                     headers={**hs.headers(key), "Content-Type": FRAMES})
    _assert_4xx(r, 413, "body_too_large")


def test_a_compression_bomb_is_413_before_decompression(hs):
    bomb = _frame(b"\0" * (MAX_DECOMPRESSED + 1))
    assert len(bomb) < MAX_BODY
    _assert_4xx(_post_raw(hs, bomb), 413, "body_too_large")


def test_an_oversized_file_is_413(hs):
    user, key = hs.attacker
    hs.post_records(user, "p", "withfile", [run_record("withfile")], key)
    r = hs.http.put(f"{hs.url}/api/v1/runs/{user}/p/withfile/files/big.bin", data=b"x" * (MAX_FILE + 1),
                    headers=hs.headers(key))
    _assert_4xx(r, 413, "body_too_large")


@pytest.mark.parametrize("case,body", [
    ("random bytes", b"\x01\x02 not zstd at all"),
    ("truncated frame", _frame(msgpack.packb([0, "run", T0, {"id": "x"}]))[:-6]),
    ("checksum mismatch", (lambda f: f[:-1] + bytes([f[-1] ^ 0xFF]))(_frame(msgpack.packb([0, "run", T0, {}])))),
    ("no content size", _frame(msgpack.packb([0, "run", T0, {}]), content_size=False)),
    ("msgpack garbage", _frame(b"\xc1\xc1\xc1\xc1")),
    ("not an envelope", _frame(msgpack.packb({"seq": 0}))),
    ("envelope of wrong types", _frame(msgpack.packb(["0", "run", T0, {}]))),
    ("short envelope", _frame(msgpack.packb([0, "run"]))),
    ("record cut in the middle", _frame(msgpack.packb([0, "run", T0, {"id": "abc"}])[:-2])),
    ("invalid utf-8", _frame(b"\x94\x00\xa3\xff\xfe\xfd\xcb" + b"\0" * 8 + b"\x80")),
], ids=lambda v: v if isinstance(v, str) else "")
def test_malformed_bodies_are_400(hs, case, body):
    _assert_4xx(_post_raw(hs, body), 400, "malformed_body")


def test_good_frames_before_a_bad_one_are_not_applied(hs):
    user, key = hs.attacker
    good = _frame(b"".join(msgpack.packb(r) for r in simple_run("half", 5)))
    r = hs.post_records(user, "p", "half", [], key, body=good + b"\x28\xb5\x2f\xfd garbage")
    _assert_4xx(r, 400, "malformed_body")
    assert hs.run(user, "p", "half", key).status_code == 404


def test_a_wrong_content_type_is_415(hs):
    _assert_4xx(_post_raw(hs, b"{}", content_type="application/json"), 415, "unsupported_media_type")


def test_seqs_out_of_order_are_400_and_apply_nothing(hs):
    user, key = hs.attacker
    recs = simple_run("ooo", 10)
    _assert_4xx(hs.post_records(user, "p", "ooo", [recs[0], recs[2], recs[1]], key), 400, "seq_out_of_order")
    _assert_4xx(hs.post_records(user, "p", "ooo", [recs[0], recs[0]], key), 400, "seq_out_of_order")
    _assert_4xx(hs.post_records(user, "p", "ooo", [[-1, "run", T0, {}]], key), 400, "bad_record")
    assert hs.run(user, "p", "ooo", key).status_code == 404
    assert hs.upload(user, "p", "ooo", recs, key) == len(recs)


@pytest.mark.parametrize("record,fragment", [
    ([1, "history", T0, {"step": "seven", "data": {}}], "step"),
    ([1, "history", T0, {"step": 1, "data": [1, 2]}], "data"),
    ([1, "config", T0, {"update": [1]}], "update"),
    ([1, "meta", T0, {"tags": "not-a-list"}], "tags"),
    ([1, "exit", T0, {"exit_code": "zero"}], "exit_code"),
    ([1, "files", T0, {"files": [{"path": "../../etc/passwd"}]}], "path"),
    ([1, "run", T0, {"id": "again"}], "first record"),
])
def test_records_with_bad_fields_are_400_bad_record(hs, record, fragment):
    user, key = hs.attacker
    rid = uniq("bf")
    r = hs.post_records(user, "p", rid, [run_record(rid), record], key)
    _assert_4xx(r, 400, "bad_record")
    assert fragment in r.json()["error"]
    assert hs.run(user, "p", rid, key).status_code == 404  # all or nothing


@pytest.mark.parametrize("entity,project,run_id", [
    ("<img src=x onerror=alert(1)>", "p", "r"),
    ("ok", "p'; DROP TABLE runs;--", "r"),
    ("ok", "p", "r\"><img src=x>"),
    ("ok", "p", "r' OR '1'='1"),
    ("ok", "-p", "r"),
    ("ok", "p" * 200, "r"),
    ("ok", "caf\u00e9", "r"),
])
def test_names_with_html_or_sql_are_400_bad_name(hs, entity, project, run_id):
    user, key = hs.attacker
    entity = quote(user if entity == "ok" else entity, safe="")
    project, run_id = quote(project, safe=""), quote(run_id, safe="")
    r = hs.post_records(entity, project, run_id, simple_run("r", 1), key)
    _assert_4xx(r, 400, "bad_name")
    r = hs.get(f"/api/v1/runs/{entity}/{project}/{run_id}", key)
    _assert_4xx(r, 400, "bad_name")


def test_a_name_with_a_slash_matches_no_route(hs):
    user, key = hs.attacker
    r = hs.post_records(quote("</script>", safe=""), "p", "r", simple_run("r", 1), key)
    _assert_4xx(r, 404, "not_found")


def test_free_text_with_html_and_sql_is_stored_verbatim_and_escaped_in_html(hs):
    user, key = hs.attacker
    evil = "<script>alert('x')</script>'; DROP TABLE runs; --"
    recs = [run_record("evil", name=evil, notes=evil, tags=[evil]),
            [1, "config", T0, {"update": {evil: evil}}], history(2, 0, {evil: 1.0})]
    assert hs.post_records(user, "p", "evil", recs, key).status_code == 200
    run = hs.run(user, "p", "evil", key).json()
    assert run["name"] == evil and run["notes"] == evil and run["tags"] == [evil] and run["config"] == {evil: evil}
    assert hs.rows(user, "p", "evil", key, keys=evil) == [{"step": 0, "data": {evil: 1.0}}]
    page = hs.get(f"/{user}/p/runs/evil", key)
    assert page.status_code == 200 and "<script>" not in page.text and "&lt;script&gt;" in page.text


def test_bad_paths_and_queries_are_400(hs):
    user, key = hs.attacker
    hs.post_records(user, "p", "paths", [run_record("paths")], key)
    for path in ("a/%2E%2E/b", "%2E%2E/x", "a//b", "a%00b"):
        r = hs.http.put(f"{hs.url}/api/v1/runs/{user}/p/paths/files/{path}", data=b"x", headers=hs.headers(key))
        _assert_4xx(r, 400, "bad_name")
    r = hs.http.put(f"{hs.url}/api/v1/runs/{user}/p/paths/files/ok.txt?kind=evil", data=b"x",
                    headers=hs.headers(key))
    _assert_4xx(r, 400, "bad_request")
    r = hs.http.post(f"{hs.url}/api/v1/runs/{user}/p/paths/state", data=b"[not json", headers=hs.headers(key))
    _assert_4xx(r, 400, "bad_request")
    _assert_4xx(hs.get("/api/v1/auth/check", key), 400, "bad_request")


def test_a_large_body_with_a_bad_key_is_answered_401_and_not_decoded(hs):
    v, _ = hs.victim
    for key in ("0" * 40, None):
        r = hs.post_records(v, "safe", "control", [], key, body=os.urandom(MAX_BODY - 1000))
        _assert_4xx(r, 401, "invalid_key" if key else "not_logged_in")


def test_malformed_authorization_headers_are_401(hs):
    v, _ = hs.victim
    for header in ("Basic dXNlcjpwYXNz", "Bearer", "Bearer " + "x" * 5000, "Bearer ' OR 1=1 --"):
        r = hs.http.get(f"{hs.url}/api/v1/runs/{v}/safe/control", headers={"Authorization": header})
        _assert_4xx(r, 401, "invalid_key")


def test_an_attacker_cannot_touch_another_users_run(hs):
    v, _ = hs.victim
    user, key = hs.attacker
    recs = simple_run("control", 5)
    _assert_4xx(hs.post_records(v, "safe", "control", recs, key), 403, "no_permission")
    r = hs.http.post(f"{hs.url}/api/v1/runs/{v}/safe/control/state", json={"state": "crashed"},
                     headers=hs.headers(key))
    _assert_4xx(r, 403, "no_permission")
    r = hs.http.put(f"{hs.url}/api/v1/runs/{v}/safe/control/files/x.txt", data=b"x", headers=hs.headers(key))
    _assert_4xx(r, 403, "no_permission")
