"""Segment files: the header frame, zstd frame boundaries, and scanning a segment's bytes.

A segment is a valid zstd stream: one skippable frame (the evlog header) followed by ordinary
zstd frames, each holding whole msgpack records. spec/format.md is the normative description.
"""
from __future__ import annotations

import re
import struct
import zlib
from collections import namedtuple
from typing import TYPE_CHECKING

import msgpack
import zstandard

from ..errors import FormatVersionError

if TYPE_CHECKING:  # typing and dataclasses cost ~20 ms of import time; init() imports this module
    from typing import Iterator, List, Optional, Tuple, Union

FORMAT_VERSION = 1
SEGMENT_MAGIC = b"EVLOGSEG"
SKIPPABLE_MAGIC = 0x184D2A5E  # any of 0x184D2A50..5F is a skippable frame; this one is evlog's
ZSTD_MAGIC = 0xFD2FB528
ZSTD_MAGIC_BYTES = struct.pack("<I", ZSTD_MAGIC)
_HEADER_MAGIC_BYTES = struct.pack("<I", SKIPPABLE_MAGIC)
SEGMENT_NAME = re.compile(r"^seg-(\d{6,})\.zst$")
LOG_DIR = "log"

_BLOCK_MAX = 128 * 1024  # RFC 8878: no block exceeds min(window size, 128 KiB)
_HEADER_FIXED = struct.Struct("<8sHHIQB")  # magic, version, flags, segment, first seq, id length


class Record(namedtuple("Record", "seq type time body")):
    """One decoded record: seq (int), type (str), time (float, Unix seconds), body (dict)."""

    __slots__ = ()


class SegmentHeader(namedtuple("SegmentHeader", "version segment first_seq run_id")):
    """The fields of a segment's header frame."""

    __slots__ = ()


class Damage(namedtuple("Damage", "file offset length reason")):
    """A byte range that could not be read: file (str), offset, length (bytes), and why."""

    __slots__ = ()

    def __str__(self) -> str:
        return f"{self.file}: {self.length} bytes unreadable at offset {self.offset} ({self.reason})"


def segment_name(number: int) -> str:
    """File name of segment `number`; names sort in segment order."""
    return f"seg-{number:06d}.zst"


def encode_header(segment: int, first_seq: int, run_id: str) -> bytes:
    """The skippable zstd frame that opens every segment."""
    rid = run_id.encode("ascii")
    body = _HEADER_FIXED.pack(SEGMENT_MAGIC, FORMAT_VERSION, 0, segment, first_seq, len(rid)) + rid
    body += struct.pack("<I", zlib.crc32(body))
    return struct.pack("<II", SKIPPABLE_MAGIC, len(body)) + body


def decode_header(payload: bytes) -> Optional[SegmentHeader]:
    """Parse a skippable frame's payload; None when it is not a valid evlog header.

    Raises FormatVersionError for a well-formed header of a newer format version.
    """
    if len(payload) < _HEADER_FIXED.size + 4 or payload[:8] != SEGMENT_MAGIC:
        return None
    magic, version, _flags, seg, first, idlen = _HEADER_FIXED.unpack_from(payload)
    end = _HEADER_FIXED.size + idlen
    if len(payload) != end + 4 or struct.unpack_from("<I", payload, end)[0] != zlib.crc32(payload[:end]):
        return None
    if idlen == 0:  # a run id of length 0 is not a header a writer writes (spec/format.md 2.1)
        return None
    if version != FORMAT_VERSION:
        raise FormatVersionError(
            f"segment format version {version} is not readable by this evlog "
            f"(it reads version {FORMAT_VERSION}); upgrade evlog to read this run"
        )
    try:
        rid = payload[_HEADER_FIXED.size:end].decode("ascii")
    except UnicodeDecodeError:
        return None
    return SegmentHeader(version, seg, first, rid)


class _Truncated(Exception):
    pass


class _Malformed(Exception):
    pass


