"""The permission matrix: every cause with its status code, reason and client message, on SQLite
and PostgreSQL; anonymous accounts with init()'s allow / never / must."""
from __future__ import annotations

import os
import stat
from typing import Optional

import pytest

import eventlog
from eventlog.client import accounts as api, credentials
from eventlog.server.testing import free_port
from support.server import Harness, new_db_url, simple_run, start_harness, uniq

LOGIN_HINT = "evlog login"


@pytest.fixture(scope="module")
def world(srv: Harness):
    """alice (owner of a private and an open project), bob (another user), team `t` with carol,
    and an admin."""
    w = {}
    for who in ("alice", "bob", "carol", "admin"):
        w[who] = srv.user(who, admin=(who == "admin"))
    alice = w["alice"][0]
    w["team"] = srv.team([w["carol"][0]])
    for proj in ("priv", "pub"):
        r = srv.post_records(alice, proj, "seed", simple_run("seed", 3), w["alice"][1])
        assert r.status_code == 200, r.text
    srv.visibility(alice, "pub", "open")
    r = srv.post_records(w["team"], "teamproj", "seed", simple_run("seed", 3), w["carol"][1])
    assert r.status_code == 200, r.text
    return w


def _check(srv: Harness, key: Optional[str], entity: Optional[str], project: str):
    params = {"project": project}
    if entity:
        params["entity"] = entity
    return srv.get("/api/v1/auth/check", key, **params)


# (case, who, entity ("alice", "team", "self", or a literal), project, status, reason, client error)
WRITE_MATRIX = [
    ("no key", None, "alice", "priv", 401, "not_logged_in", eventlog.NotLoggedInError),
    ("bad key", "bad", "alice", "priv", 401, "invalid_key", eventlog.NotLoggedInError),
    ("own private project", "alice", "alice", "priv", 200, None, None),
    ("own new project", "alice", "alice", "brand-new", 200, None, None),
    ("own entity by default", "alice", None, "priv", 200, None, None),
    ("another entity's private project", "bob", "alice", "priv", 403, "no_permission", eventlog.ProjectPermissionError),
    ("a new project in another entity", "bob", "alice", "brand-new", 403, "no_permission",
     eventlog.ProjectPermissionError),
    ("an open project without membership", "bob", "alice", "pub", 200, None, None),
    ("an entity that does not exist", "alice", "no-such-entity", "p", 404, "no_such_entity",
     eventlog.NoSuchEntityError),
    ("no key and an entity that does not exist", None, "no-such-entity", "p", 401, "not_logged_in",
     eventlog.NotLoggedInError),
    ("team member, existing project", "carol", "team", "teamproj", 200, None, None),
    ("team member, new project", "carol", "team", "fresh", 200, None, None),
    ("not a team member", "bob", "team", "teamproj", 403, "no_permission", eventlog.ProjectPermissionError),
    ("not a team member, new project", "bob", "team", "fresh", 403, "no_permission",
     eventlog.ProjectPermissionError),
    ("server admin", "admin", "alice", "priv", 200, None, None),
]


def _resolve(world, srv, who, entity):
    key = {None: None, "bad": "0" * 40}.get(who, world[who][1] if who in world else None)
    if entity == "alice":
        entity = world["alice"][0]
    elif entity == "team":
        entity = world["team"]
    return key, entity


@pytest.mark.parametrize("case,who,entity,project,status,reason,error", WRITE_MATRIX,
                         ids=[m[0] for m in WRITE_MATRIX])
def test_write_permission_matrix(srv, world, case, who, entity, project, status, reason, error):
    key, entity = _resolve(world, srv, who, entity)
    # 1. the check endpoint init() uses
    r = _check(srv, key, entity, project)
    assert r.status_code == status, r.text
    assert r.json().get("reason") == reason
    # 2. the real thing: uploading a run there
    run_id = uniq("run")
    r = srv.post_records(entity or world[who][0], project, run_id, simple_run(run_id, 2), key)
    assert r.status_code == status, r.text
    assert r.json().get("reason") == reason
    if status == 200:
        assert srv.run(entity or world[who][0], project, run_id, world["admin"][1]).json()["history_rows"] == 2
    # 3. the client's exception and message
    if error is None:
        info = api.check_write_permission(srv.url, key, entity, project, timeout=30)
        assert info["entity"] == (entity or world[who][0]) and info["project"] == project
    else:
        with pytest.raises(error) as exc:
            api.check_write_permission(srv.url, key, entity, project, timeout=30)
        assert isinstance(exc.value, eventlog.PermissionDenied)
        msg = str(exc.value)
        if error is eventlog.NotLoggedInError:
            assert LOGIN_HINT in msg
        elif error is eventlog.NoSuchEntityError:
            assert "does not exist" in msg and entity in msg
        else:
            assert "may not log" in msg and project in msg and world[who][0] in msg


