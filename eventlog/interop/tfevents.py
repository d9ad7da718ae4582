"""TensorBoard event files (tfevents): the TFRecord framing and the Summary values, read by
`sync_tensorboard` (eventlog/integrations/tensorboard.py, incrementally) and `evlog import tensorboard`
(eventlog/interop/tb_import.py, whole files), and framed by the TensorBoard sink (frame()).

A file is a sequence of TFRecords: u64 length, masked CRC-32C of the length, data, masked CRC-32C of
the data (little endian); each data is an `Event` protobuf (tensorboard's or tensorboardX's
definitions, whichever is installed). Reading stops at the first damaged record; a record cut at the
end of a file is torn (it may still be being written).
"""
from __future__ import annotations

import os
import struct
from typing import Iterator, Optional

READ_CHUNK = 4 << 20
MAX_RECORD = 256 << 20
MAX_BINS = 512


# ---------------------------------------------------------------- CRC-32C
def _crc32c_table():
    poly = 0x82F63B78
    table = []
    for i in range(256):
        c = i
        for _ in range(8):
            c = (c >> 1) ^ poly if c & 1 else c >> 1
        table.append(c)
    return table


def _make_crc():
    try:
        from crc32c import crc32c as fast

        return fast
    except ImportError:
        pass
    table = _crc32c_table()

    def slow(data: bytes) -> int:
        c = 0xFFFFFFFF
        for b in data:
            c = table[(c ^ b) & 0xFF] ^ (c >> 8)
        return c ^ 0xFFFFFFFF

    return slow


_crc = None


def masked_crc(data: bytes) -> int:
    global _crc
    if _crc is None:
        _crc = _make_crc()
    c = _crc(data)
    return (((c >> 15) | (c << 17)) + 0xA282EAD8) & 0xFFFFFFFF


def frame(data: bytes) -> bytes:
    """`data` (a serialized Event) as one TFRecord: what the TensorBoard sink appends."""
    header = struct.pack("<Q", len(data))
    return header + struct.pack("<I", masked_crc(header)) + data + struct.pack("<I", masked_crc(data))


# ------------------------------------------------------------------ reading
class TFRecordTail:
    """Reads the whole TFRecords appended to a file since the last call; a torn last record waits.
    `copy_to`, when given, receives exactly the bytes consumed."""

    def __init__(self, path: str, copy_to=None, check_data_crc: bool = True) -> None:
        self.path = path
        self.offset = 0
        self.copy_to = copy_to
        self.check_data_crc = check_data_crc
        self.broken = None  # why the file is no longer followed

    def read(self) -> list:
        return list(self.records())

    def records(self) -> Iterator[bytes]:
        """The data of each whole record after the last one read, a chunk at a time."""
        if self.broken is not None:
            return
        try:
            size = os.path.getsize(self.path)
        except OSError:
            return
        if size < self.offset:
            self.broken = f"{self.path} became shorter ({size} < {self.offset} bytes read): no longer followed"
            return
        while size > self.offset:
            out: list = []
            start = self.offset
            with open(self.path, "rb") as f:
                f.seek(self.offset)
                data = f.read(min(size - self.offset, READ_CHUNK))
            pos = self._parse(data, out)
            if pos == 0:
                if self.broken is None and len(data) >= 12:
                    (length,) = struct.unpack_from("<Q", data, 0)
                    need = 12 + length + 4
                    if need > len(data) and self.offset + need <= size:  # one record larger than a chunk
                        with open(self.path, "rb") as f:
                            f.seek(self.offset)
                            data = f.read(need)
                        pos = self._parse(data, out)
                if pos == 0:
                    break
            if self.copy_to is not None:
                self.copy_to(data[:pos])
            self.offset += pos
            yield from out
            if pos < len(data) and (self.broken is not None or start + len(data) >= size):
                break  # damage, or a torn record at the end: read again once more is written

    def _parse(self, data: bytes, out: list) -> int:
        pos = 0
        n = len(data)
        while n - pos >= 12:
            header = data[pos:pos + 8]
            (length,) = struct.unpack_from("<Q", data, pos)
            (hcrc,) = struct.unpack_from("<I", data, pos + 8)
            if masked_crc(header) != hcrc or length > MAX_RECORD:
                self.broken = f"{self.path}: bad record header at byte {self.offset + pos}: no longer followed"
                break
            end = pos + 12 + length + 4
            if end > n:
                break  # torn (for now)
            payload = data[pos + 12:pos + 12 + length]
            if self.check_data_crc:
                (dcrc,) = struct.unpack_from("<I", data, pos + 12 + length)
                if masked_crc(payload) != dcrc:
                    self.broken = f"{self.path}: bad record checksum at byte {self.offset + pos}: no longer followed"
                    break
            out.append(payload)
            pos = end
        return pos


