"""Hostile review, issue 15 items 1, 7 and 10, on SQLite and PostgreSQL with real server processes:
other users' runs in open projects (records, seqs, files, media, state, squatted ids), anonymous
runs (listing, renaming, account creation rate), and deleting runs (API, dashboard, CLI, reserved
ids), each through the real client where one is involved."""
from __future__ import annotations

import hashlib
import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy import select

from eventlog.server import schema
from support.dashboard import Web, sign_in
from support.client import client_env
from support.server import T0, Harness, history, new_db_url, run_record, simple_run, start_harness, uniq

PNG = b"\x89PNG\r\n\x1a\n" + b"pixels" * 10
PNG_SHA = hashlib.sha256(PNG).hexdigest()
MEDIA = f"media/{PNG_SHA}.png"


@pytest.fixture(scope="module")
def hs(backend, request, tmp_path_factory):
    tmp = tmp_path_factory.mktemp(f"owners-{backend}")
    h = start_harness(new_db_url(backend, request, tmp), tmp, allow_anonymous=True)
    h.tmp = tmp
    h.victim = h.user("victim")
    h.attacker = h.user("attacker")
    yield h
    assert h.proc.alive()
    h.proc.stop()
    h.close()


def _reason(r, status: int, reason: str) -> dict:
    assert r.status_code == status, r.text
    body = r.json()
    assert body["reason"] == reason and body["error"], body
    return body


def _open_run(h: Harness, *, finished: bool = False) -> tuple:
    """The victim's running run (a hidden code file, a media file, a history row) in an open project."""
    v, vkey = h.victim
    proj, rid = uniq("open"), uniq("vrun")
    recs = [run_record(rid, tags=["mine"]), [1, "config", T0, {"update": {"lr": 0.1}}],
            [2, "files", T0, {"files": [{"path": "secret/notes.txt", "kind": "code", "sha256": None},
                                        {"path": MEDIA, "kind": "media", "sha256": PNG_SHA, "size": len(PNG)}]}],
            history(3, 0, {"loss": 1.0})]
    if finished:
        recs.append([4, "exit", T0, {"exit_code": 0, "runtime": 1.0}])
    assert h.upload(v, proj, rid, recs, vkey) == len(recs)
    h.visibility(v, proj, "open")
    for path, content, kind in (("secret/notes.txt", b"the victim's secret", "code"), (MEDIA, PNG, "media")):
        r = h.http.put(f"{h.url}/api/v1/runs/{v}/{proj}/{rid}/files/{path}", data=content,
                       params={"kind": kind}, headers=h.headers(vkey))
        assert r.status_code == 201, r.text
    return v, vkey, proj, rid, len(recs)


def _unchanged(h: Harness, v: str, proj: str, rid: str, vkey: str, next_seq: int) -> dict:
    run = h.run(v, proj, rid, vkey).json()
    assert run["name"] == f"name-{rid}" and run["tags"] == ["mine"] and run["config"] == {"lr": 0.1}
    assert run["next_seq"] == next_seq and run["history_rows"] == 1
    assert h.get(f"/api/v1/runs/{v}/{proj}/{rid}/files/{MEDIA}").content == PNG
    assert h.get(f"/api/v1/runs/{v}/{proj}/{rid}/files/secret/notes.txt").status_code == 403  # hidden from outsiders
    return run


# ------------------------------------------------------------------ item 1: other users' runs
@pytest.mark.parametrize("record", [
    {"type": "meta", "body": {"name": "pwned", "tags": ["pwned"]}},
    {"type": "config", "body": {"update": {"lr": 666}}},
    {"type": "summary", "body": {"update": {"loss": -1}}},
    {"type": "history", "body": {"step": 1, "data": {"loss": 666.0}}},
    {"type": "files", "body": {"files": [{"path": "secret/notes.txt", "kind": "other"}]}},
    {"type": "files", "body": {"files": [{"path": MEDIA, "kind": "media", "sha256": "f" * 64}]}},
    {"type": "exit", "body": {"exit_code": 1}},
], ids=lambda r: f"{r['type']}-{next(iter(r['body']))}")
def test_records_into_another_users_run_are_403_and_change_nothing(hs, record):
    v, vkey, proj, rid, n = _open_run(hs)
    a, akey = hs.attacker
    body = _reason(hs.post_records(v, proj, rid, [[n, record["type"], T0, record["body"]]], akey), 403,
                   "no_permission")
    assert v in body["error"] and rid in body["error"]
    _reason(hs.get(f"/api/v1/runs/{v}/{proj}/{rid}/records", akey), 403, "no_permission")
    _unchanged(hs, v, proj, rid, vkey, n)
    # the owner was not pre-empted: its next record at that seq is applied
    r = hs.post_records(v, proj, rid, [history(n, 5, {"loss": 0.5})], vkey)
    assert r.status_code == 200 and r.json()["applied"] == 1


