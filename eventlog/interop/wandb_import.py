"""`evlog import wandb`: wandb run folders (`wandb/run-*/`, `wandb/offline-run-*/`) as evlog runs.

Each folder's transaction log (`run-<id>.wandb`, read by wandb_log.py) is replayed into an
ImportedRun: the run's name, project, notes, tags, group, job_type and start time from its `run`
record, the program from `environment`, config, history rows at their steps and times (media from
`files/media/`), define_metric definitions, console output, saved files, and the exit code and end.
Folders of one run id (a resumed wandb run) become one evlog run with a session per folder. The
evlog run id is `wb-<wandb id>`, so importing again skips what was imported.
"""
from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any, Callable, Dict, Iterable, List, Optional

from ..errors import ImportSourceError
from ..protocol import DEFAULT_PROJECT
from .newrun import ImportedRun, ImportReport, derived_run_id, find_imported, imported_source
from .wandb_log import TransactionLog
from .wandb_values import (INTERNAL_KEYS, MediaConverter, Raw, decode_raw, del_path, item_path, item_value,
                           items_dict, set_path)

_RUN_DIR = re.compile(r"^(?:offline-)?run-(\d{8}_\d{6})-(.+)$")
_WANDB_FILES = {"requirements.txt", "wandb-metadata.json", "config.yaml", "wandb-summary.json", "output.log",
                "diff.patch", "conda-environment.yaml", "wandb-history.jsonl", "wandb-events.jsonl"}
_BUFFERED = {"header", "run", "environment", "telemetry", "stats"}
_NOT_IMPORTED = {"artifact": "artifacts", "use_artifact": "used artifacts", "tbrecord": "sync_tensorboard folders",
                 "alert": "alerts"}
_MAX_OUTPUT = 64 * 1024


def find_run_files(paths: Iterable[str]) -> List[Path]:
    """The .wandb files of the given paths: a .wandb file, a wandb run folder, a `wandb/` folder of
    run folders, or a folder holding `wandb/`; ImportSourceError for a path with none."""
    found: Dict[Path, None] = {}
    for p in map(Path, paths):
        if p.is_file():
            if p.suffix != ".wandb":
                raise ImportSourceError(f"{p} is not a wandb transaction log (run-<id>.wandb)")
            hits = [p]
        elif p.is_dir():
            hits = sorted(p.glob("run-*.wandb"))
            for pattern in ("*/run-*.wandb", "wandb/*/run-*.wandb", ".wandb/*/run-*.wandb"):
                if hits:
                    break
                hits = sorted(h for h in p.glob(pattern) if h.parent.name != "latest-run")
        else:
            raise ImportSourceError(f"{p}: no such file or folder")
        if not hits:
            raise ImportSourceError(f"{p} holds no wandb run (no run-<id>.wandb in it, in its run folders or in "
                                    f"its wandb/ folder)")
        for h in hits:
            found[h.resolve()] = None
    return list(found)


def _session_key(path: Path) -> tuple:
    m = _RUN_DIR.match(path.parent.name)
    return (m.group(1) if m else "", str(path))


def _run_id_of(path: Path) -> str:
    m = _RUN_DIR.match(path.parent.name)
    if m:
        return m.group(2)
    return path.stem[4:] if path.stem.startswith("run-") else path.stem


def _ts(t: Any) -> Optional[float]:
    """A protobuf Timestamp as Unix seconds (None when unset)."""
    return t.seconds + t.nanos / 1e9 if t is not None and (t.seconds or t.nanos) else None


def _program(env: Any) -> Dict[str, Any]:
    if env is None:
        return {}
    impl, _, version = env.python.partition(" ")
    prog = {"argv": ([env.program] if env.program else []) + list(env.args), "path": env.program or None,
            "python": version or None, "implementation": impl.lower() or None, "executable": env.executable or None,
            "host": env.host or None, "os": env.os or None, "cwd": env.root or None}
    return prog


def _git(run: Any) -> Optional[Dict[str, Any]]:
    from ..capture.sysinfo import strip_credentials

    g = run.git
    if not (g.commit or g.remote_url):
        return None
    return {"commit": g.commit or None, "branch": None, "remote": strip_credentials(g.remote_url) or None,
            "dirty": None, "diff_file": None}


def _config(items: Iterable[Any]) -> Dict[str, Any]:
    return {k: v for k, v in items_dict(items).items() if k != "_wandb"}