def test_the_three_causes_have_three_distinct_messages(srv, world):
    msgs = []
    for key, entity in ((None, world["alice"][0]), (world["alice"][1], "no-such-entity"),
                        (world["bob"][1], world["alice"][0])):
        with pytest.raises(eventlog.PermissionDenied) as exc:
            api.check_write_permission(srv.url, key, entity, "priv", timeout=30)
        msgs.append((type(exc.value), str(exc.value)))
    assert len({t for t, _ in msgs}) == 3 and len({m for _, m in msgs}) == 3
    assert LOGIN_HINT in msgs[0][1] and LOGIN_HINT not in msgs[1][1] and LOGIN_HINT not in msgs[2][1]


READ_MATRIX = [
    ("no key, private", None, "alice", "priv", 403, "no_permission"),
    ("no key, open", None, "alice", "pub", 200, None),
    ("bad key, open", "bad", "alice", "pub", 401, "invalid_key"),
    ("owner, private", "alice", "alice", "priv", 200, None),
    ("other user, private", "bob", "alice", "priv", 403, "no_permission"),
    ("other user, open", "bob", "alice", "pub", 200, None),
    ("team member", "carol", "team", "teamproj", 200, None),
    ("not a team member", "bob", "team", "teamproj", 403, "no_permission"),
    ("no such entity", "alice", "no-such-entity", "p", 404, "no_such_entity"),
    ("no such project", "alice", "alice", "missing", 404, "no_such_project"),
]


@pytest.mark.parametrize("case,who,entity,project,status,reason", READ_MATRIX, ids=[m[0] for m in READ_MATRIX])
def test_read_permission_matrix(srv, world, case, who, entity, project, status, reason):
    key, entity = _resolve(world, srv, who, entity)
    for path in (f"/api/v1/runs/{entity}/{project}", f"/api/v1/runs/{entity}/{project}/seed",
                 f"/api/v1/runs/{entity}/{project}/seed/history", f"/api/v1/runs/{entity}/{project}/seed/files"):
        r = srv.get(path, key)
        assert r.status_code == status, (path, r.text)
        assert r.json().get("reason") == reason


def test_git_info_is_for_members_only_also_on_open_projects(srv, world):
    alice, akey = world["alice"]
    assert srv.run(alice, "pub", "seed", akey).json()["git"]["commit"] == "0123abcd"
    for key in (None, world["bob"][1]):
        run = srv.run(alice, "pub", "seed", key).json()
        assert run["config"] == {"lr": 0.01, "layers": 3} and "git" not in run and "program" not in run


def test_the_client_reads_a_run_or_learns_it_does_not_exist(srv, world):
    alice, akey = world["alice"]
    assert api.get_run(srv.url, akey, alice, "priv", "seed", timeout=30)["history_rows"] == 3
    assert api.get_run(srv.url, akey, alice, "priv", "no-such-run", timeout=30) is None
    assert api.get_run(srv.url, akey, alice, "no-such-project", "seed", timeout=30) is None
    with pytest.raises(eventlog.ProjectPermissionError):
        api.get_run(srv.url, world["bob"][1], alice, "priv", "seed", timeout=30)
    with pytest.raises(eventlog.NoSuchEntityError):
        api.get_run(srv.url, akey, "no-such-entity", "p", "seed", timeout=30)


# --------------------------------------------------------------- anonymous
def _env(tmp_path, url, key=None):
    env = {"EVLOG_CONFIG_DIR": str(tmp_path / "cfg"), "EVLOG_BASE_URL": url, "HOME": str(tmp_path)}
    if key:
        env["EVLOG_API_KEY"] = key
    return env


def test_anonymous_never_requires_login(srv, tmp_path):
    with pytest.raises(eventlog.NotLoggedInError) as exc:
        api.resolve_online(None, "p", anonymous="never", env=_env(tmp_path, srv.url))
    assert LOGIN_HINT in str(exc.value)


def test_without_credentials_a_run_falls_back_to_offline_unless_forced(srv, tmp_path):
    assert api.resolve_online(None, "p", env=_env(tmp_path, srv.url)) is None
    with pytest.raises(eventlog.NotLoggedInError) as exc:
        api.resolve_online(None, "p", force=True, env=_env(tmp_path, srv.url))
    assert LOGIN_HINT in str(exc.value)


