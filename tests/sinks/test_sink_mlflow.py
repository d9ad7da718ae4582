"""Issue 18 section 2: the mlflow sink, against a real `mlflow server` (SQLite backend) on 127.0.0.1,
read back with MLflow's own client: params, metric histories with steps and timestamps, tags,
status, artifacts; replays (`evlog sync --sink mlflow` twice, a lost checkpoint, a syncer killed
mid-run) add nothing; a live run with the sink switched on by EVLOG_MLFLOW_TRACKING_URI."""
from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from eventlog import LogWriter
from eventlog.sinks import CRASHED, FINISHED

from support.sinks import (  # noqa: I001
    PY,
    cursor_file,
    evlog,
    kill_quietly,
    log_records,
    start_syncer_proc,
    subprocess_env,
    wait_until,
)

mlflow = pytest.importorskip("mlflow")

T0 = 1_700_000_000.0
PNG = bytes.fromhex("89504e470d0a1a0a0000000d4948445200000001000000010806000000"
                    "1f15c4890000000d49444154789c6360000002000001e221bc330000000049454e44ae426082")


@pytest.fixture(scope="module")
def mlflow_server(tmp_path_factory):
    """A real `mlflow server` on 127.0.0.1 (SQLite backend, proxied artifacts): (URI, its log file)."""
    from eventlog.server.testing import _die_with_parent, free_port

    base = tmp_path_factory.mktemp("mlflow-sink")
    port = free_port()
    log = base / "server.log"
    with open(log, "wb") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "mlflow", "server", "--host", "127.0.0.1", "--port", str(port), "--workers", "1",
             "--backend-store-uri", f"sqlite:///{base / 'mlflow.db'}", "--artifacts-destination", str(base / "art")],
            stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, cwd=base, preexec_fn=_die_with_parent)
    uri = f"http://127.0.0.1:{port}"
    import requests

    def up() -> bool:
        if proc.poll() is not None:
            raise RuntimeError("mlflow server exited:\n" + log.read_text()[-3000:])
        try:
            return requests.get(uri + "/health", timeout=2).status_code == 200
        except requests.RequestException:
            return False

    try:
        wait_until(up, 180, "the mlflow server")
        yield uri, log
    finally:
        proc.terminate()
        try:
            proc.wait(20)
        except subprocess.TimeoutExpired:
            proc.kill()


@pytest.fixture(scope="module")
def client(mlflow_server):
    from mlflow.tracking import MlflowClient

    return MlflowClient(tracking_uri=mlflow_server[0])


def sink_env(uri: str, **extra: str) -> dict:
    return subprocess_env({"EVLOG_MLFLOW_TRACKING_URI": uri, **extra})


def requests_seen(log: Path, what: str) -> int:
    """How many requests whose line in the server's access log contains `what`."""
    return sum(what in line for line in log.read_text(errors="replace").splitlines())


def mlflow_runs(client, project: str, run_id: str) -> list:  # noqa: ANN001
    exp = client.get_experiment_by_name(project)
    if exp is None:
        return []
    return client.search_runs([exp.experiment_id], f"tags.`evlog.run_id` = '{run_id}'")


def history_points(client, mrun: str, key: str) -> list:  # noqa: ANN001
    return [(m.step, m.timestamp, m.value) for m in sorted(client.get_metric_history(mrun, key),
                                                           key=lambda m: (m.step, m.timestamp))]


CONFIG = {"lr": 0.001, "optimizer": {"name": "adam", "betas": [0.9, 0.999]}, "use_amp": True,
          "note": None, "prompt": "p" * 7000, "weird key!": 3}


