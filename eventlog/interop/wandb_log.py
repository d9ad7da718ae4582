"""Reading a wandb transaction log (`run-<id>.wandb`): its records, decoded with the wandb package's
own protobuf definitions (`wandb.proto.wandb_internal_pb2.Record`), read around damage.

The file is a LevelDB-style log (github.com/google/leveldb doc/log_format.md) behind a 7-byte header
`:W&B`, u16 0xBEE1, u8 version 0: 32 KiB blocks of chunks, each `u32 crc, u16 length, u8 type`
(1 full, 2 first, 3 middle, 4 last) then `length` bytes; the crc is zlib's CRC-32 of the type byte
followed by the bytes; a block's last < 7 bytes are zero padding. A chunk that fails its checks is
damage: reading goes on at the next block (the next place a chunk is known to start) and the bytes
passed over are reported; a file ending inside a chunk is a torn tail (a writer killed mid-write).
"""
from __future__ import annotations

import mmap
import struct
import sys
import zlib
from typing import Any, Iterator, List, NamedTuple

from ..errors import ImportSourceError

BLOCK = 32768
CHUNK_HEADER = 7
FILE_HEADER = b":W&B" + struct.pack("<HB", 0xBEE1, 0)
FULL, FIRST, MIDDLE, LAST = 1, 2, 3, 4
_TYPE_CRC = {t: zlib.crc32(bytes([t])) for t in (FULL, FIRST, MIDDLE, LAST)}
_HEADER = struct.Struct("<IHB")


class Damage(NamedTuple):
    """Bytes of the file that could not be read: where, how many, why."""

    offset: int
    length: int
    reason: str

    def __str__(self) -> str:
        return f"{self.length} bytes unreadable at offset {self.offset} ({self.reason})"


def record_class() -> Any:
    """wandb's `Record` protobuf class; ImportSourceError when the real wandb package is not there."""
    shim = sys.modules.get("wandb")
    if shim is not None and getattr(shim, "__name__", "") == "eventlog.compat.wandb":
        raise ImportSourceError("this process did `import eventlog.compat.wandb`, so `import wandb` is evlog, not "
                                "the wandb package that reads .wandb files; run `evlog import wandb` in a process "
                                "without that line (the evlog command is one)")
    try:
        from wandb.proto import wandb_internal_pb2
    except ImportError as exc:
        raise ImportSourceError(f"reading .wandb files needs the wandb package ({exc}); install it with: "
                                "pip install 'evlog[wandb-import]'") from None
    return wandb_internal_pb2.Record


class TransactionLog:
    """The records of one .wandb file, in order: `for offset, data in log.chunks()` gives each
    record's bytes, `records()` each decoded Record. Afterwards `damage` lists what was skipped and
    `torn` how many bytes at the end were not a whole record."""

    def __init__(self, path: str) -> None:
        self.path = str(path)
        self.damage: List[Damage] = []
        self.torn = 0
        self.size = 0
        self.pos = 0  # the offset after the last record given

    def _damage(self, offset: int, end: int, reason: str) -> None:
        last = self.damage[-1] if self.damage else None
        if last is not None and last.offset + last.length == offset:  # one stretch of bad bytes, one report
            self.damage[-1] = Damage(last.offset, end - last.offset, last.reason)
        else:
            self.damage.append(Damage(offset, end - offset, reason))

    def chunks(self) -> Iterator[tuple]:
        """(offset, bytes) of each whole record in the file."""
        with open(self.path, "rb") as f:
            size = self.size = f.seek(0, 2)
            if size == 0:
                return
            with mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ) as mm:
                head = mm[:CHUNK_HEADER]
                if not FILE_HEADER.startswith(head[:4]) or (len(head) == CHUNK_HEADER and head != FILE_HEADER):
                    raise ImportSourceError(f"{self.path} is not a wandb transaction log (it does not begin with "
                                            f"the :W&B header)")
                if size < CHUNK_HEADER:
                    self.torn = size
                    return
                yield from self._scan(mm, size)

    def _scan(self, mm: mmap.mmap, size: int) -> Iterator[tuple]:
        pos = CHUNK_HEADER
        parts: List[bytes] = []
        start = 0
        unpack = _HEADER.unpack_from
        crc32 = zlib.crc32
        while pos < size:
            room = BLOCK - pos % BLOCK
            if room < CHUNK_HEADER:
                pos += room  # the block's zero padding
                continue
            if pos + CHUNK_HEADER > size:
                self._end(mm, pos, size, parts, start)
                return
            crc, n, kind = unpack(mm, pos)
            end = pos + CHUNK_HEADER + n
            if kind == 0 and n == 0 and crc == 0 and not mm[pos:min(size, pos + BLOCK)].strip(b"\0"):
                pos = (pos // BLOCK + 1) * BLOCK  # zeros a writer preallocated
                continue
            if CHUNK_HEADER + n > room or kind not in _TYPE_CRC:
                bad = "a chunk longer than its block" if kind in _TYPE_CRC else f"unknown chunk type {kind}"
            elif end > size:
                self._end(mm, pos, size, parts, start)
                return
            elif crc32(mm[pos + CHUNK_HEADER:end], _TYPE_CRC[kind]) != crc:
                bad = "checksum mismatch"
            else:
                data = mm[pos + CHUNK_HEADER:end]
                if kind == FULL or kind == FIRST:
                    if parts:
                        self._damage(start, pos, "a record cut off before its last chunk")
                    parts, start = [data], pos
                    if kind == FULL:
                        parts = []
                        self.pos = end
                        yield pos, data
                elif not parts:
                    self._damage(pos, end, "the rest of a record whose start is lost")
                else:
                    parts.append(data)
                    if kind == LAST:
                        self.pos = end
                        yield start, b"".join(parts)
                        parts = []
                pos = end
                continue
            # damage: a chunk starts again only at the next block
            nxt = min(size, (pos // BLOCK + 1) * BLOCK)
            self._damage(start if parts else pos, nxt, bad)
            parts = []
            pos = nxt

    def _end(self, mm: mmap.mmap, pos: int, size: int, parts: List[bytes], start: int) -> None:
        """The file ends inside a chunk (or a record's chunks): a torn tail, unless it is only zeros."""
        first = start if parts else pos
        if mm[pos:size].strip(b"\0"):
            self.torn = size - first
        elif parts:
            self.torn = pos - first

    def records(self) -> Iterator[Any]:
        """Each decoded wandb Record (its `num`, and one of history, run, config, ...); bytes that do
        not decode are damage."""
        Record = record_class()
        from google.protobuf.message import DecodeError

        for offset, data in self.chunks():
            rec = Record()
            try:
                rec.ParseFromString(data)
            except DecodeError as exc:
                self._damage(offset, offset + len(data), f"not a wandb record ({exc})")
                continue
            yield rec
