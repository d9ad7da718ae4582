"""Media maps as a history stores them (`{"_type": "image", "path": ...}`, spec/format.md section 7):
telling them from other values. Below eventlog/media, so readers of stored values (export, sinks,
the server) need none of the media classes."""
from __future__ import annotations

MEDIA_TYPES = ("image", "histogram", "video", "table", "audio", "html", "chart")


def is_media_map(v) -> bool:
    """True for a history value that is a media map (`{"_type": "image", ...}`)."""
    return type(v) is dict and v.get("_type") in MEDIA_TYPES


def media_kind(v):
    """The `_type` of a history value that is a media map or a non-empty list of media maps of one
    `_type` (spec/format.md section 7), else None."""
    if is_media_map(v):
        return v["_type"]
    if type(v) is list and v and is_media_map(v[0]):
        kind = v[0]["_type"]
        if all(is_media_map(m) and m["_type"] == kind for m in v):
            return kind
    return None