def make_run(folder: Path, run_id: str, project: str, *, steps: int = 300, exit_code=0, interrupted=False) -> Path:  # noqa: ANN001
    """A run folder written with LogWriter at known times: every record type the sink maps."""
    folder.mkdir(parents=True)
    (folder / "code").mkdir()
    (folder / "code" / "train.py").write_text("print('train')\n")
    sha = hashlib.sha256(PNG).hexdigest()
    (folder / "media").mkdir()
    (folder / "media" / f"{sha}.png").write_bytes(PNG)
    with LogWriter(folder, run_id) as w:
        w.append("run", {"id": run_id, "name": f"{run_id}-name", "project": project, "entity": None,
                         "group": "sweep-a", "job_type": "eval", "notes": "first try", "tags": ["baseline", "v2"],
                         "mode": "offline", "start_time": T0, "settings": {},
                         "program": {"path": "train.py", "argv": ["train.py"]},
                         "git": {"commit": "0123456789abcdef0123456789abcdef01234567", "branch": "main",
                                 "remote": "https://example.com/r.git", "dirty": False, "diff_file": None},
                         "code": {"path": "code/train.py", "original": "/src/train.py", "sha256": "x"}}, when=T0)
        w.append("config", {"update": CONFIG}, when=T0 + 0.5)
        w.append("files", {"files": [{"path": f"media/{sha}.png", "sha256": sha, "size": len(PNG), "kind": "media"}]},
                 when=T0 + 0.6)
        for step in range(steps):
            data = {"loss": 1.0 / (step + 1), "acc": step / steps, "val": {"f1": step * 0.5},
                    "flag": step % 2 == 0, "text": "no", "_private": step}
            if step == 10:
                data["sample"] = {"_type": "image", "sha256": sha, "path": f"media/{sha}.png", "size": len(PNG),
                                  "width": 1, "height": 1, "format": "png"}
            w.append("history", {"step": step * 2, "data": data}, when=T0 + 1 + step * 0.01)
            if step == steps // 2:
                w.append("system", {"metrics": {"cpu": 12.5, "memory": 40.0}}, when=T0 + 1.5 + step * 0.01)
                w.append("meta", {"tags": ["baseline", "v2", "best"]}, when=T0 + 1.5 + step * 0.01)
        w.append("summary", {"update": {"best_acc": 0.93, "loss": 0.0}}, when=T0 + 10)
        if exit_code is not None:
            w.append("exit", {"exit_code": exit_code, "runtime": 11.0, "interrupted": interrupted, "error": None},
                     when=T0 + 11)
    return folder


def assert_mirrors_log(client, mrun: str, folder: Path) -> None:  # noqa: ANN001
    """Every numeric history value of the log is one metric point at its step and timestamp, nothing more."""
    want = {}
    for rec in log_records(folder):
        if rec.type != "history":
            continue
        for key, value in rec.body["data"].items():
            if key in ("loss", "acc"):
                want.setdefault(key, []).append((rec.body["step"], round(rec.time * 1000), value))
            if key == "val":
                want.setdefault("val/f1", []).append((rec.body["step"], round(rec.time * 1000), value["f1"]))
    for key, points in want.items():
        assert history_points(client, mrun, key) == points, key


