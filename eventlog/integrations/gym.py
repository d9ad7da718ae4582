"""monitor_gym=True: videos that Gymnasium (or the older gym) records are logged with the run.

Gymnasium's `RecordVideo` wrapper (1.x) writes each recording as an mp4 when it stops recording
(the end of an episode, `video_length` frames, or `close()`); gymnasium 0.x and gym use a
`VideoRecorder` whose `close()` writes it. Both are patched (when, or as soon as, the module is
imported): once the file is written, it is logged as `eventlog.Video` under the key
`videos/<name of the video folder>` at the run's current step (`log(commit=False)`: it joins what
the program logs for that step). Two videos for the same key in one step do not overwrite each
other: the step holding the first is committed before the second is added.
"""
from __future__ import annotations

import os
import sys
import weakref

_run = None          # weakref of the run that takes the videos
_patched = set()

MODULES = (
    ("gymnasium.wrappers.rendering", "RecordVideo", "stop_recording"),            # gymnasium >= 1.0
    ("gymnasium.wrappers.monitoring.video_recorder", "VideoRecorder", "close"),   # gymnasium 0.x
    ("gym.wrappers.monitoring.video_recorder", "VideoRecorder", "close"),         # gym
)


def video_key(folder) -> str:
    name = os.path.basename(os.path.normpath(os.fspath(folder))) if folder else ""
    return f"videos/{name}" if name else "videos"


def log_video(path, folder=None, fps=None) -> None:
    """Log the video file `path` with the monitored run (nothing without one)."""
    run = _run() if _run is not None else None
    if run is None or run.finished or run.disabled:
        return
    if not os.path.isfile(path) or os.path.getsize(path) == 0:
        return
    from ..errors import Error
    from ..media.video import Video

    key = video_key(folder if folder is not None else os.path.dirname(path))
    try:
        if run._port().holds((key,)):
            run.log({}, commit=True)  # the step already holds a video under this key: commit it first
        run.log({key: Video(os.fspath(path), fps=fps)}, commit=False)
    except Error as exc:  # a bad file, a finished run: say so, never break the environment
        sys.stderr.write(f"evlog: monitor_gym: video {path} not logged: {exc}\n")


def _fps_of(obj):
    for attr in ("frames_per_sec", "fps"):
        v = getattr(obj, attr, None)
        if isinstance(v, (int, float)) and not isinstance(v, bool) and v > 0:
            return v
    return None


def _patch_record_video(cls) -> None:
    original = cls.stop_recording

    def stop_recording(self):
        name = getattr(self, "_video_name", None)
        frames = getattr(self, "recorded_frames", None)
        folder = getattr(self, "video_folder", None)
        path = os.path.join(folder, f"{name}.mp4") if name and folder and frames else None
        out = original(self)
        if path is not None:
            log_video(path, folder, _fps_of(self))
        return out

    stop_recording.__wrapped__ = original
    cls.stop_recording = stop_recording


def _patch_video_recorder(cls) -> None:
    original = cls.close

    def close(self):
        was_open = getattr(self, "enabled", True) and not getattr(self, "_closed", False)
        out = original(self)
        path = getattr(self, "path", None)
        if was_open and path and not getattr(self, "broken", False):
            log_video(path, os.path.dirname(path), _fps_of(self))
        return out

    close.__wrapped__ = original
    cls.close = close


def _patcher(cls_name: str, method: str):
    def patch(module) -> None:
        cls = getattr(module, cls_name, None)
        if cls is None or cls in _patched or not hasattr(cls, method):
            return
        _patched.add(cls)
        if method == "stop_recording":
            _patch_record_video(cls)
        else:
            _patch_video_recorder(cls)

    return patch


_PATCHERS = [(module, _patcher(cls_name, method)) for module, cls_name, method in MODULES]


def enable(run) -> None:
    """Log the videos gym/gymnasium record from now on with `run`."""
    global _run
    from ..util.postimport import when_imported

    _run = weakref.ref(run)
    for module, patch in _PATCHERS:
        when_imported(module, patch)


def disable(run) -> None:
    global _run
    if _run is not None and _run() is run:
        _run = None
