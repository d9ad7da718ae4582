"""The wire formats: decoding a records body (zstd frames of msgpack records) strictly, and
turning msgpack values into JSON (spec/protocol.md 1 and 3.2)."""
from __future__ import annotations

import base64
import json
import math
import struct
import sys
from operator import itemgetter
from typing import Any, List, NamedTuple, Tuple

import msgpack
import zstandard

from eventlog.logfile.segment import ZSTD_MAGIC, zstd_frame_end

from .errors import ApiError, too_large


def malformed(message: str) -> ApiError:
    return ApiError(400, "malformed_body", message)


class Body(NamedTuple):
    """A decoded records body: the envelopes, and the decompressed frames they came from."""

    records: List[list]  # [seq, type, time, body, ...] as msgpack decoded them
    frames: List[Tuple[int, int, bytes]]  # (index of its first record, index past its last, payload)
    compressed: List[bytes]  # each frame as received

    def stored(self, start: int, stop: int, level: int = 1) -> bytes:
        """zstd frames holding exactly records[start:stop]: the frames as received when the range
        is the whole body, else the records re-compressed."""
        if start == 0 and stop == len(self.records):
            return b"".join(self.compressed)
        cctx = zstandard.ZstdCompressor(level=level, write_checksum=True, write_content_size=True)
        return cctx.compress(self.raw(start, stop))

    def raw(self, start: int, stop: int) -> bytes:
        """The msgpack bytes of records[start:stop]: whole frames as received, re-packed only where
        the range cuts a frame."""
        out: List[bytes] = []
        packer = None
        for a, b, payload in self.frames:
            if b <= start or a >= stop:
                continue
            if start <= a and b <= stop:
                out.append(payload)
                continue
            packer = packer or msgpack.Packer(use_bin_type=True)
            out.extend(packer.pack(r) for r in self.records[max(a, start):min(b, stop)])
        return b"".join(out)


_SEQ, _TYPE, _TIME, _BODY = (itemgetter(i) for i in range(4))


def envelopes_ok(objs: List[Any]) -> bool:
    """Whether every value is a record envelope [seq int, type str, time number, body map, ...].

    Checked column by column with C-level map()s: this runs for every record received."""
    if not objs:
        return True
    if set(map(type, objs)) != {list} or min(map(len, objs)) < 4:
        return False
    return (set(map(type, map(_SEQ, objs))) == {int} and set(map(type, map(_TYPE, objs))) == {str}
            and set(map(type, map(_BODY, objs))) == {dict}
            and set(map(type, map(_TIME, objs))) <= {int, float})


MAX_RECORDS = 100_000  # records in one body (the HTTP sink sends at most 10,000)
MAX_VALUES = 1_000_000  # values one body may decode into (about 64 MiB at worst: empty arrays)
MAX_DEPTH = 64  # maps and arrays nested in one record's body, the body itself counted (spec/protocol.md 3.3)
WINDOW = 256 * 1024  # decompressed bytes decoded at a time


class _Budget:
    """What a body may still decode into. Values are counted as the interpreter's allocated
    blocks (sys.getallocatedblocks: every list, map, string, float or large int is one or two),
    checked after each WINDOW of decompressed bytes, so a body of millions of tiny values is
    refused after costing at most a window more than the budget."""

    def __init__(self, max_records: int, max_values: int) -> None:
        self.max_records = max_records
        self.max_values = max_values
        self.blocks = sys.getallocatedblocks()

    def check(self, records: List[list]) -> None:
        if len(records) > self.max_records:
            raise too_large(f"the body holds more than {self.max_records} records; send fewer per request")
        if sys.getallocatedblocks() - self.blocks > self.max_values:
            raise too_large(f"the records decode to more than {self.max_values} values; "
                            "send fewer records per request")


def _frame_records(frame: memoryview, size: int, pos: int, dctx: zstandard.ZstdDecompressor, records: List[list],
                   budget: _Budget) -> bytes:
    """Decode one zstd frame's records into `records` a WINDOW at a time (the GIL is let go between
    windows, so other requests go on); its decompressed bytes."""
    reader = dctx.stream_reader(frame, read_size=WINDOW)
    unpacker = msgpack.Unpacker(raw=False, strict_map_key=False, max_buffer_size=max(size, 1))
    pieces: List[bytes] = []
    fed = 0
    while True:
        try:
            piece = reader.read(WINDOW)
        except zstandard.ZstdError as exc:
            raise malformed(f"the zstd frame at offset {pos} does not decompress: {exc}") from None
        if not piece:
            break
        fed += len(piece)
        if fed > size:
            raise malformed(f"the zstd frame at offset {pos} holds more than its declared {size} bytes")
        pieces.append(piece)
        try:
            unpacker.feed(piece)
            records.extend(unpacker)
        except Exception as exc:  # msgpack raises several types for undecodable bytes
            raise malformed(f"the zstd frame at offset {pos} does not hold msgpack records "
                            f"({type(exc).__name__})") from None
        budget.check(records)
    if fed != size:
        raise malformed(f"the zstd frame at offset {pos} holds {fed} bytes, not its declared {size}")
    if unpacker.tell() != fed:
        raise malformed(f"the zstd frame at offset {pos} ends inside a msgpack record")
    return pieces[0] if len(pieces) == 1 else b"".join(pieces)


