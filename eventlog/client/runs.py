"""Runs read from the server (wandb's public `Run` and `Runs`): metadata, config and summary from
the run object, history from GET {run}/history (sampled, or every row a page at a time), files
(spec/protocol.md 4.1, 4.2); name, notes and tags edits through PATCH {run} (4.5)."""
from __future__ import annotations

import copy
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any, Dict, Iterator, List, Optional, Sequence, Union

from ..errors import ArgumentTypeError, NoSuchFileError, ReadOnlyError, UsageError
from .connection import run_path
from .files import File
from .filters import compile_filters, order_key, sort
from .jsonvalues import decode

if TYPE_CHECKING:
    from .readapi import Api

MAX_ROWS = 100_000  # the server's bound on samples= and limit= (spec/protocol.md 4.1)
STREAMS = ("default", "system", "events")


def iso_time(t: Optional[float]) -> Optional[str]:
    """Unix seconds as wandb's time text (UTC, ISO 8601 without the zone), None stays None."""
    if t is None:
        return None
    return datetime.fromtimestamp(t, timezone.utc).strftime("%Y-%m-%dT%H:%M:%S")


def _keys(keys: Any, arg: str = "keys") -> Optional[List[str]]:
    if keys is None:
        return None
    if isinstance(keys, str) or not isinstance(keys, (list, tuple)) or not all(isinstance(k, str) for k in keys):
        raise ArgumentTypeError(f"{arg} takes a list of metric names such as ['loss', 'acc'], got {keys!r}")
    return list(keys)


def _count(value: Any, arg: str, low: int, high: int = MAX_ROWS) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ArgumentTypeError(f"{arg} takes an int, got {type(value).__name__}")
    if not low <= value <= high:
        raise UsageError(f"{arg} must be between {low} and {high}, got {value}")
    return value


def _dataframe(rows: List[Dict[str, Any]], columns: List[str], pandas: bool) -> Any:
    """A pandas DataFrame of `rows` with `columns` first, when pandas is wanted and installed; else the rows."""
    if not pandas:
        return rows
    try:
        import pandas as pd
    except ImportError:
        return rows
    seen = dict.fromkeys(columns)
    for r in rows:
        for k in r:
            seen.setdefault(k)
    return pd.DataFrame(rows, columns=list(seen))


class Summary(dict):
    """A run's summary (wandb's `run.summary`); `update()` goes through `run.update()`, which
    refuses summary changes with ReadOnlyError (the server stores the summary from the run's log)."""

    def __init__(self, data: Dict[str, Any], run: "Run") -> None:
        super().__init__(data)
        self._run = run

    def update(self, *args: Any, **kwargs: Any) -> None:  # type: ignore[override]
        super().update(*args, **kwargs)
        self._run.update()


