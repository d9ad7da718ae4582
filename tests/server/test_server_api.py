"""Ingestion and the read API against a real server process, on SQLite and PostgreSQL."""
from __future__ import annotations

import hashlib
import math

from support.server import T0, history, run_record, simple_run, uniq


def test_a_run_uploaded_in_batches_reads_back_exactly(srv):
    user, key = srv.user()
    recs = simple_run("r1", 1000, tags=["a", "b"], group="g1", notes="multi\nline")
    assert srv.upload(user, "proj", "r1", recs, key, batch=97) == len(recs)

    run = srv.run(user, "proj", "r1", key).json()
    assert run["state"] == "finished" and run["exit_code"] == 0 and run["runtime"] == 12.5
    assert run["name"] == "name-r1" and run["tags"] == ["a", "b"] and run["group"] == "g1"
    assert run["notes"] == "multi\nline" and run["job_type"] == "train" and run["started_at"] == T0
    assert run["config"] == {"lr": 0.01, "layers": 3}
    assert run["summary"] == {"loss": 1 / 1000, "step_sq": 999 * 999}
    assert run["history_rows"] == 1000 and run["last_step"] == 999 and run["next_seq"] == len(recs)
    assert run["git"]["commit"] == "0123abcd" and run["program"]["argv"] == ["train.py", "--secret-flag"]
    assert run["url"].endswith(f"/{user}/proj/runs/r1")
    rows = srv.rows(user, "proj", "r1", key)
    assert rows == [{"step": i, "data": {"loss": 1.0 / (i + 1), "step_sq": i * i}} for i in range(1000)]


def test_uploading_twice_adds_nothing(srv):
    user, key = srv.user()
    recs = simple_run("r1", 300)
    srv.upload(user, "p", "r1", recs, key, batch=100)
    again = srv.post_records(user, "p", "r1", recs, key)
    assert again.status_code == 200 and again.json() == {**again.json(), "next_seq": len(recs), "applied": 0}
    overlap = srv.post_records(user, "p", "r1", recs[50:150], key)
    assert overlap.json()["applied"] == 0
    assert len(srv.rows(user, "p", "r1", key)) == 300
    assert srv.run(user, "p", "r1", key).json()["history_rows"] == 300


def test_a_gap_is_answered_with_the_expected_seq_and_nothing_is_applied(srv):
    user, key = srv.user()
    recs = simple_run("r1", 40, exit_code=None)
    assert srv.post_records(user, "p", "r1", recs[:10], key).json()["next_seq"] == 10
    r = srv.post_records(user, "p", "r1", recs[20:30], key)
    assert r.status_code == 409
    assert r.json()["reason"] == "seq_gap" and r.json()["expected_seq"] == 10
    assert srv.run(user, "p", "r1", key).json()["history_rows"] == 8
    r = srv.post_records(user, "p", "r1", recs[10:30], key)
    assert r.status_code == 200 and r.json()["next_seq"] == 30


def test_a_gap_inside_a_body_commits_the_contiguous_prefix(srv):
    user, key = srv.user()
    recs = simple_run("r1", 40, exit_code=None)
    r = srv.post_records(user, "p", "r1", recs[:12] + recs[15:20], key)
    assert r.status_code == 409 and r.json()["expected_seq"] == 12
    run = srv.run(user, "p", "r1", key).json()
    assert run["next_seq"] == 12 and run["history_rows"] == 10
    assert srv.get(f"/api/v1/runs/{user}/p/r1/records", key).json() == {"next_seq": 12}


def test_gap_ok_accepts_records_lost_locally_and_counts_them(srv):
    user, key = srv.user()
    recs = simple_run("r1", 40, exit_code=None)
    srv.post_records(user, "p", "r1", recs[:10], key)
    r = srv.post_records(user, "p", "r1", recs[15:], key, gap_ok=True)
    assert r.status_code == 200 and r.json()["next_seq"] == len(recs)
    run = srv.run(user, "p", "r1", key).json()
    assert run["missing_records"] == 5 and run["history_rows"] == 8 + len(recs) - 15


def test_records_endpoint_reports_zero_for_a_new_run(srv):
    user, key = srv.user()
    assert srv.get(f"/api/v1/runs/{user}/p/nothing/records", key).json() == {"next_seq": 0}


def test_a_run_starts_with_its_run_record(srv):
    user, key = srv.user()
    r = srv.post_records(user, "p", "r1", [[0, "config", T0, {"update": {"a": 1}}]], key)
    assert r.status_code == 400 and r.json()["reason"] == "bad_record"
    r = srv.post_records(user, "p", "r1", [run_record("other")], key)
    assert r.status_code == 400 and r.json()["reason"] == "bad_record" and "other" in r.json()["error"]
    r = srv.post_records(user, "p", "r1", [history(5, 0)], key)
    assert r.status_code == 409 and r.json()["expected_seq"] == 0
    assert srv.run(user, "p", "r1", key).status_code == 404


