"""Issue 16, sections 1 and 5: from the demo to your own runs, and the command line, as a newcomer
meets them: scripts/demo.sh run twice (logged in, same key, sample runs not doubled), README's own
snippet then logging to the demo server, `evlog sync` of an offline run (the HTTP sink by default,
"not logged in" said once, the run's URL), `evlog verify` of a folder of runs, `tail --type` of an
unknown type, `evlog server` on a busy port, `users ls` / `projects ls`, and a disabled run's dir.
Real processes throughout: server subprocesses, training scripts, the `evlog` command."""
from __future__ import annotations

import json
import os
import re
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import requests

from support.engine import build_run, evlog_command, standard_sessions
from eventlog.server.testing import ServerProcess, free_port
from support.server import sqlite_harness, wait_until  # (importing it also requires the server extra)

REPO = Path(__file__).resolve().parents[2]
PY = sys.executable


def clean_env(tmp_path: Path, **extra: str) -> dict:
    """A newcomer's environment: no EVLOG_/WANDB_ variables, a home of its own."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("EVLOG_", "WANDB_"))}
    env.update(HOME=str(tmp_path / "home"), XDG_DATA_HOME=str(tmp_path / "home" / "data"),
               XDG_CONFIG_HOME=str(tmp_path / "home" / "config"), PYTHONUNBUFFERED="1", CI="")
    env.update(extra)
    (tmp_path / "home").mkdir(exist_ok=True)
    return env


def evlog(*args: str, env: dict, cwd: Path = REPO) -> subprocess.CompletedProcess:
    return subprocess.run([*evlog_command(), *args], capture_output=True, text=True, env=env, cwd=str(cwd),
                          timeout=300)


def offline_run(tmp_path: Path, env: dict, name: str = "first", steps: int = 30) -> Path:
    """A real training script logging offline; its run folder."""
    script = tmp_path / f"{name}.py"
    script.write_text(
        "import eventlog as wandb\n"
        f"run = wandb.init(project='mnist', name={name!r}, mode='offline')\n"
        f"for i in range({steps}):\n"
        "    wandb.log({'loss': 1 / (i + 1)})\n"
        "run.finish()\n"
        "print('RUNDIR', run.dir)\n")
    out = subprocess.run([PY, str(script)], capture_output=True, text=True, env=dict(env, EVLOG_SILENT="true"),
                         cwd=str(tmp_path), timeout=180)
    assert out.returncode == 0, out.stderr
    return Path(re.search(r"^RUNDIR (.+)$", out.stdout, re.M).group(1))


# --------------------------------------------------------------------------- the demo
def demo(env: dict, tmp_path: Path, *args: str) -> str:
    log = tmp_path / "demo.out"
    with open(log, "w") as f:  # a file: syncers left in the background would hold a pipe open
        proc = subprocess.run(["bash", str(REPO / "scripts" / "demo.sh"), *args], env=env, cwd=str(tmp_path),
                              stdout=f, stderr=subprocess.STDOUT, timeout=300)
    text = log.read_text()
    assert proc.returncode == 0, text
    return text


def test_demo_twice_logs_you_in_keeps_its_key_and_readme_snippet_logs_to_it(tmp_path):
    env = clean_env(tmp_path, EVLOG_DEMO_DIR=str(tmp_path / "state"), EVLOG_DIR=str(tmp_path / "runs"),
                    EVLOG_DEMO_PORT=str(free_port()), EVLOG_DEMO_NO_INSTALL="1",
                    EVLOG_DEMO_VENV=str(Path(PY).parent.parent), EVLOG_FINISH_TIMEOUT="120")
    (tmp_path / "runs").mkdir()
    base = None
    try:
        first = demo(env, tmp_path)
        base = re.search(r"^\s+(http://127\.0\.0\.1:\d+)/demo/demo$", first, re.M).group(1)
        key = re.search(r"^\s+([0-9a-f]{40})$", first, re.M).group(1)
        db = tmp_path / "home" / "data" / "evlog" / "server.db"
        assert f"The database:    sqlite:///{db}" in first  # where the demo's data lives, said
        # logged in: the stored credentials name this server and the demo user's key, as the default host
        stored = json.loads((tmp_path / "home" / "config" / "evlog" / "credentials.json").read_text())
        assert stored["default_host"] == base and stored["hosts"][base]["api_key"] == key

        second = demo(env, tmp_path)
        assert re.search(r"^\s+([0-9a-f]{40})$", second, re.M).group(1) == key  # the same key
        assert "the sample runs are on the server already" in second
        runs = requests.get(f"{base}/api/v1/runs/demo/demo", headers={"Authorization": f"Bearer {key}"},
                            timeout=30).json()["runs"]
        assert sorted(r["name"] for r in runs) == ["live-lr-0.01", "offline-lr-0.03"]  # not doubled
        users = evlog("server", "users", "ls", env=env)
        assert users.returncode == 0 and [ln.split()[0] for ln in users.stdout.splitlines()[1:]] == ["demo"]

        # README's "Use" snippet, as written, with nothing set: it logs online to the demo server
        readme = (REPO / "README.md").read_text()
        snippet = re.search(r"## Use\n\n```python\n(.*?)```", readme, re.S).group(1)
        (tmp_path / "mine.py").write_text(snippet + "print('RUN', run.id, run.url)\n")
        out = subprocess.run([PY, "mine.py"], capture_output=True, text=True, cwd=str(tmp_path),
                             env=dict(env, EVLOG_DIR=str(tmp_path / "runs")), timeout=180)
        assert out.returncode == 0, out.stderr
        run_id, url = re.search(r"^RUN (\S+) (\S+)$", out.stdout, re.M).groups()
        assert url == f"{base}/demo/mnist/runs/{run_id}"
        got = requests.get(f"{base}/api/v1/runs/demo/mnist/{run_id}", headers={"Authorization": f"Bearer {key}"},
                           timeout=30).json()
        assert got["state"] == "finished" and got["history_rows"] == 100
    finally:
        subprocess.run(["bash", str(REPO / "scripts" / "demo.sh"), "stop"], env=env, cwd=str(tmp_path),
                       capture_output=True, timeout=60)
    if base:
        wait_until(lambda: not _answers(base), 30, "the demo server to stop")


def _answers(base: str) -> bool:
    try:
        requests.get(base + "/api/v1/health", timeout=5)
    except requests.RequestException:
        return False
    return True


def test_readme_says_where_the_demo_database_is_how_to_log_in_and_point_a_script():
    readme = (REPO / "README.md").read_text()
    section = readme[readme.index("## Two commands"):readme.index("### Resuming a run")]
    assert "~/.local/share/evlog/server.db" in section
    assert "evlog login" in section and "EVLOG_BASE_URL" in section and "EVLOG_API_KEY" in section


# --------------------------------------------------------------------------- evlog sync
@pytest.fixture(scope="module")
def srv(tmp_path_factory):
    with sqlite_harness(tmp_path_factory.mktemp("newcomer-srv")) as h:
        yield h


def test_sync_of_an_offline_run_uses_http_says_not_logged_in_once_then_prints_the_url(srv, tmp_path):
    env = clean_env(tmp_path, EVLOG_BASE_URL=srv.url)
    folder = offline_run(tmp_path, env)
    out = evlog("sync", str(folder), env=env)
    text = out.stdout + out.stderr
    assert out.returncode == 1
    assert "not logged in: run `evlog login`" in text
    assert text.count("not logged in") == 1 and text.count("FAILED") == 1  # once, not twice

    user, key = srv.user("newcomer")
    login = subprocess.run([*evlog_command(), "login", "--host", srv.url], input=key + "\n", capture_output=True,
                           text=True, env=env, timeout=60)
    assert login.returncode == 0, login.stderr
    out = evlog("sync", str(folder), env=env)
    assert out.returncode == 0, out.stderr
    run_id = json.loads((folder / "sinks" / "http.cursor.json").read_text())["run_id"]
    url = f"{srv.url}/{user}/mnist/runs/{run_id}"
    assert f"View run at {url}" in out.stdout.splitlines()
    assert requests.get(url, headers={"Authorization": f"Bearer {key}"}, timeout=30).status_code == 200
    got = srv.run(user, "mnist", run_id, key).json()
    assert got["name"] == "first" and got["history_rows"] == 30
    again = evlog("sync", str(folder), env=env)  # nothing new: still says where the run is
    assert again.returncode == 0 and f"View run at {url}" in again.stdout

    projects = evlog("server", "projects", "ls", "--db", srv.db_url, env=env)
    assert projects.returncode == 0, projects.stderr
    row = next(ln.split() for ln in projects.stdout.splitlines() if ln.startswith(f"{user}/mnist "))
    assert row[1:3] == ["private", "1"]  # visibility, runs
    assert projects.stdout.splitlines()[0].split() == ["PROJECT", "VISIBILITY", "RUNS", "LAST", "ACTIVITY"]


def test_users_ls_lists_roles_keys_and_teams(tmp_path):
    env = clean_env(tmp_path)
    db = f"sqlite:///{tmp_path / 'admin.db'}"
    assert evlog("server", "users", "add", "zoe", "--db", db, env=env).returncode == 0
    assert evlog("server", "users", "add", "adam", "--admin", "--db", db, env=env).returncode == 0
    assert evlog("server", "users", "key", "zoe", "--db", db, env=env).returncode == 0
    assert evlog("server", "teams", "add", "vision", "--member", "zoe", "--db", db, env=env).returncode == 0
    out = evlog("server", "users", "ls", "--db", db, env=env)
    assert out.returncode == 0, out.stderr
    rows = [ln.split()[:4] for ln in out.stdout.splitlines()]
    assert rows == [["USER", "ROLE", "KEYS", "TEAMS"], ["adam", "admin", "1", "-"], ["zoe", "user", "2", "vision"]]
    assert "2 users" in out.stderr
    empty = evlog("server", "projects", "ls", "--db", db, env=env)
    assert empty.returncode == 0 and "0 projects" in empty.stderr


# --------------------------------------------------------------------------- verify, tail, server
def test_verify_takes_a_folder_of_runs_and_says_clean(tmp_path, rng):
    root = tmp_path / "evlog"
    a = build_run(root / "run-a", standard_sessions(rng))
    b = build_run(root / "run-b", standard_sessions(rng, (3,)))
    env = clean_env(tmp_path)
    out = evlog("verify", str(tmp_path), env=env)  # what `evlog sync` accepts: a folder holding runs
    assert out.returncode == 0, out.stderr
    lines = out.stdout.splitlines()
    assert f"ok {a.folder}: {len(a.records)} records, clean" in lines
    assert f"ok {b.folder}: {len(b.records)} records, clean" in lines
    assert "2 runs verified: 2 clean, 0 damaged" in lines
    assert "recovered" not in out.stdout
    (tmp_path / "empty").mkdir()
    none = evlog("verify", str(tmp_path / "empty"), env=env)
    assert none.returncode == 2 and "no evlog run folder there" in none.stderr


def test_tail_refuses_an_unknown_type(tmp_path, rng):
    layout = build_run(tmp_path / "run", standard_sessions(rng, (2,)))
    env = clean_env(tmp_path)
    bad = evlog("tail", "--type", "bogus", str(layout.folder), env=env)
    assert bad.returncode == 2 and bad.stdout == ""
    assert "--type bogus: no such record type" in bad.stderr and "history" in bad.stderr
    good = evlog("tail", "--type", "config", str(layout.folder), env=env)
    assert good.returncode == 0 and good.stdout.count("\n") == 1


def test_server_on_a_busy_port_fails_before_saying_it_serves(tmp_path):
    env = clean_env(tmp_path)
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        out = evlog("server", "--port", str(port), "--db", f"sqlite:///{tmp_path / 's.db'}", env=env)
    assert out.returncode == 1
    assert f"port {port} on 127.0.0.1 is in use" in out.stderr and "--port" in out.stderr
    assert "evlog server on" not in out.stderr  # never claimed to serve
    # and a free port still serves (the check does not keep the port)
    proc = ServerProcess(f"sqlite:///{tmp_path / 's.db'}", env=env).start()
    try:
        assert requests.get(proc.url + "/api/v1/health", timeout=10).status_code == 200
    finally:
        proc.stop()


# --------------------------------------------------------------------------- disabled runs
def test_disabled_run_has_a_real_dir(tmp_path):
    script = tmp_path / "d.py"
    script.write_text(
        "import os, eventlog as wandb\n"
        "run = wandb.init(mode='disabled')\n"
        "path = os.path.join(run.dir, 'model.txt')\n"
        "open(path, 'w').write('weights')\n"
        "assert run.dir == run.dir and os.path.isdir(run.dir)\n"
        "wandb.log({'loss': 1.0})\n"
        "run.finish()\n"
        "print('DIR', run.dir)\n")
    out = subprocess.run([PY, str(script)], capture_output=True, text=True, cwd=str(tmp_path),
                         env=clean_env(tmp_path), timeout=120)
    assert out.returncode == 0, out.stderr
    d = Path(re.search(r"^DIR (.+)$", out.stdout, re.M).group(1))
    assert (d / "model.txt").read_text() == "weights"
    assert not (tmp_path / "evlog").exists()  # still nothing logged
