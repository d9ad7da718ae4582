"""`evlog server` admin commands, `evlog login`, credential storage and lookup, migrations."""
from __future__ import annotations

import hashlib
import os
import re
import stat
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests
from sqlalchemy import inspect, select

from eventlog.client import credentials
from eventlog.server import schema
from eventlog.server.db import make_engine
from eventlog.server.migrations import LATEST, SchemaTooNewError, check_version, migrate
from eventlog.server.testing import SERVER_BOOT, free_port
from support.server import new_db_url, simple_run, start_harness, uniq

KEY_RE = re.compile(r"^[0-9a-f]{40}$")


def evlog(*args: str, env=None, input: str = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", SERVER_BOOT, *args], capture_output=True, text=True,
                          env=env if env is not None else dict(os.environ), input=input, timeout=120)


@pytest.fixture
def db(backend, request, tmp_path):
    return new_db_url(backend, request, tmp_path)


def test_users_add_prints_the_key_on_its_last_line_and_stores_only_a_hash(srv):
    name = uniq("cli")
    out = evlog("server", "users", "add", name, "--db", srv.db_url)
    assert out.returncode == 0, out.stderr
    key = out.stdout.rstrip("\n").splitlines()[-1]
    assert KEY_RE.match(key)
    who = requests.get(srv.url + "/api/v1/auth/whoami", headers={"Authorization": f"Bearer {key}"}).json()
    assert who == {"user": name, "entity": name, "admin": False, "anonymous": False, "teams": []}
    with srv.engine.connect() as conn:
        stored = [r[0] for r in conn.execute(select(schema.api_keys.c.key_hash))]
    assert hashlib.sha256(key.encode()).hexdigest() in stored and key not in stored
    again = evlog("server", "users", "add", name, "--db", srv.db_url)
    assert again.returncode == 1 and "already exists" in again.stderr and not KEY_RE.search(again.stdout)


def test_revoked_keys_stop_working_and_end_their_sign_ins(srv):
    from click.testing import CliRunner

    from eventlog.cli import main
    from support.dashboard import Web

    name = uniq("rev")
    first = evlog("server", "users", "add", name, "--db", srv.db_url).stdout.splitlines()[-1]
    second = evlog("server", "users", "key", name, "--db", srv.db_url).stdout.splitlines()[-1]
    third = evlog("server", "users", "key", name, "--db", srv.db_url).stdout.splitlines()[-1]
    web = Web(srv.url)
    assert web.sign_in(first).status_code in (302, 303) and name in web.get("/").text  # "signed in as ..."

    def whoami(key):
        return requests.get(srv.url + "/api/v1/auth/whoami", headers={"Authorization": f"Bearer {key}"}).status_code

    assert [whoami(k) for k in (first, second, third)] == [200, 200, 200]
    out = evlog("server", "users", "revoke", name, "--key", first, "--db", srv.db_url)
    assert out.returncode == 0 and out.stdout.strip() == f"revoked 1 key of {name}", out.stderr
    import time

    time.sleep(5.5)  # the server remembers a key's owner for 5 s
    assert [whoami(k) for k in (first, second, third)] == [401, 200, 200]
    assert name not in web.get("/").text  # the sign-in made with that key has ended
    again = evlog("server", "users", "revoke", name, "--key", first, "--db", srv.db_url)
    assert again.returncode == 1 and "no such key" in again.stderr
    got = CliRunner().invoke(main, ["server", "users", "revoke", name, "--db", srv.db_url])
    assert got.exit_code == 0 and got.output.strip() == f"revoked 2 keys of {name}"
    time.sleep(5.5)
    assert [whoami(k) for k in (second, third)] == [401, 401]
    got = CliRunner().invoke(main, ["server", "users", "revoke", uniq("nobody"), "--db", srv.db_url])
    assert got.exit_code == 1 and "no user named" in got.output


def test_admin_flag_and_db_before_the_subcommand(srv):
    name = uniq("adm")
    out = evlog("server", "--db", srv.db_url, "users", "add", name, "--admin")
    assert out.returncode == 0, out.stderr
    key = out.stdout.splitlines()[-1]
    assert requests.get(srv.url + "/api/v1/auth/whoami", headers={"Authorization": f"Bearer {key}"}).json()["admin"]


def test_evlog_server_db_variable_is_used(srv):
    name = uniq("envdb")
    out = evlog("server", "users", "add", name, env=dict(os.environ, EVLOG_SERVER_DB=srv.db_url))
    assert out.returncode == 0, out.stderr
    assert requests.get(srv.url + "/api/v1/auth/whoami",
                        headers={"Authorization": f"Bearer {out.stdout.splitlines()[-1]}"}).status_code == 200


