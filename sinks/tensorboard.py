"""The tensorboard sink: history scalars mirrored into an event file in `<run>/tensorboard/`.

Needs the `tensorboard` extra (`pip install 'evlog[tensorboard]'`: tensorboardX, whose protocol
buffers and record checksums write the file). One event per history step holds every numeric value
of that step (nested keys joined with "/", top-level keys starting with "_" left out), at the step
of the record and its wall time; the run's config is written as text (tag `config`). Media values
(spec/format.md "Media") become image summaries (the stored PNG/JPEG/GIF file), histogram summaries
(the record's bins) and video summaries (an animated GIF image, as tensorboardX's add_video writes;
mp4 files are decoded with imageio-ffmpeg when it is installed); audio becomes audio summaries (the
stored file, as add_audio writes), tables and charts (eventlog.plot.*) a markdown table of their
data in the text tab (a media cell as its file's path); logged HTML pages are not mirrored. Lists
of plain values (spec/format.md 3, "Values") are skipped: TensorBoard has no scalar for them (a
numpy array or tensor of more than 32 values is already a histogram in the log).

Exactly once in effect: the file's name and size at each checkpoint are saved with the cursor.
Opened again, the sink cuts the file back to that size, so the events of records delivered again
after a crash of the syncer are never in the file twice. TensorBoard stores scalars as 32-bit
floats; the values are the log's values rounded to float32.
"""
from __future__ import annotations

import json
import os
import socket
import time
from pathlib import Path
from typing import Any, Dict, List, Mapping, Optional

from eventlog import Record
from eventlog.interop.tfevents import frame
from eventlog.records.update import apply_update, str_keys

from eventlog.rundir.tensorboard import OWN_SUFFIX, TB_DIR
from eventlog.util.env import TRUE_WORDS, is_true

from .base import Sink, SinkContext, SinkError, env_flag, flatten, is_media, media_kind, numeric

BUFFER_BYTES = 1 << 20


def _truthy(v: Any) -> bool:
    """settings={"tensorboard": ...}: a true word (no one-letter forms), else the value's truth."""
    return is_true(v, TRUE_WORDS) if isinstance(v, str) else bool(v)


