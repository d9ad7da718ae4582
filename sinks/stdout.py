"""The stdout sink: what the user sees in the terminal while a run runs.

At start: the run banner (eventlog/terminal/banner.py: name, id, folder, URL or the sync hint),
unless init() printed it itself. Warnings the program has not seen already, as they come. At the
end: sparklines of the run's history, a summary table of the last values, how the run ended, and
the run and project links (or the sync hint). Every block is written
whole in one write(2), so it never cuts into a line the program prints. EVLOG_SILENT=true turns it
off. A block is marked printed (in the sink's state folder) before it is printed, so a restarted
syncer never prints it twice.
"""
from __future__ import annotations

import json
import math
from typing import Any, Dict, List, Mapping, Optional

from eventlog import LogReader, Record
from eventlog.metricdefs import MetricFold
from eventlog.records.update import apply_update, str_keys
from eventlog.terminal.banner import BANNER_PRINTED, project_url, resume_lines, run_url, start_lines
from eventlog.terminal.banner import sync_command  # noqa: F401  (re-exported: sinks.stdout.sync_command)

from .base import (
    CRASHED,
    DETACHED,
    FAILED,
    FINISHED,
    Sink,
    SinkContext,
    atomic_write_json,
    env_flag,
    flatten,
    is_media,
    media_kind,
    read_json,
)
from .sparkline import History

PREFIX = "evlog: "
MAX_ROWS = 40
MAX_SPARKLINES = 20  # history keys drawn at the end, at most


def fmt_value(v: Any) -> str:
    if type(v) is list and media_kind(v):
        return f"{len(v)} x {fmt_value(v[0])}"
    if is_media(v):
        kind = v.get("_type")
        if kind == "histogram":
            n = len(v.get("counts") or ())
            return f"<histogram, {n} bins>"
        if kind == "table":
            return f"<table, {v.get('nrows')} rows x {len(v.get('columns') or ())} columns>"
        w, h = v.get("width"), v.get("height")
        return f"<{kind} {w}x{h}>" if w and h else f"<{kind}>"
    if isinstance(v, bool):
        return str(v)
    if isinstance(v, float):
        if math.isnan(v) or math.isinf(v):
            return str(v)
        return f"{v:.5g}"
    if isinstance(v, int):
        return str(v)
    if isinstance(v, str):
        s = v
    elif isinstance(v, bytes):
        s = f"<{len(v)} bytes>"
    else:
        try:
            s = json.dumps(v, ensure_ascii=False, default=repr)
        except (TypeError, ValueError):
            s = repr(v)
    s = s.replace("\n", " ")
    return s if len(s) <= 60 else s[:57] + "..."


def _aligned(title: str, rows: List[tuple], limit: int, fmt) -> List[str]:
    """A blank line, `title`, the first `limit` (key, value) rows with the keys right-aligned and each
    value through `fmt`, then "... and N more" for the rest."""
    shown = rows[:limit]
    width = max(len(k) for k, _ in shown)
    out = ["", title] + [f"  {k.rjust(width)} {fmt(v)}" for k, v in shown]
    if len(rows) > limit:
        out.append(f"  ... and {len(rows) - limit} more")
    return out


