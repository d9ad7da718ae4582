"""init(resume=...) offline (issue 6): each mode's behaviour and error paths, the state a resumed
run comes back with, resume=True / "auto" with latest-run, the environment variables, a run still
being written, a folder whose process died inside init(), a log that begins past seq 0,
EVLOG_FLUSH_INTERVAL, and `evlog runs ls` / `evlog runs resume` for crashed runs."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from eventlog import LogReader, LogWriter, runapi
from eventlog.logfile.inspect import verify
from eventlog.logfile.reader import log_start_seq
from eventlog.runapi.resume import from_log
from eventlog.logfile.segment import LOG_DIR, list_segments
from support.run import of_type, run_folders, scrubbed_env


def crash(run) -> None:
    """End a run as a killed process leaves it: its records on disk, no exit record."""
    run._writer.close()
    run._finished = True
    run._blocked = True
    runapi._set_current(None)


def recs_of(folder):
    reader = LogReader(folder)
    out = list(reader.records())
    assert not reader.damage
    return out


def seqs_contiguous(recs) -> bool:
    return [r.seq for r in recs] == list(range(recs[0].seq, recs[0].seq + len(recs)))


def started_run(ev, **kw):
    run = ev.init(id="res00001", mode="offline", config={"lr": 0.1, "layers": [64, 32]}, name="first-name",
                  notes="n1", tags=["a"], **kw)
    for i in range(5):
        run.log({"loss": 1.0 / (i + 1), "acc": i / 10})
    run.log({"partial": 1}, commit=False)  # never committed before the crash: lost
    run.summary["best"] = 0.25
    run.name = "renamed"
    run.config.update({"epochs": 3})
    return run


# ------------------------------------------------------------------------------ state
def test_allow_continues_the_run_with_its_state_seq_and_steps(ev):
    run = started_run(ev)
    folder = Path(run.dir)
    crash(run)
    before = recs_of(folder)
    resumed = ev.init(id="res00001", resume="allow", mode="offline", config={"lr": 0.1, "layers": [64, 32]})
    assert resumed.resumed and resumed.dir == str(folder) and resumed.id == "res00001"
    assert resumed.step == 5, "the next log() continues after the last committed step"
    assert resumed.config.as_dict() == {"lr": 0.1, "layers": [64, 32], "epochs": 3}
    assert resumed.summary.as_dict() == {"loss": 0.2, "acc": 0.4, "best": 0.25}
    assert (resumed.name, resumed.notes, resumed.tags) == ("renamed", "n1", ("a",))
    assert resumed.start_time == before[0].body["start_time"]
    resumed.log({"loss": 0.1})
    resumed.log({"loss": 0.05}, step=9)
    resumed.finish()
    recs = recs_of(folder)
    assert recs[:len(before)] == before and seqs_contiguous(recs) and recs[0].seq == 0
    new = recs[len(before):]
    assert new[0].type == "resume"
    body = new[0].body
    assert body["session"] == 1 and body["last_step"] == 4 and body["source"] == "log" and body["pid"] == os.getpid()
    assert "argv" in body["program"] and "run" not in body
    assert not of_type(new, "config"), "the same config again writes nothing"
    steps = [r.body["step"] for r in of_type(recs, "history")]
    assert steps == [0, 1, 2, 3, 4, 5, 9]
    assert recs[-1].type == "exit" and recs[-1].body["exit_code"] == 0
    assert ev.init(id="res00001", resume="allow", mode="offline").resumed  # a finished run continues too


def test_a_changed_config_value_is_refused_and_nothing_is_written(ev):
    run = started_run(ev)
    folder = Path(run.dir)
    crash(run)
    before = recs_of(folder)
    with pytest.raises(ev.ConfigError) as err:
        ev.init(id="res00001", resume="must", mode="offline", config={"lr": 0.2})
    assert "res00001" in str(err.value) and "'lr'" in str(err.value) and "allow_val_change" in str(err.value)
    assert recs_of(folder) == before and ev.run is None
    run = ev.init(id="res00001", resume="must", mode="offline", config={"lr": 0.2, "new": 1}, allow_val_change=True)
    assert run.config["lr"] == 0.2 and run.config["new"] == 1
    run.finish()
    changes = [r.body for r in of_type(recs_of(folder), "config")][-1]
    assert changes == {"update": {"lr": 0.2, "new": 1}}


def test_name_notes_and_tags_given_again_are_a_meta_record_when_they_differ(ev):
    run = started_run(ev)
    folder = Path(run.dir)
    crash(run)
    run = ev.init(id="res00001", resume="allow", mode="offline", name="renamed", notes="n2", tags=["a", "b"])
    assert (run.name, run.notes, run.tags) == ("renamed", "n2", ("a", "b"))
    run.finish()
    assert of_type(recs_of(folder), "meta")[-1].body == {"notes": "n2", "tags": ["a", "b"]}


# ------------------------------------------------------------------------------ modes
def test_allow_and_never_start_a_missing_run_with_the_given_id(ev):
    for mode, rid in (("allow", "newrun01"), ("never", "newrun02")):
        run = ev.init(id=rid, resume=mode, mode="offline")
        assert run.id == rid and not run.resumed
        run.finish()
        assert recs_of(run.dir)[0].type == "run"
    for mode in ("allow", "never"):  # no id: a new run with a generated id
        run = ev.init(resume=mode, mode="offline")
        assert not run.resumed and run.id not in ("newrun01", "newrun02")
        run.finish()


def test_must_without_the_run_raises_naming_it_and_creates_nothing(ev, tmp_path):
    with pytest.raises(ev.RunNotFoundError) as err:
        ev.init(id="ghost001", resume="must", mode="offline")
    msg = str(err.value)
    assert "ghost001" in msg and "offline" in msg and "dir=" in msg
    assert isinstance(err.value, ev.ResumeError) and isinstance(err.value, ev.UsageError)
    assert run_folders(Path.cwd()) == [] and ev.run is None
    with pytest.raises(ev.ResumeError, match="needs the id"):
        ev.init(resume="must", mode="offline")


def test_never_refuses_an_existing_run(ev):
    run = started_run(ev)
    crash(run)
    with pytest.raises(ev.RunExistsError) as err:
        ev.init(id="res00001", resume="never", mode="offline")
    assert "res00001" in str(err.value) and 'resume="allow"' in str(err.value)
    with pytest.raises(ev.UsageError, match="already used"):  # no resume: the id names one run
        ev.init(id="res00001", mode="offline")


def test_a_run_id_given_as_resume_resumes_that_run(ev):
    run = started_run(ev)
    crash(run)
    run = ev.init(resume="res00001", mode="offline")
    assert run.resumed and run.id == "res00001" and run.step == 5
    run.finish()
    with pytest.raises(ev.UsageError, match="two different runs"):
        ev.init(id="other", resume="res00001", mode="offline")


def test_resume_from_the_environment(ev, monkeypatch):
    run = started_run(ev)
    crash(run)
    monkeypatch.setenv("EVLOG_RESUME", "must")
    monkeypatch.setenv("WANDB_RUN_ID", "res00001")
    run = ev.init(mode="offline")
    assert run.resumed and run.id == "res00001"
    run.finish()
    monkeypatch.setenv("EVLOG_RUN_ID", "ghost002")
    with pytest.raises(ev.RunNotFoundError, match="ghost002"):
        ev.init(mode="offline")


@pytest.mark.parametrize("auto", [True, "auto"])
def test_auto_resumes_the_last_unfinished_run_of_the_folder_else_starts_a_new_one(ev, auto):
    first = ev.init(mode="offline")
    first.log({"x": 1})
    first.finish()
    run = ev.init(mode="offline", resume=auto)
    assert not run.resumed and run.id != first.id, "the last run finished: a new run"
    run.log({"x": 1})
    crash(run)
    again = ev.init(mode="offline", resume=auto)
    assert again.resumed and again.id == run.id and again.step == 1
    again.finish()
    assert not ev.init(mode="offline", resume=auto).resumed


def test_auto_resumes_a_run_interrupted_by_a_signal(ev):
    run = ev.init(mode="offline")
    run.log({"x": 1})
    with run._lock:
        run._interrupt_locked(signal.SIGTERM)  # what the SIGTERM handler writes
    run._writer.close()
    run._finished = True
    runapi._set_current(None)
    again = ev.init(mode="offline", resume=True)
    assert again.resumed and again.id == run.id and again.step == 1


def test_a_run_still_being_written_is_not_resumed(ev):
    run = started_run(ev)
    folder = Path(run.dir)
    crash(run)
    holder = LogWriter(folder, "res00001")  # a live writer of that run
    try:
        with pytest.raises(ev.RunInUseError) as err:
            ev.init(id="res00001", resume="allow", mode="offline")
        assert "res00001" in str(err.value) and f"pid {os.getpid()}" in str(err.value)
        with pytest.raises(ev.RunExistsError):
            ev.init(id="res00001", resume="never", mode="offline")
        run = ev.init(mode="offline", resume=True)
        assert not run.resumed and run.id != "res00001", "auto never takes a run that is being written"
        run.finish()
    finally:
        holder.close()


@pytest.mark.parametrize("leftover", ["no log", "empty segment", "torn first frame"])
def test_a_folder_whose_process_died_inside_init_is_set_aside(ev, leftover):
    root = Path.cwd() / "evlog"
    folder = root / "run-20260101_000000-unborn01"
    folder.mkdir(parents=True)
    if leftover != "no log":
        with LogWriter(folder, "unborn01") as w:
            if leftover == "torn first frame":
                w.append("run", {"id": "unborn01"})
        if leftover == "torn first frame":
            seg = folder / LOG_DIR / list_segments(folder / LOG_DIR)[0][1]
            data = seg.read_bytes()
            seg.write_bytes(data[:-7])
    run = ev.init(id="unborn01", resume="allow", mode="offline")
    assert not run.resumed and Path(run.dir) != folder
    run.finish()
    recs = recs_of(run.dir)
    assert recs[0].seq == 0 and recs[0].type == "run"
    assert not folder.exists() and len(list(root.glob(".unborn-run-20260101_000000-unborn01-*"))) == 1
    with pytest.raises(ev.RunNotFoundError):
        ev.init(id="unborn02", resume="must", mode="offline")


# ---------------------------------------------------------------- engine: log start, flush
def test_a_log_may_begin_past_seq_zero_and_reads_verifies_and_reopens_as_one(tmp_path):
    folder = tmp_path / "run"
    with LogWriter(folder, "past0001", first_seq=120) as w:
        assert w.next_seq == 120
        w.append("resume", {"session": 2, "run": {"id": "past0001"}, "config": {"a": 1}, "summary": {"s": 1},
                            "last_step": 40})
        w.append("history", {"step": 41, "data": {"s": 2}})
    assert log_start_seq(folder) == 120
    assert [r.seq for r in recs_of(folder)] == [120, 121]
    report = verify(folder)
    assert report.clean and report.seq_gaps == []
    with LogWriter(folder, "past0001", first_seq=7) as w:  # ignored: the folder has a log
        assert w.next_seq == 122
    st = from_log(folder)
    assert (st.config, st.summary, st.last_step, st.session, st.next_seq) == ({"a": 1}, {"s": 2}, 41, 2, 122)
    with pytest.raises(Exception, match="first_seq"):
        LogWriter(tmp_path / "other", "x", first_seq=-1)


def test_flush_interval_comes_from_the_environment(ev, monkeypatch):
    monkeypatch.setenv("EVLOG_FLUSH_INTERVAL", "0.2")
    run = ev.init(mode="offline")
    assert run._writer.flush_interval == 0.2
    run.finish()
    for bad in ("0", "soon", "-1"):
        monkeypatch.setenv("EVLOG_FLUSH_INTERVAL", bad)
        with pytest.raises(ev.UsageError, match="EVLOG_FLUSH_INTERVAL"):
            ev.init(mode="offline")


# ------------------------------------------------------------------------------ CLI
TRAIN = """
import os, signal, sys
import eventlog
run = eventlog.init(project="cli", config={"lr": 0.5})
start = run.step
for i in range(int(sys.argv[1])):
    run.log({"i": start + i})