class TensorBoardSink(Sink):
    name = "tensorboard"

    @classmethod
    def enabled(cls, run: Mapping[str, Any], env: Mapping[str, str]) -> bool:
        settings = run.get("settings") if isinstance(run.get("settings"), dict) else {}
        return env_flag(env, "EVLOG_TENSORBOARD") or _truthy(settings.get("tensorboard", False))

    def open(self, ctx: SinkContext) -> None:
        try:
            from tensorboardX.proto.event_pb2 import Event
            from tensorboardX.proto.summary_pb2 import Summary
            from tensorboardX.summary import text as text_summary
        except ImportError as exc:
            raise SinkError(f"the tensorboard sink needs tensorboardX ({exc}); "
                            "install it with: pip install 'evlog[tensorboard]'") from None
        from tensorboardX.proto.summary_pb2 import HistogramProto

        self._Event, self._Summary, self._text = Event, Summary, text_summary
        self._HistogramProto = HistogramProto
        self._media_warned = set()
        self._gifs: Dict[str, bytes] = {}  # sha256 of an mp4/webm video -> its GIF (decoded once)
        self.ctx = ctx
        self.dir = Path(ctx.folder) / TB_DIR
        st = ctx.state or {}
        self.file_name: Optional[str] = st.get("file")
        self.size = int(st.get("size", 0))
        self.last_step: Optional[int] = st.get("last_step")
        self.config: Dict[str, Any] = dict(st.get("config") or {})
        self.events = int(st.get("events", 0))
        self.file = None
        self.buf = bytearray()
        if ctx.state is None:
            # first delivery, or a reset: nothing we wrote before counts any more
            for old in self.dir.glob(f"*tfevents*{OWN_SUFFIX}") if self.dir.is_dir() else ():
                old.unlink()
            self.file_name, self.size = None, 0
        elif self.file_name:
            path = self.dir / self.file_name
            if path.exists():
                self.file = open(path, "r+b")
                self.file.truncate(self.size)  # cut events written after the last checkpoint
                self.file.seek(self.size)
            else:
                ctx.warn(f"{path} is gone: the events written there before are lost; "
                         f"`evlog sync --include-synced --sink tensorboard {ctx.folder}` writes them again")
                self.file_name, self.size = None, 0

    # ----------------------------------------------------------------- events
    def _record(self, data: bytes) -> None:
        self.buf += frame(data)

    def _ensure_file(self) -> None:
        if self.file is not None:
            return
        self.dir.mkdir(parents=True, exist_ok=True)
        now = time.time()
        self.file_name = f"events.out.tfevents.{int(now):010d}.{socket.gethostname()}{OWN_SUFFIX}"
        path = self.dir / self.file_name
        n = 0
        while path.exists():
            n += 1
            path = self.dir / f"events.out.tfevents.{int(now):010d}.{socket.gethostname()}.{n}{OWN_SUFFIX}"
        self.file_name = path.name
        self.file = open(path, "wb")
        self.size = 0
        self._record(self._Event(wall_time=now, file_version="brain.Event:2").SerializeToString())

    def write(self, records: List[Record]) -> Optional[int]:
        Event, Summary = self._Event, self._Summary
        Value = Summary.Value
        for rec in records:
            body = rec.body if isinstance(rec.body, dict) else {}
            if rec.type == "history":
                step = body.get("step")
                if not isinstance(step, int) or isinstance(step, bool):
                    step = (self.last_step + 1) if self.last_step is not None else 0
                self.last_step = step
                data = body.get("data")
                if not isinstance(data, dict):
                    continue
                values = []
                for key, value in data.items():
                    t = type(value)
                    if t is float and type(key) is str and key[:1] != "_":  # the common case, fast
                        values.append(Value(tag=key, simple_value=value))
                        continue
                    key = str(key)
                    if key.startswith("_"):
                        continue
                    if t is dict or t is list:
                        items = flatten({key: value}).items()
                        for k2, v2 in items:
                            if type(v2) is dict:
                                mv = self._media_value(k2, v2)
                                if mv is not None:
                                    values.append(mv)
                                continue
                            if type(v2) is list:  # a list of media: one tag per item, `key/0`, `key/1`, ...
                                if media_kind(v2) is not None:  # else plain values: skipped
                                    values.extend(mv for i, m in enumerate(v2)
                                                  if (mv := self._media_value(f"{k2}/{i}", m)) is not None)
                                continue
                            f = numeric(v2)
                            if f is not None:
                                values.append(Value(tag=k2, simple_value=f))
                        continue
                    f = numeric(value)
                    if f is not None:
                        values.append(Value(tag=key, simple_value=f))
                if not values:
                    continue
                self._ensure_file()
                ev = Event(wall_time=rec.time, step=step, summary=Summary(value=values))
                self._record(ev.SerializeToString())
                self.events += 1
            elif rec.type == "config":
                apply_update(self.config, str_keys(body))
                self._ensure_file()
                text = "```\n" + json.dumps(self.config, indent=2, sort_keys=True, default=repr) + "\n```"
                ev = Event(wall_time=rec.time, step=self.last_step or 0, summary=self._text("config", text))
                self._record(ev.SerializeToString())
                self.events += 1
            if len(self.buf) >= BUFFER_BYTES:
                self._drain()
        return None

    # ------------------------------------------------------------------ media
    def _media_value(self, tag: str, m: Dict[str, Any]):
        """The summary value of a media map, or None (a warning says why, once per tag)."""
        if not is_media(m):
            return None
        Summary = self._Summary
        kind = m.get("_type")
        if kind == "html":  # TensorBoard has no sandboxed HTML view: logged pages are not mirrored
            return None
        try:
            if kind == "histogram":
                return Summary.Value(tag=tag, histo=_histogram_proto(self._HistogramProto, m))
            path = m.get("path")
            if not isinstance(path, str) or path.startswith("/") or ".." in path.split("/"):
                raise ValueError(f"bad media path {path!r}")
            with open(Path(self.ctx.folder) / path, "rb") as f:
                raw = f.read()
            if kind == "table" or kind == "chart":  # TensorBoard's text plugin shows a markdown table
                return self._text(tag, markdown_table(json.loads(raw), TB_TABLE_ROWS)).value[0]
            if kind == "audio":  # the stored file, as add_audio writes a WAV
                frames = round(float(m.get("duration") or 0) * float(m.get("sample_rate") or 0))
                audio = Summary.Audio(sample_rate=float(m.get("sample_rate") or 0),
                                      num_channels=int(m.get("channels") or 0), length_frames=frames,
                                      encoded_audio_string=raw,
                                      content_type=AUDIO_TYPES.get(str(m.get("format")), "application/octet-stream"))
                return Summary.Value(tag=tag, audio=audio)
            if kind == "video" and m.get("format") != "gif":
                from eventlog.media.video import video_as_gif

                key = m.get("sha256") or path
                gif = self._gifs.get(key)
                if gif is None:
                    gif = video_as_gif(raw, str(m.get("format")), m.get("fps"))
                    if len(self._gifs) >= 16:
                        self._gifs.pop(next(iter(self._gifs)))
                    self._gifs[key] = gif
                raw = gif
            image = Summary.Image(height=int(m.get("height") or 0), width=int(m.get("width") or 0),
                                  colorspace=_colorspace(raw), encoded_image_string=raw)
            return Summary.Value(tag=tag, image=image)
        except Exception as exc:  # noqa: BLE001 - one bad media value never stops the mirror
            if tag not in self._media_warned:
                self._media_warned.add(tag)
                self.ctx.warn(f"{kind} {tag!r} is not mirrored to TensorBoard: {exc}")
            return None

    def _drain(self) -> None:
        if self.buf and self.file is not None:
            self.file.write(self.buf)
            self.size += len(self.buf)
            self.buf = bytearray()

    def flush(self) -> Dict[str, Any]:
        self._drain()
        if self.file is not None:
            self.file.flush()
            os.fsync(self.file.fileno())
        return {"file": self.file_name, "size": self.size, "last_step": self.last_step,
                "config": _jsonable(self.config), "events": self.events}

    def close(self, state: str) -> None:
        if self.file is not None:
            self._drain()
            self.file.close()
            self.file = None


