"""Media values for `log()`: `Image`, `Histogram`, `Video`, `Table`, and `Audio` (audio.py), `Html`
(html.py) and the `plot.*` charts (plot.py) (spec/format.md, "Media").

A media value is turned into a small map in the history record. Images and videos are files in the
run folder, `media/<sha256>.<ext>`, named by the hash of their content (the same image logged
twice is stored once) and written atomically (temporary file + rename) before the record that
references them; a `files` record (kind "media") announces each new file so the HTTP sink uploads
it. Histograms are stored as bins in the record itself.

Nothing here is checked when the object is made: `log()` checks and encodes it, so that an error
names the key (`MediaError`, a `LogValueError`) and nothing of that call is written.

Pillow encodes images (PNG) and GIF videos; numpy converts arrays; imageio-ffmpeg (which ships an
ffmpeg binary) encodes mp4 videos from arrays. All are optional: `pip install 'evlog[media]'`.
None of them is imported until a media value is logged.
"""
from __future__ import annotations

import io
import os
import struct
import threading

from ..errors import LogValueError
from .base import (  # noqa: F401  (what values.py needs is below it, in eventlog/media/base.py)
    DEFAULT_BINS,
    MAX_BINS,
    MEDIA_DIR,
    Histogram,
    Media,
    MediaError,
    Prepared,
    _as_array,
    _caption,
    _file_map,
    _need_numpy,
    _read_file,
    _root_module,
    need_module,
)
from ..records.media import MEDIA_TYPES, is_media_map, media_kind  # noqa: F401  (eventlog.media.is_media_map, ...)


MAX_TABLE_ROWS = 100_000
MAX_TABLE_COLUMNS = 1000
DEFAULT_FPS = 4
PNG_COMPRESS_LEVEL = 3  # zlib level (Pillow's default is 6): about as small, ~1.5x faster (bench/media.py)
PIXEL_CACHE = 32         # encoded images remembered by the hash of their pixels (the same image again)
IMAGE_FORMATS = {"PNG": "png", "JPEG": "jpg", "GIF": "gif", "WEBP": "webp"}  # kept as they are
VIDEO_FORMATS = ("gif", "mp4", "webm", "ogg")


# ----------------------------------------------------------------- helpers
def _need_pil(key, what):
    return need_module("PIL.Image", "Pillow", what, key)


def _to_uint8(key, what, arr):
    """Pixel values as uint8: uint8 as is; bool as 0/255; other ints must be 0..255; floats in
    [0, 1] are scaled by 255, floats in [0, 255] are rounded; anything else is an error."""
    np = _need_numpy(key, what)
    kind = arr.dtype.kind
    if arr.dtype == np.uint8:
        return arr
    if kind == "b":
        return arr.astype(np.uint8) * 255
    if kind in "iu":
        if arr.size and (arr.min() < 0 or arr.max() > 255):
            raise MediaError(f"key {key!r}: {what}: integer pixel values must be 0..255, got "
                             f"{arr.min()}..{arr.max()}")
        return arr.astype(np.uint8)
    if kind == "f":
        if not np.isfinite(arr).all():
            raise MediaError(f"key {key!r}: {what}: {int((~np.isfinite(arr)).sum())} pixel values are NaN or "
                             "infinite")
        lo, hi = (float(arr.min()), float(arr.max())) if arr.size else (0.0, 0.0)
        if lo >= 0 and hi <= 1:
            return np.rint(arr * 255.0).astype(np.uint8)
        if lo >= 0 and hi <= 255:
            return np.rint(arr).astype(np.uint8)
        raise MediaError(f"key {key!r}: {what}: float pixel values must be in [0, 1] (or [0, 255]), got "
                         f"{lo:g}..{hi:g}")
    raise MediaError(f"key {key!r}: {what}: pixel values of dtype {arr.dtype} cannot be shown; give uint8 or "
                     "floats in [0, 1]")


