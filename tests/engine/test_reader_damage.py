"""The reader's and `evlog verify`'s blind spots (issue 14.2): every case is damage (or a torn tail),
never a crash; the JSON form of `evlog tail --json` (spec/format.md 4.5); and a reader written from
spec/format.md alone (zstandard + msgpack, no eventlog code) that agrees with eventlog.LogReader."""
from __future__ import annotations

import base64
import json
import math
import os
import re
import shutil
import struct
import tempfile
import zlib
from pathlib import Path

import msgpack
import pytest
import zstandard
from click.testing import CliRunner
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from support.engine import RUN_ID, T0, as_tuples, build_run, standard_sessions
from eventlog import FormatVersionError, LogReader, Record
from eventlog.cli.main import main as cli_main
from eventlog.logfile.inspect import record_json, verify
from eventlog.logfile.segment import LOG_DIR

SKIPPABLE = 0x184D2A5E
ZSTD_MAGIC = b"\x28\xb5\x2f\xfd"


def header(segment: int, first_seq: int, run_id: str = RUN_ID, magic: int = SKIPPABLE, version: int = 1) -> bytes:
    rid = run_id.encode("ascii")
    body = struct.pack("<8sHHIQB", b"EVLOGSEG", version, 0, segment, first_seq, len(rid)) + rid
    body += struct.pack("<I", zlib.crc32(body))
    return struct.pack("<II", magic, len(body)) + body


def frame(*records) -> bytes:
    payload = b"".join(msgpack.packb(list(r), use_bin_type=True) for r in records)
    return zstandard.ZstdCompressor(write_checksum=True, write_content_size=True).compress(payload)


def seg(folder: Path, n: int) -> Path:
    return folder / LOG_DIR / f"seg-{n:06d}.zst"


def replace_header(path: Path, new: bytes) -> None:
    data = path.read_bytes()
    (size,) = struct.unpack_from("<I", data, 4)
    path.write_bytes(new + data[8 + size:])


def read(folder: Path):
    reader = LogReader(folder)
    return reader, as_tuples(reader.records())


def cli(*args: str):
    return CliRunner().invoke(cli_main, list(args), catch_exceptions=False)


@pytest.fixture
def three(tmp_path, rng):
    """A run of three sessions (segments 0, 1, 2), several frames each."""
    return build_run(tmp_path / "run", standard_sessions(rng, (3, 3, 3)))


def assert_damaged(folder: Path, reason_part: str) -> None:
    report = verify(folder)
    assert not report.clean
    assert any(reason_part in d.reason for d in report.damage), report.damage
    result = cli("verify", str(folder))
    assert result.exit_code == 1 and "DAMAGED" in result.output and reason_part in result.output
    tail = cli("tail", "--json", str(folder))
    assert tail.exit_code == 0 and reason_part in tail.stderr


# ------------------------------------------------------------------------------- the headers
@pytest.mark.parametrize("magic", [0x184D2A50, 0x184D2A5A, 0x184D2A5F])
def test_header_under_another_skippable_magic_is_damage(three, magic):
    path = three.segments[1]
    replace_header(path, header(1, three.frames_in(path)[0].records[0][0], magic=magic))
    reader, got = read(three.folder)
    assert got == three.records  # the record frames are still read
    assert [(Path(d.file), d.offset) for d in reader.damage] == [(path, 0)]
    assert_damaged(three.folder, "bad segment header")


def test_segment_without_header_is_damage(three):
    path = three.segments[2]
    data = path.read_bytes()
    path.write_bytes(data[three.header_len[path]:])
    reader, got = read(three.folder)
    assert got == three.records
    assert len(reader.damage) == 1 and reader.damage[0].length == 0
    assert_damaged(three.folder, "no segment header")


def test_run_id_of_length_0_is_damage(three):
    path = three.segments[1]
    replace_header(path, header(1, three.frames_in(path)[0].records[0][0], run_id=""))
    _, got = read(three.folder)
    assert got == three.records
    assert_damaged(three.folder, "bad segment header")


