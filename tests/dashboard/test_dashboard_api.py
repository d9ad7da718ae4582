"""The dashboard over HTTP, on SQLite and PostgreSQL: run edits (PATCH {run}), session sign-in with
CSRF protection, what outsiders see (404 for private projects, no git or code on open ones), HTML
escaping of user strings, and the chart series (downsampled keeping extremes, live increments)."""
from __future__ import annotations

import json
import math
import re

from sqlalchemy import delete, func, select

from eventlog.server import schema, series
from support.dashboard import CODE_A, CODE_B, Web, metric_run, put_file
from support.server import T0, history, run_record, uniq

XSS = '<script>window.__xss=1</script><img src=x onerror="window.__xss=2">'


def patch(srv, entity, project, run_id, body, key=None, **headers):
    h = srv.headers(key)
    h.update(headers)
    data = body if isinstance(body, (bytes, str)) else json.dumps(body)
    h.setdefault("Content-Type", "application/json")
    return srv.http.patch(f"{srv.url}/api/v1/runs/{entity}/{project}/{run_id}", data=data, headers=h, timeout=60)


def one_run(srv, steps=20, **fields):
    user, key = srv.user()
    proj = uniq("p")
    srv.upload(user, proj, "r1", metric_run("r1", steps, **fields), key)
    return user, key, proj


# ------------------------------------------------------------------ PATCH {run}
def test_members_edit_name_notes_and_tags_and_everyone_reads_them(srv):
    user, key, proj = one_run(srv)
    r = patch(srv, user, proj, "r1", {"name": "  renamed  ", "notes": "line 1\nline 2", "tags": ["a", "b", "a", " c "]},
              key)
    assert r.status_code == 200, r.text
    assert (r.json()["name"], r.json()["notes"], r.json()["tags"]) == ("renamed", "line 1\nline 2", ["a", "b", "c"])
    run = srv.run(user, proj, "r1", key).json()
    assert (run["name"], run["notes"], run["tags"]) == ("renamed", "line 1\nline 2", ["a", "b", "c"])
    listed = srv.get(f"/api/v1/runs/{user}/{proj}", key).json()["runs"][0]
    assert listed["name"] == "renamed"
    page = srv.get(f"/{user}/{proj}/runs/r1", key).text
    assert "<h1 id=\"run-name\">renamed</h1>" in page
    # only the fields given change; null clears a name (the page shows the id then)
    assert patch(srv, user, proj, "r1", {"name": None}, key).json()["tags"] == ["a", "b", "c"]
    assert srv.run(user, proj, "r1", key).json()["name"] is None


def test_an_edit_survives_later_uploads_until_a_record_changes_the_field(srv):
    user, key = srv.user()
    proj = uniq("p")
    recs = metric_run("r1", 10, exit_code=None)
    srv.upload(user, proj, "r1", recs, key)
    assert patch(srv, user, proj, "r1", {"name": "from the dashboard"}, key).status_code == 200
    srv.upload(user, proj, "r1", recs + [history(len(recs), 10)], key)
    assert srv.run(user, proj, "r1", key).json()["name"] == "from the dashboard"
    n = len(recs) + 1
    srv.upload(user, proj, "r1", recs + [history(n - 1, 10), [n, "meta", T0, {"name": "from the script"}]], key)
    assert srv.run(user, proj, "r1", key).json()["name"] == "from the script"


def test_edit_refusals(srv):
    user, key, proj = one_run(srv)
    outsider, okey = srv.user("outsider")
    assert patch(srv, user, proj, "r1", {"name": "x"}).json()["reason"] == "not_logged_in"
    assert patch(srv, user, proj, "r1", {"name": "x"}, "0" * 40).json()["reason"] == "invalid_key"
    r = patch(srv, user, proj, "r1", {"name": "x"}, okey)
    assert r.status_code == 403 and r.json()["reason"] == "no_permission"
    srv.visibility(user, proj, "open")  # readable now, still not editable by outsiders
    r = patch(srv, user, proj, "r1", {"name": "x"}, okey)
    assert r.status_code == 403 and r.json()["reason"] == "no_permission"
    for body in ({}, [], {"state": "finished"}, {"name": 3}, {"name": "x" * 1001}, {"tags": "a,b"},
                 {"tags": ["ok", ""]}, {"tags": [1]}, {"notes": ["x"]}):
        r = patch(srv, user, proj, "r1", body, key)
        assert r.status_code == 400 and r.json()["reason"] == "bad_request", body
    assert patch(srv, user, proj, "r1", b"{not json", key).json()["reason"] == "bad_request"
    r = patch(srv, user, proj, "r1", {"name": "x"}, key, **{"Content-Type": "text/plain"})
    assert r.status_code == 415
    assert patch(srv, user, proj, "nope", {"name": "x"}, key).json()["reason"] == "no_such_run"
    assert patch(srv, user, "no-such-project", "r1", {"name": "x"}, key).status_code == 404
    assert srv.run(user, proj, "r1", key).json()["name"] == "name-r1"


