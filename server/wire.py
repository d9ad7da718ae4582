"""The wire formats: decoding a records body (zstd frames of msgpack records) strictly, and
turning msgpack values into JSON (spec/protocol.md 1 and 3.2)."""
from __future__ import annotations

import base64
import json
import math
import struct
from typing import Any, List

import msgpack
import zstandard

from eventlog.segment import Record, decode_records, zstd_frame_end

from .errors import ApiError, too_large

ZSTD_MAGIC = 0xFD2FB528


def malformed(message: str) -> ApiError:
    return ApiError(400, "malformed_body", message)


def decode_body(body: bytes, *, max_decompressed: int) -> List[Record]:
    """Every record of a records body, in body order; ApiError 400/413 on any defect.

    Decompressed sizes are checked against `max_decompressed` from the frame headers before any
    decompression, so a compression bomb costs nothing.
    """
    view = memoryview(body)
    dctx = zstandard.ZstdDecompressor()
    records: List[Record] = []
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
        try:
            payload = dctx.decompress(frame)
        except zstandard.ZstdError as exc:
            raise malformed(f"the zstd frame at offset {pos} does not decompress: {exc}") from None
        try:
            records.extend(decode_records(payload))
        except Exception as exc:
            raise malformed(f"the zstd frame at offset {pos} does not hold msgpack records: {exc}") from None
        pos = end
    return records


def encode_body(records: List[Any], *, level: int = 3) -> bytes:
    """A records body of one zstd frame holding `records` (lists [seq, type, time, body])."""
    packer = msgpack.Packer(use_bin_type=True)
    payload = b"".join(packer.pack(r) for r in records)
    return zstandard.ZstdCompressor(level=level, write_checksum=True, write_content_size=True).compress(payload)


def jsonable(value: Any) -> Any:
    """`value` with what JSON lacks mapped as spec/protocol.md 1 says."""
    t = type(value)
    if t is str or t is int or t is bool or value is None:
        return value
    if t is float:
        if math.isfinite(value):
            return value
        return "NaN" if math.isnan(value) else ("Infinity" if value > 0 else "-Infinity")
    if t is dict:
        return {(k if type(k) is str else str(k)): jsonable(v) for k, v in value.items()}
    if t is list or t is tuple:
        return [jsonable(v) for v in value]
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
    except (ValueError, TypeError):
        text = json.dumps(jsonable(obj), ensure_ascii=False, allow_nan=False, separators=(",", ":"))
    return text.encode("utf-8")


def unpack(blob: Any) -> Any:
    """A stored msgpack blob back to a value (None for NULL)."""
    if blob is None:
        return None
    return msgpack.unpackb(blob, raw=False, strict_map_key=False)


def pack(value: Any) -> bytes:
    return msgpack.packb(value, use_bin_type=True)