def decode_body(body: bytes, *, max_decompressed: int, max_records: int = MAX_RECORDS,
                max_values: int = MAX_VALUES) -> Body:
    """Every record of a records body, in body order; ApiError 400/413 on any defect.

    Decompressed sizes are checked against `max_decompressed` from the frame headers before any
    decompression, so a compression bomb costs nothing; the records and the values they decode
    into are bounded by `max_records` and `max_values` while they are decoded (spec/protocol.md 3.3).
    """
    view = memoryview(body)
    dctx = zstandard.ZstdDecompressor()
    budget = _Budget(max_records, max_values)
    records: List[list] = []
    frames: List[Tuple[int, int, bytes]] = []
    compressed: List[bytes] = []
    total = 0
    pos = 0
    n = len(body)
    while pos < n:
        try:
            end = zstd_frame_end(body, pos)
        except Exception:  # truncated or impossible frame headers
            raise malformed(f"the bytes at offset {pos} are not a complete zstd frame") from None
        (magic,) = struct.unpack_from("<I", body, pos)
        if magic != ZSTD_MAGIC:  # skippable frame (a segment header, say)
            pos = end
            continue
        frame = view[pos:end]
        try:
            size = zstandard.frame_content_size(frame)
        except zstandard.ZstdError:
            raise malformed(f"bad zstd frame header at offset {pos}") from None
        if size < 0:
            raise malformed(f"the zstd frame at offset {pos} does not declare its content size")
        total += size
        if total > max_decompressed:
            raise too_large(f"the records decompress to more than {max_decompressed} bytes; send smaller batches")
        first = len(records)
        payload = _frame_records(frame, size, pos, dctx, records, budget)
        if not envelopes_ok(records[first:] if first else records):
            raise malformed(f"a msgpack value in the frame at offset {pos} is not a record [seq, type, time, body]")
        frames.append((first, len(records), payload))
        compressed.append(frame)
        pos = end
    return Body(records, frames, compressed)


def encode_body(records: List[Any], *, level: int = 3) -> bytes:
    """A records body of one zstd frame holding `records` (lists [seq, type, time, body])."""
    packer = msgpack.Packer(use_bin_type=True)
    payload = b"".join(packer.pack(r) for r in records)
    return zstandard.ZstdCompressor(level=level, write_checksum=True, write_content_size=True).compress(payload)


RENDER_DEPTH = 200  # maps and arrays deeper than this (stored before MAX_DEPTH held) render as TRUNCATED
TRUNCATED = {"_type": "truncated"}


def jsonable(value: Any, depth: int = RENDER_DEPTH) -> Any:
    """`value` with what JSON lacks mapped as spec/protocol.md 1 says; maps and arrays nested
    deeper than `depth` become {"_type": "truncated"}."""
    t = type(value)
    if t is str or t is int or t is bool or value is None:
        return value
    if t is float:
        if math.isfinite(value):
            return value
        return "NaN" if math.isnan(value) else ("Infinity" if value > 0 else "-Infinity")
    if t is dict or t is list or t is tuple:
        if depth <= 0:
            return dict(TRUNCATED)
        if t is dict:
            return {(k if type(k) is str else str(k)): jsonable(v, depth - 1) for k, v in value.items()}
        return [jsonable(v, depth - 1) for v in value]
    if isinstance(value, (bytes, bytearray, memoryview)):
        return {"_type": "bytes", "base64": base64.b64encode(bytes(value)).decode("ascii")}
    if isinstance(value, msgpack.ExtType):
        return {"_type": "ext", "code": value.code, "base64": base64.b64encode(value.data).decode("ascii")}
    if isinstance(value, float):
        return jsonable(float(value))
    if isinstance(value, int):
        return int(value)
    return str(value)


def dumps(obj: Any) -> bytes:
    """Compact JSON for a response; the slow jsonable() pass only when the fast path fails."""
    try:
        text = json.dumps(obj, ensure_ascii=False, allow_nan=False, separators=(",", ":"))
    except (ValueError, TypeError, RecursionError):
        text = json.dumps(jsonable(obj), ensure_ascii=False, allow_nan=False, separators=(",", ":"))
    return text.encode("utf-8")


def unpack(blob: Any) -> Any:
    """A stored msgpack blob back to a value (None for NULL)."""
    if blob is None:
        return None
    return msgpack.unpackb(blob, raw=False, strict_map_key=False)


def pack(value: Any) -> bytes:
    return msgpack.packb(value, use_bin_type=True)