def zstd_frame_end(data: bytes, pos: int) -> int:
    """Offset just past the zstd frame (ordinary or skippable) starting at `pos`.

    Walks the frame and block headers of RFC 8878 without decompressing. Raises _Truncated when
    the bytes end before the frame does, _Malformed when the headers are impossible.
    """
    n = len(data)
    if pos + 4 > n:
        rest = bytes(data[pos:n])
        if ZSTD_MAGIC_BYTES.startswith(rest) or _HEADER_MAGIC_BYTES.startswith(rest):
            raise _Truncated
        raise _Malformed("stray bytes shorter than a frame magic")
    (magic,) = struct.unpack_from("<I", data, pos)
    if magic & 0xFFFFFFF0 == 0x184D2A50:
        if pos + 8 > n:
            raise _Truncated
        end = pos + 8 + struct.unpack_from("<I", data, pos + 4)[0]
        if end > n:
            raise _Truncated
        return end
    if magic != ZSTD_MAGIC:
        raise _Malformed("no zstd frame magic")
    p = pos + 4
    if p >= n:
        raise _Truncated
    fhd = data[p]
    p += 1
    if fhd & 0x08:
        raise _Malformed("reserved bit set in zstd frame header")
    fcs_flag, single, checksum, did_flag = fhd >> 6, (fhd >> 5) & 1, (fhd >> 2) & 1, fhd & 3
    window = _BLOCK_MAX
    if not single:
        if p >= n:
            raise _Truncated
        wd = data[p]
        base = 1 << (10 + (wd >> 3))
        window = base + (base >> 3) * (wd & 7)
    p += (0 if single else 1) + (0, 1, 2, 4)[did_flag]
    fcs_len = ((1 if single else 0), 2, 4, 8)[fcs_flag]
    if single:  # the window is the content size (RFC 8878 3.1.1.1.2)
        if p + fcs_len > n:
            raise _Truncated
        window = int.from_bytes(data[p:p + fcs_len], "little") + (256 if fcs_len == 2 else 0)
    p += fcs_len
    block_max = min(window, _BLOCK_MAX)
    while True:
        if p + 3 > n:
            raise _Truncated
        bh = data[p] | (data[p + 1] << 8) | (data[p + 2] << 16)
        p += 3
        last, btype, bsize = bh & 1, (bh >> 1) & 3, bh >> 3
        if btype == 3:
            raise _Malformed("reserved zstd block type")
        if bsize > block_max:
            raise _Malformed("zstd block larger than the frame's block maximum")
        p += 1 if btype == 1 else bsize
        if p > n:
            raise _Truncated
        if last:
            break
    p += 4 if checksum else 0
    if p > n:
        raise _Truncated
    return p


def _is_envelope(obj: object) -> bool:
    """[seq (int >= 0), type (str), time (int or float, not bool), body (map), ...] (spec 2.3)."""
    return (
        type(obj) is list
        and len(obj) >= 4
        and type(obj[0]) is int
        and obj[0] >= 0
        and type(obj[1]) is str
        and type(obj[2]) in (int, float)
        and type(obj[3]) is dict
    )


def decode_records(payload: bytes) -> List[Record]:
    """Decode a frame's content into records; _Malformed when it is not a sequence of envelopes."""
    out: List[Record] = []
    unpacker = msgpack.Unpacker(raw=False, strict_map_key=False, max_buffer_size=max(len(payload), 1))
    try:
        unpacker.feed(payload)
        for obj in unpacker:
            if not _is_envelope(obj):
                raise _Malformed("a msgpack value is not a record envelope")
            out.append(Record(obj[0], obj[1], float(obj[2]), obj[3]))
    except _Malformed:
        raise
    except Exception as exc:  # msgpack raises several types for undecodable bytes
        raise _Malformed(f"undecodable msgpack ({type(exc).__name__})") from None
    if unpacker.tell() != len(payload):
        raise _Malformed("frame ends inside a msgpack record")
    return out


class Frame(namedtuple("Frame", "offset end records")):
    """A complete, checksummed frame of records found at [offset, end)."""

    __slots__ = ()


