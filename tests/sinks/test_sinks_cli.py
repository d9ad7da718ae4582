"""`evlog sync`, `evlog runs ls`, and `evlog tail --follow` beside a running syncer: click's
CliRunner for the details, the real command in a subprocess for each at least once."""
from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from click.testing import CliRunner

from eventlog import LogWriter
from eventlog.cli import main
from eventlog.sinks.state import SyncerLock

from support.sinks import (
    NO_CREDENTIALS,
    PY,
    assert_tb_equals_log,
    cursor_file,
    evlog,
    jsonl_seqs,
    kill_quietly,
    log_records,
    make_run,
    start_syncer_proc,
    subprocess_env,
    syncer_pids,
    wait_until,
    write_records,
    write_test_sinks,
)


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch):
    for k in list(os.environ):
        if k.startswith(("EVLOG_", "WANDB_")):
            monkeypatch.delenv(k)
    monkeypatch.setenv("EVLOG_CONFIG_DIR", NO_CREDENTIALS)  # the http sink stays off


def cli(*args: str):  # noqa: ANN201
    return CliRunner().invoke(main, list(args), catch_exceptions=False)


def test_sync_subprocess_tensorboard_then_nothing_new(tmp_path):
    run = make_run(tmp_path / "evlog" / "run-20260101_000000-sinkrun1", steps=500)
    r = evlog("sync", str(run), "--sink", "tensorboard")
    assert r.returncode == 0, r.stderr
    n = len(log_records(run))
    assert f"synced {run} (run sinkrun1, finished): tensorboard {n:,} records" in r.stdout
    assert_tb_equals_log(run)
    again = evlog("sync", str(run))  # the sink used before is the default now
    assert again.returncode == 0
    assert f"nothing new to sync in {run}: tensorboard already have all of it" in again.stdout
    assert_tb_equals_log(run)


def test_sync_many_runs_by_folder_and_glob(tmp_path):
    base = tmp_path / "evlog"
    runs = [make_run(base / f"run-2026010{i}_000000-abcdefg{i}", steps=10 + i, run_id=f"abcdefg{i}")
            for i in range(3)]
    (base / "latest-run").symlink_to(runs[-1].name)
    res = cli("sync", str(tmp_path), "--sink", "jsonl")
    assert res.exit_code == 0, res.output
    assert "3 runs synced, 0 failed" in res.output
    for run in runs:
        assert jsonl_seqs(run) == [r.seq for r in log_records(run)]
    res = cli("sync", str(base / "run-*"), "--sink", "jsonl")
    assert res.exit_code == 0 and res.output.count("nothing new to sync") == 3


def test_sync_failure_says_which_run_and_why(tmp_path, monkeypatch):
    plugins = write_test_sinks(tmp_path / "plugins")
    monkeypatch.syspath_prepend(str(plugins))
    good = make_run(tmp_path / "a", steps=5)
    res = cli("sync", str(good), str(tmp_path / "missing"), "--sink", "jsonl")
    assert res.exit_code == 1
    assert "missing: no such file or folder" in res.output and "1 runs synced, 1 failed" in res.output.replace(
        "1 run synced", "1 runs synced")
    res = cli("sync", str(good), "--sink", "evtestsinks:BrokenSink")
    assert res.exit_code == 1
    assert f"FAILED {good}: sink broken: delivery failed" in res.output and "receiver unreachable" in res.output
    res = cli("sync", str(good), "--sink", "nosuch")
    assert res.exit_code == 1 and "no sink named 'nosuch'" in res.output
    res = cli("sync", str(good))  # the broken sink used before is not installed: warned, jsonl goes on
    assert res.exit_code == 0 and "sink 'broken'" in res.output
    fresh = make_run(tmp_path / "b", steps=5)
    res = cli("sync", str(fresh))  # nothing enabled for this run, nothing used before
    assert res.exit_code == 1 and "not logged in: run `evlog login`" in res.output  # the HTTP sink by default
    res = cli("sync", str(tmp_path / "nothing-here"))
    assert res.exit_code == 2


