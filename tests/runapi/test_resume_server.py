"""Resume with a server (issue 6): `GET {run}/state`, a crashed run that lives again, resuming on
another machine from the server (a fresh folder whose log continues the server's seq), a run
preempted by SIGTERM that resumes and finishes as one history, SIGKILL cycles with the live
syncer, the online error paths, and the HTTP sink with a log that begins past seq 0."""
from __future__ import annotations

import json
import math
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Dict, Optional

import msgpack
import pytest

from eventlog import LogReader, LogWriter, runapi
from eventlog.client import credentials
from eventlog.logfile.inspect import verify
from eventlog.logfile.reader import log_start_seq
from eventlog.server.testing import SERVER_BOOT
from support.server import T0, history, new_db_url, run_record, sqlite_harness, uniq, wait_until

STATE_TYPE = "application/vnd.evlog.state+msgpack"


@pytest.fixture(scope="module")
def sq(tmp_path_factory):
    """One SQLite-backed server for the end-to-end tests of this module."""
    with sqlite_harness(tmp_path_factory.mktemp("resume-srv")) as h:
        yield h


def get_state(h, entity: str, project: str, run_id: str, key: Optional[str]):
    return h.get(f"/api/v1/runs/{entity}/{project}/{run_id}/state", key)


# ------------------------------------------------------------------------------ the API
def test_the_state_endpoint_gives_the_run_state_exactly_to_writers_only(srv):
    alice, akey = srv.user("alice")
    _, bkey = srv.user("bob")
    recs = [run_record("st1", settings={"anonymous": None}, name="n-st1"),
            [1, "config", T0, {"update": {"lr": float("nan"), "layers": [3, 4], "blob": b"\x00\x01"}}],
            history(2, 0, {"loss": float("inf"), "k": 1}), history(3, 5, {"loss": 0.5}),
            [4, "summary", T0, {"update": {"best": float("-inf")}}]]
    assert srv.post_records(alice, "p", "st1", recs, akey).status_code == 200
    r = get_state(srv, alice, "p", "st1", akey)
    assert r.status_code == 200 and r.headers["content-type"] == STATE_TYPE
    st = msgpack.unpackb(r.content, raw=False, strict_map_key=False)
    assert (st["id"], st["entity"], st["project"], st["name"]) == ("st1", alice, "p", "n-st1")
    assert math.isnan(st["config"]["lr"]) and st["config"]["blob"] == b"\x00\x01" and st["config"]["layers"] == [3, 4]
    assert st["summary"] == {"loss": 0.5, "k": 1, "best": float("-inf")}
    assert (st["last_step"], st["next_seq"], st["sessions"], st["state"]) == (5, 5, 1, "running")
    assert st["settings"] == {"anonymous": None} and st["url"].endswith(f"/{alice}/p/runs/st1")
    assert get_state(srv, alice, "p", "st1", None).json()["reason"] == "not_logged_in"
    assert get_state(srv, alice, "p", "st1", bkey).json()["reason"] == "no_permission"
    assert get_state(srv, alice, "p", "nope", akey).json()["reason"] == "no_such_run"
    assert get_state(srv, alice, "nope", "st1", akey).json()["reason"] == "no_such_run"


def test_a_crashed_run_lives_again_on_new_records_and_finishes_at_the_new_exit(srv):
    alice, akey = srv.user("alice")
    assert srv.post_records(alice, "p", "cr1", [run_record("cr1"), history(1, 0)], akey).status_code == 200
    assert srv.http.post(f"{srv.url}/api/v1/runs/{alice}/p/cr1/state", json={"state": "crashed"},
                         headers=srv.headers(akey)).json()["state"] == "crashed"
    # records of the crashed session that arrive late (`evlog sync` after the kill): running again
    assert srv.post_records(alice, "p", "cr1", [history(2, 1)], akey).status_code == 200
    assert srv.run(alice, "p", "cr1", akey).json()["state"] == "running"
    assert srv.http.post(f"{srv.url}/api/v1/runs/{alice}/p/cr1/state", json={"state": "crashed"},
                         headers=srv.headers(akey)).json()["state"] == "crashed"
    more = [[3, "recovery", T0, {"segment": 0}], [4, "resume", T0, {"session": 1}], history(5, 2)]
    assert srv.post_records(alice, "p", "cr1", more, akey).status_code == 200
    run = srv.run(alice, "p", "cr1", akey).json()
    assert (run["state"], run["sessions"], run["last_step"]) == ("running", 2, 2)
    exit_rec = [6, "exit", T0, {"exit_code": 0, "runtime": 1.0, "interrupted": False, "error": None}]
    assert srv.post_records(alice, "p", "cr1", [exit_rec], akey).status_code == 200
    assert srv.run(alice, "p", "cr1", akey).json()["state"] == "finished"


