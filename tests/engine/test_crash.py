"""Crash tolerance: torn tails at every byte, random byte flips, SIGKILLed writers, the writer lock."""
from __future__ import annotations

import os
import random
import shutil
import signal
import subprocess
import time
from pathlib import Path

import pytest
from click.testing import CliRunner

from support.engine import (
    RUN_ID,
    as_tuples,
    build_run,
    deadline,
    helper_command,
    standard_sessions,
    subprocess_env,
    wait_for,
)
from eventlog import LogReader, LogWriter, WriterLockedError
from eventlog.cli.main import main as cli_main
from eventlog.logfile.inspect import verify
from eventlog.logfile.segment import LOG_DIR, Frame, list_segments, scan


@pytest.fixture(scope="module")
def small_run(tmp_path_factory):
    """Two sessions (segments) of several frames each, with frame boundaries known."""
    folder = tmp_path_factory.mktemp("small") / "run"
    layout = build_run(folder, standard_sessions(random.Random(5), (3, 5)))
    return layout


# ------------------------------------------------------------------ 2. torn tail at every byte
def test_last_segment_truncated_at_every_offset(small_run, tmp_path):
    layout = small_run.rebase(tmp_path / "run")
    shutil.copytree(small_run.folder, layout.folder)
    last = layout.segments[-1]
    full = last.read_bytes()
    hlen = layout.header_len[last]
    boundaries = [hlen] + [f.end for f in layout.frames_in(last)]
    assert boundaries[-1] == len(full)
    runner = CliRunner()

    for cut in range(len(full) + 1):
        last.write_bytes(full[:cut])
        expected = [r for f in layout.frames if f.path != last or f.end <= cut for r in f.records]
        complete = max([0] + [b for b in boundaries if b <= cut])
        seen = []
        reader = LogReader(layout.folder, on_damage=seen.append)
        got = as_tuples(reader.records())
        assert got == expected, cut
        assert reader.damage == [] and seen == [], cut
        assert reader.pending_bytes == cut - complete, cut
        result = runner.invoke(cli_main, ["verify", str(layout.folder)])
        assert result.exit_code == 0, (cut, result.output)
        assert f"{len(expected)} records, clean" in result.output


@pytest.mark.parametrize("which", ["in the header", "in the first frame", "in a middle frame", "in the last frame"])
def test_reopening_a_torn_tail_cuts_it_and_records_recovery(small_run, tmp_path, which):
    layout = small_run.rebase(tmp_path / "run")
    shutil.copytree(small_run.folder, layout.folder)
    last = layout.segments[-1]
    frames = layout.frames_in(last)
    full = last.read_bytes()
    rng = random.Random(which)
    if which == "in the header":
        cut = rng.randrange(1, layout.header_len[last])
    else:
        f = {"in the first frame": frames[0], "in a middle frame": frames[2], "in the last frame": frames[-1]}[which]
        cut = rng.randrange(f.start + 1, f.end)
    last.write_bytes(full[:cut])
    kept = as_tuples(LogReader(layout.folder).records())
    pending = LogReader(layout.folder)
    list(pending.records())
    assert pending.pending_bytes > 0

    with LogWriter(layout.folder, RUN_ID) as w:
        assert len(w.recovered) == 1
        info = w.recovered[0]
        assert info["bytes"] == pending.pending_bytes
        saved = layout.folder / LOG_DIR / info["saved_as"]
        assert saved.name == f"{last.name}.torn-{info['offset']}"
        assert saved.read_bytes() == full[info["offset"]:cut]
        assert w.next_seq == len(kept) + 1  # the recovery record took one seq
        w.append("after", {"n": 1})

    reader = LogReader(layout.folder)
    got = list(reader.records())
    assert as_tuples(got[:len(kept)]) == kept
    assert [r.seq for r in got] == list(range(len(got)))
    rec = got[len(kept)]
    assert rec.type == "recovery" and rec.body["bytes"] == pending.pending_bytes
    assert rec.body["saved_as"] == saved.name
    assert got[-1].type == "after"
    assert reader.damage == [] and reader.pending_bytes == 0
    assert verify(layout.folder).clean
    if which == "in the header":  # a segment cut to nothing is started again under its number
        assert info["offset"] == 0 and last.read_bytes()[:4] == b"\x5e\x2a\x4d\x18"
    else:
        assert last.stat().st_size == info["offset"]