def _metric(rec: Any) -> Optional[Dict[str, Any]]:
    """define_metric()'s arguments from a wandb metric record (None for the ones wandb-core expands
    from a glob for itself)."""
    m = rec.metric
    name = m.name or m.glob_name
    if not name or m.expanded_from_glob:
        return None
    ops = [op for op in ("min", "max", "mean", "best", "last", "first", "none", "copy") if getattr(m.summary, op)]
    goal = {1: "minimize", 2: "maximize"}.get(m.goal)
    if "best" in ops and goal is None:
        ops.remove("best")
    return {"name": name, "step_metric": m.step_metric or None,
            "step_sync": True if m.options.step_sync else (False if m.step_metric else None),
            "hidden": True if m.options.hidden else None, "summary": ",".join(ops) or None, "goal": goal,
            "overwrite": True if m._control.overwrite else None}


class _Session:
    """One .wandb file replayed into an ImportedRun (created by the first session of the run)."""

    def __init__(self, path: Path, importer: "_RunImport") -> None:
        self.path = path
        self.imp = importer
        self.files_dir = str(path.parent / "files")
        self.media = MediaConverter(self.files_dir)
        self.log = TransactionLog(str(path))
        self.run_rec = None
        self.env = None
        self.producer = None
        self.exit = None
        self.last_time: Optional[float] = None
        self.out_buf: Dict[str, list] = {}
        self.saw_output = False
        self.saved: set = set()

    def start_time(self) -> float:
        t = _ts(self.run_rec.start_time) if self.run_rec is not None else None
        if t is None and self.env is not None:
            t = _ts(self.env.started_at)
        return t if t is not None else os.stat(self.path).st_mtime

    # ---------------------------------------------------------------- records
    def handle(self, run: ImportedRun, rec: Any, kind: str) -> None:
        if kind == "history":
            self._history(run, rec.history)
        elif kind in ("output_raw", "output"):
            o = getattr(rec, kind)
            self.saw_output = True
            self._output(run, "stdout" if o.output_type == 1 else "stderr", o.line, _ts(o.timestamp))
        elif kind == "config":
            c = rec.config
            run.config_update(_config(c.update), time=self.last_time,
                              remove=[item_path(it)[0] for it in c.remove])
        elif kind == "summary":
            s = self.imp.summary
            for it in rec.summary.update:
                nk = it.nested_key
                if len(nk) == 1:
                    s[nk[0]] = Raw(it.value_json) if it.value_json else item_value(it)
                else:
                    set_path(s, item_path(it), Raw(it.value_json) if it.value_json else item_value(it))
            for it in rec.summary.remove:
                del_path(s, item_path(it))
        elif kind == "metric":
            d = _metric(rec)
            if d is not None:
                run.metric(d.pop("name"), **d)
        elif kind == "files":
            self._files(run, rec.files)
        elif kind == "exit":
            self.exit = rec.exit
        elif kind in _NOT_IMPORTED and not (kind == "artifact" and rec.artifact.type == "run_table"):
            self.imp.not_imported.add(_NOT_IMPORTED[kind])  # a run_table artifact backs a table read from its file

    def _history(self, run: ImportedRun, h: Any) -> None:
        data = items_dict(h.item)
        step = h.step.num if h.HasField("step") else data.get("_step")
        t = data.get("_timestamp")
        if isinstance(t, (int, float)):
            self.last_time = float(t)
        for k in INTERNAL_KEYS:
            data.pop(k, None)
        if not data:
            return
        if not isinstance(step, int):
            step = (run.last_step + 1) if run.last_step is not None else 0
        skipped: list = []
        data = self.media.convert(data, skipped)
        for key, why in skipped:
            run.report.skip(f"{run.run_id} step {step} {key!r}", why)
        if data:
            self._flush_output(run)
            run.history(step, data, self.last_time)

    def _output(self, run: ImportedRun, stream: str, text: str, t: Optional[float]) -> None:
        if t is not None:
            self.last_time = t
        buf = self.out_buf.setdefault(stream, [])
        buf.append(text)
        if text.endswith("\n") or sum(map(len, buf)) >= _MAX_OUTPUT:
            run.output(stream, "".join(buf), self.last_time)
            buf.clear()

    def _flush_output(self, run: ImportedRun) -> None:
        for stream, buf in self.out_buf.items():
            if buf:
                run.output(stream, "".join(buf), self.last_time)
                buf.clear()

    def _files(self, run: ImportedRun, files: Any) -> None:
        """Files the program saved (wandb.save): copied into the run's files/; wandb's own are not."""
        for f in files.files:
            rel = f.path
            if f.type not in (0,) or rel in _WANDB_FILES or rel.startswith("media/") or rel in self.saved:
                continue
            src = os.path.join(self.files_dir, rel)
            if os.path.isfile(src):
                self.saved.add(rel)
                run.save_file(src, rel, self.last_time)

    # ---------------------------------------------------------------- the end
    def end(self, run: ImportedRun, last: bool) -> None:
        self._flush_output(run)
        if not self.saw_output:
            self._output_log(run)
        if last:
            self.imp.final_summary(run, self, self.last_time)
        where = f"{self.path}"
        for d in self.log.damage:
            run.report.warn(where, f"damaged: {d}; the records around it were imported")
        if self.log.torn:
            run.report.warn(where, f"the last {self.log.torn} bytes are a torn record (the writer was killed); "
                                   "read up to it")
        if self.exit is not None:
            runtime = self.exit.runtime
            end = self.last_time
            start = self.start_time()
            if runtime and (end is None or start + runtime > end):
                end = start + runtime
            run.finish(self.exit.exit_code, end)
        else:
            run.report.warn(f"{run.run_id} ({self.path.parent.name})", "no exit record (the run was killed or is still "
                                                                       "running): imported without an end, as a "
                                                                       "crashed run")

    def _output_log(self, run: ImportedRun) -> None:
        """files/output.log of a log without output records (older wandb): one stdout record per 64 KiB."""
        path = os.path.join(self.files_dir, "output.log")
        if not os.path.isfile(path):
            return
        with open(path, encoding="utf-8", errors="replace") as f:
            while True:
                text = f.read(_MAX_OUTPUT)
                if not text:
                    break
                run.output("stdout", text + f.readline(), self.last_time)