class Run:
    """One run on the server: `id`, `name`/`display_name`, `state`, `config`, `summary`, `tags`,
    `notes`, `group`, `job_type`, `url`, `path`, `created_at`, `entity`, `project`; `history()`,
    `scan_history()`, `files()`, `file()`, `update()`."""

    def __init__(self, api: "Api", attrs: Dict[str, Any]) -> None:
        self._api = api
        self._conn = api._conn
        self._set(attrs)

    def _set(self, attrs: Dict[str, Any]) -> None:
        attrs = dict(attrs)
        attrs["config"] = decode(attrs.get("config") or {}, numbers=False)
        attrs["summary"] = decode(attrs.get("summary") or {})
        self._attrs = attrs
        self.id: str = attrs["id"]
        self.entity: str = attrs["entity"]
        self.project: str = attrs["project"]
        self.display_name: Optional[str] = attrs.get("name")
        self.notes: Optional[str] = attrs.get("notes")
        self.tags: List[str] = list(attrs.get("tags") or [])
        self.group: Optional[str] = attrs.get("group")
        self.job_type: Optional[str] = attrs.get("job_type")
        self.state: str = attrs.get("state")
        self.url: str = attrs.get("url")
        self.config: Dict[str, Any] = attrs["config"]
        self.summary = Summary(attrs["summary"], self)
        self.exit_code: Optional[int] = attrs.get("exit_code")
        self.runtime: Optional[float] = attrs.get("runtime")
        self.last_step: Optional[int] = attrs.get("last_step")
        self.history_rows: int = attrs.get("history_rows") or 0
        self.sweep = None
        self._saved = copy.deepcopy({"name": self.display_name, "notes": self.notes, "tags": self.tags,
                                     "config": self.config, "summary": dict(self.summary)})

    # ------------------------------------------------------------------ wandb's names
    @property
    def name(self) -> Optional[str]:
        """The display name (wandb: `run.name`); set it and call `update()` to rename the run."""
        return self.display_name

    @name.setter
    def name(self, value: Optional[str]) -> None:
        self.display_name = value

    @property
    def path(self) -> List[str]:
        return [self.entity, self.project, self.id]

    @property
    def summary_metrics(self) -> Dict[str, Any]:
        return self.summary

    @property
    def created_at(self) -> Optional[str]:
        return iso_time(self._attrs.get("created_at"))

    @property
    def heartbeat_at(self) -> Optional[str]:
        return iso_time(self._attrs.get("updated_at"))

    @property
    def lastHistoryStep(self) -> int:  # noqa: N802 - wandb's name
        return -1 if self.last_step is None else self.last_step

    @property
    def _api_path(self) -> str:
        return run_path(self.entity, self.project, self.id)

    @property
    def _where(self) -> tuple:
        return (self.entity, self.project, self.id)

    def _what(self, thing: str) -> str:
        return f"{thing} of run {self.entity}/{self.project}/{self.id}"

    def load(self, force: bool = True) -> "Run":
        """Read the run object again (state, summary, ... as the server has them now)."""
        self._set(self._conn.get_json(self._api_path, where=self._where, what=self._what("the metadata")))
        return self

    # ------------------------------------------------------------------ history
    def history(self, samples: int = 500, keys: Optional[Sequence[str]] = None, x_axis: str = "_step",
                pandas: bool = True, stream: str = "default") -> Any:
        """A sample of at most about `samples` rows in step order (first, last, each key's extremes),
        as a pandas DataFrame (columns `_step` and the keys) when pandas is installed and `pandas`,
        else a list of dicts. With `keys`, only rows holding every key. `stream="system"`: the
        system metrics, one row per sample time (`_runtime` seconds since the start, `_timestamp`)."""
        samples = _count(samples, "samples", 1)
        keys = _keys(keys)
        if not isinstance(x_axis, str) or not x_axis:
            raise ArgumentTypeError(f"x_axis takes a metric name such as '_step', got {x_axis!r}")
        if stream not in STREAMS:
            raise UsageError(f"stream must be 'default' (metrics) or 'system' (system metrics), got {stream!r}")
        if stream != "default":
            rows, columns = self._system_rows(max(samples, 2), keys)
            return _dataframe(rows, columns, pandas)
        columns = list(dict.fromkeys(["_step", x_axis] + (keys or [])))
        need = columns[1:] if keys is not None else [x_axis] if x_axis != "_step" else []
        params: Dict[str, Any] = {"samples": samples}
        if keys is not None and need and not any("," in k for k in need):
            params.update(keys=",".join(need), all_keys=1)  # rows holding every key (an older server: any)
        data = self._conn.get_json(self._api_path + "/history", where=self._where, params=params,
                                   what=self._what("the history"))
        rows = [_row(r, need, keys is not None) for r in data["rows"]]
        return _dataframe([r for r in rows if r is not None], columns, pandas)

    def _system_rows(self, samples: int, keys: Optional[List[str]]) -> tuple:
        data = self._conn.get_json(self._api_path + "/system", where=self._where, params={"samples": samples},
                                   what=self._what("the system metrics"))
        start = data.get("start") or 0.0
        by_time: Dict[float, Dict[str, Any]] = {}
        for name, (times, values) in (data.get("metrics") or {}).items():
            if keys is not None and name not in keys:
                continue
            for t, v in zip(times, values):
                by_time.setdefault(t, {"_runtime": t, "_timestamp": start + t})[name] = v
        rows = [by_time[t] for t in sorted(by_time)]
        return rows, ["_runtime", "_timestamp"] + (keys or [])

    def scan_history(self, keys: Optional[Sequence[str]] = None, page_size: int = 1000,
                     min_step: Optional[int] = None, max_step: Optional[int] = None) -> Iterator[Dict[str, Any]]:
        """Every history row in step order as a dict (`_step` and the values), read `page_size` rows
        a page; with `keys`, only rows holding every key (and only those keys); steps from `min_step`
        (inclusive) to `max_step` (exclusive), as wandb counts them."""
        keys = _keys(keys)
        page_size = _count(page_size, "page_size", 1)
        for arg, v in (("min_step", min_step), ("max_step", max_step)):
            if v is not None and (isinstance(v, bool) or not isinstance(v, int)):
                raise ArgumentTypeError(f"{arg} takes an int step, got {type(v).__name__}")
        return self._scan(keys, page_size, min_step, max_step)

    def _scan(self, keys: Optional[List[str]], page_size: int, min_step: Optional[int],
              max_step: Optional[int]) -> Iterator[Dict[str, Any]]:
        keys = [k for k in keys if k != "_step"] if keys is not None else None
        params: Dict[str, Any] = {"limit": page_size}
        if keys and not any("," in k for k in keys):
            params.update(keys=",".join(keys), all_keys=1)
        while True:
            data = self._conn.get_json(self._api_path + "/history", where=self._where, params=params,
                                       what=self._what("the history"))
            for r in data["rows"]:
                step = r["step"]
                if max_step is not None and step >= max_step:
                    return
                if min_step is not None and step < min_step:
                    continue
                row = _row(r, keys or [], keys is not None)
                if row is not None:
                    yield row
            if data.get("next") is None:
                return
            params["after"] = data["next"]

    # ------------------------------------------------------------------ files
    def files(self, names: Optional[Sequence[str]] = None, per_page: int = 50) -> List[File]:
        """The run's files (code and diffs only for members of its entity); `names`: only those."""
        names = _keys(names, "names")
        data = self._conn.get_json(self._api_path + "/files", where=self._where, what=self._what("the files"))
        out = [File(self._conn, self._where, f) for f in data["files"]]
        if names is not None:
            out = [f for f in out if f.name in names or f.path in names]
        return out

    def file(self, name: str) -> File:
        """The file `name` (as run.files() names it, or its server path); NoSuchFileError when absent."""
        if not isinstance(name, str):
            raise ArgumentTypeError(f"file() takes a file name (str), got {type(name).__name__}")
        for f in self.files():
            if name in (f.name, f.path):
                return f
        raise NoSuchFileError(f"run {self.entity}/{self.project}/{self.id} has no file {name!r} on "
                              f"{self._conn.base_url}: run.files() lists the ones it has")

    # ------------------------------------------------------------------ edits
    def update(self) -> "Run":
        """Save changes of `name`/`display_name`, `notes` and `tags` on the server (PATCH, spec/protocol.md
        4.5). A changed `config` or `summary` raises ReadOnlyError and nothing is saved: the server keeps
        those from the run's log."""
        changed = [k for k in ("config", "summary") if
                   (dict(self.summary) if k == "summary" else self.config) != self._saved[k]]
        if changed:
            raise ReadOnlyError(
                f"run.update() cannot save the {' and '.join(changed)} of {'/'.join(self.path)}: the evlog server "
                "keeps them from the run's log. Log them from the run itself (eventlog.init(id=..., "
                "resume='must')); run.update() saves name, notes and tags.")
        changes: Dict[str, Any] = {}
        for key, now in (("name", self.display_name), ("notes", self.notes), ("tags", list(self.tags))):
            if now != self._saved[key]:
                changes[key] = now
        if changes:
            resp = self._conn.request("PATCH", self._api_path, where=self._where, json=changes,
                                      what=self._what("an edit"))
            self._set(resp.json())
        return self

    def save(self) -> "Run":
        """wandb's older name of update()."""
        return self.update()

    def __repr__(self) -> str:
        return f"<Run {'/'.join(self.path)} ({self.state})>"