def test_a_user_who_logged_a_run_to_an_open_project_may_edit_that_run_only(srv):
    owner, okey, proj = one_run(srv)
    srv.visibility(owner, proj, "open")
    guest, gkey = srv.user("guest")
    srv.upload(owner, proj, "guest-run", metric_run("guest-run", 5), gkey)
    assert patch(srv, owner, proj, "guest-run", {"name": "mine"}, gkey).status_code == 200
    assert patch(srv, owner, proj, "r1", {"name": "theirs"}, gkey).status_code == 403
    assert patch(srv, owner, proj, "guest-run", {"tags": ["checked"]}, okey).status_code == 200


# ------------------------------------------------------------------ sessions and CSRF
def test_sign_in_sets_an_httponly_samesite_session_that_reads_private_pages(srv, web):
    user, key, proj = one_run(srv)
    assert web.get(f"/{user}/{proj}").status_code == 404  # private: not found before signing in
    r = web.sign_in(key, f"/{user}/{proj}")
    assert r.status_code == 303 and r.headers["location"] == f"/{user}/{proj}"
    cookie = r.headers["set-cookie"]
    assert "evlog_session=" in cookie and "HttpOnly" in cookie and "SameSite=lax" in cookie.replace("Lax", "lax")
    page = web.get(f"/{user}/{proj}")
    assert page.status_code == 200 and f"signed in as <a href=\"/{user}\">{user}</a>" in page.text
    assert web.get(f"/-/api/runs/{user}/{proj}/r1").json()["id"] == "r1"
    assert "Content-Security-Policy" in page.headers and page.headers["X-Content-Type-Options"] == "nosniff"
    # the session ends with sign-out (which needs the page's token)
    token = web.csrf(f"/{user}/{proj}")
    assert web.http.post(srv.url + "/-/logout", data={"csrf": "wrong"}, allow_redirects=False).status_code == 403
    out = web.http.post(srv.url + "/-/logout", data={"csrf": token}, allow_redirects=False)
    assert out.status_code == 303
    assert web.get(f"/{user}/{proj}").status_code == 404


def test_sign_in_refuses_bad_keys_and_forms_without_their_token(srv, web):
    user, key, proj = one_run(srv)
    r = web.sign_in("f" * 40)
    assert r.status_code == 401 and "not valid" in r.text and "evlog_session" not in r.headers.get("set-cookie", "")
    # a form posted from elsewhere has no pre-session token (login CSRF)
    fresh = Web(srv.url)
    r = fresh.http.post(srv.url + "/-/login", data={"csrf": "guess", "api_key": key, "next": "/"},
                        allow_redirects=False)
    assert r.status_code == 403 and "evlog_session" not in r.headers.get("set-cookie", "")
    # next= never leads off the site
    r = web.sign_in(key, "//evil.example/x")
    assert r.status_code == 303 and r.headers["location"] == "/"


def test_state_changes_with_the_cookie_need_the_csrf_token_and_this_origin(srv, web):
    user, key, proj = one_run(srv)
    web.sign_in(key)
    token = web.csrf(f"/{user}/{proj}/runs/r1")
    assert len(token) >= 32
    url = f"{srv.url}/api/v1/runs/{user}/{proj}/r1"
    body = json.dumps({"name": "via cookie"})
    r = web.http.patch(url, data=body, headers={"Content-Type": "application/json"})
    assert r.status_code == 403 and r.json()["reason"] == "bad_csrf"
    r = web.http.patch(url, data=body, headers={"Content-Type": "application/json", "X-CSRF-Token": "0" * 40})
    assert r.status_code == 403
    r = web.http.patch(url, data=body, headers={"Content-Type": "application/json", "X-CSRF-Token": token,
                                                "Origin": "http://evil.example"})
    assert r.status_code == 403
    r = web.http.patch(url, data=body, headers={"Content-Type": "application/json", "X-CSRF-Token": token,
                                                "Origin": srv.url})
    assert r.status_code == 200 and r.json()["name"] == "via cookie"