def test_header_naming_another_segment_number_is_damage(three):
    path = three.segments[1]
    replace_header(path, header(7, three.frames_in(path)[0].records[0][0]))
    assert_damaged(three.folder, "header says segment 7")


def test_header_of_another_run_is_damage(three):
    path = three.segments[2]
    replace_header(path, header(2, three.frames_in(path)[0].records[0][0], run_id="otherrun"))
    assert_damaged(three.folder, "differs from the log's")


def test_header_first_seq_below_seqs_read_is_damage(three):
    path = three.segments[2]
    replace_header(path, header(2, 1))
    assert_damaged(three.folder, "is not above seq")


def test_unknown_version_stops_at_that_segment_naming_it(three):
    path = three.segments[1]
    replace_header(path, header(1, three.frames_in(path)[0].records[0][0], version=2))
    reader = LogReader(three.folder)
    got = []
    with pytest.raises(FormatVersionError, match=re.escape(str(path)) + ".*version 2.*upgrade"):
        for rec in reader.records():
            got.append(rec)
    assert as_tuples(got) == [r for f in three.frames_in(three.segments[0]) for r in f.records]
    for command in ("tail", "verify"):
        result = cli(command, str(three.folder))
        assert result.exit_code == 2 and "version 2" in result.stderr and path.name in result.stderr


# ------------------------------------------------------------------------------ the segments
@pytest.mark.parametrize("how", ["deleted", "empty", "unreadable", "header cut off"])
def test_lost_first_segment_is_damage(three, how):
    first = three.segments[0]
    if how == "deleted":
        first.unlink()
    elif how == "empty":
        first.write_bytes(b"")
    elif how == "unreadable":  # a directory in its place: open() fails, even for root
        first.unlink()
        first.mkdir()
    else:
        first.write_bytes(first.read_bytes()[:9])
    reader, got = read(three.folder)
    assert got == [r for r in three.records if r not in [x for f in three.frames_in(first) for x in f.records]]
    assert reader.damage and Path(reader.damage[0].file) == first
    assert not verify(three.folder).clean
    assert cli("verify", str(three.folder)).exit_code == 1


def test_missing_segment_number_without_a_seq_gap_is_damage(tmp_path, rng):
    sessions = standard_sessions(rng, (2, 1, 2))
    sessions[1] = []  # the second session writes a header and no record
    layout = build_run(tmp_path / "run", sessions)
    seg(layout.folder, 1).unlink()
    reader, got = read(layout.folder)
    assert got == layout.records and reader.seq_gaps == []
    assert [(Path(d.file).name, d.reason) for d in reader.damage] == [("seg-000001.zst", "segment 1 is missing")]
    assert_damaged(layout.folder, "segment 1 is missing")


def test_empty_non_last_segment_is_damage_and_empty_last_is_torn(three):
    seg(three.folder, 3).write_bytes(b"")  # a writer creating segment 3
    reader, got = read(three.folder)
    assert got == three.records and reader.damage == [] and reader.torn == (str(seg(three.folder, 3)), 0, 0)
    assert verify(three.folder).clean
    seg(three.folder, 4).write_bytes(header(4, len(three.records)))
    reader, got = read(three.folder)
    assert [d.reason for d in reader.damage] == ["empty segment: no header"]


def test_records_lost_at_the_end_of_a_segment_are_a_gap_by_the_next_header(three):
    last = three.segments[2]
    cut = three.header_len[last]
    lost = [r for f in three.frames_in(last) for r in f.records]
    last.write_bytes(last.read_bytes()[:cut])  # a clean cut: the header stays, every frame is gone
    seg(three.folder, 3).write_bytes(header(3, len(three.records)))
    report = verify(three.folder)
    assert report.seq_gaps == [(lost[0][0], len(lost))] and report.damage == []
    assert cli("verify", str(three.folder)).exit_code == 1


def test_a_killed_writer_creating_a_segment_leaves_no_segment_without_header(three):
    from eventlog import LogWriter

    seg(three.folder, 3).write_bytes(b"")  # killed between creating the file and writing its header
    with LogWriter(three.folder, RUN_ID) as w:
        w.append("after", {})
    reader, got = read(three.folder)
    assert reader.damage == [] and got[-1][1] == "after" and verify(three.folder).clean