def _pil_from_hwc(PILImage, arr):
    """A PIL image of a uint8 H×W or H×W×C (C = 1, 3, 4) array (mode L, RGB or RGBA from the shape)."""
    import numpy as np

    if arr.ndim == 3 and arr.shape[2] == 1:
        arr = arr[:, :, 0]
    return PILImage.fromarray(np.ascontiguousarray(arr))


def _png(pil) -> bytes:
    buf = io.BytesIO()
    pil.save(buf, format="PNG", compress_level=PNG_COMPRESS_LEVEL)
    return buf.getvalue()


def _check_fps(key, what, fps):
    if isinstance(fps, bool) or not isinstance(fps, (int, float)) or not (0 < fps <= 1000) or fps != fps:
        raise MediaError(f"key {key!r}: {what}: fps must be a number in (0, 1000], got {fps!r}")
    return int(fps) if float(fps).is_integer() else float(fps)


_pixel_cache: dict = {}  # (shape, mode, sha256 of the pixels) -> (png bytes, width, height); FIFO
_cache_lock = threading.Lock()


# ------------------------------------------------------------------- media
class Image(Media):
    """An image to log: `eventlog.Image(x, caption=None)`.

    `x` is a numpy array (or torch tensor) H×W, H×W×C or C×H×W with C = 1 (grey), 3 (RGB) or 4
    (RGBA) -- uint8, bool, or floats in [0, 1] (scaled by 255) or [0, 255] -- a PIL image, or the
    path of an image file (PNG, JPEG, GIF and WebP files are stored as they are; other formats
    Pillow reads are stored as PNG). Arrays and PIL images are stored as PNG.
    """

    _type = "image"

    def __init__(self, data_or_path, mode=None, caption=None) -> None:
        self._data = data_or_path
        self._mode = mode
        self._caption_arg = caption
        self._encoded = None  # (bytes, format) for images made from encoded bytes (tensorboard sync)

    @classmethod
    def _from_encoded(cls, data: bytes, caption=None) -> "Image":
        img = cls(None, caption=caption)
        img._encoded = bytes(data)
        return img

    def _encode(self, key: str) -> Prepared:
        caption = _caption(key, self._caption_arg)
        if self._mode is not None and not isinstance(self._mode, str):
            raise MediaError(f"key {key!r}: Image mode must be a PIL mode str like \"RGB\", got {self._mode!r}")
        data = self._data
        if self._encoded is not None:
            return self._from_bytes(key, self._encoded, caption, "image data")
        if isinstance(data, (str, os.PathLike)):
            return self._from_bytes(key, _read_file(key, "Image", data), caption, f"file {os.fspath(data)}")
        if data is None:
            raise MediaError(f"key {key!r}: Image needs an array, a PIL image or a file path, got None")
        mod = _root_module(data)
        if mod == "PIL" and hasattr(data, "save") and hasattr(data, "mode"):
            PILImage = _need_pil(key, "Image")
            pil = data
            if self._mode is not None and pil.mode != self._mode:
                pil = pil.convert(self._mode)
            if pil.mode not in ("1", "L", "LA", "P", "RGB", "RGBA", "I;16"):
                pil = pil.convert("RGBA" if "A" in pil.getbands() else "RGB")
            if pil.width < 1 or pil.height < 1:
                raise MediaError(f"key {key!r}: Image is empty ({pil.width}x{pil.height})")
            return _file_map("image", _png(pil), "png", width=pil.width, height=pil.height, format="png",
                             caption=caption)
        if isinstance(data, (bytes, bytearray, memoryview)):
            raise MediaError(f"key {key!r}: Image got bytes; give an array, a PIL image or a file path")
        arr = _as_array(key, "Image", data)
        PILImage = _need_pil(key, "Image")
        if arr.dtype.kind not in "biuf":
            raise MediaError(f"key {key!r}: Image: an array of dtype {arr.dtype} is not an image")
        shape = tuple(arr.shape)
        if arr.ndim == 3 and shape[0] in (1, 3, 4) and shape[2] > 4:
            arr = arr.transpose(1, 2, 0)  # C×H×W (a last side of 1..4 pixels is taken as channels)
        if not (arr.ndim == 2 or (arr.ndim == 3 and arr.shape[2] in (1, 3, 4))):
            raise MediaError(f"key {key!r}: Image: an array of shape {shape} is not an image; give H×W, H×W×C or "
                             "C×H×W with C = 1, 3 or 4")
        if arr.shape[0] < 1 or arr.shape[1] < 1:
            raise MediaError(f"key {key!r}: Image: an array of shape {shape} is empty")
        arr = _to_uint8(key, "Image", arr)
        import numpy as np

        import hashlib

        arr = np.ascontiguousarray(arr)
        digest = (arr.shape, self._mode, hashlib.sha256(arr.data).digest())
        cached = _pixel_cache.get(digest)
        if cached is None:
            pil = _pil_from_hwc(PILImage, arr)
            if self._mode is not None and pil.mode != self._mode:
                try:
                    pil = pil.convert(self._mode)
                except ValueError as exc:
                    raise MediaError(f"key {key!r}: Image: cannot convert to mode {self._mode!r} ({exc})") from None
            cached = (_png(pil), pil.width, pil.height)
            with _cache_lock:
                while len(_pixel_cache) >= PIXEL_CACHE:
                    _pixel_cache.pop(next(iter(_pixel_cache)))
                _pixel_cache[digest] = cached
        data, width, height = cached
        return _file_map("image", data, "png", width=width, height=height, format="png", caption=caption)

    def _from_bytes(self, key, raw: bytes, caption, what) -> Prepared:
        PILImage = _need_pil(key, "Image")
        try:
            with PILImage.open(io.BytesIO(raw)) as pil:
                fmt = pil.format
                width, height = pil.size
                frames = getattr(pil, "n_frames", 1)
                pil.load()  # decode the pixels: a truncated or corrupt file fails here
                if fmt not in IMAGE_FORMATS:
                    return _file_map("image", _png(pil.convert("RGBA" if "A" in pil.getbands() else "RGB")),
                                     "png", width=width, height=height, format="png", caption=caption)
        except MediaError:
            raise
        except Exception as exc:  # noqa: BLE001 - PIL raises many kinds
            raise MediaError(f"key {key!r}: Image: {what} is not a readable image ({exc})") from None
        if fmt == "GIF" and frames > 1:
            # an animated GIF (TensorBoard's videos): a video
            return Video._gif_map(key, raw, caption)
        ext = IMAGE_FORMATS[fmt]
        return _file_map("image", raw, ext, width=width, height=height, format=ext, caption=caption)


