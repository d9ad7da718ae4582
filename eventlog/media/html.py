"""`eventlog.Html`: an HTML page logged as a content-addressed `.html` media file (spec/format.md 7).

The dashboard shows it in a sandboxed frame (no scripts, no access to the dashboard's origin), and
the server serves it with a sandboxing Content-Security-Policy (spec/protocol.md 4.4).
"""
from __future__ import annotations

import os
import re
from typing import Any

from .base import Media, MediaError, Prepared, _file_map, _read_file

# what inject=True adds to the page's head: a plain readable style (wandb injects its stylesheet)
INJECT = ('<meta charset="utf-8"><style>body{font-family:system-ui,sans-serif;font-size:14px;margin:8px;'
          'color:#1d2430}table{border-collapse:collapse}td,th{border:1px solid #dde2ea;padding:2px 6px}</style>')
_HEAD = re.compile(r"<head[^>]*>", re.IGNORECASE)
_HTML = re.compile(r"<html[^>]*>", re.IGNORECASE)


class Html(Media):
    """An HTML page to log: `eventlog.Html("<h1>hi</h1>")`, `eventlog.Html(open("page.html"))` or
    `eventlog.Html("page.html")` (a str ending in .html/.htm that names a file is read from it).
    With inject=True (the default) a small stylesheet is added to the page's head."""

    _type = "html"

    def __init__(self, data_or_path: Any, inject: bool = True) -> None:
        self._data = data_or_path
        self._inject = inject

    def _encode(self, key: str) -> Prepared:
        data = self._data
        if isinstance(data, os.PathLike) or (isinstance(data, str) and data.lower().endswith((".html", ".htm"))
                                             and os.path.isfile(data)):
            raw = _read_file(key, "Html", data)
            try:
                text = raw.decode("utf-8-sig")
            except UnicodeDecodeError as exc:
                raise MediaError(f"key {key!r}: Html: file {os.fspath(data)} is not UTF-8 text ({exc})") from None
        elif isinstance(data, str):
            text = data
        elif hasattr(data, "read"):
            text = data.read()
            if isinstance(text, bytes):
                try:
                    text = text.decode("utf-8-sig")
                except UnicodeDecodeError as exc:
                    raise MediaError(f"key {key!r}: Html: the stream is not UTF-8 text ({exc})") from None
            if not isinstance(text, str):
                raise MediaError(f"key {key!r}: Html: the stream's read() gave {type(text).__name__}, not str")
        else:
            raise MediaError(f"key {key!r}: Html needs an HTML str, a file object or a path, got "
                             f"{type(data).__name__}")
        if self._inject:
            text = inject_head(text)
        return _file_map("html", text.encode("utf-8"), "html")


def inject_head(text: str) -> str:
    """The page with INJECT at the start of its head (a head is made where it has none)."""
    m = _HEAD.search(text)
    if m:
        return text[:m.end()] + INJECT + text[m.end():]
    m = _HTML.search(text)
    if m:
        return text[:m.end()] + "<head>" + INJECT + "</head>" + text[m.end():]
    return "<head>" + INJECT + "</head>" + text