# ------------------------------------------------------------------------------- the records
@pytest.mark.parametrize("bad", [
    (-1, "x", T0, {}),  # a negative seq
    (None, "x", T0, {}),
    ("SEQ", "x", T0, {}),
    ("next", "x", True, {}),  # a bool time (seq filled in below)
    ("next", "x", None, {}),
    ("next", 5, T0, {}),
    ("next", "x", T0, []),
    ("next", "x"),
])
def test_frames_holding_what_is_not_a_record_are_damage(three, bad):
    last = three.segments[-1]
    n = len(three.records)
    bad = tuple(n if v == "next" else v for v in bad)
    with open(last, "ab") as f:
        f.write(frame((n, "x", T0, {})) if False else frame(bad))
        f.write(frame((n, "good", T0 + 1, {"k": 1})))
    reader, got = read(three.folder)
    assert got == three.records + [(n, "good", T0 + 1, {"k": 1})]
    assert len(reader.damage) == 1 and "not a record envelope" in reader.damage[0].reason
    assert all(type(r.time) is float for r in LogReader(three.folder).records())


def test_a_seq_going_back_is_dropped_and_reported(three):
    last = three.segments[-1]
    with open(last, "ab") as f:
        f.write(frame((3, "again", T0, {})))
    reader, got = read(three.folder)
    assert got == three.records
    assert ["after seq" in d.reason and d.length == 0 for d in reader.damage] == [True]


def test_int_time_is_delivered_as_float(three):
    n = len(three.records)
    with open(three.segments[-1], "ab") as f:
        f.write(frame((n, "x", 1_700_000_000, {})))
    rec = list(LogReader(three.folder).records())[-1]
    assert type(rec.time) is float and rec.time == 1_700_000_000.0
    assert '"time": 1700000000.0' in record_json(rec)


# -------------------------------------------------------------------------------- the tail
@pytest.mark.parametrize("stray,torn", [(b"\x00", False), (b"\x01\x02\x03", False), (b"ab", False),
                                        (b"\x28", True), (b"\x28\xb5\x2f", True)])
def test_stray_bytes_shorter_than_a_magic(three, stray, torn):
    last = three.segments[-1]
    size = last.stat().st_size
    with open(last, "ab") as f:
        f.write(stray)
    reader, got = read(three.folder)
    assert got == three.records
    if torn:
        assert reader.damage == [] and reader.torn == (str(last), size, len(stray))
        assert verify(three.folder).clean
    else:
        assert [(d.offset, d.length) for d in reader.damage] == [(size, len(stray))] and reader.torn is None
        assert_damaged(three.folder, "stray bytes")


def test_unfinished_frame_that_does_not_decompress_is_damage_not_torn(three):
    last = three.segments[-1]
    n = len(three.records)
    # more than one block (a block holds at most 128 KiB): the first is complete, the last cut short
    words = [os.urandom(4).hex() for _ in range(64)]
    blob = frame(*[(n + i, "x", T0, {"v": " ".join(words[(i * 7 + k) % 64] for k in range(40))})
                   for i in range(1200)])
    cut = blob[:len(blob) - 100]
    bh = int.from_bytes(blob[4 + 1 + 4:4 + 1 + 4 + 3], "little")  # FHD, 4-byte content size, block header
    assert not bh & 1 and 20 < (bh >> 3) < len(cut) - 100
    bad = bytearray(cut)
    for i in range(20, 12 + (bh >> 3), 3):  # inside the first, complete block
        bad[i] ^= 0x5A
    size = last.stat().st_size
    last.write_bytes(last.read_bytes() + bytes(bad))
    reader, got = read(three.folder)
    assert got == three.records and reader.torn is None
    assert reader.damage and reader.damage[0].offset >= size
    # the same bytes undamaged are a frame being written: torn, not damage
    last.write_bytes(last.read_bytes()[:size] + cut)
    reader, got = read(three.folder)
    assert reader.damage == [] and reader.pending_bytes > 0 and verify(three.folder).clean


