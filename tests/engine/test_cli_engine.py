"""`evlog tail` and `evlog verify`: click CliRunner for the behaviours, one real process per command."""
from __future__ import annotations

import json
import math
import random
import shutil
import struct
import subprocess
import threading
import time
import zlib
from pathlib import Path

import pytest
from click.testing import CliRunner

from support.engine import (
    RUN_ID,
    T0,
    build_run,
    deadline,
    evlog_command,
    history_body,
    standard_sessions,
    subprocess_env,
)
from eventlog import FORMAT_VERSION, LogWriter
from eventlog.cli.main import main as cli_main
from eventlog.logfile.segment import encode_header


def invoke(*args: str):
    with deadline(60):
        return CliRunner().invoke(cli_main, list(args), catch_exceptions=False)


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    """A finished run: config, history, a note, and an exit record, in two segments."""
    folder = tmp_path_factory.mktemp("cli") / "run"
    rng = random.Random(3)
    sessions = standard_sessions(rng, (2, 2))
    sessions[-1].append([("history", {"step": 100, "data": {"loss": math.nan, "acc": 0.5, "img": b"\x01"}}),
                         ("meta", {"name": "snowy-owl-10"}),
                         ("exit", {"exit_code": 0, "runtime": 1.5, "interrupted": False, "error": None})])
    return build_run(folder, sessions)