def test_put_and_state_of_another_users_run_are_403(hs):
    v, vkey, proj, rid, n = _open_run(hs)
    a, akey = hs.attacker
    for path, content in ((MEDIA, b"not the picture"), ("secret/notes.txt", b"replaced"), ("new.txt", b"x")):
        r = hs.http.put(f"{hs.url}/api/v1/runs/{v}/{proj}/{rid}/files/{path}", data=content,
                        params={"kind": "other"}, headers=hs.headers(akey))
        _reason(r, 403, "no_permission")
    r = hs.http.post(f"{hs.url}/api/v1/runs/{v}/{proj}/{rid}/state", json={"state": "crashed"},
                     headers=hs.headers(akey))
    _reason(r, 403, "no_permission")
    _reason(hs.get(f"/api/v1/runs/{v}/{proj}/{rid}/state", akey), 403, "no_permission")
    r = hs.http.post(f"{hs.url}/api/v1/runs/{v}/{proj}/{rid}/artifacts/use", json={"seq": n, "name": "data"},
                     headers=hs.headers(akey))
    _reason(r, 403, "no_permission")
    assert _unchanged(hs, v, proj, rid, vkey, n)["state"] == "running"
    assert hs.get(f"/api/v1/runs/{v}/{proj}/{rid}/files/secret/notes.txt", vkey).content == b"the victim's secret"
    assert "new.txt" not in [f["path"] for f in hs.get(f"/api/v1/runs/{v}/{proj}/{rid}/files", vkey).json()["files"]]


def test_media_are_content_addressed_and_hidden_files_stay_hidden_for_the_owner_too(hs):
    v, vkey, proj, rid, n = _open_run(hs)
    r = hs.http.put(f"{hs.url}/api/v1/runs/{v}/{proj}/{rid}/files/{MEDIA}", data=b"other bytes",
                    params={"kind": "media"}, headers=hs.headers(vkey))
    assert PNG_SHA in _reason(r, 400, "sha256_mismatch")["error"]
    r = hs.post_records(v, proj, rid, [[n, "files", T0, {"files": [{"path": MEDIA, "sha256": "0" * 64}]}]], vkey)
    assert PNG_SHA in _reason(r, 400, "bad_record")["error"]
    # the owner re-declaring a code file as other (record or PUT) does not make it readable
    r = hs.post_records(v, proj, rid, [[n, "files", T0, {"files": [{"path": "secret/notes.txt", "kind": "other"}]}]],
                        vkey)
    assert r.status_code == 200, r.text
    r = hs.http.put(f"{hs.url}/api/v1/runs/{v}/{proj}/{rid}/files/secret/notes.txt", data=b"v2",
                    params={"kind": "other"}, headers=hs.headers(vkey))
    assert r.status_code == 201 and r.json()["kind"] == "code"
    assert hs.get(f"/api/v1/runs/{v}/{proj}/{rid}/files/secret/notes.txt").status_code == 403
    assert hs.get(f"/api/v1/runs/{v}/{proj}/{rid}/files/{MEDIA}").content == PNG