def test_block_size_over_the_frame_window_in_the_last_frame_is_damage(three):
    """The last frame's block size grown past the frame's content size (its window) cannot be a
    frame being written: damage. Grown but within the window it reads as torn (spec 4.3)."""
    last = three.segments[-1]
    f = three.frames_in(last)[-1]
    data = bytearray(last.read_bytes())
    params = zstandard.get_frame_parameters(bytes(data[f.start:f.end]))
    assert params.content_size < 1000  # a small single-segment frame: window = content size
    fhd = data[f.start + 4]
    fcs_len = (1, 2, 4, 8)[fhd >> 6]
    bh_at = f.start + 5 + fcs_len
    bh = int.from_bytes(data[bh_at:bh_at + 3], "little")
    over = (bh & 7) | ((params.content_size + 1) << 3)
    data[bh_at:bh_at + 3] = over.to_bytes(3, "little")
    last.write_bytes(bytes(data))
    reader, got = read(three.folder)
    assert got == [r for r in three.records if r not in f.records]
    assert reader.damage and "block maximum" in reader.damage[0].reason and reader.pending_bytes == 0


# ----------------------------------------------------------------------- never a crash
@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow,
                                                                 HealthCheck.function_scoped_fixture])
@given(edits=st.lists(st.tuples(st.integers(0, 2), st.floats(0, 1), st.sampled_from(
    ["flip", "cut", "insert", "delete", "zero"]), st.binary(min_size=1, max_size=6)), min_size=1, max_size=4))
def test_random_damage_never_crashes_any_reader(three, edits):
    with tempfile.TemporaryDirectory() as d:
        folder = Path(d) / "run"
        shutil.copytree(three.folder, folder)
        mutate(folder, edits)
        reader = LogReader(folder)
        recs = list(reader.records())
        assert [r.seq for r in recs] == sorted(set(r.seq for r in recs))
        report = verify(folder)
        assert report.records == len(recs)
        for args in (["tail", str(folder)], ["tail", "--json", str(folder)], ["verify", str(folder)]):
            result = cli(*args)
            assert result.exit_code in (0, 1) and "Traceback" not in result.output
        lines = cli("tail", "--json", str(folder)).stdout.splitlines()
        assert [json.loads(x)["seq"] for x in lines] == [r.seq for r in recs]
        assert spec_read(folder)["records"] == as_tuples(recs)


def mutate(folder: Path, edits) -> None:
    for which, where, how, blob in edits:
        path = seg(folder, which)
        if not path.exists():
            continue
        data = bytearray(path.read_bytes())
        at = int(where * len(data))
        if how == "flip" and data:
            data[min(at, len(data) - 1)] ^= blob[0] | 1
        elif how == "cut":
            del data[at:]
        elif how == "insert":
            data[at:at] = blob
        elif how == "delete":
            path.unlink()
            continue
        elif how == "zero":
            data[at:at + len(blob) * 8] = bytes(len(data[at:at + len(blob) * 8]))
        path.write_bytes(bytes(data))


@settings(max_examples=100, deadline=None)
@given(st.binary(max_size=300))
def test_server_ingestion_refuses_any_bytes_with_a_400_or_413(body):
    from eventlog.server.errors import ApiError
    from eventlog.server.wire import decode_body

    try:
        decode_body(body, max_decompressed=1 << 20)
    except ApiError as exc:
        assert exc.status in (400, 413)


# --------------------------------------------------------------------- the JSON form (4.5)
def from_json(obj):
    """Back from spec/format.md 4.5, written from the spec: typed values, escaped keys."""
    if isinstance(obj, list):
        return [from_json(v) for v in obj]
    if not isinstance(obj, dict):
        return obj
    if list(obj) == ["$bytes"]:
        return base64.b64decode(obj["$bytes"])
    if list(obj) == ["$ext"]:
        code, data = obj["$ext"]
        return msgpack.ExtType(code, base64.b64decode(data))
    return {from_key(k): from_json(v) for k, v in obj.items()}