class StdoutSink(Sink):
    name = "stdout"
    live_only = True

    @classmethod
    def enabled(cls, run: Mapping[str, Any], env: Mapping[str, str]) -> bool:
        settings = run.get("settings") if isinstance(run.get("settings"), dict) else {}
        return not (env_flag(env, "EVLOG_SILENT", "WANDB_SILENT") or settings.get("silent") is True)

    # ------------------------------------------------------------------ open
    def open(self, ctx: SinkContext) -> None:
        self.ctx = ctx
        run = ctx.run or {}
        self.run_id = str(run.get("id") or ctx.run_id)
        self.run_name = str(run.get("name") or self.run_id)
        self.summary: Dict[str, Any] = {}
        self.metrics = MetricFold()  # define_metric: what the summary keeps of each key
        self.steps = 0
        self.history = History()
        self.banner = not env_flag(ctx.env, BANNER_PRINTED)  # init() printed it itself
        self.exit: Optional[Dict[str, Any]] = None
        self.session = 0
        self.mark_path = ctx.state_dir / "printed.json"
        self.printed = int((read_json(self.mark_path) or {}).get("next_seq", 0))
        if ctx.cursor.seq > 0:
            self._catch_up(ctx.cursor.seq)

    def _catch_up(self, upto: int) -> None:
        """Rebuild the summary from the records delivered in earlier syncer sessions."""
        reader = LogReader(self.ctx.folder)
        for rec in reader.records():
            if rec.seq >= upto:
                break
            self._track(rec)

    # ----------------------------------------------------------------- write
    def write(self, records: List[Record]) -> Optional[int]:
        for rec in records:
            self._track(rec)
            lines = self._lines_for(rec)
            if lines and rec.seq >= self.printed:
                self._print(rec.seq + 1, lines)
        return None

    def close(self, state: str) -> None:
        if state == CRASHED and self.exit is None:
            self._print(None, self._final_lines(state))
        elif state == DETACHED and self.ctx.live:
            pass

    # --------------------------------------------------------------- helpers
    def _track(self, rec: Record) -> None:
        body = rec.body if isinstance(rec.body, dict) else {}
        if rec.type == "history":
            self.steps += 1
            data = body.get("data")
            if isinstance(data, dict):
                data = {str(k): v for k, v in data.items() if not str(k).startswith("_")}
                self.metrics.apply(self.summary, data)
                for k, v in flatten(data).items():
                    self.history.add(k, v)
        elif rec.type == "metric":
            self.metrics.define(body)
        elif rec.type == "summary":
            apply_update(self.summary, str_keys(body, drop_private=True))  # the keys the table shows
        elif rec.type == "run":
            self.run_id = str(body.get("id") or self.run_id)
            self.run_name = str(body.get("name") or self.run_name)
        elif rec.type == "meta" and body.get("name"):
            self.run_name = str(body["name"])
        elif rec.type == "resume":
            self.exit = None
            self.session = int(body.get("session") or self.session + 1)
        elif rec.type == "exit":
            self.exit = body

    def _where(self) -> List[str]:
        url = run_url(self.ctx.run or {}, self.ctx.env)
        if url:
            project = project_url(self.ctx.run or {}, self.ctx.env)
            return [f"View run at {url}"] + ([f"View project at {project}"] if project else [])
        return [f"Run data is stored locally in {self.ctx.folder}",
                f"Sync it with: {sync_command(self.ctx.folder)}"]

    def _lines_for(self, rec: Record) -> List[str]:
        body = rec.body if isinstance(rec.body, dict) else {}
        if rec.type == "run":
            return start_lines(self.ctx.run or body, self.ctx.folder, self.ctx.env) if self.banner else []
        if rec.type == "resume":
            if not self.banner:
                return []
            return resume_lines(self.run_name, self.run_id, body.get("session", "?"), self.ctx.folder)
        if rec.type == "warning":
            if body.get("shown"):
                return []  # the program saw it already (a Python warning, or the exception it raised)
            return [f"WARNING {body.get('message', '')}"]
        if rec.type == "exit":
            code = body.get("exit_code", 0)
            return self._final_lines(FINISHED if code == 0 else FAILED)
        return []

    def _final_lines(self, state: str) -> List[str]:
        lines: List[str] = []
        sparks = [(k, line) for k in sorted(self.history.keys) for line in [self.history.line(k)] if line]
        if sparks:
            lines += _aligned("Run history:", sparks, MAX_SPARKLINES, str)
        rows = sorted(flatten(self.summary).items())
        if rows:
            lines += _aligned("Run summary:", rows, MAX_ROWS, fmt_value)
            lines.append("")
        steps = f"{self.steps} step{'s' if self.steps != 1 else ''}"
        who = f"Run {self.run_name} (id {self.run_id})"
        if state == CRASHED:
            lines.append(f"{who} crashed: the training process ended without finishing the run; "
                         f"{steps} logged")
        else:
            body = self.exit or {}
            runtime = body.get("runtime")
            took = f" in {runtime:.1f} s" if isinstance(runtime, (int, float)) else ""
            if state == FINISHED:
                lines.append(f"{who} finished{took}: {steps} logged")
            else:
                err = body.get("error") if isinstance(body.get("error"), dict) else None
                why = f" ({err.get('type')}: {err.get('message')})" if err else ""
                what = "was interrupted" if body.get("interrupted") else f"failed with exit code {body.get('exit_code')}"
                lines.append(f"{who} {what}{took}{why}: {steps} logged")
        lines.extend(self._where())
        return lines

    def _print(self, next_seq: Optional[int], lines: List[str]) -> None:
        if next_seq is not None:
            # at most once: mark before printing, so a syncer killed now does not print it again
            atomic_write_json(self.mark_path, {"next_seq": next_seq}, fsync=False)
            self.printed = next_seq
        self.ctx.terminal.lines(PREFIX + line if line else PREFIX.rstrip() for line in lines)