def test_a_run_logged_into_another_entitys_open_project_stays_its_creators(hs):
    v, vkey, proj, _, _ = _open_run(hs)
    a, akey = hs.attacker
    rid = uniq("guest")
    assert hs.upload(v, proj, rid, simple_run(rid, 3, exit_code=None), akey) == 5  # open: anyone may log a run
    r = hs.post_records(v, proj, rid, [[5, "meta", T0, {"name": "guest's own"}]], akey)
    assert r.status_code == 200 and r.json()["applied"] == 1
    # the project's owner (a member of its entity) may write to it; a third user may not
    assert hs.post_records(v, proj, rid, [[6, "meta", T0, {"notes": "seen"}]], vkey).json()["applied"] == 1
    third, tkey = hs.user("third")
    _reason(hs.post_records(v, proj, rid, [[7, "meta", T0, {"name": "x"}]], tkey), 403, "no_permission")
    assert hs.run(v, proj, rid, akey).json()["name"] == "guest's own"


def test_a_squatted_run_id_is_a_distinct_refusal_for_the_owner(hs):
    v, vkey, proj, _, _ = _open_run(hs)
    a, akey = hs.attacker
    rid = uniq("exp-")
    assert hs.upload(v, proj, rid, simple_run(rid, 50), akey) == 53  # the squatter comes first, further ahead
    body = _reason(hs.post_records(v, proj, rid, simple_run(rid, 5), vkey), 409, "run_id_taken")
    assert a in body["error"] and rid in body["error"] and body["run_id"] == rid
    _reason(hs.get("/api/v1/auth/check", vkey, project=proj, run_id=rid), 409, "run_id_taken")
    assert hs.get("/api/v1/auth/check", vkey, project=proj, run_id=uniq("free")).status_code == 200
    assert hs.get("/api/v1/auth/check", akey, entity=v, project=proj, run_id=rid).status_code == 200  # the creator
    run = hs.run(v, proj, rid, vkey).json()
    assert run["history_rows"] == 50 and run["name"] == f"name-{rid}"


def test_team_members_and_admins_write_to_a_teammates_run_but_never_restart_it(hs):
    u1, k1 = hs.user("mate")
    u2, k2 = hs.user("mate")
    admin, adkey = hs.user("admin", admin=True)
    team = hs.team([u1, u2])
    rid = uniq("shared")
    assert hs.upload(team, "p", rid, simple_run(rid, 2, exit_code=None), k1) == 4
    assert hs.post_records(team, "p", rid, [history(4, 9)], k2).json()["applied"] == 1  # e.g. a resumed session
    assert hs.post_records(team, "p", rid, [history(5, 10)], adkey).json()["applied"] == 1
    _reason(hs.post_records(team, "p", rid, simple_run(rid, 2), k2), 409, "run_id_taken")
    r = hs.post_records(team, "p", rid, [], k2)  # an empty body starts nothing
    assert r.status_code == 200 and r.json()["applied"] == 0, r.text
    assert hs.run(team, "p", rid, k1).json()["history_rows"] == 4


# ------------------------------------------------------------------ init() and `evlog sync` report it
INIT = r'''
import sys
import eventlog
from eventlog import errors
try:
    run = eventlog.init(project=sys.argv[2], entity=sys.argv[3], id=sys.argv[4], dir=sys.argv[1], mode=sys.argv[5])
except errors.PermissionDenied as exc:
    print("REFUSED", type(exc).__name__, exc)
    sys.exit(3)
run.log({"loss": 1.0})
run.finish()
print("OK", run.dir)
'''


def _client(h: Harness, tmp: Path, key: str, user: str, entity: str, project: str, run_id: str, mode: str):
    script = tmp / "init_client.py"
    script.write_text(INIT)
    env = client_env(tmp / user, h.url, key, user)
    return subprocess.run([sys.executable, str(script), str(tmp / user / "runs"), project, entity, run_id, mode],
                          env=env, capture_output=True, text=True, timeout=300, cwd=str(tmp)), env


