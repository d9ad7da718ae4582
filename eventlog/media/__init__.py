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

# name -> the module that holds it, loaded on first use: `import eventlog.media` loads nothing
_NAMES = {
    **dict.fromkeys(("Media", "MediaError", "Prepared", "Histogram", "MEDIA_DIR", "DEFAULT_BINS", "MAX_BINS",
                     "need_module"), ".base"),
    **dict.fromkeys(("MEDIA_TYPES", "is_media_map", "media_kind"), "..records.media"),
    **dict.fromkeys(("Image", "PIXEL_CACHE", "IMAGE_FORMATS"), ".image"),
    "PNG_COMPRESS_LEVEL": ".pixels",
    **dict.fromkeys(("Video", "DEFAULT_FPS", "VIDEO_FORMATS", "sniff_video", "mp4_info", "video_as_gif"), ".video"),
    **dict.fromkeys(("Table", "MAX_TABLE_ROWS", "MAX_TABLE_COLUMNS"), ".table"),
    **dict.fromkeys(("MediaBatch", "store"), ".batch"),
    "Audio": ".audio",
    "Html": ".html",
}


def __getattr__(name: str):
    mod = _NAMES.get(name)
    if mod is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    import importlib

    value = getattr(importlib.import_module(mod, __name__), name)
    globals()[name] = value
    return value


def __dir__():
    return sorted(set(globals()) | set(_NAMES))