# ------------------------------------------------------------------------ end to end
SESSION = r'''
import json, os, signal, sys, time
import eventlog
base, run_id, resume, steps, end, name = sys.argv[1:7]
run = eventlog.init(project="resume-e2e", id=None if run_id == "-" else run_id, dir=base, resume=None if resume == "-" else resume,
                    name=None if name == "-" else name, config={"lr": 0.01, "arch": "cnn"})
print(json.dumps({"id": run.id, "resumed": run.resumed, "step": run.step, "config": run.config.as_dict(),
                  "summary": run.summary.as_dict(), "name": run.name, "dir": run.dir, "url": run.url}), flush=True)
for i in range(int(steps)):
    run.log({"loss": 1.0 / (run.step + 1), "at": run.step})
run.summary["best"] = run.step
run.config.update({"seen_" + str(run.step): True})
if end == "kill":
    run.save()
    os.kill(os.getpid(), signal.SIGKILL)
if end in ("term", "loop"):
    print("ready", flush=True)
    while True:
        run.log({"loss": 1.0 / (run.step + 1), "at": run.step})
        time.sleep(0.002)
run.finish()
'''


class Machine:
    """One machine: its own folder for runs, the user's credentials for the server."""

    def __init__(self, tmp: Path, name: str, url: str, key: str, user: str) -> None:
        self.tmp = tmp / name
        self.base = self.tmp / "runs"
        self.base.mkdir(parents=True)
        self.script = self.tmp / "train.py"
        self.script.write_text(SESSION)
        self.env = {k: v for k, v in os.environ.items() if not k.startswith(("EVLOG_", "WANDB_"))}
        self.env.update(EVLOG_CONFIG_DIR=str(self.tmp / "cfg"), HOME=str(self.tmp), EVLOG_BASE_URL=url,
                        EVLOG_SILENT="true", EVLOG_DISABLE_GIT="true", EVLOG_FINISH_TIMEOUT="120")
        credentials.save(url, key, user, env=self.env)
        self.n = 0

    def start(self, run_id: str, *, resume: str = "-", steps: int = 0, end: str = "finish",
              name: str = "-") -> subprocess.Popen:
        # output goes to files: the run's syncer (in the background) keeps the pipes open
        self.n += 1
        self.out = self.tmp / f"out{self.n}"
        with open(self.out, "w") as out, open(self.tmp / f"err{self.n}", "w") as err:
            return subprocess.Popen([sys.executable, str(self.script), str(self.base), run_id, resume, str(steps),
                                     end, name], stdout=out, stderr=err, env=self.env, cwd=str(self.tmp))

    def session(self, run_id: str, **kw) -> Dict:
        proc = self.start(run_id, **kw)
        code = proc.wait(timeout=120)
        want = -signal.SIGKILL if kw.get("end") == "kill" else 0
        assert code == want, (code, (self.tmp / f"err{self.n}").read_text())
        return self.first_line()

    def first_line(self) -> Dict:
        return json.loads(self.out.read_text().splitlines()[0])

    def wait_line(self, text: str) -> None:
        wait_until(lambda: text in self.out.read_text().split("\n"), timeout=60, what=text)


def local_records(folder):
    reader = LogReader(folder)
    recs = list(reader.records())
    assert not reader.damage
    assert [r.seq for r in recs] == list(range(recs[0].seq, recs[0].seq + len(recs)))
    return recs


def delivered(h, user, key, run_id, state: str, next_seq: int) -> dict:
    def done() -> bool:
        r = h.run(user, "resume-e2e", run_id, key)
        return r.status_code == 200 and r.json()["state"] == state and r.json()["next_seq"] == next_seq
    wait_until(done, timeout=120, what=f"run {run_id} {state} at seq {next_seq} on the server")
    return h.run(user, "resume-e2e", run_id, key).json()


def fold(recs_lists) -> dict:
    config, summary, name = {}, {}, None
    for recs in recs_lists:
        for r in recs:
            b = r.body
            if r.type == "run":
                name = b["name"]
            elif r.type == "config":
                config.update(b["update"])
            elif r.type == "history":
                summary.update(b["data"])
            elif r.type == "summary":
                summary.update(b["update"])
            elif r.type == "resume" and "run" in b:
                config.update(b["config"])
                summary.update(b["summary"])
    return {"config": config, "summary": summary, "name": name}