def from_key(k: str):
    if k.startswith("$$"):
        return k[1:]
    if k.startswith("$"):
        return from_json(json.loads(k[1:]))
    return k


def record_from_line(line: str):
    obj = json.loads(line)
    seq, typ, when = obj.pop("seq"), obj.pop("type"), obj.pop("time")
    body = {}
    for k, v in obj.items():
        key = k[1:] if k in ("$seq", "$type", "$time") else from_key(k)
        body[key] = from_json(v)
    return seq, typ, when, body


def same(a, b) -> bool:
    if type(a) is not type(b):
        return False
    if isinstance(a, float):  # bit for bit (-0.0 is not 0.0), but a NaN is only NaN in JSON
        return (math.isnan(a) and math.isnan(b)) or struct.pack("<d", a) == struct.pack("<d", b)
    if isinstance(a, dict):
        return list(a) == list(b) and all(same(x, y) for x, y in zip(a, b)) and all(
            same(a[k], b[k]) for k in a)
    if isinstance(a, list):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b))
    return a == b


scalars = (st.none() | st.booleans() | st.integers(-(2 ** 63), 2 ** 64 - 1) | st.floats() | st.text(max_size=8)
           | st.binary(max_size=8) | st.builds(msgpack.ExtType, st.integers(0, 127), st.binary(max_size=8)))
keys = st.sampled_from(["seq", "type", "time", "$seq", "$$x", "$bytes", "$ext", "a", "1", "$1", "true"]) | st.text(
    max_size=5) | st.integers(-5, 5) | st.booleans() | st.binary(max_size=3) | st.floats(allow_nan=False)
values = st.recursive(scalars, lambda c: st.lists(c, max_size=3) | st.dictionaries(keys, c, max_size=3),
                      max_leaves=10)


@settings(max_examples=200, deadline=None)
@given(body=st.dictionaries(keys, values, max_size=6), seq=st.integers(0, 2 ** 64 - 1), when=st.floats())
def test_json_form_gives_back_the_record(body, seq, when):
    line = record_json(Record(seq, "t", when, body))
    assert "\n" not in line
    got = record_from_line(line)
    assert got[0] == seq and got[1] == "t" and same(got[2], float(when))
    assert same(got[3], body), (got[3], body)


def test_json_form_keeps_envelope_names_apart_and_numbers_typed():
    body = {"seq": -5, "type": "body's", "time": 3, "$seq": 1, "n": 2, "f": 2.0, "nan": math.nan,
            "inf": -math.inf, "b": b"\x01", 7: "int key", b"k": {"deep": True}}
    line = record_json(Record(9, "x", 1700000000, body))
    obj = json.loads(line)
    assert (obj["seq"], obj["type"], obj["time"]) == (9, "x", 1700000000.0)
    assert (obj["$seq"], obj["$type"], obj["$time"], obj["$$seq"]) == (-5, "body's", 3, 1)
    assert '"n": 2,' in line and '"f": 2.0' in line and '"nan": NaN' in line and '"inf": -Infinity' in line
    assert obj["b"] == {"$bytes": "AQ=="} and obj["$7"] == "int key" and obj['${"$bytes":"aw=="}'] == {"deep": True}