class _RunImport:
    """The sessions (.wandb files) of one wandb run id, in time order, into one evlog run."""

    def __init__(self, wandb_id: str, paths: List[Path], root_dir: str, project: Optional[str],
                 entity: Optional[str], report: ImportReport, progress: Optional[Callable[[int], None]]) -> None:
        self.wandb_id, self.paths, self.root_dir = wandb_id, paths, root_dir
        self.project, self.entity, self.report, self.progress = project, entity, report, progress
        self.run_id = derived_run_id("wandb", wandb_id)
        self.summary: Dict[str, Any] = {}
        self.not_imported: set = set()

    def run(self) -> None:
        existing = find_imported(self.root_dir, self.run_id)
        if existing is not None:
            src = imported_source(existing) or {}
            why = (f"imported before, as {existing}" if src.get("kind") == "wandb" and src.get("run_id") == self.wandb_id
                   else f"run id {self.run_id} is taken by {existing}, which was not imported from this run")
            self.report.skip(f"wandb run {self.wandb_id} ({self.paths[0].parent})", why)
            for p in self.paths:
                self._advance(p.stat().st_size)
            return
        run: Optional[ImportedRun] = None
        ctx = None
        try:
            for i, path in enumerate(self.paths):
                sess = _Session(path, self)
                run, ctx = self._replay(sess, run, ctx, last=i == len(self.paths) - 1)
        except BaseException:
            if ctx is not None:
                ctx.__exit__(*__import__("sys").exc_info())
            raise
        if ctx is not None:
            ctx.__exit__(None, None, None)
        if self.not_imported:
            self.report.skip(f"{self.run_id}", f"{', '.join(sorted(self.not_imported))} are not imported")

    def _advance(self, n: int) -> None:
        if self.progress is not None and n > 0:
            self.progress(n)

    def _open(self, sess: _Session) -> ImportedRun:
        r = sess.run_rec
        src = {"kind": "wandb", "run_id": self.wandb_id, "entity": r.entity or None, "project": r.project or None,
               "path": str(sess.path), "producer": sess.producer}
        run = ImportedRun(
            self.root_dir, self.run_id, name=r.display_name or self.wandb_id,
            project=self.project or r.project or DEFAULT_PROJECT, entity=self.entity, group=r.run_group or None,
            job_type=r.job_type or "train", notes=r.notes or None, tags=list(r.tags), start_time=sess.start_time(),
            config=_config(r.config.update), source=src, program=_program(sess.env), git=_git(r), report=self.report)
        return run

    def _replay(self, sess: _Session, run: Optional[ImportedRun], ctx: Any, last: bool) -> tuple:
        pending: Optional[List[Any]] = []
        done = 0
        for n, rec in enumerate(sess.log.records()):
            if n % 256 == 255:
                self._advance(sess.log.pos - done)
                done = sess.log.pos
            kind = rec.WhichOneof("record_type")
            if kind is None:
                continue
            if pending is not None:
                if kind == "header":
                    sess.producer = rec.header.version_info.producer or None
                elif kind == "run" and sess.run_rec is None:
                    sess.run_rec = rec.run
                elif kind == "environment" and sess.env is None:
                    sess.env = rec.environment
                if sess.run_rec is None or (sess.env is None and kind in _BUFFERED and len(pending) < 64):
                    pending.append((rec, kind))
                    continue
                run, ctx = self._begin(sess, run, ctx, pending)
                pending = None
            sess.handle(run, rec, kind)
        self._advance(sess.log.size - done)
        if pending is not None:
            if sess.run_rec is None:  # nothing to make a run of
                why = "it is empty" if not sess.log.size else "no run record in it (cut short or damaged before it)"
                self.report.skip(str(sess.path), why)
                for d in sess.log.damage:
                    self.report.warn(str(sess.path), f"damaged: {d}")
                return run, ctx
            run, ctx = self._begin(sess, run, ctx, pending)
        sess.end(run, last)
        return run, ctx

    def _begin(self, sess: _Session, run: Optional[ImportedRun], ctx: Any, pending: List[Any]) -> tuple:
        """The session's run and program are known: open the evlog run (or a new session of it), then
        the records read so far."""
        if run is None:
            run = self._open(sess)
            ctx = run.__enter__()
        else:
            run.resume(sess.start_time(), _program(sess.env))
            if sess.run_rec.config.update:
                run.config_update(_config(sess.run_rec.config.update), time=sess.start_time())
        sess.last_time = sess.start_time()
        for prec, pkind in pending:
            sess.handle(run, prec, pkind)
        return run, ctx

    def final_summary(self, run: ImportedRun, sess: _Session, t: Optional[float]) -> None:
        """The source's summary keys that the imported rows do not already give (run.summary[k] = v
        in the program, or values wandb computed another way) as one summary record."""
        from ..records.media import is_media_map, media_kind
        from ..values import same_value

        src = {k: decode_raw(v) for k, v in self.summary.items() if k not in INTERNAL_KEYS}
        skipped: list = []
        src = sess.media.convert(src, skipped)
        cur = run.current_summary
        diff = {}
        for k, v in src.items():
            have = cur.get(k)
            if have is not None and (is_media_map(have) or media_kind(have)) and not isinstance(v, (int, float, str)):
                continue  # the rows' media value, stored already
            try:
                if k in cur and same_value(have, v):
                    continue
            except Exception:  # noqa: BLE001 - values of different shapes
                pass
            diff[k] = v
        for key, why in skipped:
            if key not in cur:
                run.report.skip(f"{run.run_id} summary {key!r}", why)
        if diff:
            run.summary(diff, t)


def import_wandb(paths: Iterable[str], root_dir: str, *, project: Optional[str] = None, entity: Optional[str] = None,
                 report: Optional[ImportReport] = None,
                 progress: Optional[Callable[[int], None]] = None) -> ImportReport:
    """Import the wandb runs under `paths` into `<root_dir>/evlog/`; returns what was done. `project` /
    `entity` replace the wandb run's own (entity: the evlog server's default when None); `progress`
    is called with the bytes of .wandb files read since the last call."""
    from .wandb_log import record_class

    record_class()  # the wandb package, before anything is written
    report = report if report is not None else ImportReport()
    groups: Dict[str, List[Path]] = {}
    for f in find_run_files(paths):
        groups.setdefault(_run_id_of(f), []).append(f)
    for wandb_id, files in groups.items():
        _RunImport(wandb_id, sorted(files, key=_session_key), root_dir, project, entity, report, progress).run()
    return report


def total_bytes(paths: Iterable[str]) -> int:
    """Bytes of the .wandb files `import_wandb(paths)` reads (a progress bar's length)."""
    return sum(f.stat().st_size for f in find_run_files(paths))