def test_anonymous_allow_uses_credentials_when_present(srv, world, tmp_path):
    alice, akey = world["alice"]
    login = api.resolve_online(None, "priv", anonymous="allow", env=_env(tmp_path, srv.url, akey))
    assert (login.entity, login.anonymous, login.verified, login.api_key) == (alice, False, True, akey)
    assert not (tmp_path / "cfg" / "credentials.json").exists()


def test_anonymous_allow_without_credentials_makes_one_anonymous_account(srv, world, tmp_path):
    env = _env(tmp_path, srv.url)
    login = api.resolve_online(None, "demo", anonymous="allow", env=env)
    assert login.anonymous and login.verified and login.entity.startswith("anon-") and login.project == "demo"
    again = api.resolve_online(None, "demo", anonymous="allow", env=env)
    assert (again.entity, again.api_key) == (login.entity, login.api_key)  # reused, not a new account each run
    path = tmp_path / "cfg" / "credentials.json"
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    # the run's URL is the way in: readable without a key, git hidden
    r = srv.post_records(login.entity, "demo", "anonrun", simple_run("anonrun", 5), login.api_key)
    assert r.status_code == 200
    url = login.run_url("anonrun")
    assert url == r.json()["url"]
    page = srv.http.get(url)
    assert page.status_code == 200 and "name-anonrun" in page.text
    run = srv.run(login.entity, "demo", "anonrun").json()
    assert run["anonymous"] is True and run["history_rows"] == 5 and "git" not in run
    # an anonymous account may not write into other entities, even open projects
    r = srv.post_records(world["alice"][0], "pub", "anon2", simple_run("anon2", 1), login.api_key)
    assert r.status_code == 403 and r.json()["reason"] == "no_permission"


def test_anonymous_must_is_anonymous_even_when_logged_in(srv, world, tmp_path):
    login = api.resolve_online(None, "demo", anonymous="must", env=_env(tmp_path, srv.url, world["alice"][1]))
    assert login.anonymous and login.entity.startswith("anon-") and login.api_key != world["alice"][1]


def test_a_forgotten_anonymous_account_is_replaced(srv, tmp_path):
    env = _env(tmp_path, srv.url)
    credentials.save_anonymous(srv.url, "f" * 40, "anon-gone", env)
    login = api.resolve_online(None, "demo", anonymous="must", env=env)
    assert login.verified and login.entity != "anon-gone" and credentials.lookup_anonymous(srv.url, env)[1] == login.entity


def test_a_bad_anonymous_value_is_a_usage_error(srv, tmp_path):
    with pytest.raises(eventlog.UsageError):
        api.resolve_online(None, "p", anonymous="sometimes", env=_env(tmp_path, srv.url))


@pytest.fixture(scope="module")
def strict_srv(backend, request, tmp_path_factory):
    """A server started without --allow-anonymous."""
    tmp = tmp_path_factory.mktemp(f"strict-{backend}")
    h = start_harness(new_db_url(backend, request, tmp), tmp, allow_anonymous=False)
    yield h
    h.proc.stop()
    h.close()


def test_anonymous_needs_a_server_that_allows_it(strict_srv, tmp_path):
    r = strict_srv.http.post(strict_srv.url + "/api/v1/auth/anonymous")
    assert r.status_code == 403 and r.json()["reason"] == "anonymous_disabled"
    for mode in ("allow", "must"):
        with pytest.raises(eventlog.NotLoggedInError) as exc:
            api.resolve_online(None, "p", anonymous=mode, env=_env(tmp_path, strict_srv.url))
        assert "anonymous" in str(exc.value) and LOGIN_HINT in str(exc.value)


def test_an_unreachable_server_is_not_fatal(tmp_path):
    url = f"http://127.0.0.1:{free_port()}"
    login = api.resolve_online("someone", "p", env=_env(tmp_path, url, "k" * 40), timeout=2)
    assert login is not None and login.verified is False and login.entity == "someone"
    assert login.run_url("r1") == f"{url}/someone/p/runs/r1"
    with pytest.raises(eventlog.ServerUnreachableError):
        api.check_write_permission(url, "k" * 40, "someone", "p", timeout=2)
    with pytest.raises(eventlog.ServerUnreachableError):  # an anonymous account cannot be made offline
        api.resolve_online(None, "p", anonymous="must", env=_env(tmp_path, url), timeout=2)
