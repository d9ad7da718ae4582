"""The run side of media: the files of one `log()` call's media values (`MediaBatch`), written into
the run folder before the record that names them (`store`)."""
from __future__ import annotations

import os

from .base import MEDIA_DIR, Media


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