def _row(r: Dict[str, Any], keys: List[str], only: bool) -> Optional[Dict[str, Any]]:
    """A history row as wandb gives it: `_step` plus the values; with `only`, None unless it holds
    every key of `keys`, and then only those."""
    data = r["data"]
    if only:
        if any(k not in data for k in keys):
            return None
        data = {k: data[k] for k in keys}
    elif keys and any(k not in data for k in keys):
        return None
    out = {"_step": r["step"]}
    out.update(decode(data))
    return out


class Runs:
    """The runs of a project matching a filter, in `order`: lazy (read on first use), iterable,
    indexable and len()-able, as wandb's `Runs`."""

    def __init__(self, api: "Api", entity: str, project: str, filters: Optional[Dict[str, Any]] = None,
                 order: str = "-created_at", per_page: int = 50) -> None:
        self._api = api
        self.entity, self.project = entity, project
        self.filters, self.order = filters, order
        self.per_page = _count(per_page, "per_page", 1)  # the server answers a project's runs at once
        self._params, self._match = compile_filters(filters)
        self._order = order_key(order)
        self._objects: Optional[List[Run]] = None

    def _runs(self) -> List[Run]:
        if self._objects is None:
            data = self._api._conn.get_json(run_path(self.entity, self.project), where=(self.entity, self.project),
                                            params=self._params or None,
                                            what=f"the runs of {self.entity}/{self.project}")
            runs = [Run(self._api, a) for a in data["runs"]]
            runs = [r for r in runs if self._match(r._attrs)]
            self._objects = sort(runs, lambda r: r._attrs, self._order)
        return self._objects

    @property
    def length(self) -> int:
        return len(self._runs())

    def __len__(self) -> int:
        return len(self._runs())

    def __iter__(self) -> Iterator[Run]:
        return iter(self._runs())

    def __getitem__(self, index: Union[int, slice]) -> Any:
        return self._runs()[index]

    def __bool__(self) -> bool:
        return bool(self._runs())

    def histories(self, samples: int = 500, keys: Optional[Sequence[str]] = None, x_axis: str = "_step",
                  format: str = "default", stream: str = "default") -> Any:
        """The sampled history of every run, one list (or with format="pandas" one DataFrame) with a
        `run_id` column."""
        if format not in ("default", "pandas"):
            raise UsageError(f"format must be 'default' or 'pandas', got {format!r}")
        rows: List[Dict[str, Any]] = []
        for run in self._runs():
            for r in run.history(samples=samples, keys=keys, x_axis=x_axis, pandas=False, stream=stream):
                rows.append({"run_id": run.id, **r})
        return _dataframe(rows, ["run_id", "_step"] + list(keys or []), format == "pandas")

    def __repr__(self) -> str:
        return f"<Runs {self.entity}/{self.project}>"