# ---------------------------------------------------------------------------- 3. byte flips
def _frame_of(layout, path: Path, offset: int):
    for f in layout.frames_in(path):
        if f.start <= offset < f.end:
            return f
    return None  # the header


def _check_flipped(layout, path: Path, flips: list) -> None:
    """Read a run with bytes of `path` flipped at `flips`, and check the damage contract."""
    original = {r[0]: r for r in layout.records}
    touched = {id(_frame_of(layout, path, o)) for o in flips}
    must_have = [r for f in layout.frames if f.path != path or id(f) not in touched for r in f.records]
    reader = LogReader(layout.folder)
    got = as_tuples(reader.records())  # must not raise
    seqs = [r[0] for r in got]
    assert seqs == sorted(set(seqs)), "records out of order or repeated"
    for r in got:
        assert original[r[0]] == r, "a damaged record was delivered"
    missing = [r for r in must_have if r not in got]
    assert not missing, f"lost records of untouched frames: {[r[0] for r in missing]}"
    size = path.stat().st_size
    for d in reader.damage:
        assert Path(d.file) == path
        assert 0 <= d.offset and d.length > 0 and d.offset + d.length <= size
    lost_any = len(got) < len(layout.records)
    if lost_any:
        assert reader.damage or reader.pending_bytes, "records lost without any damage reported"
    # every flipped frame whose records were dropped is covered by a damage (or torn-tail) range
    ranges = [(d.offset, d.offset + d.length) for d in reader.damage]
    if reader.pending_bytes:
        ranges.append((size - reader.pending_bytes, size))
    for o in flips:
        f = _frame_of(layout, path, o)
        if f is not None and any(r not in got for r in f.records):
            assert any(a < f.end and f.start < b for a, b in ranges), (o, ranges)


def test_every_single_byte_flip(small_run, tmp_path):
    """Flip one random bit of every byte of both segments in turn."""
    layout = small_run.rebase(tmp_path / "run")
    shutil.copytree(small_run.folder, layout.folder)
    rng = random.Random(11)
    cases = 0
    for path in layout.segments:
        full = path.read_bytes()
        for offset in range(len(full)):
            data = bytearray(full)
            data[offset] ^= 1 << rng.randrange(8)
            path.write_bytes(bytes(data))
            _check_flipped(layout, path, [offset])
            cases += 1
        path.write_bytes(full)
    assert cases > 400


def test_random_multi_byte_flips(small_run, tmp_path):
    layout = small_run.rebase(tmp_path / "run")
    shutil.copytree(small_run.folder, layout.folder)
    rng = random.Random(12)
    for case in range(300):
        path = rng.choice(layout.segments)
        full = path.read_bytes()
        data = bytearray(full)
        flips = [rng.randrange(len(data)) for _ in range(rng.randint(1, 4))]
        for o in flips:
            data[o] = rng.randrange(256) if rng.random() < 0.3 else data[o] ^ (1 << rng.randrange(8))
        path.write_bytes(bytes(data))
        try:
            _check_flipped(layout, path, flips)
        finally:
            path.write_bytes(full)