def test_init_and_evlog_sync_report_a_taken_run_id(hs, tmp_path):
    v, vkey, proj, _, _ = _open_run(hs)
    a, akey = hs.attacker
    rid = uniq("exp-")
    assert hs.upload(v, proj, rid, simple_run(rid, 3), akey) == 6
    proc, _ = _client(hs, tmp_path, vkey, v, v, proj, rid, "online")
    assert proc.returncode == 3, proc.stdout + proc.stderr
    assert proc.stdout.startswith("REFUSED RunIdTakenError") and a in proc.stdout and rid in proc.stdout
    # offline, then `evlog sync`: the sync fails and says why, the squatter's run is untouched
    proc, env = _client(hs, tmp_path, vkey, v, v, proj, rid, "offline")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    folder = proc.stdout.split("OK ", 1)[1].strip()
    sync = subprocess.run([sys.executable, "-m", "eventlog.cli.main", "sync", folder], env=env,
                          capture_output=True, text=True, timeout=300)
    assert sync.returncode != 0 and "taken" in sync.stderr and a in sync.stderr, sync.stdout + sync.stderr
    assert hs.run(v, proj, rid, vkey).json()["history_rows"] == 3


# ------------------------------------------------------------------ item 7: anonymous runs
def _anonymous(h: Harness) -> tuple:
    r = h.http.post(f"{h.url}/api/v1/auth/anonymous")
    assert r.status_code == 201, r.text
    return r.json()["entity"], r.json()["api_key"]


def test_anonymous_projects_are_not_listed_and_their_runs_not_written_by_others(hs):
    anon, anon_key = _anonymous(hs)
    rid = uniq("anonrun")
    assert hs.upload(anon, "p", rid, simple_run(rid, 2), anon_key) == 5
    v, vkey, proj, _, _ = _open_run(hs)
    for key in (None, vkey):
        home = hs.get("/", key)
        assert home.status_code == 200 and anon not in home.text and f"/{v}/{proj}" in home.text
    assert hs.get(f"/{anon}/p/runs/{rid}").status_code == 200  # the printed URL is the way in
    a, akey = hs.attacker
    _reason(hs.post_records(anon, "p", rid, [[5, "meta", T0, {"name": "renamed"}]], akey), 403, "no_permission")
    _reason(hs.post_records(anon, "p", uniq("intruder"), simple_run("x", 1), akey), 403, "no_permission")
    r = hs.http.patch(f"{hs.url}/api/v1/runs/{anon}/p/{rid}", json={"name": "renamed"}, headers=hs.headers(akey))
    _reason(r, 403, "no_permission")
    assert hs.run(anon, "p", rid).json()["name"] == f"name-{rid}"


def test_anonymous_account_creation_is_rate_limited(backend, request, tmp_path):
    from eventlog.server.accounts import ANONYMOUS_BURST

    h = start_harness(new_db_url(backend, request, tmp_path), tmp_path, allow_anonymous=True)
    try:
        answers = [h.http.post(f"{h.url}/api/v1/auth/anonymous") for _ in range(ANONYMOUS_BURST + 20)]
        made = [r for r in answers if r.status_code == 201]
        refused = [r for r in answers if r.status_code == 429]
        assert len(made) == ANONYMOUS_BURST and len(refused) == 20
        assert all(r.json()["reason"] == "rate_limited" and int(r.headers["Retry-After"]) >= 1 for r in refused)
        with h.engine.connect() as conn:
            n = len(conn.execute(select(schema.users).where(schema.users.c.is_anonymous.is_(True))).all())
        assert n == ANONYMOUS_BURST
        assert h.get("/api/v1/health").status_code == 200
    finally:
        h.proc.stop()
        h.close()


# ------------------------------------------------------------------ item 10: deleting runs
def _pk(h: Harness, entity: str, project: str, rid: str):
    with h.engine.connect() as conn:
        return conn.execute(select(schema.runs.c.id).select_from(
            schema.runs.join(schema.projects, schema.projects.c.id == schema.runs.c.project_id)
            .join(schema.entities, schema.entities.c.id == schema.projects.c.entity_id)).where(
            schema.entities.c.name == entity, schema.projects.c.name == project, schema.runs.c.run_id == rid)).scalar()


def _rows_left(h: Harness, pk: int) -> dict:
    with h.engine.connect() as conn:
        return {t.name: len(conn.execute(select(t).where(t.c.run_pk == pk)).all())
                for t in schema.metadata.sorted_tables if "run_pk" in t.c}


