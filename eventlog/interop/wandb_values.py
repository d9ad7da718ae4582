"""wandb's values as evlog values: the items of its history, summary and config records (a key path
and a JSON value) as nested dicts, and its media maps (`{"_type": "image-file", "path": ...}`, files
under the run folder's `files/`) as eventlog media values, which the writer stores as log() does."""
from __future__ import annotations

import json
import os
from typing import Any, Dict, Iterable, List, Optional

INTERNAL_KEYS = ("_step", "_runtime", "_timestamp", "_wandb")  # wandb's own bookkeeping in rows and summaries
_NO_EQUIVALENT = ("plotly-file", "bokeh-file", "object3D-file", "molecule-file", "graph-file", "partitioned-table",
                  "joined-table", "wandb.Classes", "image-mask", "bounding-boxes")


class Unsupported(Exception):
    """A wandb value evlog cannot store (a media kind it has not, a missing file): skipped, reported."""


def json_value(text: str) -> Any:
    """A JSON value; numbers (nearly every value of a history row) without the json module's overhead."""
    if not text:
        return None
    c = text[0]
    if c.isdigit() or c == "-":
        try:
            return int(text)
        except ValueError:
            try:
                return float(text)  # JSON's numbers, and wandb's NaN/Infinity/-Infinity
            except ValueError:
                pass
    return json.loads(text)


def item_value(item: Any) -> Any:
    """The value of a history/summary/config item: its JSON (value_json), else the typed field that
    newer wandb versions may set instead."""
    text = item.value_json
    if text:
        return json_value(text)
    which = item.WhichOneof("value") if type(item).DESCRIPTOR.oneofs_by_name.get("value") is not None else None
    if which is None or which == "none":
        return None
    if which == "json":
        return json.loads(item.json)
    return getattr(item, which)


def item_path(item: Any) -> List[str]:
    nk = item.nested_key
    return list(nk) if nk else [item.key]


def set_path(out: Dict[str, Any], path: List[str], value: Any) -> None:
    """out[path[0]][path[1]]... = value (a nested key of a wandb item)."""
    for k in path[:-1]:
        nxt = out.get(k)
        if not isinstance(nxt, dict):
            nxt = out[k] = {}
        out = nxt
    out[path[-1]] = value


def del_path(out: Dict[str, Any], path: List[str]) -> None:
    for k in path[:-1]:
        out = out.get(k)
        if not isinstance(out, dict):
            return
    out.pop(path[-1], None)


def items_dict(items: Iterable[Any]) -> Dict[str, Any]:
    out: Dict[str, Any] = {}
    for it in items:
        nk = it.nested_key
        if len(nk) == 1:
            out[nk[0]] = item_value(it)
        else:
            set_path(out, list(nk) if nk else [it.key], item_value(it))
    return out


class Raw(str):
    """A value's JSON text, decoded only if it is still in the summary at the end (wandb writes a
    summary record per row)."""


def decode_raw(v: Any) -> Any:
    if type(v) is Raw:
        return json_value(v)
    if isinstance(v, dict):
        return {k: decode_raw(x) for k, x in v.items()}
    return v


def is_wandb_media(v: Any) -> bool:
    return isinstance(v, dict) and isinstance(v.get("_type"), str)


class MediaConverter:
    """wandb media maps of one run folder (`files_dir`: its `files/`) as eventlog media values."""

    def __init__(self, files_dir: str) -> None:
        self.files_dir = files_dir

    def _file(self, m: Dict[str, Any]) -> str:
        rel = m.get("path")
        if not isinstance(rel, str) or not rel:
            raise Unsupported(f"a {m.get('_type')} without a file path")
        path = os.path.join(self.files_dir, rel)
        if not os.path.isfile(path):
            raise Unsupported(f"its file {rel} is not in {self.files_dir}")
        return path

    def media(self, m: Dict[str, Any]) -> Any:
        """The eventlog media value (or list of them) of one wandb media map; Unsupported otherwise."""
        import eventlog

        kind = m["_type"]
        caption = m.get("caption") if isinstance(m.get("caption"), str) else None
        if kind == "image-file":
            return eventlog.Image(self._file(m), caption=caption)
        if kind == "images/separated":
            names = m.get("filenames") or []
            captions = m.get("captions") if isinstance(m.get("captions"), list) else [None] * len(names)
            return [eventlog.Image(self._file({"_type": kind, "path": n}),
                                   caption=c if isinstance(c, str) else None) for n, c in zip(names, captions)]
        if kind == "histogram":
            counts = m.get("values")
            bins = m.get("bins")
            packed = m.get("packedBins")
            if bins is None and isinstance(packed, dict):
                lo, size, count = packed.get("min", 0), packed.get("size", 1), packed.get("count", 0)
                bins = [lo + i * size for i in range(int(count) + 1)]
            return eventlog.Histogram(np_histogram=(counts, bins))
        if kind == "video-file":
            return eventlog.Video(self._file(m), caption=caption)
        if kind == "audio-file":
            return eventlog.Audio(self._file(m), caption=caption)
        if kind == "html-file":
            return eventlog.Html(self._file(m), inject=False)
        if kind == "table-file":
            return self._table(m)
        if kind in _NO_EQUIVALENT:
            raise Unsupported(f"wandb's {kind} has no evlog equivalent")
        raise Unsupported(f"wandb's {kind} values are not imported")

    def _table(self, m: Dict[str, Any]) -> Any:
        import eventlog

        with open(self._file(m), encoding="utf-8") as f:
            doc = json.load(f)
        columns = [str(c) for c in doc.get("columns") or []]
        rows = []
        for row in doc.get("data") or []:
            cells = []
            for cell in row:
                if is_wandb_media(cell):
                    try:
                        cell = self.media(cell)
                    except Unsupported:
                        cell = json.dumps(cell, sort_keys=True)
                elif isinstance(cell, dict):
                    cell = json.dumps(cell, sort_keys=True)  # evlog table cells are never maps
                cells.append(cell)
            rows.append(cells)
        return eventlog.Table(columns=columns, data=rows)

    def convert(self, data: Dict[str, Any], skipped: Optional[list] = None, prefix: str = "") -> Dict[str, Any]:
        """`data` with every wandb media map turned into an eventlog media value; the keys of values
        that cannot be (and why) go to `skipped`, the values are left out."""
        out: Dict[str, Any] = {}
        for k, v in data.items():
            if is_wandb_media(v):
                try:
                    out[k] = self.media(v)
                except Unsupported as exc:
                    if skipped is not None:
                        skipped.append((prefix + k, str(exc)))
                except (OSError, ValueError, TypeError) as exc:  # an unreadable table file
                    if skipped is not None:
                        skipped.append((prefix + k, f"{type(exc).__name__}: {exc}"))
            elif isinstance(v, dict):
                out[k] = self.convert(v, skipped, f"{prefix}{k}.")
            else:
                out[k] = v
        return out
