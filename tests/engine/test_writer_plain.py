"""LogWriter.append_plain (the run API's hot path, issue 14): records encoded by msgspec must come
out exactly like append_record's (msgpack's Packer: the same bytes), in seq order with every other
record, framed under the size bound, and a body the encoder refuses must be refused whole, losing
no other record."""
from __future__ import annotations

import math
import random

import msgpack
import msgspec
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import eventlog
from eventlog import LogReader, LogWriter
from eventlog.errors import UnpackableValueError
from eventlog.logfile.segment import LOG_DIR, Frame, list_segments, scan


def read_back(folder):
    reader = LogReader(folder)
    recs = list(reader.records())
    assert not reader.damage, reader.damage
    return recs


def frames_of(folder):
    out = []
    for _, name in list_segments(folder / LOG_DIR):
        out += [item for item in scan((folder / LOG_DIR / name).read_bytes()) if isinstance(item, Frame)]
    return out


def test_plain_and_other_records_interleave_in_seq_order(tmp_path):
    rng = random.Random(7)
    w = LogWriter(tmp_path, "plain1", frame_bytes=2048)
    expected = []
    for i in range(3000):
        kind = rng.random()
        if kind < 0.7:
            body = {"step": i, "data": {"loss": rng.random(), "ok": rng.random() < 0.5, "none": None}}
            seq = w.append_plain("history", body)
        elif kind < 0.9:
            body = {"update": {"lr": rng.random(), "name": "x" * rng.randrange(50)}}
            seq = w.append_record("config", body)
        else:
            body = {"message": "m", "keys": ["a"]}
            seq = w.append("warning", body, when=1_700_000_000.5)
        expected.append((seq, body))
        if rng.random() < 0.01:
            w.flush()
    w.close()
    recs = read_back(tmp_path)
    assert [r.seq for r in recs if r.type != "recovery"] == [s for s, _ in expected] == list(range(3000))
    assert [r.body for r in recs] == [b for _, b in expected]


plain_values = st.one_of(
    st.floats(allow_nan=True, allow_infinity=True), st.booleans(), st.none(),
    st.integers(-(2 ** 63), 2 ** 64 - 1), st.text(max_size=40))
plain_keys = st.text(alphabet=st.characters(blacklist_categories=("Cs",)), min_size=1, max_size=300)


@settings(max_examples=300, deadline=None)
@given(seq=st.integers(0, 2 ** 63 - 1), when=st.floats(0, 4e9), step=st.integers(0, 2 ** 64 - 1),
       data=st.dictionaries(plain_keys, plain_values, max_size=40))
def test_the_plain_encoder_writes_the_bytes_of_msgpack_s_packer(seq, when, step, data):
    record = [seq, "history", when, {"step": step, "data": data}]
    assert msgspec.msgpack.Encoder().encode(record) == msgpack.packb(record, use_bin_type=True)


def test_a_body_the_encoder_refuses_is_refused_whole(tmp_path):
    class Sub(float):
        pass

    w = LogWriter(tmp_path, "plain4")
    w.append_plain("history", {"step": 0, "data": {"x": 1.0}})
    for bad in (Sub(1.0), 2 ** 64, "\udc80", object()):
        with pytest.raises(UnpackableValueError):
            w.append_plain("history", {"step": 1, "data": {"x": 2.0, "bad": bad}})
    w.append_plain("history", {"step": 1, "data": {"x": 3.0}})
    w.close()
    recs = read_back(tmp_path)
    assert [(r.seq, r.body["data"]) for r in recs] == [(0, {"x": 1.0}), (1, {"x": 3.0})]


def test_plain_records_are_framed_under_the_size_bound(tmp_path):
    w = LogWriter(tmp_path, "plain2", frame_bytes=4096, flush_interval=60)
    body = {"step": 0, "data": {f"m{k}": k * 0.5 for k in range(10)}}
    for i in range(5000):
        body["step"] = i
        w.append_plain("history", dict(body))
    w.close()
    frames = frames_of(tmp_path)
    sizes = [sum(len(msgpack.packb(list(r), use_bin_type=True)) for r in f.records) for f in frames]
    one = max(len(msgpack.packb(list(r), use_bin_type=True)) for f in frames for r in f.records)
    assert len(frames) > 50, "the size bound must finish frames while appending"
    assert all(4096 <= size < 4096 + one for size in sizes[:-1]), sizes  # finished by the record that reaches it
    assert sum(len(f.records) for f in frames) == 5000


def test_plain_records_reach_the_journal_before_any_frame(tmp_path):
    w = LogWriter(tmp_path, "plain3", flush_interval=60)
    w.append_plain("history", {"step": 0, "data": {"x": 1.0}})
    journal = tmp_path / LOG_DIR / "journal"
    deadline = 200
    while deadline and journal.stat().st_size == 0:
        import time

        time.sleep(0.01)
        deadline -= 1
    assert journal.stat().st_size > 0, "a plain record waits in memory instead of being written"
    w.close()
    assert [r.body["data"] for r in read_back(tmp_path)] == [{"x": 1.0}]


@pytest.fixture()
def run(tmp_path, monkeypatch):
    for k in ("EVLOG_SINKS", "EVLOG_CONSOLE", "EVLOG_SYSTEM_INTERVAL"):
        monkeypatch.delenv(k, raising=False)
    monkeypatch.setenv("EVLOG_SINKS", "none")
    monkeypatch.setenv("EVLOG_SILENT", "true")
    r = eventlog.init(dir=tmp_path, project="p", mode="offline")
    yield r
    if not r.finished:
        r.finish()


def test_a_key_that_cannot_be_packed_never_takes_the_fast_path(run):
    bad = "\udc80"
    run.log({"a": 1.0}, step=0)
    run.log({"a": 2.0}, step=1)
    for i in range(3):  # dropped with a warning every time, before or after its key was first seen
        run.log({bad: 1.0}, step=2 + 2 * i)
        with pytest.warns(eventlog.EvlogWarning, match="row of step"):
            run.log({"a": 3.0 + i}, step=3 + 2 * i)  # commits the bad row: dropped, this one kept
    run.log({"a": 9.0}, step=10)
    run.finish()
    recs = read_back(run.folder)
    rows = [(r.body["step"], r.body["data"]) for r in recs if r.type == "history"]
    assert rows == [(0, {"a": 1.0}), (1, {"a": 2.0}), (3, {"a": 3.0}), (5, {"a": 4.0}), (7, {"a": 5.0}),
                    (10, {"a": 9.0})]
    assert len([r for r in recs if r.type == "warning" and "row of step" in r.body["message"]]) == 3
    assert run.summary["a"] == 9.0


def test_rows_mixing_plain_and_other_values_keep_every_value(run):
    run.log({"a": 1.0}, step=1)
    run.log({"s": "text", "n": 3}, step=1)  # merged into the pending plain row: no longer plain
    run.log({"a": 2.0, "b": float("nan")}, step=2)
    run.log({"t": True}, step=3, commit=False)
    run.log({"big": 2 ** 63}, step=3)
    run.log({"z": None}, step=4)
    run.finish()
    rows = {r.body["step"]: r.body["data"] for r in read_back(run.folder) if r.type == "history"}
    assert rows[1] == {"a": 1.0, "s": "text", "n": 3}
    assert rows[2]["a"] == 2.0 and math.isnan(rows[2]["b"])
    assert rows[3] == {"t": True, "big": 2 ** 63}
    assert rows[4] == {"z": None}
    assert run.summary["a"] == 2.0 and run.summary["big"] == 2 ** 63
