"""The live syncer as a real process: started by a training script, killed and restarted, outliving
a killed training process; one process per run; finish() waiting with a timeout."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from eventlog import LogWriter
from eventlog.sinks import CRASHED, FINISHED

from support.sinks import (
    PY,
    assert_tb_equals_log,
    cursor_file,
    jsonl_seqs,
    kill_quietly,
    lock_pid,
    log_records,
    pid_alive,
    seqsink_seen,
    start_syncer_proc,
    subprocess_env,
    syncer_pids,
    tb_scalars,
    wait_until,
    write_records,
    write_test_sinks,
)

# A training script that uses the engine directly the way init()/log()/finish() do:
#   train.py FOLDER STEPS [finish|hang] [timeout]
TRAIN = textwrap.dedent('''
    import os, sys, time
    from eventlog import LogWriter
    from eventlog.runapi.syncproc import start_syncer, wait_syncer

    folder, steps, how = sys.argv[1], int(sys.argv[2]), sys.argv[3]
    timeout = float(sys.argv[4]) if len(sys.argv) > 4 else 60.0
    w = LogWriter(folder, "trainrun")
    w.append("run", {"id": "trainrun", "name": "quick-heron-4", "project": "demo", "mode": "offline",
                     "settings": {}})
    w.append("config", {"update": {"lr": 0.01, "batch": 32}})
    w.flush()
    handle = start_syncer(folder, parent_pid=os.getpid())
    print("syncer pid", handle.pid if handle else None, flush=True)
    for step in range(steps):
        w.append("history", {"step": step, "data": {"loss": 1.0 / (step + 1), "acc": step / steps,
                                                      "lr": 0.01 * 0.999 ** step}})
        if step % 100 == 0:
            print(f"epoch progress {step}/{steps} from the program itself", flush=True)
        if step == steps // 2 and os.environ.get("TRAIN_PAUSE"):
            open(os.environ["TRAIN_PAUSE"] + ".reached", "w").close()
            while not os.path.exists(os.environ["TRAIN_PAUSE"]):
                time.sleep(0.01)
    if how == "hang":  # everything on disk, then wait to be killed
        w.flush()
        open(folder + ".ready", "w").close()
        time.sleep(600)
    w.append("summary", {"update": {"best_acc": 0.99}})
    w.append("exit", {"exit_code": 0, "runtime": 2.5, "interrupted": False, "error": None})
    w.close()
    ok = wait_syncer(handle, timeout)
    print("finish waited:", ok, flush=True)
''')


@pytest.fixture
def train_script(tmp_path):
    p = tmp_path / "train.py"
    p.write_text(TRAIN)
    return p


@pytest.fixture
def plugins(tmp_path):
    return write_test_sinks(tmp_path / "plugins")


def _reap(folder: Path) -> None:
    for pid in syncer_pids(folder):
        kill_quietly(pid)


def test_training_script_stdout_and_tensorboard(tmp_path, train_script, plugins):
    folder = tmp_path / "run"
    pause = tmp_path / "go"
    env = subprocess_env({"EVLOG_TENSORBOARD": "true", "EVLOG_SINKS": "stdout,tensorboard,jsonl,seqsink",
                          "TRAIN_PAUSE": str(pause)}, pythonpath=plugins)
    proc = subprocess.Popen([PY, str(train_script), str(folder), "1000", "finish"], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=env, cwd=tmp_path)
    try:
        wait_until(lambda: Path(str(pause) + ".reached").exists(), 60, "the script's midpoint")
        # four sinks, one syncer process
        wait_until(lambda: lock_pid(folder), 30, "the syncer lock")
        pids = syncer_pids(folder)
        assert len(pids) == 1 and pids[0] == lock_pid(folder)
        pause.touch()
        out, err = proc.communicate(timeout=120)
    finally:
        proc.kill()
        _reap(folder)
    assert proc.returncode == 0, err
    assert "finish waited: True" in out
    lines = out.splitlines()
    # the stdout sink, as wandb users know it
    assert "evlog: Tracking run quick-heron-4 (id trainrun)" in lines
    assert f"evlog: Run folder: {folder}" in lines
    assert f"evlog: Offline: the run is stored locally; sync it later with: evlog sync {folder}" in lines
    assert "evlog: Run summary:" in lines
    summary = {ln.split()[1]: ln.split()[2] for ln in lines if ln.startswith("evlog:   ")}
    assert summary == {"acc": f"{999 / 1000:.5g}", "best_acc": "0.99", "loss": f"{1 / 1000:.5g}",
                       "lr": f"{0.01 * 0.999 ** 999:.5g}"}
    assert "evlog: Run quick-heron-4 (id trainrun) finished in 2.5 s: 1000 steps logged" in lines
    assert f"evlog: Sync it with: evlog sync {folder}" in lines
    # never mixed into a line of the program's own
    for ln in lines:
        assert ln.startswith("evlog:") or ln.startswith(("epoch progress", "syncer pid", "finish waited")), ln
    assert sum(ln.startswith("epoch progress") for ln in lines) == 10
    # the log reached every sink
    records = log_records(folder)
    assert_tb_equals_log(folder)
    assert jsonl_seqs(folder) == [r.seq for r in records]
    assert [s for s, _, _ in seqsink_seen(folder)] == [r.seq for r in records]
    for name in ("stdout", "tensorboard", "jsonl", "seqsink"):
        assert cursor_file(folder, name)["closed"] == FINISHED
    assert syncer_pids(folder) == []


def test_syncer_killed_midway_and_restarted_delivers_each_record_once(tmp_path, plugins):
    folder = tmp_path / "run"
    env = subprocess_env({"EVLOG_SINKS": "jsonl,tensorboard,seqsink", "TEST_SEQSINK_DELAY": "0.02"},
                         pythonpath=plugins)
    w = LogWriter(folder, "killrun1", flush_interval=0.05)
    w.append("run", {"id": "killrun1", "name": "k", "settings": {}})
    w.flush()
    procs = []
    step = 0
    try:
        for round_ in range(3):
            proc = start_syncer_proc(folder, os.getpid(), env)
            procs.append(proc)
            target = len(seqsink_raw(folder)) + 150
            # keep logging while the syncer delivers, then kill it in the middle of its work
            while len(seqsink_raw(folder)) < target:
                write_records(w, step, step + 20)
                step += 20
                time.sleep(0.01)
                assert proc.poll() is None, proc.stderr.read()
            proc.send_signal(signal.SIGKILL)
            proc.wait(30)
            assert not pid_alive(proc.pid)
        write_records(w, step, step + 200)
        w.append("exit", {"exit_code": 0, "runtime": 3.0})
        w.close()
        last = start_syncer_proc(folder, os.getpid(), env)
        procs.append(last)
        out, err = last.communicate(timeout=120)
        assert last.returncode == 0, err
    finally:
        w.close()
        for p in procs:
            p.kill()
            p.wait()
    records = log_records(folder)
    assert len(records) == step + 200 + 2
    # each sink ends with every record exactly once (count and content)
    assert jsonl_seqs(folder) == [r.seq for r in records]
    assert_tb_equals_log(folder)
    seen = seqsink_seen(folder)
    assert [s for s, _, _ in seen] == [r.seq for r in records]
    import json

    assert [(t, b) for _, t, b in seen] == [(r.type, json.loads(json.dumps(r.body, sort_keys=True, default=repr)))
                                            for r in records]
    # delivery was at least once: the kills made it redeliver some records
    assert len(seqsink_raw(folder)) >= len(records)
    for name in ("jsonl", "tensorboard", "seqsink"):
        cf = cursor_file(folder, name)
        assert cf["closed"] == FINISHED and cf["cursor"]["seq"] == len(records)
    assert syncer_pids(folder) == []


def seqsink_raw(folder: Path) -> list:
    p = folder / "sinks" / "seqsink" / "raw.txt"
    return p.read_text().split() if p.exists() else []


def test_training_process_killed_syncer_delivers_marks_crashed_and_exits(tmp_path, train_script, plugins):
    folder = tmp_path / "run"
    env = subprocess_env({"EVLOG_SINKS": "stdout,jsonl,tensorboard,seqsink"}, pythonpath=plugins)
    proc = subprocess.Popen([PY, str(train_script), str(folder), "700", "hang"], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=env, cwd=tmp_path)
    try:
        wait_until(lambda: Path(str(folder) + ".ready").exists(), 60, "the script to log everything")
        syncer = wait_until(lambda: lock_pid(folder), 30, "the syncer")
        proc.send_signal(signal.SIGKILL)
        out, err = proc.communicate(timeout=120)  # EOF once the syncer (sharing the pipe) exits too
        wait_until(lambda: not pid_alive(syncer), 30, "the syncer to exit")
    finally:
        proc.kill()
        _reap(folder)
    records = log_records(folder)
    assert len(records) == 2 + 700 and records[-1].type == "history"
    assert jsonl_seqs(folder) == [r.seq for r in records]
    assert [s for s, _, _ in seqsink_seen(folder)] == [r.seq for r in records]
    assert_tb_equals_log(folder)
    for name in ("stdout", "jsonl", "tensorboard", "seqsink"):
        assert cursor_file(folder, name)["closed"] == CRASHED
    assert (folder / "sinks" / "seqsink" / "closed.txt").read_text() == CRASHED
    assert ("evlog: Run quick-heron-4 (id trainrun) crashed: the training process ended without "
            "finishing the run; 700 steps logged") in out.splitlines()
    assert syncer_pids(folder) == [] and not pid_alive(syncer)


def test_one_syncer_per_run_a_second_one_waits_for_the_first(tmp_path, plugins):
    folder = tmp_path / "run"
    env = subprocess_env({"EVLOG_SINKS": "seqsink,jsonl"}, pythonpath=plugins)
    w = LogWriter(folder, "tworun01", flush_interval=0.05)
    w.append("run", {"id": "tworun01"})
    write_records(w, 0, 100)
    w.flush()
    a = start_syncer_proc(folder, os.getpid(), env)
    try:
        wait_until(lambda: lock_pid(folder) == a.pid, 30, "the first syncer")
        b = start_syncer_proc(folder, os.getpid(), env)
        try:
            wait_until(lambda: len(seqsink_seen_safe(folder)) == 101, 30, "delivery")
            assert lock_pid(folder) == a.pid and b.poll() is None  # b waits, delivers nothing
            write_records(w, 100, 150)
            w.append("exit", {"exit_code": 0, "runtime": 1.0})
            w.close()
            a.communicate(timeout=60)
            b_out, b_err = b.communicate(timeout=60)
            assert a.returncode == 0 and b.returncode == 0, b_err
        finally:
            b.kill()
            b.wait()
    finally:
        w.close()
        a.kill()
        a.wait()
    records = log_records(folder)
    assert [s for s, _, _ in seqsink_seen(folder)] == [r.seq for r in records]
    assert [int(s) for s in seqsink_raw(folder)] == [r.seq for r in records]  # nothing delivered twice
    assert jsonl_seqs(folder) == [r.seq for r in records]


def seqsink_seen_safe(folder: Path) -> list:
    try:
        return seqsink_seen(folder)
    except (OSError, ValueError):
        return []


def test_sigterm_detaches_and_a_later_sync_finishes(tmp_path, plugins):
    folder = tmp_path / "run"
    env = subprocess_env({"EVLOG_SINKS": "jsonl"})
    w = LogWriter(folder, "termrun1", flush_interval=0.05)
    w.append("run", {"id": "termrun1"})
    write_records(w, 0, 50)
    w.flush()
    p = start_syncer_proc(folder, os.getpid(), env)
    try:
        wait_until(lambda: len(jsonl_seqs(folder)) == 51 and (cursor_file(folder, "jsonl") or {}).get(
            "cursor", {}).get("seq") == 51, 30, "delivery")
        p.send_signal(signal.SIGTERM)
        p.communicate(timeout=30)
        assert p.returncode == 0
        assert cursor_file(folder, "jsonl")["closed"] == "detached"
        write_records(w, 50, 60)
        w.append("exit", {"exit_code": 0, "runtime": 1.0})
    finally:
        w.close()
        p.kill()
        p.wait()
    from support.sinks import evlog

    r = evlog("sync", str(folder))
    assert r.returncode == 0, r.stderr
    assert "jsonl 11 records" in r.stdout
    assert jsonl_seqs(folder) == list(range(62))


def test_finish_timeout_leaves_and_names_the_command(tmp_path, train_script, plugins):
    folder = tmp_path / "run"
    env = subprocess_env({"EVLOG_SINKS": "evtestsinks:SlowSink", "TEST_SLOW_DELAY": "1.5"}, pythonpath=plugins)
    proc = subprocess.run([PY, str(train_script), str(folder), "50", "finish", "0.2"], stdout=subprocess.PIPE,
                          stderr=subprocess.PIPE, text=True, env=env, cwd=tmp_path, timeout=120)
    try:
        assert proc.returncode == 0, proc.stderr
        assert "finish waited: False" in proc.stdout
        assert "the syncer has not finished after 0.2 s" in proc.stderr
        assert f"deliver the rest with: evlog sync {folder}" in proc.stderr
        # the syncer keeps going on its own and ends once it delivered everything
        wait_until(lambda: (cursor_file(folder, "slowsink") or {}).get("closed") == FINISHED, 60, "the syncer")
        wait_until(lambda: syncer_pids(folder) == [], 30, "the syncer to exit")
    finally:
        _reap(folder)


def test_syncer_without_parent_stops_when_the_writer_is_gone(tmp_path):
    folder = tmp_path / "run"
    with LogWriter(folder, "nopar001") as w:
        w.append("run", {"id": "nopar001"})
        write_records(w, 0, 10)
    p = start_syncer_proc(folder, None, subprocess_env({"EVLOG_SINKS": "jsonl"}))
    try:
        p.communicate(timeout=60)
    finally:
        p.kill()
    assert p.returncode == 0
    assert cursor_file(folder, "jsonl")["closed"] == CRASHED and jsonl_seqs(folder) == list(range(11))


def test_start_syncer_is_off_with_evlog_sinks_none(tmp_path, monkeypatch):
    from eventlog.runapi.syncproc import start_syncer, wait_syncer

    monkeypatch.setenv("EVLOG_SINKS", "none")
    assert start_syncer(tmp_path, parent_pid=os.getpid()) is None
    assert wait_syncer(None, 1.0) is True


def _need_run_api() -> None:
    import eventlog

    if not hasattr(eventlog, "init"):
        pytest.skip("the run API (eventlog.init) is not there yet")


E2E = textwrap.dedent('''
    import os, sys, time
    import eventlog as wandb
    run = wandb.init(project="e2e", config={"lr": 0.1, "epochs": 2}, dir=".", mode="offline")
    for i in range(300):
        wandb.log({"loss": 1.0 / (i + 1), "acc": i / 300, "train": {"grad_norm": 2.0 + i}})
        if i % 50 == 0:
            print(f"program line {i}", flush=True)
    if sys.argv[1:] == ["hang"]:
        time.sleep(2.5)  # past the log's flush interval: every step is on disk
        open("ready", "w").close()
        time.sleep(600)
    run.finish()
    print("done", flush=True)
''')


def test_init_log_finish_end_to_end(tmp_path):
    """A real training script on the run API: the syncer started by init() and awaited by finish()."""
    _need_run_api()
    (tmp_path / "e2e.py").write_text(E2E)
    env = subprocess_env({"EVLOG_TENSORBOARD": "true"})
    proc = subprocess.run([PY, "e2e.py"], capture_output=True, text=True, cwd=tmp_path, env=env, timeout=180)
    assert proc.returncode == 0, proc.stderr
    runs = sorted((tmp_path / "evlog").glob("run-*"))
    assert len(runs) == 1
    folder = runs[0]
    lines = proc.stdout.splitlines()
    run_rec = log_records(folder)[0].body
    assert f"evlog: Tracking run {run_rec['name']} (id {run_rec['id']})" in lines
    assert f"evlog: Run folder: {folder}" in lines
    assert "evlog: Run summary:" in lines
    summary = {ln.split()[1]: ln.split()[2] for ln in lines if ln.startswith("evlog:   ")}
    assert summary["loss"] == f"{1 / 300:.5g}" and summary["train/grad_norm"] == "301"
    assert f"evlog: Sync it with: evlog sync {folder}" in lines
    for ln in lines:
        assert ln.startswith(("evlog:", "program line", "done")), ln
    assert_tb_equals_log(folder)
    assert {"loss", "acc", "train/grad_norm"} <= set(tb_scalars(folder))
    assert cursor_file(folder, "tensorboard")["closed"] == FINISHED
    assert cursor_file(folder, "stdout")["closed"] == FINISHED
    assert syncer_pids(folder) == []


def test_init_training_process_sigkilled(tmp_path, plugins):
    """The run API's training process killed: the syncer delivers what is on disk, marks the run
    crashed for its sinks, and exits."""
    _need_run_api()
    (tmp_path / "e2e.py").write_text(E2E)
    env = subprocess_env({"EVLOG_SINKS": "stdout,jsonl,seqsink,tensorboard"}, pythonpath=plugins)
    proc = subprocess.Popen([PY, "e2e.py", "hang"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            cwd=tmp_path, env=env)
    try:
        wait_until(lambda: (tmp_path / "ready").exists(), 120, "the script")
        folder = sorted((tmp_path / "evlog").glob("run-*"))[0]
        syncer = wait_until(lambda: lock_pid(folder), 30, "the syncer")
        proc.send_signal(signal.SIGKILL)
        out, err = proc.communicate(timeout=120)
        wait_until(lambda: not pid_alive(syncer), 60, "the syncer to exit")
    finally:
        proc.kill()
    records = log_records(folder)
    assert sum(r.type == "history" for r in records) == 300 and records[-1].type != "exit"
    assert jsonl_seqs(folder) == [r.seq for r in records]
    assert [s for s, _, _ in seqsink_seen(folder)] == [r.seq for r in records]
    assert_tb_equals_log(folder)
    for name in ("stdout", "jsonl", "seqsink", "tensorboard"):
        assert cursor_file(folder, name)["closed"] == CRASHED
    assert any("crashed: the training process ended without finishing the run; 300 steps logged" in ln
               for ln in out.splitlines())
    assert syncer_pids(folder) == []


class _TTY:
    """A stream that says it is a terminal and keeps what was written."""

    def __init__(self) -> None:
        self.text = ""

    def isatty(self) -> bool:
        return True

    def write(self, s: str) -> None:
        self.text += s

    def flush(self) -> None:
        pass


def test_wait_syncer_shows_progress_on_a_terminal(tmp_path, plugins, monkeypatch):
    from eventlog.runapi.syncproc import start_syncer, wait_syncer

    monkeypatch.setenv("EVLOG_SINKS", "evtestsinks:SlowSink,jsonl")
    monkeypatch.setenv("TEST_SLOW_DELAY", "1.0")  # well past wait_syncer's quiet 0.5 s, on any machine
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join([str(plugins), os.environ.get("PYTHONPATH", "")]))
    folder = tmp_path / "run"
    w = LogWriter(folder, "ttyrun01", flush_interval=0.05)
    w.append("run", {"id": "ttyrun01"})
    w.flush()
    handle = start_syncer(folder, parent_pid=os.getpid())
    try:
        assert handle is not None and handle.folder == folder.resolve()
        write_records(w, 0, 100)
        w.append("exit", {"exit_code": 0, "runtime": 1.0})
        w.close()
        tty = _TTY()
        assert wait_syncer(handle, 60, stream=tty) is True
        assert handle.returncode == 0
        assert "evlog: waiting for the syncer: " in tty.text and "/102 records delivered" in tty.text
        assert tty.text.endswith("\r\033[K")  # the progress line is wiped at the end
    finally:
        w.close()
        handle.proc.kill()
        handle.proc.wait()
    assert cursor_file(folder, "slowsink")["closed"] == FINISHED


def test_sync_progress_line_counts_records_and_bytes(tmp_path):
    from eventlog.cli.sync import _Progress
    from eventlog.sinks.registry import load
    from eventlog.sinks.syncer import Syncer, run_info
    from support.sinks import make_run

    run = make_run(tmp_path / "run", steps=50)
    rid, body, _ = run_info(run)
    syncer = Syncer(run, [load("jsonl")], live=False, run_id=rid, run=body, warn=lambda m: None)
    progress = _Progress(syncer, "run")
    assert "0 records, 0 B/" in progress._line() and "(0%)" in progress._line()
    syncer.run_all()
    line = progress._line()
    assert "54 records" in line and "(100%)" in line  # run, config, 50 steps, summary, exit
