"""HTML pages of a run and of errors; the dashboard itself lives in server/web/ (this module keeps
the functions the app's own handlers call)."""
from __future__ import annotations

from typing import Any, Dict

from .web import pages


def run_page(run: Dict[str, Any]) -> str:
    """The HTML page of one run (the JSON of spec/protocol.md 4.2). Every user string is escaped."""
    return pages.run_page(run)


def error_page(status: int, message: str) -> str:
    return pages.error_page(status, message)