def test_forged_and_expired_session_cookies_are_ignored(srv, web):
    user, key, proj = one_run(srv)
    assert web.sign_in(key).status_code == 303
    cookie = web.http.cookies.get("evlog_session")
    other, _ = srv.user("other")
    # cookies are random server-side session ids (tests/server/test_server_hostile_sessions.py has expiry and forgery from the database)
    for forged in (cookie[:-1] + ("A" if cookie[-1] != "A" else "B"), cookie[:-1], cookie + "A", "garbage", ""):
        w = Web(srv.url)
        w.http.cookies.set("evlog_session", forged)
        assert w.get(f"/{user}/{proj}").status_code == 404, forged
    w = Web(srv.url)
    w.http.cookies.set("evlog_session", cookie)
    assert w.get(f"/{user}/{proj}").status_code == 200


# ------------------------------------------------------------------ outsiders
def test_private_projects_are_not_found_for_outsiders_exactly_like_missing_ones(srv, web):
    user, key, proj = one_run(srv)
    outsider, okey = srv.user("outsider")
    for who in (None, okey):
        w = Web(srv.url)
        if who:
            w.sign_in(who)
        for path in (f"/{user}/{proj}", f"/{user}/{proj}/runs/r1", f"/{user}/{proj}/compare?runs=r1",
                     f"/-/api/runs/{user}/{proj}", f"/-/api/runs/{user}/{proj}/r1/series"):
            hidden, missing = w.get(path), w.get(path.replace(proj, "no-such-project"))
            assert hidden.status_code == missing.status_code == 404, path
        assert proj not in w.get(f"/{user}").text and proj not in w.get("/").text


def test_open_projects_show_runs_but_not_git_code_or_command_line_to_non_members(srv, web):
    user, key, proj = one_run(srv)
    srv.upload(user, proj, "r2", metric_run("r2", 5), key)
    for rid, code in (("r1", CODE_A), ("r2", CODE_B)):
        put_file(srv, user, proj, rid, "code/train.py", code.encode(), "code", key)
        put_file(srv, user, proj, rid, "diff.patch", b"+secret change\n", "diff", key)
    srv.visibility(user, proj, "open")
    outsider, okey = srv.user("outsider")
    member = Web(srv.url)
    member.sign_in(key)
    mine = member.get(f"/{user}/{proj}/runs/r1").text
    assert "0123abcd" in mine and "--secret-flag" in mine and "lr = 0.01" in mine and "+secret change" in mine
    assert "lr = 0.02" in member.get(f"/{user}/{proj}/compare?runs=r1,r2").text
    for who in (None, okey):
        w = Web(srv.url)
        if who:
            w.sign_in(who)
        page = w.get(f"/{user}/{proj}/runs/r1")
        assert page.status_code == 200 and "name-r1" in page.text
        for secret in ("0123abcd", "example.com/r.git", "--secret-flag", "lr = 0.01", "+secret change",
                       'id="git"', 'id="code"'):
            assert secret not in page.text, secret
        assert 'id="hidden-note"' in page.text
        assert "git" not in w.get(f"/-/api/runs/{user}/{proj}/r1").json()
        assert all("git" not in r for r in w.get(f"/-/api/runs/{user}/{proj}").json()["runs"])
        cmp = w.get(f"/{user}/{proj}/compare?runs=r1,r2").text
        assert 'id="code-hidden"' in cmp and "lr = 0.0" not in cmp
        assert "0123abcd" not in w.get(f"/{user}/{proj}").text


# ------------------------------------------------------------------ escaping
def test_html_in_names_notes_tags_and_config_is_escaped_on_every_page(srv, web):
    user, key = srv.user()
    proj = uniq("p")
    srv.upload(user, proj, "r1", metric_run("r1", 3, name=XSS, notes=XSS, tags=[XSS], group=XSS,
                                            config={XSS: XSS}), key)
    put_file(srv, user, proj, "r1", "code/train.py", XSS.encode(), "code", key)
    srv.upload(user, proj, "r2", metric_run("r2", 3), key)
    put_file(srv, user, proj, "r2", "code/train.py", b"x", "code", key)
    web.sign_in(key)
    for path in ("/", f"/{user}", f"/{user}/{proj}", f"/{user}/{proj}/runs/r1", f"/{user}/{proj}/compare?runs=r1,r2"):
        text = web.get(path).text
        assert "<script>window" not in text and "<img src=x" not in text, path
        scripts = re.findall(r"<script[^>]*>", text)
        assert all(s.startswith(("<script src=\"/-/static/", '<script type="application/json"')) for s in scripts), path
    run_page = web.get(f"/{user}/{proj}/runs/r1").text
    assert "&lt;script&gt;window.__xss=1&lt;/script&gt;" in run_page
    block = re.search(r'<script type="application/json" id="evlog-data">(.*?)</script>', run_page, re.S).group(1)
    assert json.loads(block)["name"] == XSS


