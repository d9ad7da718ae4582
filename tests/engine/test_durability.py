"""Crash durability (issue 14.1): a SIGKILL loses only the records of the last few ms, the journal
that makes it so (spec/format.md 5) is read by readers and framed by the next writer, EVLOG_FSYNC."""
from __future__ import annotations

import mmap
import os
import random
import shutil
import signal
import struct
import subprocess
import time
from pathlib import Path

import msgpack
import pytest
from click.testing import CliRunner

from support.engine import RUN_ID, helper_command, subprocess_env, wait_for
from eventlog import LogReader, LogWriter, UsageError
from eventlog.cli.main import main as cli_main
from eventlog.logfile.inspect import verify
from eventlog.logfile.segment import JOURNAL_NAME, LOG_DIR, Frame, journal_entry, list_segments, read_header, scan
from eventlog.logfile.writer import DEFAULT_COMMIT_INTERVAL
from support.client import evlog_sync, sync_env

RATE = 400  # steps/s: slow enough for a loaded machine, fast enough that 1 s of buffering loses ~400
# What a kill may lose: the records of 100 ms, 200x the 0.5 ms commit interval (slack for a loaded
# machine whose writer thread waits for a CPU). Buffering records for the old 1 s flush interval
# loses 0..400, on average 200, at every kill.
ALLOWED = int(RATE * 0.1)


def _run_folder(folder: Path) -> Path:
    runs = [p for p in (folder / "evlog").iterdir() if p.name.startswith("run-")]
    assert len(runs) == 1, runs
    return runs[0]


def _history_steps(run: Path) -> list:
    reader = LogReader(run)
    steps = [r.body["step"] for r in reader.records() if r.type == "history"]
    assert reader.damage == []
    return steps


def _framed(run: Path) -> int:
    log = run / LOG_DIR
    return sum(len(it.records) for _, name in list_segments(log) for it in scan((log / name).read_bytes())
               if isinstance(it, Frame))


