"""Serving a run's files to browsers: media files (spec/format.md "Media") get their content type,
long-lived caching (they are named by their content hash) and byte ranges (video players seek
with Range requests); every other file stays application/octet-stream."""
from __future__ import annotations

import re
from typing import Optional

from starlette.responses import Response

# the media types a browser may render from a run's files; anything else (svg, html, ...) never is
MEDIA_TYPES = {
    "png": "image/png",
    "jpg": "image/jpeg",
    "jpeg": "image/jpeg",
    "gif": "image/gif",
    "webp": "image/webp",
    "mp4": "video/mp4",
    "webm": "video/webm",
    "ogg": "video/ogg",
}
MEDIA_PATH = re.compile(r"^media/([0-9a-f]{64})\.([a-z0-9]+)$")
_RANGE = re.compile(r"^bytes=(\d*)-(\d*)$")


def media_type(path: str) -> Optional[str]:
    """The content type of a media file path (`media/<sha256>.<ext>`), or None."""
    m = MEDIA_PATH.match(path)
    return MEDIA_TYPES.get(m.group(2)) if m else None


def file_response(path: str, data: bytes, range_header: Optional[str]) -> Response:
    """The response of GET {run}/files/{path}: whole, or the byte range asked for (206 / 416)."""
    ctype = media_type(path)
    headers = {"X-Content-Type-Options": "nosniff", "Accept-Ranges": "bytes"}
    if ctype is None:
        return Response(data, media_type="application/octet-stream", headers=headers)
    headers["Cache-Control"] = "private, max-age=31536000, immutable"  # content-addressed
    total = len(data)
    m = _RANGE.match(range_header.strip()) if range_header else None
    if m is None or (not m.group(1) and not m.group(2)):
        return Response(data, media_type=ctype, headers=headers)
    if m.group(1):
        start = int(m.group(1))
        end = min(int(m.group(2)), total - 1) if m.group(2) else total - 1
    else:  # the last N bytes
        start = max(0, total - int(m.group(2)))
        end = total - 1
    if start >= total or start > end:
        headers["Content-Range"] = f"bytes */{total}"
        return Response(b"", status_code=416, headers=headers)
    headers["Content-Range"] = f"bytes {start}-{end}/{total}"
    return Response(data[start:end + 1], status_code=206, media_type=ctype, headers=headers)