# ------------------------------------------------------------------ chart series
def test_series_are_the_logged_points_for_short_runs(srv, web):
    user, key, proj = one_run(srv, steps=300)
    web.sign_in(key)
    d = web.get(f"/-/api/runs/{user}/{proj}/r1/series").json()
    assert sorted(d["series"]) == ["acc", "loss"]
    steps, values = d["series"]["loss"]
    assert steps == list(range(300)) and values == [1.0 / (i + 1) for i in range(300)]
    assert d["next_seq"] == 303 and d["state"] == "finished"
    only = web.get(f"/-/api/runs/{user}/{proj}/r1/series", params={"keys": "acc", "samples": 50}).json()
    assert list(only["series"]) == ["acc"] and len(only["series"]["acc"][0]) <= 52
    assert web.get(f"/-/api/runs/{user}/{proj}/r1/series", params={"samples": 1}).status_code == 400


def test_series_skip_values_that_cannot_be_drawn(srv, web):
    user, key = srv.user()
    proj = uniq("p")
    rows = [{"a": 1.0, "s": "text", "b": True}, {"a": math.nan, "n": {"x": 1}, "b": False}, {"a": math.inf},
            {"a": 4, "b": None}, {"a": -2, "s": "more"}]
    recs = [run_record("r1")] + [history(1 + i, i, d) for i, d in enumerate(rows)]
    srv.upload(user, proj, "r1", recs, key)
    web.sign_in(key)
    d = web.get(f"/-/api/runs/{user}/{proj}/r1/series").json()["series"]
    assert d == {"a": [[0, 3, 4], [1.0, 4.0, -2.0]], "b": [[0, 1], [1.0, 0.0]]}
    # the same columns through the chunk summaries of long runs
    parts = series.summarize_rows([(i, r) for i, r in enumerate(rows)])
    assert {k: (list(st), list(va)) for k, (st, va) in parts.items()} == {k: tuple(v) for k, v in d.items()}


def test_series_of_a_live_run_come_in_increments(srv, web):
    user, key = srv.user()
    proj = uniq("p")
    recs = metric_run("r1", 50, exit_code=None)
    srv.upload(user, proj, "r1", recs[:30], key)
    web.sign_in(key)
    first = web.get(f"/-/api/runs/{user}/{proj}/r1/series").json()
    assert first["next_seq"] == 30 and first["series"]["loss"][0] == list(range(28))
    srv.upload(user, proj, "r1", recs, key)
    more = web.get(f"/-/api/runs/{user}/{proj}/r1/series", params={"from_seq": first["next_seq"]}).json()
    assert more["next_seq"] == len(recs) and more["series"]["loss"][0] == list(range(28, 50))
    assert more["state"] == "running"