class Torn(namedtuple("Torn", "offset length")):
    """Bytes at the end that do not (yet) form a complete frame."""

    __slots__ = ()


class Skipped(namedtuple("Skipped", "offset length reason")):
    """Damaged bytes at [offset, offset+length), skipped to resync on the next frame."""

    __slots__ = ()


class HeaderFrame(namedtuple("HeaderFrame", "offset end header")):
    """The skippable frame at [offset, end); header is None when it is not a valid evlog header."""

    __slots__ = ()


ScanItem = "Union[Frame, Torn, Skipped, HeaderFrame]"


def _parse_at(data: bytes, pos: int, dctx: zstandard.ZstdDecompressor) -> Union[Frame, HeaderFrame]:
    end = zstd_frame_end(data, pos)
    (magic,) = struct.unpack_from("<I", data, pos)
    if magic != ZSTD_MAGIC:
        payload = bytes(data[pos + 8:end])
        header = decode_header(payload) if magic == SKIPPABLE_MAGIC else None
        if header is None and payload[:8] == SEGMENT_MAGIC:
            # A damaged evlog header: its size field cannot be trusted either, so resync on the
            # next zstd frame instead of skipping (possibly good) frames that the size covers.
            raise _Malformed("bad segment header")
        return HeaderFrame(pos, end, header)
    try:
        dobj = dctx.decompressobj()
        payload = dobj.decompress(data[pos:end])
        if not dobj.eof:
            raise _Malformed("zstd frame does not end where its blocks say")
    except zstandard.ZstdError as exc:
        reason = "checksum mismatch" if "checksum" in str(exc).lower() else f"zstd: {exc}"
        raise _Malformed(reason) from None
    return Frame(pos, end, decode_records(payload))


UNFINISHED_BAD = "unfinished frame"  # how the reason of an unfinished frame that went bad begins


def _not_a_frame_prefix(data: bytes, pos: int, dctx: zstandard.ZstdDecompressor) -> Optional[str]:
    """Why the bytes from `pos` to the end cannot be the start of a frame a writer is writing (None
    when they can): a true prefix of a good record frame decompresses without error, and its
    content so far is whole record envelopes, then at most part of one."""
    if bytes(data[pos:pos + 4]) != ZSTD_MAGIC_BYTES:
        return None  # a shorter prefix of a magic, or the segment's header being written
    try:
        content = dctx.decompressobj().decompress(bytes(data[pos:]))
    except zstandard.ZstdError as exc:
        return f"{UNFINISHED_BAD} that does not decompress (zstd: {exc})"
    # the last value is cut short: its declared lengths may pass what is here, so no tighter bound
    unpacker = msgpack.Unpacker(raw=False, strict_map_key=False, max_buffer_size=max(len(content), 100 << 20))
    unpacker.feed(content)
    try:
        for obj in unpacker:
            if not _is_envelope(obj):
                return f"{UNFINISHED_BAD} holding a value that is not a record envelope"
    except Exception as exc:  # msgpack raises several types for undecodable bytes
        return f"{UNFINISHED_BAD} holding undecodable msgpack ({type(exc).__name__})"
    return None