def test_sync_params_metrics_tags_status_artifacts(tmp_path, mlflow_server, client):
    uri, log = mlflow_server
    folder = make_run(tmp_path / "run-a", "mlfrun1", "proj-sync")
    done = evlog("sync", "--sink", "mlflow", str(folder), env=sink_env(uri))
    assert done.returncode == 0, done.stderr
    (r,) = mlflow_runs(client, "proj-sync", "mlfrun1")
    mrun = r.info.run_id
    assert f"View run at {uri}/#/experiments/{r.info.experiment_id}/runs/{mrun}" in done.stdout + done.stderr
    # params: the config flattened with "/", as str() / JSON; a value past 6000 characters cut
    params = r.data.params
    assert params["lr"] == "0.001" and params["optimizer/name"] == "adam" and params["optimizer/betas"] == "[0.9, 0.999]"
    assert params["use_amp"] == "True" and params["note"] == "None" and params["weird key_"] == "3"
    assert len(params["prompt"]) == 6000 and params["prompt"].endswith("...") and params["prompt"].startswith("ppp")
    assert "config 'prompt' is longer than MLflow's 6000 characters" in done.stderr
    # metrics: every history row at its step and timestamp; bools as 0/1; strings, media and _keys not
    assert_mirrors_log(client, mrun, folder)
    assert [v for _, _, v in history_points(client, mrun, "flag")][:4] == [1.0, 0.0, 1.0, 0.0]
    assert set(r.data.metrics) == {"loss", "acc", "val/f1", "flag", "best_acc", "system/cpu", "system/memory"}
    assert history_points(client, mrun, "best_acc") == [(598, round((T0 + 10) * 1000), 0.93)]
    assert history_points(client, mrun, "system/cpu") == [(0, round((T0 + 1.5 + 1.5) * 1000), 12.5)]
    # tags
    tags = r.data.tags
    assert tags["mlflow.runName"] == "mlfrun1-name" == r.info.run_name
    assert tags["mlflow.note.content"] == "first try" and tags["group"] == "sweep-a" and tags["job_type"] == "eval"
    assert tags["mlflow.source.git.commit"] == "0123456789abcdef0123456789abcdef01234567"
    assert tags["mlflow.source.git.branch"] == "main" and tags["mlflow.source.name"] == "train.py"
    assert tags["evlog.tags"] == "baseline,v2,best" and tags["evlog.project"] == "proj-sync"
    assert int(tags["evlog.next_seq"]) == len(log_records(folder))
    # status and times
    assert r.info.status == "FINISHED"
    assert r.info.start_time == round(T0 * 1000) and r.info.end_time == round((T0 + 11) * 1000)
    # artifacts: the media file, the saved code, the whole config
    listed = {f.path for f in client.list_artifacts(mrun)} | {f.path for f in client.list_artifacts(mrun, "media")}
    sha = hashlib.sha256(PNG).hexdigest()
    assert {"code", "media", "evlog", f"media/{sha}.png"} <= listed
    got = Path(client.download_artifacts(mrun, f"media/{sha}.png", str(tmp_path / "dl")))
    assert got.read_bytes() == PNG
    config = json.loads(Path(client.download_artifacts(mrun, "evlog/config.json", str(tmp_path / "dl"))).read_text())
    assert config == CONFIG
    code = Path(client.download_artifacts(mrun, "code/train.py", str(tmp_path / "dl"))).read_text()
    assert code == "print('train')\n"

    # a second sync delivers nothing; --include-synced replays every record, and MLflow gets none of them
    batches, puts = requests_seen(log, "log-batch"), requests_seen(log, "PUT /api/2.0/mlflow-artifacts")
    again = evlog("sync", "--sink", "mlflow", str(folder), env=sink_env(uri))
    assert again.returncode == 0 and "nothing new to sync" in again.stdout + again.stderr
    replay = evlog("sync", "--include-synced", "--sink", "mlflow", str(folder), env=sink_env(uri))
    assert replay.returncode == 0, replay.stderr
    assert f"mlflow {len(log_records(folder)):,} records" in replay.stdout + replay.stderr
    assert requests_seen(log, "log-batch") == batches and requests_seen(log, "PUT /api/2.0/mlflow-artifacts") == puts
    assert [x.info.run_id for x in mlflow_runs(client, "proj-sync", "mlfrun1")] == [mrun]
    assert_mirrors_log(client, mrun, folder)


def test_status_failed_killed_crashed(tmp_path, mlflow_server, client):
    uri, _ = mlflow_server
    make_run(tmp_path / "runs" / "f", "mlffail", "proj-status", steps=5, exit_code=1)
    make_run(tmp_path / "runs" / "k", "mlfkill", "proj-status", steps=5, exit_code=130, interrupted=True)
    make_run(tmp_path / "runs" / "c", "mlfcrash", "proj-status", steps=5, exit_code=None)
    done = evlog("sync", "--sink", "mlflow", str(tmp_path / "runs"), env=sink_env(uri))
    assert done.returncode == 0, done.stderr
    got = {rid: mlflow_runs(client, "proj-status", rid)[0].info for rid in ("mlffail", "mlfkill", "mlfcrash")}
    assert {rid: i.status for rid, i in got.items()} == {"mlffail": "FAILED", "mlfkill": "KILLED", "mlfcrash": "KILLED"}
    assert got["mlffail"].end_time == round((T0 + 11) * 1000)
    assert got["mlfcrash"].end_time == round((T0 + 10) * 1000)  # the last record's time
    assert cursor_file(tmp_path / "runs" / "c", "mlflow")["closed"] == CRASHED


