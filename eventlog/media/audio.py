"""`eventlog.Audio`: sound logged as a content-addressed audio file (spec/format.md section 7).

Arrays become 16-bit PCM WAV (the stdlib `wave` module); wav, mp3, ogg and flac files are stored
as they are, their sample rate, channels and duration read from their headers where the format
says them plainly (wav, flac; mp3 and ogg: only what their first header gives).
"""
from __future__ import annotations

import io
import os
import struct
from typing import Any, Optional

from .base import Media, MediaError, Prepared, _as_array, _caption, _file_map, _need_numpy, _read_file

MAX_CHANNELS = 16
MAX_SAMPLE_RATE = 1_000_000
# format -> file extension (Ogg audio is `.oga`: `.ogg` files are served as video)
AUDIO_EXT = {"wav": "wav", "mp3": "mp3", "ogg": "oga", "flac": "flac"}
_MP3_RATES = {3: (44100, 48000, 32000), 2: (22050, 24000, 16000), 0: (11025, 12000, 8000)}


class Audio(Media):
    """Sound to log: `eventlog.Audio(array, sample_rate=16000, caption=None)` with a numpy array
    (or torch tensor) of samples, 1-D (mono) or samples × channels, floats in [-1, 1] or ints
    (int16 as is; int32, uint8 scaled), stored as 16-bit WAV; or `eventlog.Audio(path)` with a wav,
    mp3, ogg or flac file, stored as it is."""

    _type = "audio"

    def __init__(self, data_or_path: Any, sample_rate: Optional[int] = None, caption: Optional[str] = None) -> None:
        self._data = data_or_path
        self._sample_rate = sample_rate
        self._caption_arg = caption

    def _encode(self, key: str) -> Prepared:
        caption = _caption(key, self._caption_arg)
        data = self._data
        if isinstance(data, (str, os.PathLike)):
            return _from_file(key, data, caption)
        if data is None:
            raise MediaError(f"key {key!r}: Audio needs an array of samples or a file path, got None")
        if isinstance(data, (bytes, bytearray, memoryview)):
            raise MediaError(f"key {key!r}: Audio got bytes; give an array of samples or the path of a wav, mp3, "
                             "ogg or flac file")
        rate = _check_rate(key, self._sample_rate)
        pcm, channels = _pcm16(key, _as_array(key, "Audio", data))
        buf = io.BytesIO()
        import wave

        with wave.open(buf, "wb") as w:
            w.setnchannels(channels)
            w.setsampwidth(2)
            w.setframerate(rate)
            w.writeframes(pcm)
        frames = len(pcm) // (2 * channels)
        return _file_map("audio", buf.getvalue(), "wav", format="wav", sample_rate=rate,
                         duration=round(frames / rate, 6), channels=channels, caption=caption)


def _check_rate(key: str, rate: Any) -> int:
    if rate is None:
        raise MediaError(f"key {key!r}: Audio of an array needs sample_rate= (samples per second, e.g. "
                         "eventlog.Audio(x, sample_rate=16000))")
    if isinstance(rate, bool) or not isinstance(rate, (int, float)) or rate != rate or int(rate) != rate \
            or not 1 <= rate <= MAX_SAMPLE_RATE:
        raise MediaError(f"key {key!r}: Audio sample_rate must be a whole number in 1..{MAX_SAMPLE_RATE}, "
                         f"got {rate!r}")
    return int(rate)


def _pcm16(key: str, arr: Any):
    """(little-endian int16 interleaved bytes, channels) of a samples or samples × channels array."""
    np = _need_numpy(key, "Audio")
    shape = tuple(arr.shape)
    if arr.ndim == 2 and shape[1] > MAX_CHANNELS and shape[0] <= MAX_CHANNELS:
        raise MediaError(f"key {key!r}: Audio: an array of shape {shape} has {shape[1]} channels; it looks like "
                         "channels × samples: pass array.T (samples × channels)")
    if arr.ndim not in (1, 2) or (arr.ndim == 2 and not 1 <= shape[1] <= MAX_CHANNELS):
        raise MediaError(f"key {key!r}: Audio: an array of shape {shape} is not sound; give samples (1-D, mono) or "
                         f"samples × channels (at most {MAX_CHANNELS})")
    if arr.size == 0:
        raise MediaError(f"key {key!r}: Audio: an array of shape {shape} holds no samples")
    kind = arr.dtype.kind
    if kind == "f":
        bad = int((~np.isfinite(arr)).sum())
        if bad:
            raise MediaError(f"key {key!r}: Audio: {bad} samples are NaN or infinite")
        peak = float(np.abs(arr).max())
        if peak > 1.0:
            raise MediaError(f"key {key!r}: Audio: float samples must be in [-1, 1], got a peak of {peak:g}; "
                             "scale them (x / abs(x).max()) or clip them (numpy.clip(x, -1, 1))")
        out = np.rint(arr.astype(np.float64) * 32767.0).astype("<i2")
    elif arr.dtype == np.int16:
        out = arr.astype("<i2")
    elif arr.dtype == np.int32:
        out = (arr.astype(np.int64) >> 16).astype("<i2")
    elif arr.dtype == np.uint8:
        out = ((arr.astype(np.int16) - 128) << 8).astype("<i2")
    elif kind in "iu":
        lo, hi = int(arr.min()), int(arr.max())
        if lo < -32768 or hi > 32767:
            raise MediaError(f"key {key!r}: Audio: integer samples of dtype {arr.dtype} must be 16-bit "
                             f"(-32768..32767), got {lo}..{hi}; give int16, int32 or floats in [-1, 1]")
        out = arr.astype("<i2")
    else:
        raise MediaError(f"key {key!r}: Audio: samples of dtype {arr.dtype} are not sound; give floats in [-1, 1] "
                         "or ints")
    channels = 1 if out.ndim == 1 else out.shape[1]
    return np.ascontiguousarray(out).tobytes(), channels