def test_without_db_the_embedded_sqlite_file_in_the_data_folder_is_used(tmp_path):
    env = {k: v for k, v in os.environ.items() if k != "EVLOG_SERVER_DB"}
    env["XDG_DATA_HOME"] = str(tmp_path / "data")
    out = evlog("server", "users", "add", "local", env=env)
    assert out.returncode == 0, out.stderr
    db = tmp_path / "data" / "evlog" / "server.db"
    assert db.is_file()
    engine = make_engine(f"sqlite:///{db}", pool_size=1)
    with engine.connect() as conn:
        assert [r[0] for r in conn.execute(select(schema.entities.c.name))] == ["local"]
    engine.dispose()


def test_teams_add_makes_members_able_to_log_to_the_team(srv):
    (member, mkey), (outsider, okey) = srv.user("m"), srv.user("o")
    team = uniq("squad")
    out = evlog("server", "teams", "add", team, "--member", member, "--db", srv.db_url)
    assert out.returncode == 0 and member in out.stdout, out.stderr
    assert srv.post_records(team, "p", "r1", simple_run("r1", 2), mkey).status_code == 200
    assert srv.post_records(team, "p", "r2", simple_run("r2", 2), okey).status_code == 403
    out = evlog("server", "teams", "add", team, "--member", outsider, "--db", srv.db_url)
    assert out.returncode == 0
    assert srv.post_records(team, "p", "r2", simple_run("r2", 2), okey).status_code == 200
    bad = evlog("server", "teams", "add", uniq("t"), "--member", "nobody-at-all", "--db", srv.db_url)
    assert bad.returncode == 1 and "nobody-at-all" in bad.stderr
    who = requests.get(srv.url + "/api/v1/auth/whoami", headers={"Authorization": f"Bearer {mkey}"}).json()
    assert who["teams"] == [team]


def test_projects_set_visibility(srv):
    user, key = srv.user()
    srv.post_records(user, "p", "r1", simple_run("r1", 2), key)
    assert srv.run(user, "p", "r1").status_code == 403
    out = evlog("server", "projects", "set", f"{user}/p", "--visibility", "open", "--db", srv.db_url)
    assert out.returncode == 0, out.stderr
    assert srv.run(user, "p", "r1").status_code == 200
    out = evlog("server", "projects", "set", f"{user}/p", "--visibility", "private", "--db", srv.db_url)
    assert srv.run(user, "p", "r1").status_code == 403
    bad = evlog("server", "projects", "set", "no-such-entity/p", "--visibility", "open", "--db", srv.db_url)
    assert bad.returncode == 1 and "does not exist" in bad.stderr
    bad = evlog("server", "projects", "set", "justone", "--visibility", "open", "--db", srv.db_url)
    assert bad.returncode == 1 and "ENTITY/PROJECT" in bad.stderr


def test_an_unreachable_database_is_a_clear_error(tmp_path):
    out = evlog("server", "users", "add", "x", "--db", f"postgresql+psycopg://nobody@127.0.0.1:{free_port()}/none")
    assert out.returncode == 1 and "cannot open the database" in out.stderr


# ---------------------------------------------------------------- login
def _login_env(tmp_path, **extra):
    env = {k: v for k, v in os.environ.items() if not k.startswith(("EVLOG_", "WANDB_"))}
    env.update(EVLOG_CONFIG_DIR=str(tmp_path / "cfg"), HOME=str(tmp_path))
    env.update(extra)
    return env


def test_login_checks_the_key_and_stores_it_for_the_user_only(srv, tmp_path):
    user, key = srv.user()
    env = _login_env(tmp_path)
    out = evlog("login", key, "--host", srv.url, env=env)
    assert out.returncode == 0, out.stderr
    assert user in out.stdout and key not in out.stdout + out.stderr
    path = tmp_path / "cfg" / "credentials.json"
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    assert stat.S_IMODE(os.stat(path.parent).st_mode) == 0o700
    creds = credentials.lookup(env=env)
    assert (creds.base_url, creds.api_key, creds.source, creds.user) == (srv.url, key, "file", user)


def test_login_reads_the_key_from_stdin(srv, tmp_path):
    user, key = srv.user()
    env = _login_env(tmp_path, EVLOG_BASE_URL=srv.url)
    out = evlog("login", env=env, input=key + "\n")
    assert out.returncode == 0, out.stderr
    assert credentials.lookup(srv.url, env=env).api_key == key


