"""Pixels: arrays of images and video frames as uint8 and as PIL images, and PNG encoding; Pillow
and numpy are imported when the first one is made."""
from __future__ import annotations

import io

from .base import MediaError, _need_numpy, need_module

PNG_COMPRESS_LEVEL = 3  # zlib level (Pillow's default is 6): about as small, ~1.5x faster (bench/media.py)


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