def event_class():
    """The `Event` protobuf class of the installed tensorboard (or tensorboardX) package; None without both."""
    try:
        from tensorboard.compat.proto.event_pb2 import Event
    except ImportError:
        try:
            from tensorboardX.proto.event_pb2 import Event
        except ImportError:
            return None
    return Event


# -------------------------------------------------------------- conversion
DT_FLOAT, DT_DOUBLE, DT_INT32, DT_STRING, DT_INT64, DT_HALF = 1, 2, 3, 7, 9, 19


def _tensor_values(t) -> list:
    """The numbers of a TensorProto (float/double/int/half), flat."""
    dt = t.dtype
    if t.tensor_content:
        fmt = {DT_FLOAT: "f", DT_DOUBLE: "d", DT_INT32: "i", DT_INT64: "q", DT_HALF: "e"}.get(dt)
        if fmt is None:
            return []
        size = struct.calcsize(fmt)
        return list(struct.unpack(f"<{len(t.tensor_content) // size}{fmt}", t.tensor_content))
    if dt == DT_FLOAT:
        return list(t.float_val)
    if dt == DT_DOUBLE:
        return list(t.double_val)
    if dt == DT_INT32:
        return list(t.int_val)
    if dt == DT_INT64:
        return list(t.int64_val)
    if dt == DT_HALF:
        return [struct.unpack("<e", struct.pack("<H", h))[0] for h in t.half_val]
    return []