def test_records_change_metadata_config_summary_and_state_in_seq_order(srv):
    user, key = srv.user()
    recs = [
        run_record("r1", name="first"),
        [1, "config", T0, {"update": {"a": 1, "b": 2}}],
        [2, "config", T0, {"update": {"a": 3}, "remove": ["b"]}],
        history(3, 0, {"loss": 5.0, "acc": 0.1}),
        [4, "summary", T0, {"update": {"loss": -1.0, "best": 9}}],
        history(5, 1, {"acc": 0.2}),
        [6, "summary", T0, {"remove": ["best"]}],
        [7, "meta", T0, {"name": "renamed", "tags": ["x"], "notes": "n"}],
        [8, "warning", T0, {"message": "bad value", "keys": ["k"]}],
        [9, "exit", T0 + 9, {"exit_code": 3, "runtime": 1.5}],
    ]
    assert srv.post_records(user, "p", "r1", recs, key).status_code == 200
    run = srv.run(user, "p", "r1", key).json()
    assert run["config"] == {"a": 3}
    assert run["summary"] == {"loss": -1.0, "acc": 0.2}
    assert (run["name"], run["tags"], run["notes"]) == ("renamed", ["x"], "n")
    assert run["state"] == "failed" and run["exit_code"] == 3 and run["ended_at"] == T0 + 9
    assert run["warnings"] == 1
    resumed = [[10, "resume", T0, {"session": 1}], history(11, 2, {"acc": 0.3})]
    assert srv.post_records(user, "p", "r1", resumed, key).status_code == 200
    run = srv.run(user, "p", "r1", key).json()
    assert run["state"] == "running" and run["sessions"] == 2 and run["summary"]["acc"] == 0.3


def test_a_running_run_can_be_marked_crashed_but_not_a_finished_one(srv):
    user, key = srv.user()
    srv.post_records(user, "p", "live", simple_run("live", 3, exit_code=None), key)
    srv.post_records(user, "p", "done", simple_run("done", 3), key)
    r = srv.http.post(f"{srv.url}/api/v1/runs/{user}/p/live/state", json={"state": "crashed"},
                      headers=srv.headers(key))
    assert r.status_code == 200 and r.json()["state"] == "crashed"
    r = srv.http.post(f"{srv.url}/api/v1/runs/{user}/p/done/state", json={"state": "crashed"},
                      headers=srv.headers(key))
    assert r.status_code == 400 and srv.run(user, "p", "done", key).json()["state"] == "finished"


def test_runs_are_listed_with_filters(srv):
    user, key = srv.user()
    specs = [("r1", "g1", "train", ["a"], 0), ("r2", "g1", "eval", ["b"], 1), ("r3", "g2", "train", ["a", "b"], None)]
    for rid, group, job, tags, code in specs:
        srv.post_records(user, "p", rid, simple_run(rid, 2, exit_code=code, group=group, job_type=job, tags=tags), key)

    def ids(**q):
        r = srv.get(f"/api/v1/runs/{user}/p", key, **q)
        assert r.status_code == 200, r.text
        return [x["id"] for x in r.json()["runs"]]

    assert ids() == ["r1", "r2", "r3"]
    assert ids(group="g1") == ["r1", "r2"]
    assert ids(job_type="train") == ["r1", "r3"]
    assert ids(tag="b") == ["r2", "r3"]
    assert ids(state="finished") == ["r1"] and ids(state="failed") == ["r2"] and ids(state="running") == ["r3"]
    assert ids(group="g1", tag="a") == ["r1"]
    assert srv.get(f"/api/v1/runs/{user}/p", key, state="sleeping").status_code == 400