def _kill_run(tmp_path: Path, how: str, delay: float) -> tuple:
    """Start a run logging at RATE, SIGKILL it (the process or its group) `delay` s after init()
    returned; (run folder, completed log() calls)."""
    folder = tmp_path / f"kill-{how}-{delay:.3f}"
    folder.mkdir()
    counter = folder / "counter"
    counter.write_bytes(b"\0" * 16)
    env = subprocess_env()
    for k in list(env):
        if k.startswith(("EVLOG_", "WANDB_")):
            del env[k]
    env.update(EVLOG_SILENT="true", EVLOG_DISABLE_GIT="true", EVLOG_CONSOLE="off", EVLOG_SYSTEM_INTERVAL="0")
    if how == "process":
        env["EVLOG_SINKS"] = "none"  # the group kill keeps the default sinks: their syncer dies too
    fd = os.open(counter, os.O_RDWR)
    page = mmap.mmap(fd, 16)
    proc = subprocess.Popen(helper_command("durability_proc.py", folder / "work", counter, RATE), env=env,
                            start_new_session=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        (folder / "work").mkdir()
        wait_for(lambda: struct.unpack_from("<q", page, 8)[0] == 1 or proc.poll() is not None,
                 timeout=60, what="the run to start")
        assert proc.poll() is None, "the run died"
        time.sleep(delay)
        if how == "group":
            os.killpg(proc.pid, signal.SIGKILL)
        else:
            proc.send_signal(signal.SIGKILL)
        proc.wait()
        assert proc.returncode == -signal.SIGKILL
        done = struct.unpack_from("<q", page, 0)[0]
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
        page.close()
        os.close(fd)
    return _run_folder(folder / "work"), done


# ------------------------------------------------------------------- 1. SIGKILL at random points
@pytest.mark.parametrize("how", ["process", "group"])
def test_sigkill_at_random_points_loses_only_the_last_few_ms(tmp_path, how):
    rng = random.Random(f"durability-{how}")
    journal_used = 0
    for delay in [rng.uniform(0.3, 1.5) for _ in range(4)]:
        run, done = _kill_run(tmp_path, how, delay)
        assert done > RATE * 0.2, "the run did not log at its rate"
        steps = _history_steps(run)  # read as the kill left it: no writer has recovered anything
        assert steps == list(range(len(steps))), "history is not a contiguous prefix of the steps"
        lost = done - len(steps)
        # a call may be on disk before its count is: one more than counted is fine
        assert -1 <= lost <= ALLOWED, f"{how} kill after {delay:.2f} s: {lost} of {done} completed log() calls lost"
        journal_used += len(steps) > _framed(run) - 1  # records came from the journal, not frames
    assert journal_used, "no kill exercised the journal: the test did not test it"


def test_journal_of_a_killed_run_is_framed_by_the_next_writer(tmp_path):
    run, done = _kill_run(tmp_path, "process", 0.8)
    before = list(LogReader(run).records())
    framed = _framed(run)
    assert len(before) > framed, "the kill left nothing in the journal"
    assert (run / LOG_DIR / JOURNAL_NAME).exists()
    killed = verify(run)  # `evlog verify` of the killed run counts the journal's records too
    assert killed.clean and killed.records == len(before)
    run_id = read_header(run / LOG_DIR / list_segments(run / LOG_DIR)[0][1]).run_id

    with LogWriter(run, run_id) as w:
        journal = [r for r in w.recovered if "journal" in r["reason"]]
        assert len(journal) == 1 and journal[0]["records_kept"] == len(before) - framed
        assert w.next_seq == len(before) + len(w.recovered)
        w.append("exit", {"exit_code": 0})
    assert not (run / LOG_DIR / JOURNAL_NAME).exists(), "a closed writer leaves no journal"
    after = list(LogReader(run).records())
    assert after[:len(before)] == before, "recovery changed records that were readable"
    assert _framed(run) == len(after), "every record is in a frame now"
    assert [r.seq for r in after] == list(range(len(after)))
    report = verify(run)
    assert report.clean and report.pending_bytes == 0
    result = CliRunner().invoke(cli_main, ["verify", str(run)])
    assert result.exit_code == 0 and f"{len(after)} records" in result.output


def test_a_killed_runs_journal_reaches_the_server_through_evlog_sync(srv, tmp_path):  # noqa: F811
    """The HTTP sink reads through the same reader: what the kill left in the journal is uploaded."""
    run, _ = _kill_run(tmp_path, "process", 0.6)
    local = _history_steps(run)
    assert len(local) > _framed(run) - 1, "the kill left nothing in the journal"
    user, key = srv.user()
    out = evlog_sync(str(run), env=sync_env(tmp_path, srv.url, key))
    assert out.returncode == 0, out.stderr + out.stdout
    run_id = read_header(run / LOG_DIR / list_segments(run / LOG_DIR)[0][1]).run_id
    got = srv.run(user, "durability", run_id, key).json()
    assert got["history_rows"] == len(local)


def test_frames_are_written_whole_with_their_content_size(tmp_path):
    """Segments stay what the server ingests as a records body (frames declaring their content
    size, the header frame skipped): the journal changes nothing there."""
    from eventlog.server.wire import decode_body

    with LogWriter(tmp_path, RUN_ID, flush_interval=0.05) as w:
        for i in range(300):
            w.append("history", {"step": i, "data": {"x": i * 0.5}})
            if i % 50 == 0:
                time.sleep(0.06)  # frames finished by age, after journal commits
    name = list_segments(tmp_path / LOG_DIR)[0][1]
    body = decode_body((tmp_path / LOG_DIR / name).read_bytes(), max_decompressed=1 << 30)
    assert [r[0] for r in body.records] == list(range(300))
    assert len(body.frames) >= 3


# ------------------------------------------------------------------------ 2. the journal itself
def _records(n: int, start: int = 0) -> list:
    return [[start + i, "history", 1_700_000_000.0 + i, {"step": start + i, "data": {"x": i / 7}}] for i in range(n)]


def test_torn_journal_at_every_byte(tmp_path):
    """A journal cut anywhere gives the records of its whole entries, never damage."""
    with LogWriter(tmp_path, RUN_ID) as w:
        for rec in _records(3):
            w.append(rec[1], rec[3], when=rec[2])
    segment = tmp_path / LOG_DIR / list_segments(tmp_path / LOG_DIR)[-1][1]
    seg_bytes = segment.read_bytes()
    entries = [journal_entry(b"".join(msgpack.packb(r) for r in _records(k, 3 + sum(range(1, k)))))
               for k in (1, 2, 3, 4)]
    full = b"".join(entries)
    ends = [sum(map(len, entries[:i])) for i in range(len(entries) + 1)]
    journal = tmp_path / LOG_DIR / JOURNAL_NAME
    for cut in range(len(full) + 1):
        journal.write_bytes(full[:cut])
        whole = max(i for i, e in enumerate(ends) if e <= cut)
        expected = 3 + sum(range(1, whole + 1))
        reader = LogReader(tmp_path)
        got = [r.seq for r in reader.records()]
        assert got == list(range(expected)), cut
        assert reader.damage == [] and reader.journal_pending == cut - ends[whole], cut
    # a new writer frames exactly the whole entries of a torn journal
    cut = ends[2] + 5
    journal.write_bytes(full[:cut])
    with LogWriter(tmp_path, RUN_ID) as w:
        assert w.recovered[-1]["records_kept"] == 3 and w.recovered[-1]["journal_bytes_torn"] == 5
    assert segment.read_bytes()[:len(seg_bytes)] == seg_bytes, "recovery rewrote bytes of a segment"
    recs = list(LogReader(tmp_path).records())
    assert [r.seq for r in recs] == list(range(7)) and recs[-1].type == "recovery"  # 3 + 1 + 2, recovery
    assert verify(tmp_path).clean


def test_journal_records_already_in_a_frame_are_not_read_twice(tmp_path):
    """A kill between writing a frame and emptying the journal leaves records in both."""
    with LogWriter(tmp_path, RUN_ID) as w:
        for rec in _records(5):
            w.append(rec[1], rec[3], when=rec[2])
    (tmp_path / LOG_DIR / JOURNAL_NAME).write_bytes(
        journal_entry(b"".join(msgpack.packb(r) for r in _records(5)[2:]))
        + journal_entry(msgpack.packb(_records(1, 5)[0])))
    reader = LogReader(tmp_path)
    assert [r.seq for r in reader.records()] == [0, 1, 2, 3, 4, 5] and reader.damage == []
    with LogWriter(tmp_path, RUN_ID) as w:
        assert w.recovered[-1]["records_kept"] == 1 and w.next_seq == 7


def test_a_live_writers_journal_is_its_own(tmp_path):
    w = LogWriter(tmp_path, RUN_ID, flush_interval=600)
    try:
        for rec in _records(5):
            w.append(rec[1], rec[3], when=rec[2])
        journal = tmp_path / LOG_DIR / JOURNAL_NAME
        wait_for(lambda: journal.stat().st_size > 0, what="the commit to the journal")
        assert list(LogReader(tmp_path).records()) == []  # the frame is the writer's to finish
        w.flush()
        assert [r.seq for r in LogReader(tmp_path).records()] == [0, 1, 2, 3, 4]
        assert journal.stat().st_size == 0, "a finished frame empties the journal"
    finally:
        w.close()


def test_commit_interval_bounds_and_none(tmp_path):
    assert DEFAULT_COMMIT_INTERVAL <= 0.005
    for bad in (-1, 2, "0.1"):
        with pytest.raises(UsageError, match="commit_interval"):
            LogWriter(tmp_path, RUN_ID, commit_interval=bad)
    with LogWriter(tmp_path, RUN_ID, commit_interval=None, flush_interval=600) as w:
        w.append("a", {})
        time.sleep(0.05)
        assert (tmp_path / LOG_DIR / JOURNAL_NAME).stat().st_size == 0, "None: records wait for their frame"


# ------------------------------------------------------------------------------- 3. EVLOG_FSYNC
@pytest.mark.parametrize("value,policy", [("", "off"), ("off", "off"), ("Frame", "frame"), ("write", "write"),
                                          ("0.05", 0.05)])
def test_evlog_fsync_reaches_the_writer(ev, monkeypatch, value, policy):  # noqa: F811
    monkeypatch.setenv("EVLOG_FSYNC", value)
    run = ev.init(project="p")
    assert run._writer.fsync == policy
    for i in range(20):
        run.log({"x": i})
        time.sleep(0.003)
    run.finish()
    assert [r.body["data"]["x"] for r in LogReader(run.dir).records() if r.type == "history"] == list(range(20))


@pytest.mark.parametrize("value", ["always", "0", "-1", "1e9"])
def test_bad_evlog_fsync_is_refused_naming_the_variable(ev, monkeypatch, value):  # noqa: F811
    monkeypatch.setenv("EVLOG_FSYNC", value)
    with pytest.raises(UsageError, match="EVLOG_FSYNC"):
        ev.init(project="p")
    with pytest.raises(UsageError, match="fsync"):
        LogWriter(Path(os.getcwd()) / "w", RUN_ID, fsync=value)
    shutil.rmtree(Path(os.getcwd()) / "w", ignore_errors=True)


def test_readers_probing_the_lock_never_refuse_a_writer(tmp_path):
    """Readers test the writer's flock with a shared lock of their own; a writer opening meanwhile
    must still get the folder."""
    import sys

    with LogWriter(tmp_path, RUN_ID):
        pass
    code = ("import sys, time; from eventlog.logfile.reader import writer_active\n"
            "end = time.monotonic() + 60; seen = set()\n"
            "while time.monotonic() < end and not (sys.stdin.closed):\n"
            "    seen.add(writer_active(sys.argv[1]))\n"
            "    if len(seen) == 2: print('both', flush=True); seen.add(None)\n")
    prober = subprocess.Popen([sys.executable, "-c", code, str(tmp_path / LOG_DIR)], stdout=subprocess.PIPE,
                              env=subprocess_env())
    try:
        for _ in range(100):
            with LogWriter(tmp_path, RUN_ID) as w:
                w.append("a", {})
        assert prober.stdout.readline().strip() == b"both", "the probe did not race with the writers"
    finally:
        prober.kill()
        prober.wait()