class Table(Media):
    """A table to log: `eventlog.Table(columns=["id", "guess", "truth"], data=[[0, "cat", "dog"], ...])`,
    rows added with `table.add_data(1, "dog", "dog")`, or `eventlog.Table(dataframe=df)` (pandas).

    Cells are None, bool, int, float (NaN and infinities kept), str, numpy/torch scalars, lists of
    those (and arrays, as log() takes them), and media values (Image, Video, Histogram, Audio, ...:
    any `Media` but a Table), as Lightning's and accelerate's `log_table` put `wandb.Image` in them.
    The table is stored as a JSON file (`{"columns": [...], "data": [[...], ...]}`, non-finite floats
    as "NaN", "Infinity", "-Infinity", a media cell as its media map, its file stored as log()
    stores it) named by its hash; the record holds
    `{"_type": "table", "sha256", "path", "size", "columns", "nrows"}`. At most 100,000 rows and
    1,000 columns.
    """

    _type = "table"

    def __init__(self, columns=None, data=None, rows=None, dataframe=None) -> None:
        self._columns = columns
        self._rows = [list(r) for r in (data if data is not None else rows or [])] if dataframe is None else None
        self._dataframe = dataframe

    @property
    def columns(self) -> list:
        if self._dataframe is not None:
            return [str(c) for c in self._dataframe.columns]
        if self._columns is not None:
            return list(self._columns)
        return [str(i) for i in range(len(self._rows[0]))] if self._rows else []

    @property
    def data(self) -> list:
        """The rows (lists of cells), as given."""
        if self._dataframe is not None:
            return [list(r) for r in self._dataframe.itertuples(index=False, name=None)]
        return [list(r) for r in self._rows]

    def add_data(self, *row) -> None:
        """Append one row (a cell per column)."""
        if self._dataframe is not None:
            raise MediaError("Table.add_data: this table is a dataframe's; add rows to the dataframe")
        self._rows.append(list(row))
        self._prepared = None  # logged again, the table is encoded again

    def _encode(self, key: str) -> Prepared:
        from ..rundir.export import json_text
        from ..values import normalize_log_value

        columns = self.columns
        if not all(isinstance(c, str) and c for c in columns):
            raise MediaError(f"key {key!r}: Table columns must be non-empty str, got {columns!r}")
        if len(set(columns)) != len(columns):
            raise MediaError(f"key {key!r}: Table columns must differ, got {columns!r}")
        if len(columns) > MAX_TABLE_COLUMNS:
            raise MediaError(f"key {key!r}: Table has {len(columns)} columns; at most {MAX_TABLE_COLUMNS}")
        rows = self.data
        if len(rows) > MAX_TABLE_ROWS:
            raise MediaError(f"key {key!r}: Table has {len(rows)} rows; at most {MAX_TABLE_ROWS}: log a sample")
        out = []
        batch = MediaBatch()  # the files of media cells, stored with the table by the log() call

        def cell_media(where: str, value: Media) -> dict:
            if isinstance(value, Table):
                raise MediaError(f"key {where!r}: a Table cell holding a Table; log the inner table under a key "
                                 "of its own")
            return batch(where, value)

        for i, row in enumerate(rows):
            if len(row) != len(columns):
                raise MediaError(f"key {key!r}: Table row {i} has {len(row)} cells for {len(columns)} columns "
                                 f"{columns!r}")
            cells = []
            for col, v in zip(columns, row):
                if isinstance(v, dict):
                    raise MediaError(f"key {key!r}: Table row {i}, column {col!r}: a {type(v).__name__} cell; "
                                     "cells hold numbers, str, bools, None, lists of those, or media values")
                try:
                    cells.append(normalize_log_value(f"{key}[{i}][{col}]", v, 0, cell_media))
                except MediaError:
                    raise
                except LogValueError as exc:
                    raise MediaError(str(exc)) from None
            out.append(cells)
        raw = json_text({"columns": columns, "data": out}).encode()  # non-finite floats as "NaN", ...
        p = _file_map("table", raw, "json", columns=columns, nrows=len(out))
        p.files = batch.files or None
        return p


