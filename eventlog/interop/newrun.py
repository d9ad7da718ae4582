"""The common writer of `evlog import`: a run of another tracker written as an ordinary evlog run folder.

`ImportedRun` writes the records `init()`/`log()`/`finish()` would have written, at the source's own
timestamps, with media stored as `log()` stores it. The folder is written under a hidden name and
renamed into place when the import ends, so a failed import leaves no half run and `find_imported`
(which makes a second import of the same source a skip) sees only whole ones.
"""
from __future__ import annotations

import hashlib
import os
import shutil
from pathlib import Path
from typing import Any, Dict, Iterable, List, Optional, Tuple

from ..errors import Error, ImportSourceError, LogValueError
from ..names import ID_RE
from ..rundir.folder import PREFIX, folder_name, run_root, scan_runs
from ..util.hashing import copy_hashed, read_chunks

SOURCE_PREFIXES = {"wandb": "wb", "tensorboard": "tb", "mlflow": "mlf"}
PARTIAL_PREFIX = ".importing-"
_PROGRAM_FIELDS = ("argv", "path", "python", "implementation", "executable", "host", "os", "pid", "cwd")


def derived_run_id(kind: str, source_id: str) -> str:
    """The evlog run id of a source run: `<prefix>-<source id>` (wb-, tb-, mlf-) when that is a valid
    run id, else `<prefix>-<first 16 hex digits of the id's sha256>`; the same source, the same id."""
    prefix = SOURCE_PREFIXES.get(kind, kind)
    plain = f"{prefix}-{source_id}"
    if ID_RE.match(plain):
        return plain
    return f"{prefix}-{hashlib.sha256(source_id.encode('utf-8', 'surrogatepass')).hexdigest()[:16]}"


def find_imported(root_dir: str, run_id: str) -> Optional[Path]:
    """The run folder of `run_id` under `<root_dir>/evlog/`, or None (an import that did not end
    leaves a hidden folder, which is not a run)."""
    found = scan_runs(root_dir, run_id)[1]
    return run_root(root_dir) / found if found else None


def imported_source(folder: Path) -> Optional[Dict[str, Any]]:
    """The `source` map of an imported run's `run` record (None for a run that was not imported)."""
    from ..logfile.reader import LogReader

    for rec in LogReader(folder).records():
        return rec.body.get("source") if rec.type == "run" else None
    return None


class ImportReport:
    """What an import did: runs, history rows and files written, runs and values skipped (with why),
    and warnings (damage read around). `lines()` is the summary `evlog import` prints."""

    def __init__(self) -> None:
        self.runs = 0
        self.rows = 0
        self.files = 0
        self.folders: List[Path] = []
        self.skipped: List[Tuple[str, str]] = []
        self.warnings: List[Tuple[str, str]] = []

    def skip(self, what: str, why: str) -> None:
        self.skipped.append((what, why))

    def warn(self, what: str, why: str) -> None:
        self.warnings.append((what, why))

    def lines(self) -> List[str]:
        out = [f"imported {self.runs} run{'s' * (self.runs != 1)}, {self.rows} history rows, {self.files} files"]
        out += [f"  skipped {what}: {why}" for what, why in self.skipped]
        out += [f"  warning {what}: {why}" for what, why in self.warnings]
        return out


def _program(given: Optional[Dict[str, Any]]) -> Dict[str, Any]:
    prog: Dict[str, Any] = {k: None for k in _PROGRAM_FIELDS}
    prog["argv"] = []
    prog.update({k: v for k, v in (given or {}).items() if k in _PROGRAM_FIELDS})
    return prog