def test_history_pages_follow_the_cursor_and_skip_chunks_before_it(srv, monkeypatch):
    from sqlalchemy import select

    from eventlog.server import history as server_history
    from eventlog.server import schema

    user, key = srv.user()
    rid = uniq("pg")
    recs = [run_record(rid)]
    for i in range(250):
        recs.append(history(len(recs), i, {"x": float(i), **({"odd": i} if i % 2 else {})}))
        if i % 50 == 49:
            recs.append([len(recs), "config", T0, {"update": {"at": i}}])  # not history: never a row
    srv.upload(user, "p", rid, recs, key, batch=30)
    url = f"/api/v1/runs/{user}/p/{rid}/history"

    def pages(**params):
        out, after, n = [], None, 0
        while True:
            q = dict(params, **({"after": after} if after is not None else {}))
            page = srv.get(url, key, **q).json()
            out.append([r["step"] for r in page["rows"]])
            after, n = page["next"], n + 1
            if after is None or n > 100:
                return out

    got = pages(limit=100)
    assert [len(p) for p in got] == [100, 100, 50] and sum(got, []) == list(range(250))
    odd = pages(limit=60, keys="odd")
    assert [len(p) for p in odd] == [60, 60, 5] and sum(odd, []) == list(range(1, 250, 2))
    assert pages(limit=250) == [list(range(250))]  # exactly all: no empty page after
    whole = srv.get(url, key).json()
    assert whole["next"] is None and len(whole["rows"]) == 250  # without limit: every row, as before
    assert srv.get(url, key, limit=0).status_code == 400
    assert srv.get(url, key, samples=10, limit=5).status_code == 400
    assert srv.get(url, key, after="x").status_code == 400
    # a page near the end reads only the chunks from the cursor on
    read = []
    real = server_history.chunk_records
    monkeypatch.setattr(server_history, "chunk_records", lambda blob, payload=None: read.append(1) or real(blob, payload))
    with srv.engine.connect() as conn:
        pk = conn.execute(select(schema.runs.c.id).where(schema.runs.c.run_id == rid)).scalar_one()
        rows, nxt = server_history.read_rows(conn, pk, None, len(recs) - 40, 10)
    after = [r[3]["step"] for r in recs if r[1] == "history" and r[0] > len(recs) - 40]
    assert len(read) <= 2 and nxt is not None and [r["step"] for r in rows] == after[:10]


def test_history_keys_filter_and_samples_keep_the_extremes(srv):
    user, key = srv.user()
    n = 2000
    recs = [run_record("r1")]
    for i in range(n):
        data = {"loss": math.sin(i / 50.0), "lr": 0.1}
        if i == 1234:
            data["loss"] = 50.0  # a spike an even spread would miss
        if i == 777:
            data["loss"] = -60.0
        if i % 2 == 0:
            data["acc"] = i / n
        recs.append(history(i + 1, i, data))
    srv.upload(user, "p", "r1", recs, key, batch=1000)

    acc = srv.rows(user, "p", "r1", key, keys="acc")
    assert [r["step"] for r in acc] == list(range(0, n, 2))
    assert all(set(r["data"]) == {"acc"} for r in acc)
    assert len(srv.rows(user, "p", "r1", key, keys="acc,nothing")) == n // 2
    assert srv.rows(user, "p", "r1", key, keys="nothing") == []

    rows = srv.rows(user, "p", "r1", key, keys="loss", samples=50)
    steps = [r["step"] for r in rows]
    assert len(rows) <= 50 and steps == sorted(set(steps))
    assert {0, n - 1, 1234, 777} <= set(steps)
    assert max(r["data"]["loss"] for r in rows) == 50.0 and min(r["data"]["loss"] for r in rows) == -60.0
    assert len(rows) >= 40  # the free slots are used

    all_keys = srv.rows(user, "p", "r1", key, samples=20)
    assert len(all_keys) <= 20 and {1234, 777, 0, n - 1} <= {r["step"] for r in all_keys}
    assert len(srv.rows(user, "p", "r1", key, samples=5000)) == n
    for bad in ("0", "abc", "1000001"):
        r = srv.get(f"/api/v1/runs/{user}/p/r1/history", key, samples=bad)
        assert r.status_code == 400 and r.json()["reason"] == "bad_request"


def test_values_json_lacks_are_mapped(srv):
    user, key = srv.user()
    data = {"nan": float("nan"), "inf": float("inf"), "ninf": float("-inf"), "blob": b"\x00\x01",
            "nested": {"x": [1, 2.5, None, True]}, 7: "int key"}
    srv.post_records(user, "p", "r1", [run_record("r1"), history(1, 0, data)], key)
    (row,) = srv.rows(user, "p", "r1", key)
    assert row["data"] == {"nan": "NaN", "inf": "Infinity", "ninf": "-Infinity",
                           "blob": {"_type": "bytes", "base64": "AAE="}, "nested": {"x": [1, 2.5, None, True]},
                           "7": "int key"}