def scan(data: bytes, start: int = 0) -> Iterator[ScanItem]:
    """Walk the frames of a segment's bytes from `start`, resyncing past damage.

    Yields HeaderFrame / Frame for good frames, Skipped for damage followed by a good frame (or
    ending the data), and at most one final Torn for a tail that looks like an unfinished frame.
    """
    dctx = zstandard.ZstdDecompressor()
    n = len(data)
    pos = start
    bad_at: Optional[int] = None  # start of the damaged run being skipped
    bad_reason = ""
    bad_truncated = False
    trunc_at: Optional[int] = None  # a frame start inside the damaged run whose bytes just end
    while pos < n:
        try:
            item = _parse_at(data, pos, dctx)
        except (_Truncated, _Malformed) as exc:
            if bad_at is None:
                bad_at, bad_truncated = pos, isinstance(exc, _Truncated)
                bad_reason = str(exc) or "truncated frame"
            elif isinstance(exc, _Truncated) and trunc_at is None:
                trunc_at = pos
            nxt = data.find(ZSTD_MAGIC_BYTES, pos + 1)
            if nxt < 0:
                break
            pos = nxt
            continue
        if bad_at is not None:
            yield Skipped(bad_at, pos - bad_at, bad_reason)
            bad_at, trunc_at = None, None
        yield item
        pos = item.end
    if bad_at is not None:
        why = _not_a_frame_prefix(data, bad_at, dctx) if bad_truncated else None
        if why is not None:
            yield Skipped(bad_at, n - bad_at, why)
        elif bad_truncated:
            yield Torn(bad_at, n - bad_at)
        elif trunc_at is not None:
            yield Skipped(bad_at, trunc_at - bad_at, bad_reason)
            yield Torn(trunc_at, n - trunc_at)
        else:
            yield Skipped(bad_at, n - bad_at, bad_reason)


def read_header(path) -> "Optional[SegmentHeader]":
    """The header of the segment file at `path`; None when it is unreadable or not a valid header."""
    try:
        with open(path, "rb") as f:
            head = f.read(512)
        return decode_header(head[8:8 + struct.unpack_from("<I", head, 4)[0]])
    except (OSError, struct.error):
        return None


def segment_headers(log_dir) -> "Iterator[Tuple[int, SegmentHeader]]":
    """(number, header) of each segment of a log folder, in order, skipping unreadable headers."""
    import os

    for number, name in list_segments(log_dir):
        header = read_header(os.path.join(log_dir, name))
        if header is not None:
            yield number, header


def list_segments(log_dir) -> List[Tuple[int, str]]:
    """(number, file name) of every segment file in a log folder, in order."""
    import os

    out = []
    try:
        names = os.listdir(log_dir)
    except FileNotFoundError:
        return []
    for name in names:
        m = SEGMENT_NAME.match(name)
        if m:
            out.append((int(m.group(1)), name))
    out.sort()
    return out



# ------------------------------------------------------------------ the journal (spec/format.md 5)
JOURNAL_NAME = "journal"
_ENTRY = struct.Struct("<II")  # payload length, CRC-32 of the payload


def journal_entry(payload: bytes) -> bytes:
    """One journal entry: the packed records `payload`, its length and CRC-32 before it."""
    return _ENTRY.pack(len(payload), zlib.crc32(payload)) + payload


def read_journal(path) -> "Tuple[List[Record], int]":
    """The records of the journal file at `path`, in order, and how many bytes at its end are not
    a whole, checksummed entry (a write in flight, or torn by a kill). No file: ([], 0)."""
    try:
        with open(path, "rb") as f:
            data = f.read()
    except OSError:
        return [], 0
    records: List[Record] = []
    pos, n = 0, len(data)
    while pos + _ENTRY.size <= n:
        length, crc = _ENTRY.unpack_from(data, pos)
        end = pos + _ENTRY.size + length
        if end > n:
            break
        payload = data[pos + _ENTRY.size:end]
        if zlib.crc32(payload) != crc:
            break
        try:
            records.extend(decode_records(payload))
        except _Malformed:
            break
        pos = end
    return records, n - pos


def journal_tail(items: "Iterator[ScanItem]", data: bytes, journal: "List[Record]") -> "Iterator[ScanItem]":
    """The last segment's `scan` items with the journal's records after them, as a Frame at the
    segment's end (or at its torn tail, where recovery frames them) that spans no bytes."""
    at = len(data)
    torn = None
    top = -1  # records the segment holds already (written just before the journal was emptied)
    for item in items:
        if isinstance(item, Torn):
            torn, at = item, item.offset
            continue
        if isinstance(item, Frame) and item.records:
            top = max(top, item.records[-1].seq)
        yield item
    journal = [r for r in journal if r.seq > top]
    if journal:
        yield Frame(at, at, journal)
    if torn is not None:
        yield torn
