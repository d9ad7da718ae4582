"""`Video`: a video file (mp4, GIF, WebM, Ogg, stored as it is) or an array encoded as GIF (Pillow)
or mp4 (imageio-ffmpeg); the mp4 box reader that finds a file's size, fps and frames; a video as
a GIF (for TensorBoard, which shows no mp4)."""
from __future__ import annotations

import io
import os
import struct

from .base import Media, MediaError, Prepared, _as_array, _caption, _file_map, _read_file
from .pixels import _need_pil, _pil_from_hwc, _to_uint8

DEFAULT_FPS = 4

VIDEO_FORMATS = ("gif", "mp4", "webm", "ogg")



def _check_fps(key, what, fps):
    if isinstance(fps, bool) or not isinstance(fps, (int, float)) or not (0 < fps <= 1000) or fps != fps:
        raise MediaError(f"key {key!r}: {what}: fps must be a number in (0, 1000], got {fps!r}")
    return int(fps) if float(fps).is_integer() else float(fps)


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
