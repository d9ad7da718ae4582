"""The segment format and the writer/reader contract: round trips, interop with plain zstd+msgpack,
mid-segment damage, format versions, bad arguments, fork safety."""
from __future__ import annotations

import io
import math
import os
import random
import struct
import tempfile
import time
import zlib
from pathlib import Path

import msgpack
import pytest
import zstandard
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from support.engine import RUN_ID, T0, as_tuples, build_run, standard_sessions
from eventlog import (
    ArgumentTypeError,
    ForkedWriterError,
    FormatVersionError,
    LogReader,
    LogWriter,
    UnpackableValueError,
    UsageError,
    WriterClosedError,
)
from eventlog.logfile.inspect import verify
from eventlog.logfile.segment import FORMAT_VERSION, LOG_DIR, list_segments

SKIPPABLE_MAGIC = 0x184D2A5E


# ------------------------------------------------------------------------------ comparing values
def same(a, b) -> bool:
    """Strict equality after a msgpack round trip: same types (bool is not int, bytes is not str),
    floats bit-for-bit (so NaN equals NaN and -0.0 differs from 0.0)."""
    if type(a) is not type(b):
        return False
    if isinstance(a, float):
        return struct.pack("<d", a) == struct.pack("<d", b)
    if isinstance(a, dict):
        return list(a) == list(b) and all(same(a[k], b[k]) for k in a)
    if isinstance(a, list):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b))
    return a == b


def read_header(data: bytes) -> dict:
    """Parse a segment's header frame by hand, following spec/format.md 2.1 only."""
    magic, size = struct.unpack_from("<II", data, 0)
    assert magic == SKIPPABLE_MAGIC
    payload = data[8:8 + size]
    evmagic, version, flags, segment, first_seq, idlen = struct.unpack_from("<8sHHIQB", payload, 0)
    assert evmagic == b"EVLOGSEG"
    assert size == 29 + idlen  # spec 2.1 says 27 + L, but its own offset table gives 29 + L
    run_id = payload[25:25 + idlen].decode("ascii")
    (crc,) = struct.unpack_from("<I", payload, 25 + idlen)
    assert crc == zlib.crc32(payload[:25 + idlen])
    return {"version": version, "flags": flags, "segment": segment, "first_seq": first_seq,
            "run_id": run_id, "length": 8 + size}


def hand_decode(path: Path):
    """(header, records) of a segment, with plain zstandard + msgpack and no evlog code."""
    data = Path(path).read_bytes()
    head = read_header(data)
    # skip the header by hand, then read every ordinary frame across frame boundaries
    content = zstandard.ZstdDecompressor().stream_reader(
        io.BytesIO(data[head["length"]:]), read_across_frames=True).read()
    unpacker = msgpack.Unpacker(raw=False)
    unpacker.feed(content)
    return head, [tuple(r) for r in unpacker]


def craft_header(version: int, segment: int, first_seq: int, run_id: str, good_crc: bool = True) -> bytes:
    rid = run_id.encode("ascii")
    body = struct.pack("<8sHHIQB", b"EVLOGSEG", version, 0, segment, first_seq, len(rid)) + rid
    crc = zlib.crc32(body) ^ (0 if good_crc else 1)
    body += struct.pack("<I", crc)
    return struct.pack("<II", SKIPPABLE_MAGIC, len(body)) + body


# ----------------------------------------------------------------------------- 1. round trip
keys = st.text(max_size=8)
scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2 ** 63), max_value=2 ** 64 - 1)
    | st.floats()  # NaN and infinities included
    | st.text(max_size=40)
    | st.binary(max_size=40)
)
values = st.recursive(
    scalars,
    lambda children: st.lists(children, max_size=4) | st.dictionaries(keys, children, max_size=4),
    max_leaves=12,
)
bodies = st.dictionaries(keys, values, max_size=5)
record_types = st.text(min_size=1, max_size=12)