def test_login_with_a_bad_key_or_no_server_stores_nothing(srv, tmp_path):
    env = _login_env(tmp_path)
    out = evlog("login", "0" * 40, "--host", srv.url, env=env)
    assert out.returncode == 1 and "not accepted" in out.stderr
    out = evlog("login", "0" * 40, "--host", f"http://127.0.0.1:{free_port()}", "--timeout", "2", env=env)
    assert out.returncode == 1 and "cannot reach" in out.stderr
    assert not (tmp_path / "cfg" / "credentials.json").exists()


def test_environment_overrides_the_stored_key(tmp_path):
    env = _login_env(tmp_path)
    credentials.save("http://server.example:8080/", "filekey", "u", env=env)
    assert credentials.lookup(env=env) == credentials.Credentials("http://server.example:8080", "filekey", "file", "u")
    assert credentials.lookup(env=dict(env, WANDB_API_KEY="wkey")).api_key == "wkey"
    assert credentials.lookup(env=dict(env, WANDB_API_KEY="wkey", EVLOG_API_KEY="ekey")).api_key == "ekey"
    assert credentials.base_url(dict(env, WANDB_BASE_URL="http://w:1")) == "http://w:1"
    assert credentials.base_url(dict(env, WANDB_BASE_URL="http://w:1", EVLOG_BASE_URL="e:2")) == "http://e:2"
    assert credentials.lookup("http://other:1", env=env).api_key is None
    assert credentials.forget("http://server.example:8080", env=env)
    assert credentials.lookup(env=env).api_key is None


def test_a_settings_file_readable_by_others_is_narrowed(tmp_path):
    env = _login_env(tmp_path)
    path = credentials.save("http://s:1", "k", env=env)
    os.chmod(path, 0o644)
    assert credentials.lookup("http://s:1", env=env).api_key == "k"
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600


# ----------------------------------------------------------- migrations
def test_migrations_create_exactly_the_schema_and_are_idempotent(db):
    engine = make_engine(db, pool_size=1)
    assert migrate(engine) == LATEST and migrate(engine) == LATEST
    with engine.connect() as conn:
        insp = inspect(conn)
        for table in schema.metadata.sorted_tables:
            assert {c["name"] for c in insp.get_columns(table.name)} == {c.name for c in table.columns}
        versions = [r[0] for r in conn.execute(select(schema.schema_version.c.version))]
    assert versions == list(range(1, LATEST + 1))
    engine.dispose()


def test_concurrent_migrations_apply_once(db):
    engines = [make_engine(db, pool_size=1) for _ in range(4)]
    with ThreadPoolExecutor(4) as pool:
        assert list(pool.map(migrate, engines)) == [LATEST] * 4
    with engines[0].connect() as conn:
        assert [r[0] for r in conn.execute(select(schema.schema_version.c.version))] == list(range(1, LATEST + 1))
    for e in engines:
        e.dispose()


def test_a_database_from_a_newer_server_is_refused(db, tmp_path):
    engine = make_engine(db, pool_size=1)
    migrate(engine)
    with engine.begin() as conn:
        conn.execute(schema.schema_version.insert().values(version=LATEST + 1, applied_at=0.0))
    with pytest.raises(SchemaTooNewError):
        check_version(engine)
    with pytest.raises(SchemaTooNewError):
        migrate(engine)
    engine.dispose()
    out = evlog("server", "users", "add", "x", "--db", db)
    assert out.returncode == 1 and "newer" in out.stderr


def test_two_workers_on_one_database_ingest_concurrently(db, tmp_path):
    h = start_harness(db, tmp_path, workers=2)
    try:
        users = [h.user() for _ in range(3)]

        def upload(i):
            user, key = users[i % 3]
            rid = f"w{i}"
            return h.upload(user, "p", rid, simple_run(rid, 400), key, batch=50)

        with ThreadPoolExecutor(8) as pool:
            assert list(pool.map(upload, range(12))) == [403] * 12
        # one run hammered by concurrent uploaders of overlapping batches: nothing lost, nothing doubled
        user, key = users[0]
        recs = simple_run("shared", 600)
        with ThreadPoolExecutor(6) as pool:
            list(pool.map(lambda _: h.upload(user, "p", "shared", recs, key, batch=64), range(6)))
        run = h.run(user, "p", "shared", key).json()
        assert run["history_rows"] == 600 and run["next_seq"] == len(recs)
        assert [r["step"] for r in h.rows(user, "p", "shared", key)] == list(range(600))
    finally:
        h.proc.stop()
        h.close()