# ------------------------------------------------------------------- files
def sniff_audio(raw: bytes) -> Optional[str]:
    """The format of audio file bytes: "wav", "mp3", "ogg", "flac", or None."""
    if raw[:4] == b"RIFF" and raw[8:12] == b"WAVE":
        return "wav"
    if raw[:4] == b"fLaC":
        return "flac"
    if raw[:4] == b"OggS":
        return "ogg"
    if raw[:3] == b"ID3" or (len(raw) > 1 and raw[0] == 0xFF and raw[1] & 0xE0 == 0xE0):
        return "mp3"
    return None


def _from_file(key: str, path: Any, caption: Optional[str]) -> Prepared:
    raw = _read_file(key, "Audio", path)
    what = f"file {os.fspath(path)}"
    fmt = sniff_audio(raw)
    if fmt is None:
        raise MediaError(f"key {key!r}: Audio: {what} is not a wav, mp3, ogg or flac file")
    info = {"wav": _wav_info, "flac": _flac_info, "ogg": _ogg_info, "mp3": _mp3_info}[fmt](raw)
    if info is None:
        raise MediaError(f"key {key!r}: Audio: {what} looks like {fmt} but its header cannot be read "
                         "(a truncated or damaged file)")
    rate, channels, frames = info
    duration = round(frames / rate, 6) if frames is not None and rate else None
    return _file_map("audio", raw, AUDIO_EXT[fmt], format=fmt, sample_rate=rate, duration=duration,
                     channels=channels, caption=caption)


def _wav_info(raw: bytes):
    """(sample rate, channels, frames) of a RIFF WAVE file (any codec: from its fmt and data chunks)."""
    pos, fmt, data_size = 12, None, None
    while pos + 8 <= len(raw):
        cid, size = raw[pos:pos + 4], struct.unpack_from("<I", raw, pos + 4)[0]
        if cid == b"fmt " and size >= 16 and pos + 24 <= len(raw):
            fmt = struct.unpack_from("<HHIIHH", raw, pos + 8)
        elif cid == b"data":
            data_size = min(size, len(raw) - pos - 8)
            break
        pos += 8 + size + (size & 1)
    if fmt is None or data_size is None or not fmt[2] or not fmt[1]:
        return None
    _, channels, rate, _, block, _ = fmt
    return rate, channels, (data_size // block) if block else None


def _flac_info(raw: bytes):
    """(sample rate, channels, frames) from a FLAC STREAMINFO block (always the first)."""
    if len(raw) < 26 or raw[4] & 0x7F != 0:
        return None
    bits = int.from_bytes(raw[18:26], "big")
    rate, channels, total = bits >> 44, ((bits >> 41) & 7) + 1, bits & ((1 << 36) - 1)
    return (rate, channels, total or None) if rate else None


def _ogg_info(raw: bytes):
    """(sample rate, channels, None) from the identification header of an Ogg Vorbis or Opus stream."""
    if len(raw) < 28:
        return None
    body = raw[27 + raw[26]:]
    if body[:7] == b"\x01vorbis" and len(body) >= 16:
        return struct.unpack_from("<I", body, 12)[0], body[11], None
    if body[:8] == b"OpusHead" and len(body) >= 16:
        return 48000, body[9], None  # Opus always decodes at 48 kHz
    return None, None, None


def _mp3_info(raw: bytes):
    """(sample rate, channels, None) from the first MPEG audio frame header (after an ID3 tag)."""
    pos = 0
    if raw[:3] == b"ID3" and len(raw) >= 10:
        pos = 10 + ((raw[6] & 0x7F) << 21 | (raw[7] & 0x7F) << 14 | (raw[8] & 0x7F) << 7 | (raw[9] & 0x7F))
    end = min(len(raw) - 3, pos + 65536)
    while pos < end:
        if raw[pos] == 0xFF and raw[pos + 1] & 0xE0 == 0xE0:
            version, rate_i = (raw[pos + 1] >> 3) & 3, (raw[pos + 2] >> 2) & 3
            if version != 1 and rate_i != 3:
                return _MP3_RATES[version][rate_i], 1 if raw[pos + 3] >> 6 == 3 else 2, None
        pos += 1
    return None, None, None