if os.environ.get("CRASH") == "1":
    run.save()
    os.kill(os.getpid(), signal.SIGKILL)
print("RESUMED" if run.resumed else "NEW", run.id, run.step)
"""


def test_runs_ls_lists_crashed_runs_with_the_command_that_resumes_each(tmp_path):
    from support.engine import evlog_command

    script = tmp_path / "work" / "train.py"
    script.parent.mkdir()
    script.write_text(textwrap.dedent(TRAIN))
    env = scrubbed_env(tmp_path)

    def train(steps, **extra):
        return subprocess.run([sys.executable, str(script), str(steps)], cwd=script.parent, env=dict(env, **extra),
                              capture_output=True, text=True, timeout=60)

    def evlog(*args, cwd=script.parent):
        return subprocess.run(evlog_command() + list(args), cwd=cwd, env=env, capture_output=True, text=True,
                              timeout=60)

    assert train(7, CRASH="1").returncode == -signal.SIGKILL
    assert train(2).returncode == 0
    rows = [json.loads(line) for line in evlog("runs", "ls", "--json").stdout.splitlines()]
    crashed = [r for r in rows if r["state"] == "crashed"]
    assert len(rows) == 2 and len(crashed) == 1, rows
    row = crashed[0]
    assert "EVLOG_RESUME=must" in row["resume"] and f"EVLOG_RUN_ID={row['id']}" in row["resume"]
    assert [r["resume"] for r in rows if r["state"] == "finished"] == [None]
    table = evlog("runs", "ls").stdout
    assert "crashed" in table and row["resume"] in table and f"evlog runs resume {row['id']}" in table
    # the printed command resumes the run, from any folder
    out = subprocess.run(["sh", "-c", row["resume"]], cwd=tmp_path, env=env, capture_output=True, text=True,
                         timeout=60)
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["RESUMED", row["id"], "14"]
    # `evlog runs resume ID` runs that command
    assert train(7, CRASH="1", EVLOG_RESUME="must", EVLOG_RUN_ID=row["id"]).returncode == -signal.SIGKILL
    dry = evlog("runs", "resume", "--dry-run", row["id"])
    assert dry.returncode == 0 and f"EVLOG_RUN_ID={row['id']}" in dry.stdout, dry.stdout + dry.stderr
    res = evlog("runs", "resume", row["id"], cwd=tmp_path / "work" / "evlog")
    assert res.returncode == 0, res.stderr
    assert res.stdout.split()[-3:] == ["RESUMED", row["id"], "28"]
    steps = [r.body["step"] for r in of_type(recs_of(row["folder"]), "history")]
    assert steps == list(range(28)), "one history over four sessions"
    nothing = evlog("runs", "resume", row["id"])
    assert nothing.returncode == 2 and "finished" in nothing.stderr
    assert evlog("runs", "resume", "nosuchid").returncode == 2