def test_resume_on_another_machine_continues_the_run_from_the_server(sq, tmp_path):
    user, key = sq.user("mover")
    rid = uniq("moved")
    a = Machine(tmp_path, "a", sq.url, key, user)
    first = a.session(rid, steps=40, end="kill", name="alpha")
    assert first["resumed"] is False and first["url"]
    folder_a = Path(first["dir"])
    recs_a = local_records(folder_a)
    delivered(sq, user, key, rid, "crashed", len(recs_a))

    b = Machine(tmp_path, "b", sq.url, key, user)  # a fresh machine: no run folder
    got = b.session(rid, resume="must", steps=25, end="kill")
    want = fold([recs_a])
    assert got["resumed"] is True and got["step"] == 40
    assert got["config"] == want["config"] and got["summary"] == want["summary"] and got["name"] == "alpha"
    folder_b = Path(got["dir"])
    assert folder_b.parent.parent == b.base and log_start_seq(folder_b) == len(recs_a)
    recs_b = local_records(folder_b)
    first_b = recs_b[0]
    assert first_b.seq == len(recs_a) and first_b.type == "resume" and first_b.body["source"] == "server"
    assert first_b.body["run"]["id"] == rid and first_b.body["last_step"] == 39
    delivered(sq, user, key, rid, "crashed", len(recs_a) + len(recs_b))

    again = b.session(rid, resume="allow", steps=10)  # crashed again: resumes its local folder
    want = fold([recs_a, recs_b])
    assert again["dir"] == str(folder_b) and again["step"] == 65
    assert again["config"] == want["config"] and again["summary"] == want["summary"]
    recs_b = local_records(folder_b)
    run = delivered(sq, user, key, rid, "finished", len(recs_a) + len(recs_b))
    assert verify(folder_b).clean
    assert run["sessions"] == 3 and run["missing_records"] == 0 and run["name"] == "alpha"
    rows = sq.rows(user, "resume-e2e", rid, key)
    assert [r["step"] for r in rows] == list(range(75))
    assert all(r["data"] == {"loss": 1.0 / (r["step"] + 1), "at": r["step"]} for r in rows)
    want = fold([recs_a, recs_b])
    assert run["config"] == want["config"] and run["summary"] == want["summary"]
    # a later `evlog sync` of either folder changes nothing
    for folder in (folder_a, folder_b):
        proc = subprocess.run([sys.executable, "-c", SERVER_BOOT, "sync", str(folder)], env=b.env,
                              capture_output=True, text=True, timeout=120)
        assert proc.returncode == 0, proc.stdout + proc.stderr
    assert sq.run(user, "resume-e2e", rid, key).json()["next_seq"] == run["next_seq"]


def test_a_preempted_run_resumes_and_finishes_with_one_history(sq, tmp_path):
    user, key = sq.user("pre")
    m = Machine(tmp_path, "m", sq.url, key, user)
    proc = m.start("-", resume="auto", steps=10, end="term")  # resume=True, no id: nothing to resume yet
    m.wait_line("ready")
    proc.send_signal(signal.SIGTERM)  # preemption
    assert proc.wait(timeout=60) == -signal.SIGTERM
    first = m.first_line()
    rid, folder = first["id"], Path(first["dir"])
    assert first["resumed"] is False
    recs = local_records(folder)
    assert recs[-1].type == "exit" and recs[-1].body["interrupted"] is True
    assert delivered(sq, user, key, rid, "failed", len(recs))["exit_code"] == 128 + signal.SIGTERM
    steps_before = [r.body["step"] for r in recs if r.type == "history"]
    # the same script again: the last run started from this folder was preempted, so it continues
    proc = m.start("-", resume="auto", steps=20)
    assert proc.wait(timeout=120) == 0
    again = m.first_line()
    assert again["resumed"] is True and again["id"] == rid and again["dir"] == str(folder)
    assert again["step"] == len(steps_before)
    recs = local_records(folder)
    run = delivered(sq, user, key, rid, "finished", len(recs))
    assert run["sessions"] == 2
    rows = sq.rows(user, "resume-e2e", rid, key)
    assert [r["step"] for r in rows] == list(range(len(steps_before) + 20)), "one history, no step twice"
    # and the next run of the script is a new run: the last one finished
    assert m.session("-", resume="auto")["id"] != rid