class Video(Media):
    """A video to log: `eventlog.Video(path)` (an mp4, GIF, WebM or Ogg file, stored as it is) or
    `eventlog.Video(array, fps=4, format="gif")` with a numpy array (or torch tensor) T×C×H×W
    (time, channels 1/3/4, height, width), uint8 or floats in [0, 1].

    Arrays are encoded as GIF (Pillow) or, with format="mp4", as H.264 mp4 (imageio-ffmpeg).
    """

    _type = "video"

    def __init__(self, data_or_path, caption=None, fps=None, format=None) -> None:  # noqa: A002
        self._data = data_or_path
        self._caption_arg = caption
        self._fps = fps
        self._format = format

    def _encode(self, key: str) -> Prepared:
        caption = _caption(key, self._caption_arg)
        fmt = self._format
        if fmt is not None and (not isinstance(fmt, str) or fmt.lower() not in VIDEO_FORMATS):
            raise MediaError(f"key {key!r}: Video format must be one of {', '.join(VIDEO_FORMATS)}, got {fmt!r}")
        fmt = fmt.lower() if fmt else None
        data = self._data
        if isinstance(data, (str, os.PathLike)):
            raw = _read_file(key, "Video", data)
            what = f"file {os.fspath(data)}"
            found = sniff_video(raw)
            if found is None:
                raise MediaError(f"key {key!r}: Video: {what} is not an mp4, GIF, WebM or Ogg video")
            if fmt is not None and fmt != found:
                raise MediaError(f"key {key!r}: Video: {what} is {found}, not {fmt}")
            if found == "gif":
                return self._gif_map(key, raw, caption, self._fps)
            meta = mp4_info(raw) if found == "mp4" else {}
            if meta is None:
                raise MediaError(f"key {key!r}: Video: {what} is not a readable mp4 (no video track found)")
            fps = _check_fps(key, "Video", self._fps) if self._fps is not None else meta.get("fps")
            return _file_map("video", raw, found, fps=fps, frames=meta.get("frames"), width=meta.get("width"),
                             height=meta.get("height"), format=found, caption=caption)
        if data is None:
            raise MediaError(f"key {key!r}: Video needs a file path or a T×C×H×W array, got None")
        fps = _check_fps(key, "Video", self._fps if self._fps is not None else DEFAULT_FPS)
        fmt = fmt or "gif"
        if fmt not in ("gif", "mp4"):
            raise MediaError(f"key {key!r}: Video: arrays are encoded as gif or mp4, not {fmt}")
        arr = _as_array(key, "Video", data)
        shape = tuple(arr.shape)
        if arr.dtype.kind not in "biuf" or arr.ndim != 4 or shape[1] not in (1, 3, 4):
            hint = ""
            if arr.ndim == 4 and shape[3] in (1, 3, 4):
                hint = " (this looks like T×H×W×C: pass array.transpose(0, 3, 1, 2))"
            raise MediaError(f"key {key!r}: Video: an array of shape {shape} and dtype {arr.dtype} is not a video; "
                             f"give T×C×H×W (time, channels 1/3/4, height, width){hint}")
        if 0 in shape:
            raise MediaError(f"key {key!r}: Video: an array of shape {shape} is empty")
        arr = _to_uint8(key, "Video", arr).transpose(0, 2, 3, 1)  # T×H×W×C
        if arr.shape[3] == 4:
            arr = arr[:, :, :, :3]
        t, h, w = arr.shape[0], arr.shape[1], arr.shape[2]
        if fmt == "gif":
            raw = _encode_gif(key, arr, fps)
        else:
            raw = _encode_mp4(key, arr, fps)
        return _file_map("video", raw, fmt, fps=fps, frames=t, width=w, height=h, format=fmt, caption=caption)

    @staticmethod
    def _gif_map(key, raw, caption, fps=None) -> Prepared:
        PILImage = _need_pil(key, "Video")
        try:
            with PILImage.open(io.BytesIO(raw)) as pil:
                if pil.format != "GIF":
                    raise ValueError(f"a {pil.format} image")
                frames = getattr(pil, "n_frames", 1)
                width, height = pil.size
                duration = pil.info.get("duration") or 0
                pil.seek(frames - 1)
                pil.load()
        except Exception as exc:  # noqa: BLE001
            raise MediaError(f"key {key!r}: Video: not a readable GIF ({exc})") from None
        if fps is None:
            fps = round(1000.0 / duration, 3) if duration else DEFAULT_FPS
            fps = int(fps) if float(fps).is_integer() else fps
        else:
            fps = _check_fps(key, "Video", fps)
        return _file_map("video", raw, "gif", fps=fps, frames=frames, width=width, height=height, format="gif",
                         caption=caption)