def _rebin(edges: list, counts: list):
    if len(counts) <= MAX_BINS:
        return edges, counts
    k = -(-len(counts) // MAX_BINS)
    new_c = [sum(counts[i:i + k]) for i in range(0, len(counts), k)]
    new_e = edges[::k]
    if len(new_e) < len(new_c) + 1:
        new_e.append(edges[-1])
    else:
        new_e[-1] = edges[-1]
    return new_e, new_c


def histogram_from_proto(h):
    """(counts, edges) of a TensorBoard HistogramProto (only right bucket limits are stored: an
    empty first bucket gives the left edge, as tensorboardX writes them; else `min` does)."""
    limits = [float(x) for x in h.bucket_limit]
    counts = [float(c) for c in h.bucket]
    if not counts or len(limits) != len(counts):
        return None
    if len(counts) > 1 and counts[0] == 0:
        left, limits, counts = limits[0], limits[1:], counts[1:]
    else:
        left = float(h.min)
    # TF's last bucket ends at DBL_MAX: end it at the data's max
    if limits[-1] > 1e300 and float(h.max) < limits[-1]:
        limits[-1] = max(float(h.max), limits[-2] + 1e-12 if len(limits) > 1 else left + 1.0)
    if limits[0] < -1e300:
        limits[0] = float(h.min)
    edges = [left] + limits
    for i in range(1, len(edges)):
        if edges[i] <= edges[i - 1]:
            step = abs(edges[i - 1]) * 1e-9 or 1e-9
            edges[i] = edges[i - 1] + step
    edges, counts = _rebin(edges, counts)
    return [int(c) if c.is_integer() else c for c in counts], edges


def histogram_from_tensor(values: list):
    """(counts, edges) of a TF2 histogram tensor: rows [left, right, count]."""
    if not values or len(values) % 3:
        return None
    rows = [values[i:i + 3] for i in range(0, len(values), 3)]
    edges = [float(rows[0][0])] + [float(r[1]) for r in rows]
    counts = [float(r[2]) for r in rows]
    for i in range(1, len(edges)):
        if edges[i] <= edges[i - 1]:
            edges[i] = edges[i - 1] + (abs(edges[i - 1]) * 1e-9 or 1e-9)
    edges, counts = _rebin(edges, counts)
    return [int(c) if c.is_integer() else c for c in counts], edges


def convert_value(v, plugins: dict):
    """A history value (float, eventlog.Image/Histogram/Video) of a Summary.Value, or None to skip."""
    from ..media.base import Histogram
    from ..media.image import Image

    kind = v.WhichOneof("value")
    if kind == "simple_value":
        return float(v.simple_value)
    if kind == "image":
        return Image._from_encoded(v.image.encoded_image_string)
    if kind == "histo":
        hb = histogram_from_proto(v.histo)
        return Histogram(np_histogram=hb) if hb else None
    if kind == "tensor":
        plugin = v.metadata.plugin_data.plugin_name if v.HasField("metadata") else ""
        if plugin:
            plugins[v.tag] = plugin
        else:
            plugin = plugins.get(v.tag, "")
        t = v.tensor
        if plugin == "scalars" or (not plugin and t.dtype in (DT_FLOAT, DT_DOUBLE, DT_INT32, DT_INT64, DT_HALF)
                                   and not t.tensor_shape.dim):
            vals = _tensor_values(t)
            return float(vals[0]) if len(vals) == 1 else None
        if plugin == "histograms":
            hb = histogram_from_tensor(_tensor_values(t))
            return Histogram(np_histogram=hb) if hb else None
        if plugin == "images" and t.dtype == DT_STRING and len(t.string_val) >= 3:
            return Image._from_encoded(t.string_val[2])
    return None


class EventFile:
    """One event file read whole, for an import: `events()` yields its Events in file order and stops
    at the first damaged record; then `damage` says where and why, `torn_bytes` counts an unfinished
    last record, `undecodable` the records that are not Events (skipped)."""

    def __init__(self, path: str, Event=None) -> None:  # noqa: N803 - the protobuf class
        self.path = os.fspath(path)
        self.Event = Event or event_class()
        if self.Event is None:
            from ..errors import UsageError

            raise UsageError("reading TensorBoard event files needs the tensorboard or tensorboardX package: "
                             "pip install 'evlog[tensorboard]'")
        self.damage: Optional[str] = None
        self.torn_bytes = 0
        self.undecodable = 0

    def events(self) -> Iterator:
        tail = TFRecordTail(self.path)
        parse = self.Event.FromString
        for payload in tail.records():
            try:
                yield parse(payload)
            except Exception:  # noqa: BLE001 - not an Event: skip the record
                self.undecodable += 1
        if tail.broken is not None:
            self.damage = tail.broken.replace(": no longer followed", "")
        else:
            try:
                self.torn_bytes = max(0, os.path.getsize(self.path) - tail.offset)
            except OSError:
                pass


def first_event(path, Event):  # noqa: N803
    """The first Event of a file (its writer's file_version event, with the start time), or None."""
    try:
        with open(path, "rb") as f:
            header = f.read(12)
            if len(header) < 12 or masked_crc(header[:8]) != struct.unpack_from("<I", header, 8)[0]:
                return None
            (length,) = struct.unpack_from("<Q", header, 0)
            if length > MAX_RECORD:
                return None
            payload = f.read(length)
            crc = f.read(4)
    except OSError:
        return None
    if len(payload) < length or len(crc) < 4 or masked_crc(payload) != struct.unpack("<I", crc)[0]:
        return None
    try:
        return Event.FromString(payload)
    except Exception:  # noqa: BLE001
        return None