# Incompressible records, each flushed into a frame of its own: at least two frames of > 200 bytes,
# so a segment bound of at most 400 bytes must rotate at least once.
_filler_rng = random.Random(7)
FILLER = [("filler", {"blob": bytes(_filler_rng.getrandbits(8) for _ in range(220))}, True) for _ in range(3)]


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    items=st.lists(st.tuples(record_types, bodies, st.booleans()), min_size=1, max_size=25),
    frame_bytes=st.integers(min_value=1, max_value=256),
    segment_bytes=st.integers(min_value=1, max_value=400),
)
def test_round_trip_arbitrary_payloads(items, frame_bytes, segment_bytes):
    with tempfile.TemporaryDirectory() as d:
        expected = []
        before = time.time()
        with LogWriter(d, RUN_ID, frame_bytes=frame_bytes, segment_bytes=segment_bytes) as w:
            for typ, body, flush in list(items) + FILLER:
                seq = w.append(typ, body)
                expected.append((seq, typ, body))
                if flush:
                    w.flush()
        after = time.time()

        reader = LogReader(d)
        got = list(reader.records())
        assert reader.damage == [] and reader.pending_bytes == 0
        assert [r.seq for r in got] == list(range(len(expected)))
        assert [seq for seq, _, _ in expected] == list(range(len(expected)))
        for rec, (seq, typ, body) in zip(got, expected):
            assert rec.type == typ
            assert same(rec.body, body), (rec.body, body)
            assert before <= rec.time <= after

        segments = list_segments(Path(d) / LOG_DIR)
        assert len(segments) >= 2, "tiny segment_bytes must rotate"
        # every header names its own segment number and the seq of its first record
        next_seq = 0
        for number, name in segments:
            head, recs = hand_decode(Path(d) / LOG_DIR / name)
            assert head["segment"] == number and head["run_id"] == RUN_ID
            assert head["version"] == FORMAT_VERSION
            assert head["first_seq"] == next_seq
            assert [r[0] for r in recs] == list(range(next_seq, next_seq + len(recs)))
            next_seq += len(recs)
        assert next_seq == len(expected)
        assert verify(d).clean


def test_round_trip_special_values(tmp_path):
    body = {
        "nan": math.nan, "inf": math.inf, "-inf": -math.inf, "negzero": -0.0,
        "u64": 2 ** 64 - 1, "i64": -(2 ** 63), "bytes": b"\x00\xff", "none": None, "t": True, "f": False,
        "ユニコード": "✓ ünïcødé 🚀", "nested": {"a": [1, [2, {"b": []}], {}]},
    }
    with LogWriter(tmp_path, RUN_ID) as w:
        w.append("x", body)
    (rec,) = LogReader(tmp_path).records()
    assert same(rec.body, body)


def test_reopen_continues_seq_in_a_new_segment(tmp_path, rng):
    layout = build_run(tmp_path, standard_sessions(rng, (2, 3, 1)))
    assert len(layout.segments) == 3
    assert as_tuples(LogReader(tmp_path).records()) == layout.records
    for path in layout.segments:
        first = [f.records[0][0] for f in layout.frames_in(path)][0]
        assert read_header(path.read_bytes())["first_seq"] == first


def test_cursor_resumes_where_reading_stopped(tmp_path, rng):
    layout = build_run(tmp_path, standard_sessions(rng, (3, 3)))
    reader = LogReader(tmp_path)
    it = reader.records()
    head = [next(it) for _ in range(5)]
    cursor = reader.cursor
    assert cursor.seq == 5
    rest = list(LogReader(tmp_path).records(cursor))
    assert as_tuples(head + rest) == layout.records


# ---------------------------------------------------------------------------- 6. interop
def test_plain_zstd_and_msgpack_read_the_same_records(tmp_path, rng):
    layout = build_run(tmp_path, standard_sessions(rng, (4, 3)))
    by_hand = []
    for path in layout.segments:
        head, recs = hand_decode(path)
        assert head["run_id"] == RUN_ID and head["version"] == 1
        assert head["first_seq"] == len(by_hand) == recs[0][0]
        by_hand += recs
        # the whole file is a valid zstd stream too (zstd itself skips the skippable header)
        data = path.read_bytes()
        whole = zstandard.ZstdDecompressor().stream_reader(io.BytesIO(data), read_across_frames=True).read()
        assert list(msgpack.Unpacker(io.BytesIO(whole), raw=False)) == [list(r) for r in recs]
    assert by_hand == layout.records
    assert as_tuples(LogReader(tmp_path).records()) == by_hand


def test_every_record_frame_has_a_content_checksum(tmp_path, rng):
    layout = build_run(tmp_path, standard_sessions(rng, (3,)))
    for f in layout.frames:
        data = f.path.read_bytes()[f.start:f.end]
        params = zstandard.get_frame_parameters(data)
        assert params.has_checksum
        assert data[:4] == b"\x28\xb5\x2f\xfd"


# ------------------------------------------------------------------------ 7. mid-segment damage
def _smash(path: Path, start: int, end: int) -> None:
    """Overwrite the middle of the byte range [start, end) of a file."""
    data = bytearray(path.read_bytes())
    mid = (start + end) // 2
    for i in range(mid - 2, mid + 2):
        data[i] ^= 0xA5
    path.write_bytes(bytes(data))