def test_lost_checkpoint_or_lost_cursor_adds_nothing(tmp_path, mlflow_server, client):
    """The sink sent records to MLflow but the syncer died before writing its cursor: the records come
    again (at-least-once), and MLflow gets none of them twice (its evlog.next_seq tag); with the
    cursor file gone, the sink finds its MLflow run again by the evlog.run_id tag."""
    from eventlog.sinks.registry import load
    from eventlog.sinks.syncer import Syncer, run_info

    uri, log = mlflow_server
    folder = tmp_path / "run"
    env = sink_env(uri)

    def sync() -> None:
        run_id, run, _ = run_info(folder)
        (res,) = Syncer(folder, [load("mlflow")], live=False, run_id=run_id, run=run, env=env,
                        warn=lambda m: None).run_all()
        assert res.error is None

    w = LogWriter(folder, "mlfkill2")
    w.append("run", {"id": "mlfkill2", "name": "k", "project": "proj-replay", "settings": {}}, when=T0)
    w.append("config", {"update": {"lr": 0.1}}, when=T0)
    for step in range(1500):
        w.append("history", {"step": step, "data": {"loss": step * 0.5, "acc": 1.0}}, when=T0 + step)
    w.flush()
    sync()  # a live run's checkpoint: delivered up to here
    saved = (folder / "sinks" / "mlflow.cursor.json").read_bytes()
    for step in range(1500, 4000):
        w.append("history", {"step": step, "data": {"loss": step * 0.5, "acc": 1.0}}, when=T0 + step)
    w.append("config", {"update": {"lr": 0.2, "batch": 64}}, when=T0 + 5000)
    w.append("system", {"metrics": {"cpu": 50.0}}, when=T0 + 5000)
    w.flush()
    sync()
    (r,) = mlflow_runs(client, "proj-replay", "mlfkill2")
    before = {k: history_points(client, r.info.run_id, k) for k in ("loss", "acc", "system/cpu")}
    assert len(before["loss"]) == 4000 and before["system/cpu"] == [(0, round((T0 + 5000) * 1000), 50.0)]
    assert r.data.params == {"lr": "0.1", "batch": "64"}  # MLflow params never change: the first value
    batches = requests_seen(log, "log-batch")

    (folder / "sinks" / "mlflow.cursor.json").write_bytes(saved)  # the last checkpoint never happened
    sync()
    (folder / "sinks" / "mlflow.cursor.json").unlink()  # the cursor file lost altogether
    shutil.rmtree(folder / "sinks" / "mlflow", ignore_errors=True)
    sync()
    assert requests_seen(log, "log-batch") == batches
    # ... while what comes next still arrives, with the state the replays rebuilt (system step 1)
    w.append("system", {"metrics": {"cpu": 60.0}}, when=T0 + 6000)
    w.append("history", {"step": 4000, "data": {"loss": 1.0}}, when=T0 + 6001)
    w.append("exit", {"exit_code": 0, "runtime": 1.0, "interrupted": False, "error": None}, when=T0 + 6002)
    w.close()
    sync()
    (r,) = mlflow_runs(client, "proj-replay", "mlfkill2")
    assert history_points(client, r.info.run_id, "loss") == before["loss"] + [(4000, round((T0 + 6001) * 1000), 1.0)]
    assert history_points(client, r.info.run_id, "acc") == before["acc"]
    assert history_points(client, r.info.run_id, "system/cpu")[-1] == (1, round((T0 + 6000) * 1000), 60.0)
    assert r.info.status == "FINISHED" and cursor_file(folder, "mlflow")["closed"] == FINISHED


def test_syncer_killed_mid_run_and_restarted_mirrors_each_row_once(tmp_path, mlflow_server, client):
    uri, _ = mlflow_server
    folder = tmp_path / "run"
    env = sink_env(uri, EVLOG_SINKS="mlflow")
    w = LogWriter(folder, "mlflive1", flush_interval=0.05)
    w.append("run", {"id": "mlflive1", "name": "killed", "project": "proj-kill", "settings": {}})
    rows = 0
    procs = []
    try:
        for round_ in range(3):
            proc = start_syncer_proc(folder, os.getpid(), env, stdout=subprocess.DEVNULL)
            procs.append(proc)
            target = rows + 3000
            # keep logging while the syncer delivers, then kill it in the middle of its work
            while rows < target:
                w.append("history", {"step": rows, "data": {"loss": rows * 1.0, "x": {"y": -rows}}})
                rows += 1
                if rows % 500 == 0:
                    time.sleep(0.05)
            wait_until(lambda: (cursor_file(folder, "mlflow") or {}).get("cursor", {}).get("seq", 0) > rows - 2500,
                       120, "the syncer to deliver")
            if round_ < 2:
                proc.send_signal(signal.SIGKILL)
                proc.wait(30)
        w.append("exit", {"exit_code": 0, "runtime": 1.0, "interrupted": False, "error": None})
        w.close()
        assert procs[-1].wait(120) == 0
    finally:
        for p in procs:
            kill_quietly(p.pid)
        w.close()
    (r,) = mlflow_runs(client, "proj-kill", "mlflive1")
    records = [rec for rec in log_records(folder) if rec.type == "history"]
    want = [(rec.body["step"], round(rec.time * 1000), rec.body["data"]["loss"]) for rec in records]
    assert len(want) == rows == 9000
    assert history_points(client, r.info.run_id, "loss") == want
    assert len(history_points(client, r.info.run_id, "x/y")) == rows
    assert r.info.status == "FINISHED" and cursor_file(folder, "mlflow")["closed"] == FINISHED