def test_the_owner_deletes_a_run_its_data_goes_and_its_id_is_reserved(hs):
    v, vkey, proj, rid, n = _open_run(hs, finished=True)
    pk = _pk(hs, v, proj, rid)
    assert _rows_left(hs, pk)["chunks"] > 0 and _rows_left(hs, pk)["files"] == 2
    a, akey = hs.attacker
    _reason(hs.http.delete(f"{hs.url}/api/v1/runs/{v}/{proj}/{rid}", headers=hs.headers(akey)), 403, "no_permission")
    _reason(hs.http.delete(f"{hs.url}/api/v1/runs/{v}/{proj}/{rid}"), 401, "not_logged_in")
    r = hs.http.delete(f"{hs.url}/api/v1/runs/{v}/{proj}/{rid}", headers=hs.headers(vkey))
    assert r.status_code == 200 and r.json()["deleted"] is True and r.json()["id"] == rid
    assert set(_rows_left(hs, pk).values()) == {0}
    _reason(hs.run(v, proj, rid, vkey), 404, "no_such_run")
    _reason(hs.get(f"/api/v1/runs/{v}/{proj}/{rid}/files/{MEDIA}"), 404, "no_such_run")
    assert rid not in [x["id"] for x in hs.get(f"/api/v1/runs/{v}/{proj}", vkey).json()["runs"]]
    assert hs.get(f"/{v}/{proj}/runs/{rid}").status_code == 404
    # the id is reserved forever: uploads, the seq query, resuming and init's check are refused
    body = _reason(hs.post_records(v, proj, rid, simple_run(rid, 2), vkey), 410, "run_deleted")
    assert "deleted" in body["error"] and body["run_id"] == rid
    _reason(hs.post_records(v, proj, rid, simple_run(rid, 2), akey), 410, "run_deleted")
    _reason(hs.get(f"/api/v1/runs/{v}/{proj}/{rid}/records", vkey), 410, "run_deleted")
    _reason(hs.get(f"/api/v1/runs/{v}/{proj}/{rid}/state", vkey), 410, "run_deleted")
    _reason(hs.get("/api/v1/auth/check", vkey, project=proj, run_id=rid), 410, "run_deleted")
    _reason(hs.http.delete(f"{hs.url}/api/v1/runs/{v}/{proj}/{rid}", headers=hs.headers(vkey)), 410, "run_deleted")
    assert _pk(hs, v, proj, rid) is None


def test_who_may_delete_creator_members_admins_not_others(hs):
    u1, k1 = hs.user("mate")
    u2, k2 = hs.user("mate")
    outsider, okey = hs.user("outsider")
    admin, adkey = hs.user("admin", admin=True)
    team = hs.team([u1, u2])
    ids = [uniq("del") for _ in range(3)]
    for rid in ids:
        assert hs.upload(team, "p", rid, simple_run(rid, 2), k1) == 5
    url = f"{hs.url}/api/v1/runs/{team}/p/"
    _reason(hs.http.delete(url + ids[0], headers=hs.headers(okey)), 404, "no_such_run")  # private: looks missing
    assert hs.http.delete(url + ids[0], headers=hs.headers(k1)).status_code == 200  # its creator
    assert hs.http.delete(url + ids[1], headers=hs.headers(k2)).status_code == 200  # a member of its entity
    assert hs.http.delete(url + ids[2], headers=hs.headers(adkey)).status_code == 200  # an admin
    assert hs.get(f"/api/v1/runs/{team}/p", k1).json()["runs"] == []
    # a guest's run in an open project: the guest may delete it, the project's owner too
    v, vkey, proj, vrid, _ = _open_run(hs)
    guest = uniq("guest")
    assert hs.upload(v, proj, guest, simple_run(guest, 1), okey) == 4
    _reason(hs.http.delete(f"{hs.url}/api/v1/runs/{v}/{proj}/{vrid}", headers=hs.headers(okey)), 403, "no_permission")
    assert hs.http.delete(f"{hs.url}/api/v1/runs/{v}/{proj}/{guest}", headers=hs.headers(okey)).status_code == 200