# ------------------------------------------------------------- a reader from the spec alone
def spec_read(folder: Path) -> dict:
    """spec/format.md sections 1, 2 and 4, with zstandard and msgpack only: the delivered records,
    the damage (file name, offset, length), the seq gaps and the torn tail."""
    log = Path(folder) / "log"
    segs = sorted((int(m.group(1)), n) for n in os.listdir(log) if (m := re.match(r"^seg-([0-9]{6,})\.zst$", n)))
    st_ = {"records": [], "damage": [], "gaps": [], "torn": None}
    prev, expect, top, run_id = -1, None, None, None
    for i, (num, name) in enumerate(segs):
        last = i == len(segs) - 1
        if num > prev + 1:
            st_["damage"].append((f"seg-{prev + 1:06d}.zst", 0, 0))
        prev = num
        try:
            data = (log / name).read_bytes()
        except OSError:
            st_["damage"].append((name, 0, 0))
            continue
        if not data:
            if last:
                st_["torn"] = (name, 0, 0)
            else:
                st_["damage"].append((name, 0, 0))
            continue
        seg_first = None
        for kind, off, ln, payload in spec_frames(data):
            if kind == "header" and off == 0:
                hseg, first, rid = payload
                if run_id is None:
                    run_id = rid
                if num == 0 and (expect is None or first > expect):
                    expect = first
                elif top is not None and first <= top:
                    pass
                else:
                    if expect is not None and first > expect:
                        st_["gaps"].append((expect, first - expect))
                    expect = first if expect is None else max(expect, first)
                seg_first = first
            elif kind == "records":
                for r in payload:
                    if top is not None and r[0] <= top:
                        continue
                    if expect is not None and r[0] > expect:
                        st_["gaps"].append((expect, r[0] - expect))
                    st_["records"].append(tuple(r[:3]) + (r[3],))
                    top = r[0]
                    expect = top + 1
            elif kind == "torn":
                if last:
                    st_["torn"] = (name, off, ln)
                else:
                    st_["damage"].append((name, off, ln))
            elif kind == "damage":
                st_["damage"].append((name, off, ln))
        del seg_first
    return st_


def spec_frames(data: bytes):
    """(kind, offset, length, payload) for one segment: 4.1's steps 1 to 5."""
    n, pos = len(data), 0
    bad_at, bad_trunc, trunc_at = None, False, None
    while pos < n:
        kind, end, payload = spec_frame(data, pos)
        if kind in ("malformed", "truncated"):
            if bad_at is None:
                bad_at, bad_trunc = pos, kind == "truncated"
            elif kind == "truncated" and trunc_at is None:
                trunc_at = pos
            nxt = data.find(ZSTD_MAGIC, pos + 1)
            if nxt < 0:
                break
            pos = nxt
            continue
        if bad_at is not None:
            yield "damage", bad_at, pos - bad_at, None
            bad_at, trunc_at = None, None
        if not (kind == "header" and payload is None):
            yield kind, pos, end - pos, payload
        elif pos == 0:
            yield "damage", 0, end, None
        pos = end
    if bad_at is not None:
        if bad_trunc and spec_prefix_ok(data[bad_at:]):
            yield "torn", bad_at, n - bad_at, None
        elif bad_trunc:
            yield "damage", bad_at, n - bad_at, None
        elif trunc_at is not None:
            yield "damage", bad_at, trunc_at - bad_at, None
            yield "torn", trunc_at, n - trunc_at, None
        else:
            yield "damage", bad_at, n - bad_at, None


def spec_prefix_ok(rest: bytes) -> bool:
    if len(rest) < 4:
        return ZSTD_MAGIC.startswith(rest) or struct.pack("<I", SKIPPABLE).startswith(rest)
    if rest[:4] != ZSTD_MAGIC:
        return True
    try:
        content = zstandard.ZstdDecompressor().decompressobj().decompress(rest)
    except zstandard.ZstdError:
        return False
    u = msgpack.Unpacker(raw=False, strict_map_key=False)
    u.feed(content)
    try:
        return all(is_record(o) for o in u)
    except Exception:
        return False


def is_record(o) -> bool:
    return (type(o) is list and len(o) >= 4 and type(o[0]) is int and o[0] >= 0 and type(o[1]) is str
            and type(o[2]) in (int, float) and type(o[3]) is dict)


