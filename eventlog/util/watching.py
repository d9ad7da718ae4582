"""Waking a thread when a folder changes: a watchdog observer whose handler calls `wake()`. The
watchers poll as well (inotify limits, no watchdog installed), so every failure here is quiet."""
from __future__ import annotations

import logging
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from typing import Any, Callable, Collection, Optional

WRITES = ("modified", "created", "moved", "deleted", "closed")  # watchdog event types of a write
_INOTIFY_LOG = "watchdog.observers.inotify"


class _DropStopRace(logging.Filter):
    """watchdog's inotify emitter logs an ERROR when it is stopped while reading events (a race in
    watchdog itself, harmless); without this, `evlog tail --follow` may end with that line."""

    def filter(self, record: logging.LogRecord) -> bool:
        return "called when the thread is inactive" not in record.getMessage()


def _quiet_stop_race() -> None:
    log = logging.getLogger(_INOTIFY_LOG)
    if not any(isinstance(f, _DropStopRace) for f in log.filters):
        log.addFilter(_DropStopRace())


def _file_event_classes(kinds: "Collection[str]") -> list:
    """watchdog's file event classes of the event types `kinds` (AttributeError where it lacks one)."""
    from watchdog import events

    names = {"modified": "FileModifiedEvent", "created": "FileCreatedEvent", "moved": "FileMovedEvent",
             "deleted": "FileDeletedEvent", "closed": "FileClosedEvent"}
    return [getattr(events, names[k]) for k in kinds if k in names]


def observe(path: str, wake: "Callable[[], None]", *, kinds: "Optional[Collection[str]]" = None,
            ignore: "Collection[str]" = (), recursive: bool = False, files_only: bool = False,
            observer: "Any" = None) -> "Any":
    """Call `wake()` on every change in folder `path` whose watchdog event type is in `kinds` (None:
    any type not in `ignore`), with its sub-folders when `recursive`; `files_only`: only file events
    are delivered at all (watchdog's event_filter, where it has one). Scheduled on `observer`, else on
    a new daemon observer, started. Returns the observer, None when watchdog is not installed or
    watching fails."""
    try:
        from watchdog.events import FileSystemEventHandler
        from watchdog.observers import Observer
    except ImportError:
        return None
    _quiet_stop_race()

    class _Handler(FileSystemEventHandler):
        def on_any_event(self, event) -> None:  # noqa: ANN001
            t = event.event_type
            if (t in kinds) if kinds is not None else (t not in ignore):
                wake()

    new = observer is None
    try:
        if new:
            observer = Observer()
            observer.daemon = True
        handler = _Handler()
        if files_only and kinds is not None:
            try:
                observer.schedule(handler, str(path), recursive=recursive,
                                  event_filter=_file_event_classes(kinds))
            except (AttributeError, TypeError):  # an older watchdog: no event_filter (or no FileClosedEvent)
                observer.schedule(handler, str(path), recursive=recursive)
        else:
            observer.schedule(handler, str(path), recursive=recursive)
        if new:
            observer.start()
    except Exception:  # noqa: BLE001 - inotify limits and the like: polling still works
        return None
    return observer