def test_deleting_with_the_dashboard_cookie_needs_the_csrf_token(hs):
    v, vkey, proj, rid, _ = _open_run(hs, finished=True)
    w = Web(hs.url)
    try:
        assert w.sign_in(vkey).status_code == 303
        page_url = f"/{v}/{proj}/runs/{rid}"
        assert 'id="delete-button"' in w.get(page_url).text
        api = f"{hs.url}/api/v1/runs/{v}/{proj}/{rid}"
        _reason(w.http.delete(api, headers={"Origin": hs.url}), 403, "bad_csrf")
        r = w.http.delete(api, headers={"Origin": hs.url, "X-CSRF-Token": w.csrf(page_url)})
        assert r.status_code == 200, r.text
        assert w.get(page_url).status_code == 404
    finally:
        w.http.close()
    a, akey = hs.attacker
    rid2 = _open_run(hs)[3]
    assert 'id="delete-button"' not in hs.get(f"/{v}/{proj}/runs/{rid2}", akey).text


def test_evlog_server_runs_delete(hs):
    v, vkey, proj, rid, _ = _open_run(hs, finished=True)
    cmd = [sys.executable, "-m", "eventlog.cli.main", "server", "runs", "delete", f"{v}/{proj}/{rid}", "--db",
           hs.db_url]
    refused = subprocess.run(cmd, input="n\n", capture_output=True, text=True, timeout=120)
    assert refused.returncode != 0 and hs.run(v, proj, rid, vkey).status_code == 200  # not confirmed: kept
    done = subprocess.run(cmd + ["--yes"], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0 and "deleted run" in done.stdout, done.stderr
    _reason(hs.run(v, proj, rid, vkey), 404, "no_such_run")
    _reason(hs.post_records(v, proj, rid, simple_run(rid, 1), vkey), 410, "run_deleted")
    again = subprocess.run(cmd + ["--yes"], capture_output=True, text=True, timeout=120)
    assert again.returncode == 1 and "deleted" in again.stderr


def test_init_and_evlog_sync_refuse_a_deleted_run_id(hs, tmp_path):
    v, vkey, proj, rid, _ = _open_run(hs, finished=True)
    proc, env = _client(hs, tmp_path, vkey, v, v, proj, rid + "-off", "offline")  # an offline run, id freed later
    assert proc.returncode == 0, proc.stdout + proc.stderr
    folder = proc.stdout.split("OK ", 1)[1].strip()
    for r in (rid, rid + "-off"):
        hs.upload(v, proj, r, simple_run(r, 1), vkey)
        assert hs.http.delete(f"{hs.url}/api/v1/runs/{v}/{proj}/{r}", headers=hs.headers(vkey)).status_code == 200
    proc, _ = _client(hs, tmp_path, vkey, v, v, proj, rid, "online")
    assert proc.returncode == 3 and proc.stdout.startswith("REFUSED RunDeletedError"), proc.stdout + proc.stderr
    assert "never used again" in proc.stdout
    sync = subprocess.run([sys.executable, "-m", "eventlog.cli.main", "sync", folder], env=env,
                          capture_output=True, text=True, timeout=300)
    assert sync.returncode != 0 and "deleted" in sync.stderr, sync.stdout + sync.stderr
    _reason(hs.run(v, proj, rid + "-off", vkey), 404, "no_such_run")


# ------------------------------------------------------------------ the dashboard's delete button (Chromium)
def test_the_run_page_deletes_a_run_only_after_its_id_is_typed(hs, page, backend):
    if backend != "sqlite":
        pytest.skip("one browser run is enough: the endpoint is the same on both databases")
    v, vkey, proj, rid, _ = _open_run(hs, finished=True)
    sign_in(page, hs.url, vkey, f"/{v}/{proj}/runs/{rid}")
    page.wait_for_selector("#delete-button")
    assert page.is_hidden("#delete-form")
    page.click("#delete-button")
    assert page.is_visible("#delete-form") and page.is_disabled("#delete-submit")
    page.fill("#delete-confirm", rid + "x")
    assert page.is_disabled("#delete-submit")
    page.click("#delete-cancel")
    assert page.is_hidden("#delete-form") and hs.run(v, proj, rid, vkey).status_code == 200
    page.click("#delete-button")
    page.fill("#delete-confirm", rid)
    with page.expect_navigation():
        page.click("#delete-submit")
    assert page.url.rstrip("/").endswith(f"/{v}/{proj}")
    _reason(hs.run(v, proj, rid, vkey), 404, "no_such_run")