class ImportedRun:
    """One imported run, a context manager: `with ImportedRun(root, run_id, name=..., ...) as run:`
    then `history()`, `summary()`, `config_update()`, `output()`, `metric()`, `save_file()`,
    `resume()` (a later session of the run), `finish()`. The run folder appears when the block ends
    without an exception (a source run that never finished gets none: the run reads as crashed)."""

    def __init__(self, root_dir: str, run_id: str, *, name: str, project: Optional[str], entity: Optional[str] = None,
                 group: Optional[str] = None, job_type: Optional[str] = "train", notes: Optional[str] = None,
                 tags: Iterable[str] = (), start_time: float, config: Optional[Dict[str, Any]] = None,
                 source: Dict[str, Any], program: Optional[Dict[str, Any]] = None,
                 git: Optional[Dict[str, Any]] = None, report: Optional[ImportReport] = None) -> None:
        if not ID_RE.match(run_id):
            raise ImportSourceError(f"run id {run_id!r} is not a valid evlog run id; make it with derived_run_id()")
        self.root_dir, self.run_id, self.start_time = str(root_dir), run_id, float(start_time)
        self.report = report if report is not None else ImportReport()
        self.folder = run_root(self.root_dir) / folder_name(run_id, self.start_time)
        self._partial = self.folder.parent / (PARTIAL_PREFIX + self.folder.name)
        self._body = {
            "id": run_id, "name": name or run_id, "project": project, "entity": entity, "group": group or None,
            "job_type": job_type or "train", "notes": notes or None, "tags": [str(t) for t in tags],
            "mode": "offline", "start_time": self.start_time, "settings": _settings(), "program": _program(program),
            "git": git, "code": None, "source": dict(source),
        }
        self._config = dict(config or {})
        self._writer = None
        self._time = self.start_time
        self._summary: Dict[str, Any] = {}
        self._known: set = set()
        self._fold = None
        self._step: Optional[int] = None
        self._session = 0
        self._session_start = self.start_time
        self._ended = False

    # ------------------------------------------------------------------ lifecycle
    def __enter__(self) -> "ImportedRun":
        from ..runapi.config import normalize
        from ..logfile.writer import LogWriter

        if find_imported(self.root_dir, self.run_id) is not None:
            raise ImportSourceError(f"run {self.run_id} was imported already ({find_imported(self.root_dir, self.run_id)})")
        shutil.rmtree(self._partial, ignore_errors=True)  # left by an import that was killed
        self._partial.mkdir(parents=True)
        self._writer = LogWriter(self._partial, self.run_id)
        self._writer.append("run", self._body, when=self.start_time)
        if self._config:
            try:
                self._config = normalize(self._config)
            except Error as exc:
                self.report.skip(f"{self.run_id} config", str(exc))
                self._config = {}
            if self._config:
                self._writer.append("config", {"update": self._config}, when=self.start_time)
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        writer, self._writer = self._writer, None
        if writer is not None:
            writer.close()
        if exc_type is not None:
            shutil.rmtree(self._partial, ignore_errors=True)
            return
        os.rename(self._partial, self.folder)
        self.report.runs += 1
        self.report.folders.append(self.folder)

    def _when(self, time: Optional[float]) -> float:
        if time is not None:
            self._time = float(time)
        return self._time

    def _append(self, type_: str, body: Dict[str, Any], time: Optional[float]) -> None:
        if self._writer is None:
            raise ImportSourceError(f"run {self.run_id}: write inside `with ImportedRun(...)`")
        self._writer.append(type_, body, when=self._when(time))

    # ------------------------------------------------------------------ values
    def _values(self, data: Dict[str, Any], what: str, time: Optional[float]) -> Dict[str, Any]:
        """`data` normalised as log() does (media values stored, a `files` record for new files);
        a value log() would refuse is left out and reported."""
        from ..media.batch import MediaBatch, store
        from ..values import FAST_TYPES, INT_MAX, INT_MIN, normalize_log_value

        out, batch = {}, MediaBatch()
        for k, v in data.items():
            t = type(v)
            if (t in FAST_TYPES or (t is int and INT_MIN <= v <= INT_MAX)) and type(k) is str and k:
                out[k] = v  # a plain value, as log()'s fast path takes it
                continue
            try:
                if not isinstance(k, str) or not k:
                    raise LogValueError(f"key {k!r} is not a non-empty str")
                out[k] = normalize_log_value(k, v, 0, batch)
            except LogValueError as exc:
                self.report.skip(f"{self.run_id} {what} {k!r}", str(exc))
        if batch.files:
            entries = store(self._partial, batch.files, self._known)
            if entries:
                self._append("files", {"files": entries}, time)
                self._known.update(e["path"] for e in entries)
                self.report.files += len(entries)
        return out

    def media(self, key: str, value: Any) -> Optional[Dict[str, Any]]:
        """Store one media value (eventlog.Image, Histogram, ...) as log() does; its media map, or
        None when it cannot be stored (reported)."""
        return self._values({key: value}, "media", None).get(key)

    def history(self, step: int, data: Dict[str, Any], time: Optional[float] = None) -> bool:
        """One history row at `step`; False (and reported) when the step goes back or nothing is left."""
        if self._step is not None and step < self._step:
            self.report.skip(f"{self.run_id} step {step}", f"steps never go back (the last row was step {self._step})")
            return False
        row = self._values(data, f"step {step}", time)
        if not row:
            return False
        self._append("history", {"step": int(step), "data": row}, time)
        self._step = int(step)
        if self._fold is None:
            self._summary.update(row)
        else:
            self._fold.apply(self._summary, row)
        self.report.rows += 1
        return True

    def summary(self, update: Dict[str, Any], time: Optional[float] = None) -> None:
        """A `summary` record setting these keys (media allowed)."""
        norm = self._values(update, "summary", time)
        if norm:
            self._append("summary", {"update": norm}, time)
            self._summary.update(norm)

    @property
    def last_step(self) -> Optional[int]:
        """The step of the last history row written (None before the first)."""
        return self._step

    @property
    def current_summary(self) -> Dict[str, Any]:
        """The run's summary so far (history folded as the metric definitions say, then summary records)."""
        return self._summary

    def config_update(self, update: Dict[str, Any], time: Optional[float] = None,
                      remove: Iterable[str] = ()) -> None:
        """A `config` record (keys and values stored as init(config=) stores them)."""
        from ..runapi.config import normalize

        try:
            norm = normalize(update) if update else {}
        except Error as exc:  # keys init(config=) refuses too (colliding, of odd types)
            self.report.skip(f"{self.run_id} config update", str(exc))
            return
        remove = [k for k in remove if k in self._config and k not in norm]
        if not norm and not remove:
            return
        body: Dict[str, Any] = {"update": norm}
        if remove:
            body["remove"] = remove
        self._append("config", body, time)
        self._config.update(norm)
        for k in remove:
            del self._config[k]

    def output(self, stream: str, text: str, time: Optional[float] = None) -> None:
        """Console output (`stream` "stdout" or "stderr")."""
        if text:
            self._append("output", {"stream": stream, "text": text}, time)

    def metric(self, name: str, **definition: Any) -> None:
        """A `metric` record as define_metric() writes it (`overwrite=False` merges with the earlier
        definition of `name`, as define_metric does); a definition it would refuse is reported."""
        from ..metricdefs import MetricFold, check_definition, merge_definition

        overwrite = definition.pop("overwrite", None)
        try:
            call = check_definition(name, overwrite=overwrite, **definition)
            fold = self._fold if self._fold is not None else MetricFold()
            new = merge_definition(fold.defs.get(name), call, overwrite)
        except Error as exc:
            self.report.skip(f"{self.run_id} metric {name!r}", str(exc))
            return
        self._append("metric", new, None)
        fold.define(new)
        self._fold = fold

    def save_file(self, src: str, name: str, time: Optional[float] = None) -> None:
        """Copy a file of the source run into `files/<name>` and announce it (kind "other"), as save()."""
        rel = "files/" + name.replace(os.sep, "/").lstrip("/")
        if ".." in rel.split("/"):
            self.report.skip(f"{self.run_id} file {name!r}", "a path outside the run folder")
            return
        dest = self._partial / rel
        dest.parent.mkdir(parents=True, exist_ok=True)
        with open(src, "rb") as fin, open(dest, "wb") as fout:
            sha, size = copy_hashed(read_chunks(fin), fout)
        self._append("files", {"files": [{"path": rel, "sha256": sha, "size": size,
                                          "kind": "other"}]}, time)
        self.report.files += 1

    def resume(self, start_time: float, program: Optional[Dict[str, Any]] = None) -> None:
        """A later session of the run (the source resumed it): a `resume` record."""
        self._session += 1
        self._session_start = float(start_time)
        prog = _program(program)
        self._append("resume", {"session": self._session, "pid": prog["pid"], "host": prog["host"],
                                "start_time": self._session_start, "last_step": self._step, "mode": "offline",
                                "source": "log", "program": prog}, start_time)
        self._ended = False

    def finish(self, exit_code: int, end_time: Optional[float] = None, error: Optional[Dict[str, str]] = None,
               interrupted: bool = False) -> None:
        """End the session as finish() does: the whole summary, then the `exit` record (runtime from the times;
        `interrupted`: the source says the run was stopped, e.g. MLflow's KILLED)."""
        end = self._when(end_time)
        self._append("summary", {"update": self._summary}, end)
        self._append("exit", {"exit_code": int(exit_code), "runtime": max(0.0, end - self._session_start),
                              "interrupted": bool(interrupted), "error": error}, end)
        self._ended = True


def _settings() -> Dict[str, Any]:
    from ..runapi.settings import Settings

    s = Settings().record()
    s["mode"] = "offline"
    return s


def partial_folders(root_dir: str) -> List[Path]:
    """Hidden folders of imports that did not end (removed by the next import of that run)."""
    root = run_root(root_dir)
    try:
        return sorted(p for p in root.iterdir() if p.name.startswith(PARTIAL_PREFIX + PREFIX))
    except OSError:
        return []