def _encode_gif(key, frames, fps) -> bytes:
    """GIF bytes of uint8 T×H×W×C frames (C = 1 or 3), looping."""
    PILImage = _need_pil(key, "Video (gif)")
    imgs = [_pil_from_hwc(PILImage, f) for f in frames]
    buf = io.BytesIO()
    imgs[0].save(buf, format="GIF", save_all=True, append_images=imgs[1:], duration=max(10, round(1000 / fps)),
                 loop=0, optimize=False)
    return buf.getvalue()


def _encode_mp4(key, frames, fps) -> bytes:
    """H.264 mp4 bytes of uint8 T×H×W×C frames (imageio-ffmpeg's bundled ffmpeg)."""
    try:
        import imageio_ffmpeg
    except ImportError:
        raise MediaError(f"key {key!r}: Video format=\"mp4\" needs imageio-ffmpeg, which is not installed; install "
                         "it with: pip install 'evlog[media]' (or log format=\"gif\")") from None
    import tempfile

    import numpy as np

    if frames.shape[3] == 1:
        frames = np.repeat(frames, 3, axis=3)
    t, h, w = frames.shape[:3]
    ph, pw = h + (h % 2), w + (w % 2)  # yuv420p needs even sides
    if (ph, pw) != (h, w):
        frames = np.pad(frames, ((0, 0), (0, ph - h), (0, pw - w), (0, 0)), mode="edge")
    fd, tmp = tempfile.mkstemp(suffix=".mp4", prefix="evlog-video-")
    os.close(fd)
    try:
        writer = imageio_ffmpeg.write_frames(
            tmp, (pw, ph), fps=fps, codec="libx264", pix_fmt_in="rgb24", pix_fmt_out="yuv420p",
            macro_block_size=1, ffmpeg_log_level="error",
            output_params=["-fflags", "+bitexact", "-flags:v", "+bitexact", "-movflags", "+faststart"])
        writer.send(None)
        for f in frames:
            writer.send(np.ascontiguousarray(f).tobytes())
        writer.close()
        with open(tmp, "rb") as f:
            return f.read()
    except MediaError:
        raise
    except Exception as exc:  # noqa: BLE001
        raise MediaError(f"key {key!r}: Video: ffmpeg could not encode the mp4 ({exc})") from None
    finally:
        try:
            os.unlink(tmp)
        except OSError:
            pass