def _damaged_copy(run, dst: Path):
    """A copy of `run` with the middle of its second frame smashed; returns (layout, lost frame)."""
    shutil.copytree(run.folder, dst)
    layout = run.rebase(dst)
    f = layout.frames[1]
    data = bytearray(f.path.read_bytes())
    data[(f.start + f.end) // 2] ^= 0xFF
    f.path.write_bytes(bytes(data))
    return layout, f


# --------------------------------------------------------------------------------------- tail
def test_tail_prints_every_record(run):
    result = invoke("tail", str(run.folder))
    assert result.exit_code == 0
    lines = result.stdout.splitlines()
    assert len(lines) == len(run.records)
    for line, (seq, typ, _, body) in zip(lines, run.records):
        fields = line.split()
        assert fields[0] == str(seq) and fields[2] == typ
        if typ == "history":
            assert f"step {body['step']}:" in line
    assert "snowy-owl-10" in lines[-2] and "exit_code=0" in lines[-1]
    assert result.stderr == ""


def test_tail_json_lines(run):
    result = invoke("tail", "--json", str(run.folder))
    assert result.exit_code == 0
    objs = [json.loads(line) for line in result.stdout.splitlines()]
    assert [(o["seq"], o["type"]) for o in objs] == [(r[0], r[1]) for r in run.records]
    for o, (_, typ, when, body) in zip(objs, run.records):
        assert o["time"] == when
        if typ == "history":
            assert o["step"] == body["step"]
            assert set(o["data"]) == set(body["data"])
    last_history = [o for o in objs if o["type"] == "history"][-1]
    assert math.isnan(last_history["data"]["loss"]) and last_history["data"]["acc"] == 0.5
    assert last_history["data"]["img"] == {"$bytes": "AQ=="}


def test_tail_type_filter(run):
    result = invoke("tail", "--json", "--type", "history", str(run.folder))
    types = {json.loads(line)["type"] for line in result.stdout.splitlines()}
    assert types == {"history"}
    assert len(result.stdout.splitlines()) == sum(r[1] == "history" for r in run.records)
    two = invoke("tail", "--json", "--type", "config", "--type", "exit", str(run.folder))
    assert [json.loads(line)["type"] for line in two.stdout.splitlines()] == ["config", "exit"]
    none = invoke("tail", "--type", "nosuchtype", str(run.folder))  # refused (issue 16): not an empty success
    assert none.exit_code == 2 and none.stdout == ""


def test_tail_reports_damage_on_stderr_and_keeps_going(run, tmp_path):
    layout, lost = _damaged_copy(run, tmp_path / "run")
    result = invoke("tail", "--json", str(layout.folder))
    assert result.exit_code == 0
    seqs = [json.loads(line)["seq"] for line in result.stdout.splitlines()]
    assert seqs == [r[0] for r in layout.records if r not in lost.records]
    assert max(seqs) > lost.records[-1][0]  # output went on past the damage
    warnings = [line for line in result.stderr.splitlines() if "warning" in line]
    assert len(warnings) == 1
    assert str(lost.path) in warnings[0] and f"offset {lost.start}" in warnings[0]


def test_tail_says_when_the_tail_is_not_yet_readable(run, tmp_path):
    shutil.copytree(run.folder, tmp_path / "run")
    layout = run.rebase(tmp_path / "run")
    last = layout.frames[-1]
    with open(last.path, "r+b") as f:
        f.truncate(last.end - 3)
    result = invoke("tail", str(layout.folder))
    assert result.exit_code == 0
    assert len(result.stdout.splitlines()) == len(layout.records) - len(last.records)
    assert f"{last.end - 3 - last.start} bytes" in result.stderr and "warning" not in result.stderr


def _append_later(folder: Path, first_batch: threading.Event, errors: list) -> None:
    try:
        rng = random.Random(1)
        with LogWriter(folder, RUN_ID, flush_interval=0.05) as w:
            for step in range(3):
                w.append("history", history_body(rng, step))
            w.flush()
            first_batch.set()
            time.sleep(0.3)  # let tail catch up and wait; correctness does not depend on it
            for step in range(3, 6):
                w.append("history", history_body(rng, step))
                time.sleep(0.01)
            w.append("exit", {"exit_code": 0})
            w.append("after-exit", {})  # follow stops at the exit record
    except BaseException as exc:  # pragma: no cover - surfaced by the test
        errors.append(exc)


def test_tail_follow_shows_a_concurrent_writer_and_stops_after_exit(tmp_path):
    folder = tmp_path / "run"
    first_batch, errors = threading.Event(), []
    t = threading.Thread(target=_append_later, args=(folder, first_batch, errors))
    t.start()
    assert first_batch.wait(30)
    try:
        result = invoke("tail", "--follow", "--json", str(folder))
    finally:
        t.join()
    assert not errors
    objs = [json.loads(line) for line in result.stdout.splitlines()]
    assert [o["type"] for o in objs] == ["history"] * 6 + ["exit"]
    assert [o["step"] for o in objs[:6]] == list(range(6))
    assert result.exit_code == 0


# ------------------------------------------------------------------------------------- verify
def test_verify_clean_exits_0(run):
    result = invoke("verify", str(run.folder))
    assert result.exit_code == 0
    assert result.stdout.startswith("ok ")
    assert f"{len(run.records)} records, clean" in result.stdout


def test_verify_damage_exits_1_with_a_report(run, tmp_path):
    layout, lost = _damaged_copy(run, tmp_path / "run")
    result = invoke("verify", str(run.folder), str(layout.folder))
    assert result.exit_code == 1
    out = result.stdout
    assert f"ok {run.folder}" in out
    assert f"DAMAGED {layout.folder}: {len(layout.records) - len(lost.records)} records recovered" in out
    assert (f"damage: {lost.path} offset {lost.start}: {lost.end - lost.start} bytes lost") in out
    assert f"missing: {len(lost.records)} records from seq {lost.records[0][0]}" in out


def test_verify_torn_tail_is_not_damage(run, tmp_path):
    shutil.copytree(run.folder, tmp_path / "run")
    last = run.rebase(tmp_path / "run").frames[-1]
    with open(last.path, "r+b") as f:
        f.truncate(last.start + 5)
    result = invoke("verify", str(tmp_path / "run"))
    assert result.exit_code == 0
    assert "torn tail: 5 bytes" in result.stdout


def _not_run_folders(tmp_path: Path):
    plain = tmp_path / "plain.txt"
    plain.write_text("hello")
    empty = tmp_path / "empty"
    empty.mkdir()
    return {"nonexistent": tmp_path / "nope", "plain file": plain, "no log folder": empty}


@pytest.mark.parametrize("command", ["tail", "verify"])
@pytest.mark.parametrize("kind", ["nonexistent", "plain file", "no log folder"])
def test_not_a_run_folder_is_one_line_and_exit_2(tmp_path, run, command, kind):
    path = _not_run_folders(tmp_path)[kind]
    args = [command, str(path)] if command == "tail" else [command, str(run.folder), str(path)]
    result = invoke(*args)
    assert result.exit_code == 2
    assert result.stdout == ""  # verify checks every path before reporting any
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and str(path) in lines[0] and lines[0].startswith("evlog: ")
    assert "Traceback" not in result.output


def test_verify_without_paths_is_a_usage_error():
    result = invoke("verify")
    assert result.exit_code == 2


@pytest.mark.parametrize("command", ["tail", "verify"])
def test_unknown_format_version_is_one_clear_line(run, tmp_path, command):
    shutil.copytree(run.folder, tmp_path / "run")
    seg = run.rebase(tmp_path / "run").segments[0]
    data = seg.read_bytes()
    hlen = run.header_len[run.segments[0]]
    newer = bytearray(encode_header(0, 0, RUN_ID))
    newer[16] = FORMAT_VERSION + 1  # the version field; then fix the crc so the header is valid
    struct.pack_into("<I", newer, len(newer) - 4, zlib.crc32(bytes(newer[8:-4])))
    seg.write_bytes(bytes(newer) + data[hlen:])
    result = invoke(command, str(tmp_path / "run"))
    assert result.exit_code == 2
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and f"version {FORMAT_VERSION + 1}" in lines[0] and "upgrade" in lines[0]
    assert "Traceback" not in result.output


# ------------------------------------------------------------------------- real subprocesses
def test_real_process_tail_follow(tmp_path):
    """`evlog tail --follow` as a process: records appended after it printed the first ones
    appear, and it exits by itself after the exit record."""
    folder = tmp_path / "run"
    w = LogWriter(folder, RUN_ID, flush_interval=0.05)
    proc = None
    try:
        w.append("history", {"step": 0, "data": {"x": 1.0}}, when=T0)
        w.flush()
        proc = subprocess.Popen(evlog_command() + ["tail", "--follow", "--json", str(folder)],
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=subprocess_env())
        with deadline(60):
            first = json.loads(proc.stdout.readline())
            assert (first["seq"], first["step"]) == (0, 0)
            # only now, with tail already running, write the rest
            w.append("history", {"step": 1, "data": {"x": 2.0}})
            w.append("exit", {"exit_code": 0})
            w.close()
            rest = [json.loads(line) for line in proc.stdout]
            assert proc.wait() == 0
        assert [(o["seq"], o["type"]) for o in rest] == [(1, "history"), (2, "exit")]
        assert proc.stderr.read() == ""
    finally:
        w.close()
        if proc is not None and proc.poll() is None:
            proc.kill()
            proc.wait()


def test_real_process_verify(run, tmp_path):
    layout, lost = _damaged_copy(run, tmp_path / "run")
    cmd = evlog_command() + ["verify"]
    clean = subprocess.run(cmd + [str(run.folder)], capture_output=True, text=True, timeout=60)
    assert clean.returncode == 0 and clean.stdout.startswith("ok ")
    damaged = subprocess.run(cmd + [str(layout.folder)], capture_output=True, text=True, timeout=60)
    assert damaged.returncode == 1 and f"offset {lost.start}" in damaged.stdout
    usage = subprocess.run(cmd + [str(tmp_path / "nope")], capture_output=True, text=True, timeout=60)
    assert usage.returncode == 2 and usage.stdout == ""
    assert usage.stderr.count("\n") == 1 and "Traceback" not in usage.stderr
