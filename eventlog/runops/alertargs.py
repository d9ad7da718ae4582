"""AlertLevel and the checking of `alert()`'s arguments (eventlog/runops/alerts.py), imported on
first use so that `import eventlog` does not build the enum."""
from __future__ import annotations

import enum
from typing import Any

from ..errors import ArgumentTypeError, UsageError

DEFAULT_WAIT = 60.0  # seconds, as wandb's default wait_duration
MAX_TEXT = 64 * 1024


class AlertLevel(enum.Enum):
    """How serious an alert is (as wandb.AlertLevel)."""

    INFO = "INFO"
    WARN = "WARN"
    ERROR = "ERROR"


def check_alert(title: Any, text: Any, level: Any, wait_duration: Any) -> dict:
    """The body of an `alert` record for these arguments, or a typed error naming the argument."""
    for arg, value in (("title", title), ("text", text)):
        if not isinstance(value, str):
            raise ArgumentTypeError(f"alert({arg}=...) must be a str, got {type(value).__name__} {value!r}")
    if not title.strip():
        raise UsageError("alert(title=...) must not be empty: it names the alert")
    if level is None:
        level = AlertLevel.INFO
    if isinstance(level, AlertLevel):
        level = level.value
    elif not isinstance(level, str):
        raise ArgumentTypeError(f"alert(level=...) must be an eventlog.AlertLevel or \"INFO\", \"WARN\", \"ERROR\"; "
                                f"got {type(level).__name__} {level!r}")
    if level.upper() not in AlertLevel.__members__:
        raise UsageError(f"alert(level={level!r}) must be \"INFO\", \"WARN\" or \"ERROR\" (or eventlog.AlertLevel.*)")
    if wait_duration is None:
        wait = DEFAULT_WAIT
    elif hasattr(wait_duration, "total_seconds"):
        wait = float(wait_duration.total_seconds())
    elif type(wait_duration) in (int, float):
        wait = float(wait_duration)
    else:
        raise ArgumentTypeError(f"alert(wait_duration=...) must be seconds (int or float) or a datetime.timedelta, "
                                f"got {type(wait_duration).__name__} {wait_duration!r}")
    if not wait >= 0:
        raise UsageError(f"alert(wait_duration={wait_duration!r}) must be >= 0 seconds")
    return {"title": title[:MAX_TEXT], "text": text[:MAX_TEXT], "level": level.upper(), "wait_duration": wait}