LIVE = textwrap.dedent('''
    import eventlog as wandb
    run = wandb.init(project="proj-live", name="live-run", notes="live notes", tags=["a"], group="g",
                     config={"lr": 0.01, "arch": {"depth": 4}}, mode="offline")
    for step in range(200):
        wandb.log({"loss": 1.0 / (step + 1), "acc": step / 200})
    wandb.log({"img": wandb.Image(__import__("numpy").zeros((4, 4, 3), dtype="uint8"))})
    run.summary["best"] = 0.5
    wandb.finish()
    print("RUN", run.id, run.dir)
''')


def test_live_run_with_the_sink_switched_on(tmp_path, mlflow_server, client):
    uri, _ = mlflow_server
    (tmp_path / "live.py").write_text(LIVE)
    env = sink_env(uri, EVLOG_SILENT="true", EVLOG_FINISH_TIMEOUT="180")
    done = subprocess.run([PY, "live.py"], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert "View run" not in done.stdout + done.stderr  # MLflow's client prints nothing on the program's terminal
    run_id = re.search(r"RUN (\S+)", done.stdout).group(1)
    folder = sorted((tmp_path / "evlog").glob(f"run-*-{run_id}"))[0]
    assert cursor_file(folder, "mlflow")["closed"] == FINISHED  # the run's own syncer delivered it
    (r,) = mlflow_runs(client, "proj-live", run_id)
    assert r.info.status == "FINISHED" and r.info.run_name == "live-run"
    assert r.data.params == {"lr": "0.01", "arch/depth": "4"}
    assert r.data.tags["mlflow.note.content"] == "live notes" and r.data.tags["group"] == "g"
    loss = history_points(client, r.info.run_id, "loss")
    assert [s for s, _, _ in loss] == list(range(200)) and loss[0][2] == 1.0
    assert history_points(client, r.info.run_id, "best")[0][2] == 0.5
    media = [f.path for f in client.list_artifacts(r.info.run_id, "media")]
    assert len(media) == 1 and media[0].endswith(".png")


def test_sink_without_a_tracking_uri_says_what_to_set(tmp_path):
    folder = make_run(tmp_path / "run", "mlfnouri", "p", steps=2)
    env = subprocess_env()
    env.pop("MLFLOW_TRACKING_URI", None)
    done = evlog("sync", "--sink", "mlflow", str(folder), env=env)
    assert done.returncode == 1 and "set EVLOG_MLFLOW_TRACKING_URI" in done.stdout + done.stderr


def test_mlflow_names_and_limits():
    from eventlog.sinks.mlflow_map import clip, flat_config, mlflow_name

    assert mlflow_name("train/loss") == "train/loss" and mlflow_name("a//b/") == "a/b"
    assert mlflow_name("../x") == "__/x" and mlflow_name("./x") == "_/x" and mlflow_name("") == "_"
    assert mlflow_name("acc@1 (top)") == "acc_1 _top_"
    long_a, long_b = mlflow_name("k" * 300 + "a"), mlflow_name("k" * 300 + "b")
    assert len(long_a) == 250 and long_a != long_b and long_a.startswith("k" * 241 + "~")
    assert clip("x" * 10, 10) == ("x" * 10, False) and clip("x" * 11, 10) == ("x" * 7 + "...", True)
    assert flat_config({"a": {"b": {"c": 1}}, "e": {}}) == {"a/b/c": 1, "e": {}}


def test_unreachable_server_is_noted_as_retrying_and_the_sync_fails(tmp_path):
    from eventlog.server.testing import free_port

    folder = make_run(tmp_path / "run", "mlfdown", "p", steps=2)
    uri = f"http://127.0.0.1:{free_port()}"  # nothing listens there
    done = evlog("sync", "--sink", "mlflow", str(folder), env=sink_env(uri, MLFLOW_HTTP_REQUEST_MAX_RETRIES="0"))
    assert done.returncode == 1 and f"FAILED {folder}" in done.stdout + done.stderr
    cf = cursor_file(folder, "mlflow")
    assert cf["retrying"]["reason"] == f"cannot reach {uri} (MlflowException)"  # what finish() waits on
    assert cf["cursor"]["seq"] == 0 and cf["error"]
