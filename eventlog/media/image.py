"""`Image`: an array, a PIL image or an image file, stored as `media/<sha256>.<ext>` (PNG for
arrays; PNG, JPEG, GIF and WebP files as they are). Pillow and numpy are imported when one is logged."""
from __future__ import annotations

import io
import os
import threading

from .base import Media, MediaError, Prepared, _as_array, _caption, _file_map, _read_file, _root_module
from .pixels import _need_pil, _pil_from_hwc, _png, _to_uint8
from .video import Video

PIXEL_CACHE = 32         # encoded images remembered by the hash of their pixels (the same image again)
IMAGE_FORMATS = {"PNG": "png", "JPEG": "jpg", "GIF": "gif", "WEBP": "webp"}  # kept as they are


_pixel_cache: dict = {}  # (shape, mode, sha256 of the pixels) -> (png bytes, width, height); FIFO
_cache_lock = threading.Lock()


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
