"""Online mode end to end: a training script logging to a real server through its syncer, the same
run offline then `evlog sync`, anonymous runs, and a server that is down while the run trains."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Dict, Optional

import requests

from eventlog.server.testing import SERVER_BOOT
from eventlog.sinks.state import syncer_holder
from support.client import client_env
from support.server import new_db_url, start_harness, uniq, wait_until

STEPS = 500
TRAIN = r'''
import sys
import eventlog as wandb

folder, run_id, mode, steps = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
anonymous = sys.argv[5] if len(sys.argv) > 5 and sys.argv[5] != "-" else None
run = wandb.init(project="e2e", config={"lr": 0.1, "layers": [64, 32]}, name="trainer", dir=folder, id=run_id,
                 mode=mode, tags=["e2e"], anonymous=anonymous)
for i in range(steps):
    wandb.log({"loss": 1.0 / (i + 1), "acc": i / steps, "epoch": i // 100})
run.summary["best"] = 42
print("URL", run.url)
print("FOLDER", run.dir if hasattr(run, "dir") else "")
run.finish()
'''


def train(tmp: Path, run_id: str, mode: str, env: Dict[str, str], steps: int = STEPS,
          anonymous: Optional[str] = None) -> subprocess.CompletedProcess:
    """Run the training script; its output goes to files, since a syncer left running in the
    background keeps the script's stdout and stderr open."""
    script = tmp / "train.py"
    script.write_text(TRAIN)
    out_path, err_path = tmp / f"{run_id}.out", tmp / f"{run_id}.err"
    with open(out_path, "w") as out, open(err_path, "w") as err:
        proc = subprocess.run([sys.executable, str(script), str(tmp / "runs"), run_id, mode, str(steps),
                               anonymous or "-"], stdout=out, stderr=err, env=env, timeout=600, cwd=str(tmp))
    return subprocess.CompletedProcess(proc.args, proc.returncode, out_path.read_text(), err_path.read_text())


def run_folder(tmp: Path, run_id: str) -> Path:
    (folder,) = (tmp / "runs" / "evlog").glob(f"run-*-{run_id}")
    return folder