def test_sync_damaged_log_reports_damage_and_syncs_the_rest(tmp_path):
    run = make_run(tmp_path / "run", steps=3000, frame_bytes=4096)
    seg = sorted((run / "log").glob("seg-*.zst"))[0]
    data = bytearray(seg.read_bytes())
    data[len(data) // 2:len(data) // 2 + 8] = b"\0" * 8
    seg.write_bytes(bytes(data))
    r = evlog("sync", str(run), "--sink", "jsonl")
    assert r.returncode == 0, r.stderr
    assert "damage:" in r.stderr and seg.name in r.stderr and "every readable record was delivered" in r.stderr
    assert jsonl_seqs(run) == [rec.seq for rec in log_records(run)]


def test_sync_include_synced_delivers_again_from_the_start(tmp_path):
    run = make_run(tmp_path / "run", steps=20)
    assert cli("sync", str(run), "--sink", "jsonl").exit_code == 0
    res = cli("sync", str(run), "--sink", "jsonl", "--include-synced")
    n = len(log_records(run))
    assert res.exit_code == 0 and f"jsonl {n} records" in res.output
    assert jsonl_seqs(run) == list(range(n))


def test_sync_refuses_while_the_live_syncer_holds_the_run(tmp_path):
    run = make_run(tmp_path / "run", steps=5)
    lock = SyncerLock(run)
    assert lock.acquire("syncer")
    try:
        res = cli("sync", str(run), "--sink", "jsonl")
        assert res.exit_code == 1
        assert f"its syncer (pid {os.getpid()}) is delivering it right now" in res.output
    finally:
        lock.release()


def test_sync_of_a_running_run_delivers_what_is_on_disk(tmp_path):
    folder = tmp_path / "run"
    with LogWriter(folder, "livesync") as w:
        w.append("run", {"id": "livesync"})
        write_records(w, 0, 30)
        w.flush()
        res = cli("sync", str(folder), "--sink", "jsonl")
        assert res.exit_code == 0 and "still running" in res.output
        assert jsonl_seqs(folder) == list(range(31))
        assert cursor_file(folder, "jsonl")["closed"] == "detached"
        w.append("exit", {"exit_code": 0, "runtime": 1.0})
    res = cli("sync", str(folder))
    assert res.exit_code == 0 and "jsonl 1 records" in res.output
    assert cursor_file(folder, "jsonl")["closed"] == "finished"


def test_runs_ls_states_steps_and_sinks(tmp_path):
    base = tmp_path / "evlog"
    fin = make_run(base / "run-20260101_000001-finished", steps=12, run_id="fin00001")
    make_run(base / "run-20260101_000002-crashed0", steps=3, run_id="crash001", exit_code=None)
    make_run(base / "run-20260101_000003-failed00", steps=4, run_id="fail0001", exit_code=1)
    assert cli("sync", str(fin), "--sink", "jsonl").exit_code == 0
    with LogWriter(base / "run-20260101_000004-running0", "runn0001") as w:
        w.append("run", {"id": "runn0001", "name": "busy-bee-1"})
        write_records(w, 0, 5)
        w.flush()
        r = evlog("runs", "ls", str(tmp_path))
        res = cli("runs", "ls", str(base), "--json")
    assert r.returncode == 0, r.stderr
    rows = {row["id"]: row for row in map(json.loads, res.output.splitlines())}
    assert {k: (v["state"], v["steps"]) for k, v in rows.items()} == {
        "fin00001": ("finished", 12), "crash001": ("crashed", 3), "fail0001": ("failed", 4),
        "runn0001": ("running", 5)}
    assert rows["fin00001"]["sinks"] == {"jsonl": "synced"} and rows["crash001"]["sinks"] == {}
    assert rows["runn0001"]["name"] == "busy-bee-1" and rows["fin00001"]["size"] > 0
    lines = r.stdout.splitlines()
    assert lines[0].split() == ["ID", "NAME", "STATE", "STEPS", "SIZE", "SINKS", "FOLDER"]
    fin_line = next(ln for ln in lines if ln.startswith("fin00001"))
    assert "finished" in fin_line and " 12 " in fin_line and "jsonl:synced" in fin_line
    # more records after a sync: that sink is behind
    with LogWriter(fin, "fin00001") as w:
        w.append("resume", {"session": 1})
    res = cli("runs", "ls", str(base), "--json")
    rows = {row["id"]: row for row in map(json.loads, res.output.splitlines())}
    assert rows["fin00001"]["sinks"] == {"jsonl": "1 behind"}  # the resume record
    assert rows["fin00001"]["state"] == "crashed"  # a session without an exit, no writer


def test_tail_follow_works_while_the_syncer_runs(tmp_path):
    folder = tmp_path / "run"
    env = subprocess_env({"EVLOG_SINKS": "jsonl,tensorboard"})
    w = LogWriter(folder, "tailrun1", flush_interval=0.05)
    w.append("run", {"id": "tailrun1"})
    w.flush()
    syncer = start_syncer_proc(folder, os.getpid(), env)
    exe = Path(sys.executable).parent / "evlog"
    tail = subprocess.Popen([str(exe), "tail", "--follow", "--json", str(folder)], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=env)
    try:
        for i in range(0, 300, 30):
            write_records(w, i, i + 30)
            time.sleep(0.02)
        w.append("exit", {"exit_code": 0, "runtime": 1.0})
        w.close()
        out, err = tail.communicate(timeout=60)
        syncer.communicate(timeout=60)
    finally:
        w.close()
        tail.kill()
        syncer.kill()
    assert tail.returncode == 0, err
    assert [json.loads(ln)["seq"] for ln in out.splitlines()] == list(range(302))
    assert syncer.returncode == 0
    assert jsonl_seqs(folder) == list(range(302))
    assert_tb_equals_log(folder)
    assert syncer_pids(folder) == []


def test_the_example_sink_in_the_spec_works(tmp_path):
    """spec/sinks.md's example sink, as a module:Class given to the real `evlog sync`."""
    spec = (Path(__file__).resolve().parents[2] / "spec" / "sinks.md").read_text()
    code = spec.split("```python\n# mysinks.py\n", 1)[1].split("```", 1)[0]
    (tmp_path / "mysinks.py").write_text(code)
    run = make_run(tmp_path / "run", steps=25)
    env = subprocess_env(pythonpath=tmp_path)
    r = evlog("sync", str(run), "--sink", "mysinks:CsvSink", env=env)
    assert r.returncode == 0, r.stderr
    lines = (run / "sinks" / "csv" / "history.csv").read_text().splitlines()
    assert len(lines) == 25 * 6 and lines[0] == "0,loss,1.0"
    again = evlog("sync", str(run), "--sink", "mysinks:CsvSink", env=env)
    assert "nothing new" in again.stdout
    assert len((run / "sinks" / "csv" / "history.csv").read_text().splitlines()) == 25 * 6