# ------------------------------------------------------------- video files
def sniff_video(raw: bytes):
    """The container of video bytes: "mp4", "gif", "webm", "ogg", or None."""
    if raw[:6] in (b"GIF87a", b"GIF89a"):
        return "gif"
    if raw[4:8] == b"ftyp":
        return "mp4"
    if raw[:4] == b"\x1a\x45\xdf\xa3":
        return "webm"
    if raw[:4] == b"OggS":
        return "ogg"
    return None


def _boxes(buf: bytes, start: int, end: int):
    """(type, payload start, payload end) of the ISO-BMFF boxes in buf[start:end]."""
    pos = start
    while pos + 8 <= end:
        size, kind = struct.unpack_from(">I4s", buf, pos)
        head = 8
        if size == 1:
            if pos + 16 > end:
                return
            size = struct.unpack_from(">Q", buf, pos + 8)[0]
            head = 16
        elif size == 0:
            size = end - pos
        if size < head or pos + size > end:
            return
        yield kind, pos + head, pos + size
        pos += size


def mp4_info(raw: bytes):
    """{"frames", "fps", "width", "height"} of the first video track of an mp4, or None when the
    file has no readable video track (a truncated or damaged file)."""
    moov = next(((s, e) for k, s, e in _boxes(raw, 0, len(raw)) if k == b"moov"), None)
    if moov is None:
        return None
    for kind, s, e in _boxes(raw, *moov):
        if kind != b"trak":
            continue
        info = {}
        handler = None
        for k2, s2, e2 in _boxes(raw, s, e):
            if k2 == b"tkhd" and e2 - s2 >= 8:
                info["width"] = struct.unpack_from(">I", raw, e2 - 8)[0] >> 16
                info["height"] = struct.unpack_from(">I", raw, e2 - 4)[0] >> 16
            elif k2 == b"mdia":
                for k3, s3, e3 in _boxes(raw, s2, e2):
                    if k3 == b"hdlr" and e3 - s3 >= 12:
                        handler = raw[s3 + 8:s3 + 12]
                    elif k3 == b"mdhd" and e3 - s3 >= 24:
                        if raw[s3] == 1:
                            scale, dur = struct.unpack_from(">IQ", raw, s3 + 20)
                        else:
                            scale, dur = struct.unpack_from(">II", raw, s3 + 12)
                        info["timescale"], info["duration"] = scale, dur
                    elif k3 == b"minf":
                        stbl = next(((a, b) for k4, a, b in _boxes(raw, s3, e3) if k4 == b"stbl"), None)
                        if stbl:
                            for k5, s5, e5 in _boxes(raw, *stbl):
                                if k5 in (b"stsz", b"stz2") and e5 - s5 >= 12:
                                    info["frames"] = struct.unpack_from(">I", raw, s5 + 8)[0]
        if handler != b"vide":
            continue
        frames, scale, dur = info.get("frames"), info.get("timescale"), info.get("duration")
        fps = None
        if frames and scale and dur:
            fps = round(frames * scale / dur, 3)
            fps = int(fps) if float(fps).is_integer() else fps
        return {"frames": frames, "fps": fps, "width": info.get("width"), "height": info.get("height")}
    return None