def expected(steps: int = STEPS) -> list:
    return [{"step": i, "data": {"loss": 1.0 / (i + 1), "acc": i / steps, "epoch": i // 100}} for i in range(steps)]


def wait_delivered(h, entity: str, project: str, run_id: str, key: Optional[str], steps: int) -> dict:
    def done() -> bool:
        r = h.run(entity, project, run_id, key)
        return r.status_code == 200 and r.json()["state"] == "finished" and r.json()["history_rows"] == steps
    wait_until(done, timeout=180, what=f"run {run_id} delivered")
    return h.run(entity, project, run_id, key).json()


def test_online_training_lands_on_the_server_and_offline_plus_sync_holds_the_same(srv, tmp_path):
    user, key = srv.user()
    env = client_env(tmp_path, srv.url, key)
    out = train(tmp_path, "onl1", "online", env)
    assert out.returncode == 0, out.stderr
    url = f"{srv.url}/{user}/e2e/runs/onl1"
    assert f"URL {url}" in out.stdout
    online = wait_delivered(srv, user, "e2e", "onl1", key, STEPS)
    assert online["config"] == {"lr": 0.1, "layers": [64, 32]} and online["tags"] == ["e2e"]
    assert online["summary"]["best"] == 42 and online["summary"]["loss"] == 1.0 / STEPS
    assert online["name"] == "trainer" and online["url"] == url
    assert srv.rows(user, "e2e", "onl1", key) == expected()
    assert requests.get(url, headers=srv.headers(key)).status_code == 200

    out = train(tmp_path, "off1", "offline", env)
    assert out.returncode == 0, out.stderr
    assert srv.run(user, "e2e", "off1", key).status_code == 404  # offline: nothing sent
    folder = run_folder(tmp_path, "off1")
    sync = subprocess.run([sys.executable, "-c", SERVER_BOOT, "sync", str(folder)], capture_output=True, text=True,
                          env=env, timeout=600)
    assert sync.returncode == 0, sync.stderr
    offline = srv.run(user, "e2e", "off1", key).json()
    assert offline["state"] == "finished" and offline["history_rows"] == STEPS
    assert srv.rows(user, "e2e", "off1", key) == expected()
    for k in ("config", "summary", "tags", "name", "job_type"):
        assert offline[k] == online[k]
    again = subprocess.run([sys.executable, "-c", SERVER_BOOT, "sync", str(folder)], capture_output=True,
                           text=True, env=env, timeout=600)
    assert again.returncode == 0
    assert srv.run(user, "e2e", "off1", key).json()["next_seq"] == offline["next_seq"]
    assert len(srv.rows(user, "e2e", "off1", key)) == STEPS


def test_saved_code_is_uploaded_with_an_online_run(srv, tmp_path):
    user, key = srv.user()
    out = train(tmp_path, "code1", "online", client_env(tmp_path, srv.url, key), steps=5)
    assert out.returncode == 0, out.stderr
    wait_delivered(srv, user, "e2e", "code1", key, 5)

    def uploaded() -> list:
        files = srv.get(f"/api/v1/runs/{user}/e2e/code1/files", key).json()["files"]
        return [f for f in files if f["kind"] == "code" and f["uploaded"]]

    wait_until(lambda: uploaded(), timeout=60, what="the saved code to be uploaded")
    path = uploaded()[0]["path"]
    assert b"wandb.init" in srv.get(f"/api/v1/runs/{user}/e2e/code1/files/{path}", key).content


def test_init_refuses_with_the_cause_of_the_permission_error(srv, tmp_path):
    (owner, okey), (_, xkey) = srv.user("owner"), srv.user("other")
    script = tmp_path / "t.py"
    script.write_text("import sys, eventlog\n"
                      "try:\n"
                      "    eventlog.init(project='p', entity=sys.argv[1], dir=sys.argv[2], anonymous='never')\n"
                      "except eventlog.PermissionDenied as exc:\n"
                      "    print(type(exc).__name__, exc)\n"
                      "    sys.exit(3)\n")

    def attempt(entity: str, key: Optional[str]) -> subprocess.CompletedProcess:
        d = tmp_path / uniq("cfg")
        d.mkdir()
        return subprocess.run([sys.executable, str(script), entity, str(tmp_path / "r")], capture_output=True,
                              text=True, env=client_env(d, srv.url, key), timeout=120)

    srv.post_records(owner, "p", "seed", [[0, "run", 0.0, {"id": "seed"}]], okey)
    for entity, key, cls, words in ((owner, None, "NotLoggedInError", "evlog login"),
                                    ("nobody-here", xkey, "NoSuchEntityError", "does not exist"),
                                    (owner, xkey, "ProjectPermissionError", "may not log")):
        out = attempt(entity, key)
        assert out.returncode == 3, out.stderr
        assert out.stdout.startswith(cls) and words in out.stdout


def test_an_anonymous_run_is_reachable_by_its_printed_url_only(srv, tmp_path):
    env = client_env(tmp_path, srv.url, None)
    out = train(tmp_path, "anon1", "online", env, steps=20, anonymous="must")
    assert out.returncode == 0, out.stderr
    url = next(line.split(" ", 1)[1] for line in out.stdout.splitlines() if line.startswith("URL "))
    entity = url[len(srv.url) + 1:].split("/")[0]
    assert entity.startswith("anon-")
    wait_delivered(srv, entity, "e2e", "anon1", None, 20)
    page = requests.get(url)
    assert page.status_code == 200 and "trainer" in page.text


def test_a_server_down_during_training_gets_the_run_when_it_is_back(backend, request, tmp_path):
    db = new_db_url(backend, request, tmp_path)
    h = start_harness(db, tmp_path)
    try:
        user, key = h.user()
        h.proc.stop()  # the server is down while the run trains
        env = client_env(tmp_path, h.url, key, user, EVLOG_FINISH_TIMEOUT="1")
        out = train(tmp_path, "down1", "online", env, steps=200)
        assert out.returncode == 0, out.stderr
        assert f"URL {h.url}/{user}/e2e/runs/down1" in out.stdout  # the user stored by `evlog login`
        folder = run_folder(tmp_path, "down1")
        assert (folder / "log").is_dir()
        h.proc.start()  # back on the same port: the run's syncer, still retrying, delivers it
        run = wait_delivered(h, user, "e2e", "down1", key, 200)
        assert run["history_rows"] == 200
        assert h.rows(user, "e2e", "down1", key) == expected(200)
        wait_until(lambda: syncer_holder(folder) is None, timeout=120, what="the syncer to exit")
    finally:
        h.proc.stop()
        h.close()