def _histogram_proto(HistogramProto, m: Dict[str, Any]):
    """A TensorBoard histogram of a histogram map. TensorBoard keeps only right bin limits, so an
    empty bucket ending at the first edge comes first (as tensorboardX writes them)."""
    edges = [float(e) for e in m["bins"]]
    counts = [float(c) for c in m["counts"]]
    if len(edges) != len(counts) + 1 or not counts:
        raise ValueError(f"{len(counts)} counts and {len(edges)} bin edges")
    centers = [(a + b) / 2 for a, b in zip(edges, edges[1:])]
    return HistogramProto(
        min=edges[0], max=edges[-1], num=sum(counts), sum=sum(c * x for c, x in zip(counts, centers)),
        sum_squares=sum(c * x * x for c, x in zip(counts, centers)),
        bucket_limit=edges, bucket=[0.0] + counts)


def _colorspace(raw: bytes) -> int:
    """Channels of a PNG (from its header); 3 for other formats."""
    if raw[:8] == b"\x89PNG\r\n\x1a\n" and len(raw) > 25:
        return {0: 1, 2: 3, 3: 3, 4: 2, 6: 4}.get(raw[25], 3)
    return 3


def _jsonable(obj: Any) -> Any:
    try:
        json.dumps(obj, allow_nan=True)
        return obj
    except (TypeError, ValueError):
        return json.loads(json.dumps(obj, default=repr, allow_nan=True))


TB_TABLE_ROWS = 100  # rows of a logged table shown in TensorBoard's text tab
AUDIO_TYPES = {"wav": "audio/wav", "mp3": "audio/mpeg", "ogg": "audio/ogg", "flac": "audio/flac"}


def markdown_table(table: Dict[str, Any], max_rows: int) -> str:
    """A table file's content (eventlog.Table: {"columns", "data"}) as a markdown table, the first
    `max_rows` rows, cells escaped so that none breaks the table."""
    def cell(v: Any) -> str:
        if is_media(v):  # a media cell (an image, ...): its file, as the CSV export writes it
            v = v.get("path") if isinstance(v.get("path"), str) else f"<{v.get('_type')}>"
        text = v if isinstance(v, str) else json.dumps(v)
        return text.replace("\\", "\\\\").replace("|", "\\|").replace("\n", " ")

    cols = [cell(c) for c in table.get("columns") or []]
    rows = table.get("data") or []
    lines = ["| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
    lines += ["| " + " | ".join(cell(v) for v in row) + " |" for row in rows[:max_rows]]
    if len(rows) > max_rows:
        lines.append(f"\n({len(rows) - max_rows} more rows)")
    return "\n".join(lines)