def video_as_gif(raw: bytes, fmt: str, fps) -> bytes:
    """GIF bytes of a stored video (TensorBoard shows videos as animated GIF images): GIF files as
    they are; mp4/WebM/Ogg decoded with imageio-ffmpeg. Raises RuntimeError when it cannot."""
    if fmt == "gif":
        return raw
    try:
        import imageio_ffmpeg
        import numpy as np
    except ImportError as exc:
        raise RuntimeError(f"decoding {fmt} videos needs imageio-ffmpeg and numpy ({exc})") from None
    import tempfile

    fd, tmp = tempfile.mkstemp(suffix="." + fmt, prefix="evlog-video-")
    try:
        os.write(fd, raw)
        os.close(fd)
        gen = imageio_ffmpeg.read_frames(tmp, pix_fmt="rgb24")
        meta = next(gen)
        w, h = meta["size"]
        frames = [np.frombuffer(b, np.uint8).reshape(h, w, 3) for b in gen]
    except Exception as exc:  # noqa: BLE001
        raise RuntimeError(f"cannot decode the {fmt} video ({exc})") from None
    finally:
        try:
            os.unlink(tmp)
        except OSError:
            pass
    if not frames:
        raise RuntimeError(f"the {fmt} video has no frames")
    return _encode_gif("video", np.stack(frames), fps or meta.get("fps") or DEFAULT_FPS)


# ------------------------------------------------------------ the run side
class MediaBatch:
    """Collects the files of the media values of one `log()` call (the `media` hook of
    `values.normalize_log_data`), so they are written only once every value was accepted."""

    __slots__ = ("files",)

    def __init__(self) -> None:
        self.files = {}

    def __call__(self, key: str, value: Media) -> dict:
        p = value._prepare(key)
        if p.files:
            self.files.update(p.files)
        if p.path is not None:
            self.files[p.path] = p.data
        return dict(p.map)


def store(folder, files: dict, known: set) -> list:
    """Write the media files (rel path -> bytes) into the run folder, each atomically (temporary
    file, then rename) and only when not there yet; return the `files` record entries of those not
    announced before (not in `known`; the caller adds them once the record is appended)."""
    entries = []
    media_dir = os.path.join(os.fspath(folder), MEDIA_DIR)
    made = False
    for rel, data in files.items():
        if rel in known:
            continue
        dest = os.path.join(os.fspath(folder), rel)
        if not os.path.exists(dest):
            if not made:
                os.makedirs(media_dir, exist_ok=True)
                made = True
            from ..util.atomic import write_atomic  # not at import: `import eventlog.media` stays light

            write_atomic(dest, data)
        sha = rel.rsplit("/", 1)[-1].split(".", 1)[0]
        entries.append({"path": rel, "sha256": sha, "size": len(data), "kind": "media"})
    return entries


_OWN_MODULES = {"Audio": ".audio", "Html": ".html"}  # media values of their own modules, loaded when first used


def __getattr__(name: str):
    mod = _OWN_MODULES.get(name)
    if mod is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    import importlib

    return getattr(importlib.import_module(mod, __name__), name)