def test_sigkill_cycles_with_the_live_syncer_keep_the_server_copy_equal_to_the_log(sq, tmp_path):
    user, key = sq.user("cyc")
    rid = uniq("cycles")
    m = Machine(tmp_path, "m", sq.url, key, user)
    rng = random.Random(66)
    folder = None
    for cycle in range(3):
        proc = m.start(rid, resume="allow", steps=5, end="loop")
        m.wait_line("ready")
        time.sleep(rng.uniform(0.0, 0.5))  # a random moment of logging
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=60)
        got = m.first_line()
        assert got["resumed"] is (cycle > 0)
        folder = Path(got["dir"])
        # the syncer delivers what reached the log, then marks the run crashed
        delivered(sq, user, key, rid, "crashed", local_records(folder)[-1].seq + 1)
    m.session(rid, resume="allow", steps=5)
    recs = local_records(folder)
    run = delivered(sq, user, key, rid, "finished", len(recs))
    assert run["sessions"] == 4 and run["missing_records"] == 0
    rows = sq.rows(user, "resume-e2e", rid, key)
    assert rows == [{"step": r.body["step"], "data": r.body["data"]} for r in recs if r.type == "history"]
    steps = [r["step"] for r in rows]
    assert steps == list(range(len(steps)))
    want = fold([recs])
    assert run["config"] == want["config"] and run["summary"] == want["summary"]


# --------------------------------------------------------------------------- errors
def test_online_resume_error_paths(ev, sq, monkeypatch, tmp_path):
    user, key = sq.user("err")
    monkeypatch.setenv("EVLOG_BASE_URL", sq.url)
    monkeypatch.setenv("EVLOG_API_KEY", key)
    sq.upload(user, "errs", "taken01", [run_record("taken01"), history(1, 0)], key)
    with pytest.raises(ev.RunNotFoundError) as err:
        ev.init(project="errs", id="ghost01", resume="must")
    assert "ghost01" in str(err.value) and sq.url in str(err.value) and f"{user}/errs" in str(err.value)
    with pytest.raises(ev.RunExistsError) as err:
        ev.init(project="errs", id="taken01", resume="never")
    assert "taken01" in str(err.value) and sq.url in str(err.value)
    assert not (Path.cwd() / "evlog").exists() or not list((Path.cwd() / "evlog").glob("run-*"))
    run = ev.init(project="errs", id="fresh01", resume="never")  # a new run: fine
    assert not run.resumed and run.mode == "online"
    run.finish()
    with pytest.raises(ev.PermissionDenied):  # someone else's private project: the refusal, not "not found"
        _, other_key = sq.user("other")
        monkeypatch.setenv("EVLOG_API_KEY", other_key)
        ev.init(project="errs", entity=user, id="taken01", resume="allow")
    from eventlog.server.testing import free_port

    monkeypatch.setenv("EVLOG_BASE_URL", f"http://127.0.0.1:{free_port()}")
    with pytest.raises(ev.ResumeError) as err:
        ev.init(project="errs", id="taken01", resume="allow")
    assert "taken01" in str(err.value) and "reachable" in str(err.value)


def test_the_http_sink_never_asks_for_records_before_its_log_start(sq, tmp_path):
    user, key = sq.user("gap")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("EVLOG_", "WANDB_"))}
    env.update(EVLOG_CONFIG_DIR=str(tmp_path / "cfg"), HOME=str(tmp_path), EVLOG_BASE_URL=sq.url)
    credentials.save(sq.url, key, user, env=env)
    folder = tmp_path / "run-20260101_000000-late01"
    ident = {"id": "late01", "name": "late", "project": "gaps", "entity": user, "mode": "online", "settings": {}}
    with LogWriter(folder, "late01", first_seq=3) as w:
        w.append("resume", {"session": 1, "run": ident, "config": {}, "summary": {}, "last_step": 0})
        w.append("history", {"step": 1, "data": {"x": 1}})

    def sync():
        return subprocess.run([sys.executable, "-c", SERVER_BOOT, "sync", "--sink", "http", str(folder)], env=env,
                              capture_output=True, text=True, timeout=120)

    proc = sync()  # the server has none of the run: the folder cannot make it
    assert proc.returncode != 0 and "begins at seq 3" in proc.stdout + proc.stderr
    assert sq.run(user, "gaps", "late01", key).json()["reason"] in ("no_such_run", "no_such_project")
    sq.upload(user, "gaps", "late01", [run_record("late01"), history(1, 0), [2, "exit", T0, {"exit_code": 1}]],
              key)
    proc = sync()  # now it continues the server's run
    assert proc.returncode == 0, proc.stdout + proc.stderr
    run = sq.run(user, "gaps", "late01", key).json()
    assert (run["next_seq"], run["missing_records"], run["state"], run["sessions"]) == (5, 0, "crashed", 2)