def spec_frame(data: bytes, pos: int):
    """("header", end, (segment, first seq, run id) or None) | ("records", end, [...]) |
    ("malformed" | "truncated", None, None)."""
    n = len(data)
    if pos + 4 > n:
        rest = data[pos:]
        ok = ZSTD_MAGIC.startswith(rest) or struct.pack("<I", SKIPPABLE).startswith(rest)
        return ("truncated" if ok else "malformed"), None, None
    (magic,) = struct.unpack_from("<I", data, pos)
    if magic & 0xFFFFFFF0 == 0x184D2A50:
        if pos + 8 > n:
            return "truncated", None, None
        end = pos + 8 + struct.unpack_from("<I", data, pos + 4)[0]
        if end > n:
            return "truncated", None, None
        p = data[pos + 8:end]
        valid = (magic == SKIPPABLE and len(p) >= 29 and p[:8] == b"EVLOGSEG" and len(p) == 29 + p[24]
                 and p[24] >= 1 and struct.unpack_from("<I", p, 25 + p[24])[0] == zlib.crc32(p[:25 + p[24]])
                 and all(b < 128 for b in p[25:25 + p[24]]))
        if not valid:
            return ("malformed", None, None) if p[:8] == b"EVLOGSEG" else ("header", end, None)
        _, version, _, segno, first, idlen = struct.unpack_from("<8sHHIQB", p)
        assert version == 1
        return "header", end, (segno, first, p[25:25 + idlen].decode("ascii"))
    if magic != 0xFD2FB528:
        return "malformed", None, None
    p = pos + 4
    if p >= n:
        return "truncated", None, None
    fhd = data[p]
    if fhd & 0x08:
        return "malformed", None, None
    single, fcs_len = (fhd >> 5) & 1, ((1 if (fhd >> 5) & 1 else 0), 2, 4, 8)[fhd >> 6]
    p += 1
    if single:
        window = None
    else:
        if p >= n:
            return "truncated", None, None
        e, m = data[p] >> 3, data[p] & 7
        window = (1 << (10 + e)) + ((1 << (10 + e)) // 8) * m
    p += (0 if single else 1) + (0, 1, 2, 4)[fhd & 3]
    if single:
        if p + fcs_len > n:
            return "truncated", None, None
        window = int.from_bytes(data[p:p + fcs_len], "little") + (256 if fcs_len == 2 else 0)
    p += fcs_len
    while True:
        if p + 3 > n:
            return "truncated", None, None
        bh = int.from_bytes(data[p:p + 3], "little")
        p += 3
        if (bh >> 1) & 3 == 3 or bh >> 3 > min(window, 131072):
            return "malformed", None, None
        p += 1 if (bh >> 1) & 3 == 1 else bh >> 3
        if p > n:
            return "truncated", None, None
        if bh & 1:
            break
    p += 4 if (fhd >> 2) & 1 else 0
    if p > n:
        return "truncated", None, None
    try:
        d = zstandard.ZstdDecompressor().decompressobj()
        content = d.decompress(data[pos:p])
        if not d.eof:
            return "malformed", None, None
        u = msgpack.Unpacker(raw=False, strict_map_key=False, max_buffer_size=max(len(content), 1))
        u.feed(content)
        recs = list(u)
        if u.tell() != len(content) or not all(is_record(o) for o in recs):
            return "malformed", None, None
    except Exception:
        return "malformed", None, None
    return "records", p, [(o[0], o[1], float(o[2]), o[3]) for o in recs]


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow,
                                                                 HealthCheck.function_scoped_fixture])
@given(edits=st.lists(st.tuples(st.integers(0, 2), st.floats(0, 1), st.sampled_from(
    ["flip", "cut", "insert", "delete", "zero"]), st.binary(min_size=1, max_size=6)), max_size=3))
def test_a_reader_from_the_spec_alone_agrees_with_logreader(three, edits):
    with tempfile.TemporaryDirectory() as d:
        folder = Path(d) / "run"
        shutil.copytree(three.folder, folder)
        mutate(folder, edits)
        mine = spec_read(folder)
        reader = LogReader(folder)
        recs = as_tuples(reader.records())
        assert mine["records"] == recs
        assert mine["gaps"] == reader.seq_gaps
        assert bool(mine["damage"]) == bool(reader.damage), (mine["damage"], reader.damage)
        torn = None if reader.torn is None else (Path(reader.torn[0]).name,) + tuple(reader.torn[1:])
        assert mine["torn"] == torn
        if not edits:
            assert recs == three.records and not reader.damage and verify(folder).clean
