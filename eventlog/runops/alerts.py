"""Run operations: alerts. `alert()` writes an `alert` record, which the server keeps and the run
page shows. evlog sends no email or Slack message: an alert is part of the run's record."""
from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any, Optional, Union

if TYPE_CHECKING:
    from .alertargs import AlertLevel


class AlertOps:
    __slots__ = ()
    _alerted = None  # title -> monotonic time of its last alert record

    def alert(self, title: str, text: str, level: Union[AlertLevel, str, None] = None,
              wait_duration: Any = None) -> None:
        """Record an alert (title, text, level INFO/WARN/ERROR) as an `alert` record; the run page
        shows it. As wandb, an alert whose title was alerted less than `wait_duration` seconds ago
        (default 60; int, float or timedelta) is dropped. No email or Slack message is sent."""
        from .alertargs import check_alert

        body = check_alert(title, text, level, wait_duration)
        now = time.monotonic()
        with self._open():
            seen = self._alerted if self._alerted is not None else {}
            last: Optional[float] = seen.get(body["title"])
            if last is not None and now - last < body["wait_duration"]:
                return
            self._writer.append("alert", body)
            seen[body["title"]] = now
            self._alerted = seen


def alert(title: str, text: str, level: Union[AlertLevel, str, None] = None, wait_duration: Any = None) -> None:
    """`alert()` on the current run (see Run.alert)."""
    from ._current import current

    current("alert").alert(title, text, level, wait_duration)


def __getattr__(name: str):
    if name == "AlertLevel":  # eventlog.AlertLevel: built on first use
        from .alertargs import AlertLevel

        return AlertLevel
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