def test_files_are_uploaded_and_code_is_hidden_from_outsiders(srv):
    owner, okey = srv.user("owner")
    other, xkey = srv.user("other")
    code = b"print('hello')\n"
    media = b"\x89PNG fake"
    recs = [run_record("r1"), [1, "files", T0, {"files": [
        {"path": "code/train.py", "sha256": hashlib.sha256(code).hexdigest(), "size": len(code), "kind": "code"},
        {"path": "diff.patch", "sha256": None, "size": 3, "kind": "diff"},
        {"path": "media/img.png", "sha256": hashlib.sha256(media).hexdigest(), "size": len(media), "kind": "media"},
    ]}]]
    assert srv.post_records(owner, "pub", "r1", recs, okey).status_code == 200
    for path, content in (("code/train.py", code), ("diff.patch", b"+x\n"), ("media/img.png", media)):
        r = srv.http.put(f"{srv.url}/api/v1/runs/{owner}/pub/r1/files/{path}", data=content,
                         headers=srv.headers(okey))
        assert r.status_code == 201, r.text
        assert r.json()["sha256"] == hashlib.sha256(content).hexdigest()
    srv.visibility(owner, "pub", "open")

    mine = srv.get(f"/api/v1/runs/{owner}/pub/r1/files", okey).json()["files"]
    assert [(f["path"], f["kind"], f["uploaded"]) for f in mine] == [
        ("code/train.py", "code", True), ("diff.patch", "diff", True), ("media/img.png", "media", True)]
    assert srv.get(f"/api/v1/runs/{owner}/pub/r1/files/code/train.py", okey).content == code

    for k in (xkey, None):  # another user, and nobody
        listed = srv.get(f"/api/v1/runs/{owner}/pub/r1/files", k).json()["files"]
        assert [f["path"] for f in listed] == ["media/img.png"]
        assert srv.get(f"/api/v1/runs/{owner}/pub/r1/files/media/img.png", k).content == media
        for hidden in ("code/train.py", "diff.patch"):
            r = srv.get(f"/api/v1/runs/{owner}/pub/r1/files/{hidden}", k)
            assert r.status_code == 403 and r.json()["reason"] == "no_permission"
        run = srv.run(owner, "pub", "r1", k).json()
        assert "git" not in run and "program" not in run and "code" not in run
        assert "secret-flag" not in srv.get(f"/api/v1/runs/{owner}/pub", k).text
        assert "0123abcd" not in srv.get(f"/{owner}/pub/runs/r1", k).text
    assert "0123abcd" in srv.get(f"/{owner}/pub/runs/r1", okey).text
    r = srv.get(f"/api/v1/runs/{owner}/pub/r1/files/nothing.txt", okey)
    assert r.status_code == 404 and r.json()["reason"] == "no_such_file"


def test_a_changed_file_drops_the_stale_content(srv):
    user, key = srv.user()
    srv.post_records(user, "p", "r1", [run_record("r1"), [1, "files", T0, {"files": [
        {"path": "out.txt", "sha256": hashlib.sha256(b"v1").hexdigest(), "size": 2, "kind": "other"}]}]], key)
    srv.http.put(f"{srv.url}/api/v1/runs/{user}/p/r1/files/out.txt", data=b"v1", headers=srv.headers(key))
    srv.post_records(user, "p", "r1", [[2, "files", T0, {"files": [
        {"path": "out.txt", "sha256": hashlib.sha256(b"v2!").hexdigest(), "size": 3, "kind": "other"}]}]], key)
    (f,) = srv.get(f"/api/v1/runs/{user}/p/r1/files", key).json()["files"]
    assert f["uploaded"] is False and f["size"] == 3
    assert srv.get(f"/api/v1/runs/{user}/p/r1/files/out.txt", key).status_code == 404


def test_projects_are_listed_by_what_the_caller_may_read(srv):
    owner, okey = srv.user("owner")
    other, xkey = srv.user("other")
    for proj in ("alpha", "beta"):
        srv.post_records(owner, proj, "r1", simple_run("r1", 1), okey)
    srv.visibility(owner, "beta", "open")

    def names(k):
        r = srv.get(f"/api/v1/projects/{owner}", k)
        assert r.status_code == 200
        return [(p["name"], p["visibility"], p["runs"]) for p in r.json()["projects"]]

    assert names(okey) == [("alpha", "private", 1), ("beta", "open", 1)]
    assert names(xkey) == [("beta", "open", 1)] and names(None) == [("beta", "open", 1)]
    r = srv.get("/api/v1/projects/nobody-here")
    assert r.status_code == 404 and r.json()["reason"] == "no_such_entity"


def test_health_and_unknown_routes(srv):
    h = srv.get("/api/v1/health").json()
    assert h["ok"] is True and h["schema_version"] >= 1
    r = srv.get("/api/v1/nothing")
    assert r.status_code == 404 and r.json()["reason"] == "not_found"
    r = srv.http.delete(f"{srv.url}/api/v1/health")
    assert r.status_code == 405 and r.json()["reason"] == "method_not_allowed"
