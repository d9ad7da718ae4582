"""Minimal HTML pages (the run URL clients print). Every user-provided string is escaped."""
from __future__ import annotations

import html
import json
from typing import Any, Dict

from .wire import jsonable


def _e(v: Any) -> str:
    return html.escape("" if v is None else str(v), quote=True)


def _table(d: Dict[Any, Any]) -> str:
    if not d:
        return "<p><em>empty</em></p>"
    rows = "".join(
        f"<tr><th>{_e(k)}</th><td><code>{_e(json.dumps(jsonable(v), ensure_ascii=False))}</code></td></tr>"
        for k, v in d.items()
    )
    return f"<table>{rows}</table>"


def run_page(run: Dict[str, Any]) -> str:
    """The HTML page of one run (the JSON of spec/protocol.md 4.2)."""
    meta = {k: run.get(k) for k in ("id", "state", "exit_code", "group", "job_type", "notes", "sessions",
                                    "history_rows", "last_step")}
    meta["tags"] = ", ".join(run.get("tags") or [])
    git = run.get("git")
    git_html = f"<h2>Git</h2>{_table(git)}" if git else ""
    title = f"{run.get('name') or run['id']} - {run['entity']}/{run['project']}"
    return (
        "<!doctype html><html><head><meta charset=\"utf-8\">"
        f"<title>{_e(title)}</title>"
        "<style>body{font-family:sans-serif;margin:2em}th{text-align:left;padding-right:1em}</style></head><body>"
        f"<p>{_e(run['entity'])} / {_e(run['project'])}</p>"
        f"<h1>{_e(run.get('name') or run['id'])}</h1>"
        f"{_table(meta)}<h2>Config</h2>{_table(run.get('config') or {})}"
        f"<h2>Summary</h2>{_table(run.get('summary') or {})}{git_html}"
        "</body></html>"
    )


def error_page(status: int, message: str) -> str:
    return (f"<!doctype html><html><head><meta charset=\"utf-8\"><title>{status}</title></head>"
            f"<body><h1>{status}</h1><p>{_e(message)}</p></body></html>")