@pytest.mark.parametrize("which", ["last segment", "non-last segment"])
def test_damaged_frame_is_skipped_and_reading_resumes_at_the_next_frame(tmp_path, rng, which):
    layout = build_run(tmp_path / "run", standard_sessions(rng, (5, 5)))
    seg = layout.segments[1 if which == "last segment" else 0]
    frames = layout.frames_in(seg)
    bad = frames[2]
    _smash(seg, bad.start, bad.end)

    seen = []
    reader = LogReader(tmp_path / "run", on_damage=seen.append)
    got = as_tuples(reader.records())
    assert got == [r for r in layout.records if r not in bad.records]
    assert len(reader.damage) == 1 and seen == reader.damage
    (d,) = reader.damage
    assert Path(d.file) == seg and d.offset == bad.start and d.length == bad.end - bad.start
    assert d.reason
    assert reader.pending_bytes == 0

    report = verify(tmp_path / "run")
    assert not report.clean
    assert report.records == len(got)
    assert report.seq_gaps == [(bad.records[0][0], len(bad.records))]
    assert report.bytes_lost == bad.end - bad.start


def test_torn_frame_at_the_end_of_a_non_last_segment_is_damage(tmp_path, rng):
    layout = build_run(tmp_path, standard_sessions(rng, (4, 2)))
    seg0 = layout.segments[0]
    last = layout.frames_in(seg0)[-1]
    with open(seg0, "r+b") as f:
        f.truncate(last.start + 7)
    reader = LogReader(tmp_path)
    got = as_tuples(reader.records())
    assert got == [r for r in layout.records if r not in last.records]
    assert [(Path(d.file), d.offset, d.length) for d in reader.damage] == [(seg0, last.start, 7)]
    assert reader.pending_bytes == 0


def test_garbage_between_frames_is_damage_and_frames_after_it_are_read(tmp_path, rng):
    layout = build_run(tmp_path, standard_sessions(rng, (4,)))
    seg = layout.segments[0]
    cut = layout.frames_in(seg)[2].start
    data = seg.read_bytes()
    garbage = b"\x00garbage\xff" * 3
    seg.write_bytes(data[:cut] + garbage + data[cut:])
    reader = LogReader(tmp_path)
    assert as_tuples(reader.records()) == layout.records
    assert [(d.offset, d.length) for d in reader.damage] == [(cut, len(garbage))]