def test_long_runs_are_charted_from_summaries_that_keep_every_extreme(srv):
    """A run past RAW_ROWS is read from the per-chunk summaries; spikes anywhere survive."""
    user, key = srv.user()
    proj = uniq("p")
    n = 30_000
    spikes = {7_777: 1e6, 21_001: -1e6}

    def value(i):
        return spikes.get(i, math.sin(i / 300.0))
    recs = [run_record("r1")] + [history(1 + i, i, {"v": value(i), "w": float(i)}) for i in range(n)]
    srv.upload(user, proj, "r1", recs, key, batch=4_000)
    with srv.engine.connect() as conn:
        pk = conn.execute(select(schema.runs.c.id)
                          .join(schema.projects, schema.projects.c.id == schema.runs.c.project_id)
                          .where(schema.runs.c.run_id == "r1", schema.projects.c.name == proj)).scalar_one()
        stored = conn.execute(select(func.count()).select_from(schema.series).where(schema.series.c.run_pk == pk))
        assert stored.scalar_one() == math.ceil(n / 4_000)
        got = series.read_series(conn, pk, None, 500, 0, history_rows=None)  # force the summary path
        exact = series.read_series(conn, pk, None, 500, 0, history_rows=n)  # from the records
    for s in (got, exact):
        steps, values = s["v"]
        assert len(steps) <= 502 and steps == sorted(steps) and steps[0] == 0 and steps[-1] == n - 1
        assert max(values) == 1e6 and min(values) == -1e6
        assert steps[values.index(1e6)] == 7_777 and steps[values.index(-1e6)] == 21_001
        assert all(v == value(st) for st, v in zip(steps, values))
        # every bucket of the step range is represented: no gap wider than two buckets
        assert max(b - a for a, b in zip(steps, steps[1:])) <= 2 * n / 250
    # chunks stored before summaries existed are summarized on read, with the same answer
    with srv.engine.begin() as conn:
        conn.execute(delete(schema.series).where(schema.series.c.run_pk == pk))
    with srv.engine.connect() as conn:
        assert series.read_series(conn, pk, None, 500, 0, history_rows=None) == got


def test_downsample_keeps_the_min_and_max_of_every_bucket():
    steps = list(range(1000))
    values = [((i * 37) % 101) - 50.0 for i in steps]
    st, va = series.downsample(steps, values, 100)
    assert len(st) <= 102 and st[0] == 0 and st[-1] == 999
    for b in range(50):
        lo, hi = b * 999 / 50, (b + 1) * 999 / 50
        inside = [values[i] for i in steps if lo <= i < hi or (b == 49 and i == 999)]
        kept = [v for s, v in zip(st, va) if lo <= s < hi or (b == 49 and s == 999)]
        assert min(inside) in kept and max(inside) in kept
    assert series.downsample(steps[:10], values[:10], 100) == (steps[:10], values[:10])


def test_static_assets_are_served_with_the_chart_library_licence(srv):
    js = srv.get("/-/static/uPlot.iife.min.js")
    assert js.status_code == 200 and "uPlot" in js.text[:2000]
    assert "MIT" in srv.get("/-/static/uPlot.LICENSE").text
    for name in ("evlog.js", "runs.js", "run.js", "compare.js", "evlog.css", "uPlot.min.css"):
        assert srv.get(f"/-/static/{name}").status_code == 200, name
    for path in ("/-/static/../app.py", "/-/static/%2e%2e/app.py", "/-/static/..%2fapp.py"):
        r = srv.get(path)
        assert r.status_code in (400, 404) and "create_app" not in r.text, path


def test_chunk_summaries_keep_each_buckets_extremes_whatever_the_rows_hold():
    n = 5_000
    size = -(-n // series.PAIRS)
    uniform = [(i, {"x": math.sin(i / 40.0) * (1 + i % 7), "y": (i * 37) % 101, "ok": i % 2 == 0})
               for i in range(n)]
    got = series.summarize_rows(uniform)
    for key in ("x", "y", "ok"):
        steps, values = got[key]
        assert len(steps) <= 2 * series.PAIRS + 2 and steps[0] == 0 and steps[-1] == n - 1
        for a in range(0, n, size):  # every bucket of rows keeps its min and max point
            bucket = [(st, float(d[key])) for st, d in uniform[a:a + size]]
            for p in (min(bucket, key=lambda p: p[1]), max(bucket, key=lambda p: p[1])):
                assert any(s == p[0] and v == p[1] for s, v in zip(steps, values)), (key, a)
    messy = [(i, dict(d)) for i, d in uniform]
    messy[1234][1]["x"] = math.nan
    messy[2345][1]["y"] = math.inf
    messy[3000] = (3000, {"x": 0.5, "c": 7.0, "ok": True})  # as many keys, one other: the general way
    messy[4000][1]["y"] = "text"
    got = series.summarize_rows(messy)
    assert sorted(got) == ["c", "ok", "x", "y"] and got["c"] == ([3000], [7.0])
    for key in ("x", "y"):
        pts = {(st, d[key]) for st, d in messy if type(d.get(key)) in (int, float) and math.isfinite(d[key])}
        steps, values = got[key]
        assert set(zip(steps, values)) <= pts and steps == sorted(steps)
        assert max(values) == max(v for _, v in pts) and min(values) == min(v for _, v in pts)
        assert 1234 not in steps or key != "x"
        assert not {2345, 4000} & set(steps) or key != "y"