def test_flipped_run_still_verifies_and_reopens(small_run, tmp_path):
    """After damage in a middle frame, verify reports it (exit 1) and a writer continues the log."""
    layout = small_run.rebase(tmp_path / "run")
    shutil.copytree(small_run.folder, layout.folder)
    f = layout.frames_in(layout.segments[0])[1]
    data = bytearray(f.path.read_bytes())
    data[(f.start + f.end) // 2] ^= 0x10
    f.path.write_bytes(bytes(data))
    result = CliRunner().invoke(cli_main, ["verify", str(layout.folder)])
    assert result.exit_code == 1
    assert str(f.path) in result.output and f"offset {f.start}" in result.output
    with LogWriter(layout.folder, RUN_ID) as w:
        assert w.next_seq == len(layout.records)
        assert not w.recovered


# ---------------------------------------------------------------- 4. SIGKILLed writer process
FLUSH_INTERVAL = 0.2
# The guarantee is "flushed at the latest flush_interval after the oldest record"; this slack
# only absorbs scheduling jitter of a loaded machine, it is far below the size-based seal time.
SLACK = 0.3


def _acks(path: Path):
    ready, acks = None, []
    for line in path.read_text().splitlines():
        parts = line.split()
        if parts and parts[0] == "ready":
            ready = int(parts[1])
        elif len(parts) == 2:
            acks.append((int(parts[0]), float(parts[1])))
    return ready, acks


def _framed_records(folder: Path) -> int:
    return sum(len(item.records) for _, name in list_segments(folder / LOG_DIR)
               for item in scan((folder / LOG_DIR / name).read_bytes()) if isinstance(item, Frame))


def test_sigkilled_writer_loses_only_the_last_flush_interval(tmp_path):
    folder = tmp_path / "run"
    rng = random.Random(99)
    prev = []
    torn_before = 0
    sessions_with_records = 0
    for session in range(10):
        ack_file = tmp_path / f"ack-{session}"
        proc = subprocess.Popen(
            helper_command("writer_proc.py", "append", folder, RUN_ID, ack_file, session, FLUSH_INTERVAL),
            env=subprocess_env(),
        )
        try:
            wait_for(lambda: ack_file.exists() and _acks(ack_file)[0] is not None or proc.poll() is not None,
                     what="the writer to open the log")
            assert proc.poll() is None, "writer process died"
            time.sleep(rng.uniform(0.0, 1.0))
            t_kill = time.monotonic()
        finally:
            proc.send_signal(signal.SIGKILL)
            proc.wait()
        assert proc.returncode == -signal.SIGKILL
        ready, acks = _acks(ack_file)
        # the session continued seq after the previous one (plus a recovery record for a torn tail)
        assert ready == len(prev) + (1 if torn_before else 0)

        reader = LogReader(folder)
        recs = list(reader.records())
        assert reader.damage == []
        assert [r.seq for r in recs] == list(range(len(recs))), "seq is not a contiguous prefix"
        assert recs[:len(prev)] == prev, "records read before were lost"
        required = [seq for seq, t in acks if t < t_kill - FLUSH_INTERVAL - SLACK]
        if required:
            assert len(recs) > max(required), (
                f"session {session}: record {max(required)} was appended > {FLUSH_INTERVAL + SLACK}s "
                f"before the kill but only {len(recs)} records are readable")
        mine = [r for r in recs[len(prev):] if r.type == "history"]
        assert [r.body["step"] for r in mine] == list(range(len(mine)))
        assert all(r.body["session"] == session for r in mine)
        if torn_before and len(recs) > len(prev):
            assert recs[len(prev)].type == "recovery"
        sessions_with_records += bool(mine)
        prev = recs
        # records read from the killed writer's journal (not in a frame yet) are framed by the next
        # writer, with a recovery record
        torn_before = reader.pending_bytes or len(recs) > _framed_records(folder)

    assert sessions_with_records >= 5  # the random delays must exercise real loss windows

    with LogWriter(folder, RUN_ID) as w:
        assert bool(w.recovered) == bool(torn_before)
        assert w.next_seq == len(prev) + (1 if torn_before else 0)
        w.append("exit", {"exit_code": 0})
    recs = list(LogReader(folder).records())
    assert recs[:len(prev)] == prev and recs[-1].type == "exit"
    assert [r.seq for r in recs] == list(range(len(recs)))
    report = verify(folder)
    assert report.clean and report.pending_bytes == 0


# --------------------------------------------------------------------- 5. one writer per folder
def test_second_writer_is_refused_naming_the_holder(tmp_path):
    folder = tmp_path / "run"
    with LogWriter(folder, RUN_ID) as w:
        w.append("first", {})
    proc = subprocess.Popen(helper_command("writer_proc.py", "hold", folder, RUN_ID),
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, env=subprocess_env(), text=True)
    try:
        with deadline(30):
            line = proc.stdout.readline()
        assert line.split() == ["locked", str(proc.pid)]
        for _ in range(2):  # refusing leaves nothing behind that blocks a later attempt
            with pytest.raises(WriterLockedError, match=rf"\bpid {proc.pid}\b"):
                LogWriter(folder, RUN_ID)
        proc.stdin.close()
        assert proc.wait(timeout=30) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    with LogWriter(folder, RUN_ID) as w:
        assert w.next_seq == 2
        w.append("third", {})
    assert [r.type for r in LogReader(folder).records()] == ["first", "held", "third"]


def test_second_writer_in_the_same_process_is_refused(tmp_path):
    w = LogWriter(tmp_path, RUN_ID)
    try:
        with pytest.raises(WriterLockedError, match=rf"\bpid {os.getpid()}\b"):
            LogWriter(tmp_path, RUN_ID)
    finally:
        w.close()
    LogWriter(tmp_path, RUN_ID).close()
    assert len(list_segments(tmp_path / LOG_DIR)) == 2