@pytest.mark.parametrize("bit", range(32))
def test_damaged_header_length_does_not_swallow_frames(tmp_path, rng, bit):
    """A flipped bit in the header frame's size field must not hide the frames after it."""
    layout = build_run(tmp_path, standard_sessions(rng, (4,)))
    seg = layout.segments[0]
    data = bytearray(seg.read_bytes())
    data[4 + bit // 8] ^= 1 << (bit % 8)
    seg.write_bytes(bytes(data))
    reader = LogReader(tmp_path)
    assert as_tuples(reader.records()) == layout.records
    assert reader.damage and all(d.offset < layout.header_len[seg] for d in reader.damage)


def test_unknown_format_version_is_a_typed_error(tmp_path, rng):
    layout = build_run(tmp_path / "run", standard_sessions(rng, (2,)))
    seg = layout.segments[0]
    data = seg.read_bytes()
    hlen = layout.header_len[seg]
    seg.write_bytes(craft_header(FORMAT_VERSION + 1, 0, 0, RUN_ID) + data[hlen:])

    with pytest.raises(FormatVersionError, match=str(FORMAT_VERSION + 1)):
        list(LogReader(tmp_path / "run").records())
    with pytest.raises(FormatVersionError):
        verify(tmp_path / "run")
    # a writer must not append to a log it cannot read; and failing must release the lock
    for _ in range(2):
        with pytest.raises(FormatVersionError):
            LogWriter(tmp_path / "run", RUN_ID)


def test_unknown_version_with_a_bad_crc_is_damage_not_a_version_error(tmp_path, rng):
    layout = build_run(tmp_path, standard_sessions(rng, (2,)))
    seg = layout.segments[0]
    data = seg.read_bytes()
    seg.write_bytes(craft_header(FORMAT_VERSION + 1, 0, 0, RUN_ID, good_crc=False)
                    + data[layout.header_len[seg]:])
    reader = LogReader(tmp_path)
    assert as_tuples(reader.records()) == layout.records
    assert len(reader.damage) == 1 and reader.damage[0].offset == 0


def test_crafted_header_matches_the_writers(tmp_path):
    with LogWriter(tmp_path, RUN_ID):
        pass
    data = (tmp_path / LOG_DIR / "seg-000000.zst").read_bytes()
    assert data == craft_header(FORMAT_VERSION, 0, 0, RUN_ID)


# --------------------------------------------------------------------------- 9. bad arguments
@pytest.mark.parametrize("value", [0, 0.0, -1, "1", None])
def test_flush_interval_must_be_positive(tmp_path, value):
    with pytest.raises(UsageError, match="flush_interval"):
        LogWriter(tmp_path, RUN_ID, flush_interval=value)
    # nothing is left locked by the refused writer
    with LogWriter(tmp_path, RUN_ID):
        pass


@pytest.mark.parametrize("name", ["frame_bytes", "segment_bytes"])
def test_size_bounds_must_be_positive(tmp_path, name):
    with pytest.raises(UsageError, match=name):
        LogWriter(tmp_path, RUN_ID, **{name: 0})


@pytest.mark.parametrize("bad", [
    {"x": object()},
    {"big": 2 ** 64},
    {"small": -(2 ** 63) - 1},
    {"pad": "p" * 5000, "deep": [1, {"b": [object()]}]},  # fails after packing a lot
    {"surrogate": "\ud800"},
    {"set": {1, 2}},
])
def test_unpackable_value_writes_nothing_and_consumes_no_seq(tmp_path, bad):
    with LogWriter(tmp_path, RUN_ID, frame_bytes=1 << 20) as w:
        assert w.append("history", {"step": 0}, when=T0) == 0
        with pytest.raises(UnpackableValueError):
            w.append("history", bad)
        assert w.next_seq == 1
        assert w.append("history", {"step": 1}, when=T0 + 1) == 1
        w.flush()
        with pytest.raises(UnpackableValueError):
            w.append("history", bad)
        w.flush()
        assert w.append("history", {"step": 2}, when=T0 + 2) == 2
    reader = LogReader(tmp_path)
    assert as_tuples(reader.records()) == [
        (0, "history", T0, {"step": 0}), (1, "history", T0 + 1, {"step": 1}), (2, "history", T0 + 2, {"step": 2})]
    assert reader.damage == []


@pytest.mark.parametrize("args,kwargs", [
    ((7, {"x": 1}), {}),                 # type not a str
    (("history", [1, 2]), {}),           # body not a map
    (("history", None), {}),
    (("history", {"x": 1}), {"when": "now"}),
])
def test_wrong_argument_types_are_refused_before_they_spoil_a_frame(tmp_path, args, kwargs):
    """A record the reader would reject must not be written: it would make the whole frame,
    with the good records around it, unreadable."""
    with LogWriter(tmp_path, RUN_ID) as w:
        w.append("a", {"n": 1}, when=T0)
        with pytest.raises(ArgumentTypeError):
            w.append(*args, **kwargs)
        assert w.next_seq == 1
        w.append("b", {"n": 2}, when=T0 + 1)
    reader = LogReader(tmp_path)
    assert as_tuples(reader.records()) == [(0, "a", T0, {"n": 1}), (1, "b", T0 + 1, {"n": 2})]
    assert reader.damage == []


def test_append_after_close_is_refused(tmp_path):
    w = LogWriter(tmp_path, RUN_ID)
    w.append("a", {})
    w.close()
    w.close()  # idempotent
    with pytest.raises(WriterClosedError):
        w.append("b", {})
    assert [r.type for r in LogReader(tmp_path).records()] == ["a"]


# ------------------------------------------------------------------------------- 10. fork
def test_forked_child_cannot_append_to_the_parents_log(tmp_path):
    w = LogWriter(tmp_path, RUN_ID, frame_bytes=1 << 20)
    w.append("before", {"n": 0})
    pid = os.fork()
    if pid == 0:  # child: report through the exit code only, never return into pytest
        code = 3
        try:
            try:
                w.append("from-child", {"pid": os.getpid()})
                code = 1
            except ForkedWriterError:
                code = 0
            w.close()  # must not flush or release anything of the parent's
        except BaseException:
            code = 2
        finally:
            os._exit(code)
    _, status = os.waitpid(pid, 0)
    assert os.WIFEXITED(status) and os.WEXITSTATUS(status) == 0, status
    w.append("after", {"n": 1})
    w.close()
    recs = list(LogReader(tmp_path).records())
    assert [(r.seq, r.type) for r in recs] == [(0, "before"), (1, "after")]
