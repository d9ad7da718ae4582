"""The mlflow sink: mirrors a run into an MLflow tracking server (spec/sinks.md 8).

Needs the `mlflow` extra (`pip install 'evlog[mlflow]'`). The tracking URI comes from
EVLOG_MLFLOW_TRACKING_URI (which also switches the sink on for live runs), else MLFLOW_TRACKING_URI;
the experiment is the run's project (EVLOG_MLFLOW_EXPERIMENT overrides it). Config becomes params,
history, summary-only and system values metrics (MlflowClient.log_batch, with their step and
timestamp), the run's fields tags, the exit record the run's status, files named by `files` records
(media, saved files, code, diff) artifacts.

Exactly once in effect: the MLflow run carries the tag `evlog.run_id` (how the sink finds it again
without its state) and `evlog.next_seq`, sent last in each log_batch (MLflow stores a batch's params,
then metrics, then tags): records below it are in MLflow. A replay processes those records only to
rebuild the sink's own state and sends nothing for them; in the window between a batch's metrics
and its tag, MLflow's SQL store drops exact duplicate metric points itself.
"""
from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any, Dict, List, Mapping, Optional, Tuple

from eventlog import LogReader, Record
from eventlog.protocol import DEFAULT_PROJECT

from .base import CRASHED, Sink, SinkContext, SinkError, env_value, flatten, is_media, numeric
from .mlflow_map import (
    MAX_ENTITIES,
    MAX_METRICS,
    MAX_PARAM_VALUE,
    MAX_PARAMS_TAGS,
    MAX_REQUEST_CHARS,
    MAX_TAG_VALUE,
    TAG_NEXT_SEQ,
    TAG_RUN_ID,
    clip,
    flat_config,
    meta_tags,
    mlflow_name,
    param_text,
    run_page,
    run_tags,
    status_of_exit,
)

URI_VARS = ("EVLOG_MLFLOW_TRACKING_URI", "MLFLOW_TRACKING_URI")
DEFAULT_EXPERIMENT = DEFAULT_PROJECT  # a run without a project, as the HTTP sink names it
# MLflow's client retries a request up to 7 times over minutes; the syncer retries too, so each
# request gives up sooner. And the client prints "View run ... at" on the program's terminal when a run
# ends: not from a sink. Set only where the environment does not say otherwise.
CLIENT_DEFAULTS = {"MLFLOW_HTTP_REQUEST_MAX_RETRIES": "2", "MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR": "1",
                   "MLFLOW_HTTP_REQUEST_TIMEOUT": "60", "MLFLOW_SUPPRESS_PRINTING_URL_TO_STDOUT": "true"}
TERMINAL = ("FINISHED", "FAILED", "KILLED")


def _ms(t: Any) -> int:
    return int(round(float(t) * 1000))


class MlflowSink(Sink):
    """Delivers a run to an MLflow tracking server."""

    name = "mlflow"

    @classmethod
    def enabled(cls, run: Mapping[str, Any], env: Mapping[str, str]) -> bool:
        """On when EVLOG_MLFLOW_TRACKING_URI is set (MLFLOW_TRACKING_URI alone does not switch it on:
        a program may use MLflow itself)."""
        return run.get("mode") != "disabled" and env_value(env, URI_VARS[0]) is not None

    # ------------------------------------------------------------------ open
    def open(self, ctx: SinkContext) -> None:
        try:
            from mlflow.entities import Metric, Param, RunTag
            from mlflow.exceptions import MlflowException
            from mlflow.tracking import MlflowClient
        except ImportError as exc:
            raise SinkError(f"the mlflow sink needs mlflow ({exc}); install it with: pip install 'evlog[mlflow]'") from None
        self._Metric, self._Param, self._RunTag, self._MlflowException = Metric, Param, RunTag, MlflowException
        self.ctx = ctx
        run = ctx.run or {}
        self.uri = env_value(ctx.env, *URI_VARS)
        if self.uri is None:
            raise SinkError("the mlflow sink needs a tracking server: set EVLOG_MLFLOW_TRACKING_URI "
                            "(e.g. http://127.0.0.1:5000), then `evlog sync --sink mlflow RUN_FOLDER`")
        for var, value in CLIENT_DEFAULTS.items():
            os.environ.setdefault(var, value)
        self.client = MlflowClient(tracking_uri=self.uri)
        self.experiment = env_value(ctx.env, "EVLOG_MLFLOW_EXPERIMENT") or run.get("project") or DEFAULT_EXPERIMENT
        st = ctx.state or {}
        same = (st.get("uri") == self.uri and st.get("experiment") == self.experiment
                and st.get("seq") == ctx.cursor.seq and isinstance(st.get("run_id"), str))
        if not same:
            st = {}
        self.run_id: Optional[str] = st.get("run_id")
        self.experiment_id: Optional[str] = st.get("experiment_id")
        self.params: Dict[str, str] = dict(st.get("params") or {})       # MLflow name -> value sent
        self.config: Dict[str, Any] = dict(st.get("config") or {})       # the run's config (evlog/config.json)
        self.history_keys = set(st.get("history_keys") or ())
        self.summary_sent: Dict[str, float] = dict(st.get("summary") or {})
        self.system_step = int(st.get("system_step", 0))
        self.last_step: Optional[int] = st.get("last_step")
        self.last_time: Optional[float] = st.get("last_time")
        self.status: Optional[str] = st.get("status")
        self.catchup = 0 if same else ctx.cursor.seq  # records before the cursor to read again from the log
        self.seq_done = ctx.cursor.seq   # next seq to process
        self.remote_next = 0             # records below it are in the MLflow run (its evlog.next_seq tag)
        self.pending: List[tuple] = []   # ("m"|"p"|"t", seq, entity) and ("call", seq, what, args), in seq order
        self.entities = 0
        self.config_dirty = False
        self.connected = False
        self.names: Dict[str, str] = {}
        self.changed_warned: set = set()
        self.clipped_warned: set = set()
        self.missing_warned: set = set()

    # -------------------------------------------------------------- connect
    def _connect(self) -> None:
        """Find (or create) the experiment and the MLflow run, read how far it got, and rebuild the
        sink's state from the log when it was not saved for this destination."""
        if self.connected:
            return
        run = self.ctx.run or {}
        if self.experiment_id is None:
            self.experiment_id = self._experiment_id()
        found = None
        if self.run_id is not None:
            try:
                found = self._call(self.client.get_run, self.run_id)
            except self._MlflowException as exc:
                if exc.error_code != "RESOURCE_DOES_NOT_EXIST":
                    raise
            if found is not None and found.info.lifecycle_stage != "active":
                self.ctx.warn(f"MLflow run {self.run_id} was deleted: mirroring into a new MLflow run")
                found = None
                self._forget()
        if found is None:
            rid = str(run.get("id") or self.ctx.run_id).replace("'", "")
            hits = self._call(self.client.search_runs, [self.experiment_id],
                              filter_string=f"tags.`{TAG_RUN_ID}` = '{rid}'", max_results=1,
                              order_by=["attributes.start_time ASC"])
            found = hits[0] if hits else None
            if found is not None and found.info.run_id != self.run_id:
                if self.run_id is not None:
                    self._forget()
                self.run_id = found.info.run_id
        if found is None:
            self._forget()
            start = run.get("start_time")
            tags = {k: self._clip_tag(k, v) for k, v in run_tags(run, str(run.get("id") or self.ctx.run_id)).items()}
            created = self._call(self.client.create_run, self.experiment_id,
                                 start_time=_ms(start) if isinstance(start, (int, float)) else None,
                                 tags=tags, run_name=run.get("name") if isinstance(run.get("name"), str) else None)
            self.run_id = created.info.run_id
            self.remote_next = 0
        else:
            try:
                self.remote_next = int(found.data.tags.get(TAG_NEXT_SEQ, 0))
            except ValueError:
                self.remote_next = 0
            if self.remote_next < self.seq_done and not self.catchup:
                self._reset_local()  # the MLflow run has less than our state says: send the rest again
                self.catchup = self.seq_done
            self.params.update(found.data.params)  # what MLflow has wins: a param never changes
        self.connected = True
        if self.catchup:
            until, self.catchup = self.catchup, 0
            self.seq_done = 0
            for rec in LogReader(self.ctx.folder).records():
                if rec.seq >= until:
                    break
                self._take(rec)

    def _forget(self) -> None:
        """A new MLflow run: nothing of the old one counts, every record is processed again."""
        self.catchup = max(self.catchup, self.seq_done)
        self.run_id = None
        self._reset_local()

    def _reset_local(self) -> None:
        """Forget the sink's state of the run (rebuilt from the log by the catch-up)."""
        self.params, self.config, self.status = {}, {}, None
        self.history_keys, self.summary_sent, self.system_step = set(), {}, 0
        self.last_step = self.last_time = None
        self.pending, self.entities = [], 0

    def _experiment_id(self) -> str:
        exp = self._call(self.client.get_experiment_by_name, self.experiment)
        if exp is None:
            try:
                return self._call(self.client.create_experiment, self.experiment)
            except self._MlflowException as exc:
                if exc.error_code != "RESOURCE_ALREADY_EXISTS":
                    raise
                exp = self._call(self.client.get_experiment_by_name, self.experiment)
        if exp is None or exp.lifecycle_stage != "active":
            raise SinkError(f"MLflow experiment {self.experiment!r} is deleted at {self.uri}: restore it "
                            "(`mlflow experiments restore`) or choose another with EVLOG_MLFLOW_EXPERIMENT")
        return exp.experiment_id

    # ------------------------------------------------------------- the sink
    def write(self, records: List[Record]) -> Optional[int]:
        self._connect()
        for rec in records:
            if rec.seq >= self.seq_done:  # a write that failed comes again: taken already
                self._take(rec)
        if self.entities >= MAX_METRICS:
            self._send(partial=True)
        return None

    def flush(self) -> Dict[str, Any]:
        if self.pending or self.catchup or self.config_dirty or (self.connected and self.seq_done > self.remote_next):
            self._connect()
            self._send(partial=False)
        return {"uri": self.uri, "experiment": self.experiment, "experiment_id": self.experiment_id,
                "run_id": self.run_id, "seq": self.seq_done, "params": self.params, "config": self.config,
                "history_keys": sorted(self.history_keys), "summary": self.summary_sent,
                "system_step": self.system_step, "last_step": self.last_step, "last_time": self.last_time,
                "status": self.status,
                "url": run_page(self.uri, self.experiment_id, self.run_id) if self.run_id else None}

    def close(self, state: str) -> None:
        if state == CRASHED and self.status not in TERMINAL and (self.connected or self.run_id):
            self._connect()
            end = _ms(self.last_time) if self.last_time is not None else None
            self._call(self.client.set_terminated, self.run_id, "KILLED", end)
            self.status = "KILLED"

    # ---------------------------------------------------------- one record
    def _take(self, rec: Record) -> None:
        """Turn one record into pending MLflow operations (none for records MLflow has: they only
        update the sink's state)."""
        send = rec.seq >= self.remote_next
        body = rec.body if isinstance(rec.body, dict) else {}
        seq, t = rec.seq, rec.time
        self.last_time = t
        typ = rec.type
        if typ == "history":
            step = body.get("step")
            if not isinstance(step, int) or isinstance(step, bool):
                step = (self.last_step + 1) if self.last_step is not None else 0
            self.last_step = step
            data = body.get("data")
            if isinstance(data, dict):
                ts = _ms(t)
                for key, value in data.items():
                    if type(key) is not str:
                        key = str(key)
                    if key[:1] == "_":
                        continue
                    if key not in self.history_keys:
                        self.history_keys.add(key)
                    if send:
                        self._metrics(seq, key, value, ts, step)
        elif typ == "config":
            upd = body.get("update")
            changed = False
            if isinstance(upd, dict):
                self.config.update({str(k): v for k, v in upd.items()})
                changed = True
                for key, value in flat_config(upd).items():
                    self._param(seq, key, value, send)
            for k in body.get("remove") or ():
                changed = self.config.pop(str(k), None) is not None or changed
            if changed and send:
                self.config_dirty = True
        elif typ == "summary":
            upd = body.get("update")
            if isinstance(upd, dict):
                step = self.last_step or 0
                for key, value in flatten({str(k): v for k, v in upd.items()
                                           if str(k)[:1] != "_" and str(k) not in self.history_keys}).items():
                    f = numeric(value) if not isinstance(value, (dict, list)) else None
                    if f is None or self.summary_sent.get(key) == f:
                        continue
                    self.summary_sent[key] = f
                    if send:
                        self._add("m", seq, self._Metric(self._name(key), f, _ms(t), step))
        elif typ == "system":
            metrics = body.get("metrics")
            if isinstance(metrics, dict):
                if send:
                    ts = _ms(t)
                    for key, value in metrics.items():
                        f = numeric(value)
                        if f is not None:
                            self._add("m", seq, self._Metric(self._name(f"system/{key}"), f, ts, self.system_step))
                self.system_step += 1
        elif typ in ("run", "meta"):
            tags = run_tags(body, str(body.get("id") or self.ctx.run_id)) if typ == "run" else meta_tags(body, changes=True)
            if send:
                for k, v in tags.items():
                    self._add("t", seq, self._RunTag(k, self._clip_tag(k, v)))
                if typ == "run":
                    files = [(body.get("code") or {}).get("path") if isinstance(body.get("code"), dict) else None,
                             (body.get("git") or {}).get("diff_file") if isinstance(body.get("git"), dict) else None]
                    files = [f for f in files if isinstance(f, str) and f]
                    if files:
                        self.pending.append(("call", seq, "files", files))
        elif typ == "files":
            paths = [f.get("path") for f in body.get("files") or () if isinstance(f, dict)]
            paths = [p for p in paths if isinstance(p, str) and p]
            if send and paths:
                self.pending.append(("call", seq, "files", paths))
        elif typ == "exit":
            self.status = status_of_exit(body)
            if send:
                self.pending.append(("call", seq, "status", (self.status, _ms(t))))
        elif typ == "resume":
            self.status = "RUNNING"
            if send:
                self.pending.append(("call", seq, "status", ("RUNNING", None)))
        self.seq_done = seq + 1

    def _metrics(self, seq: int, key: str, value: Any, ts: int, step: int) -> None:
        t = type(value)
        if t is float:
            self._add("m", seq, self._Metric(self._name(key), value, ts, step))
            return
        if t is dict or t is list:
            if is_media(value):
                return  # its file is an artifact (files record); histograms have none
            for k2, v2 in flatten({key: value}).items():
                f = numeric(v2) if type(v2) not in (dict, list) else None
                if f is not None:
                    self._add("m", seq, self._Metric(self._name(k2), f, ts, step))
            return
        f = numeric(value)
        if f is not None:
            self._add("m", seq, self._Metric(self._name(key), f, ts, step))

    def _param(self, seq: int, key: str, value: Any, send: bool) -> None:
        name = self._name(key)
        text, cut = clip(param_text(value), MAX_PARAM_VALUE)
        old = self.params.get(name)
        if old is None:
            self.params[name] = text
            if send:
                if cut and name not in self.clipped_warned:
                    self.clipped_warned.add(name)
                    self.ctx.warn(f"config {key!r} is longer than MLflow's {MAX_PARAM_VALUE} characters: its param "
                                  "is cut (evlog/config.json in the run's artifacts has it whole)")
                self._add("p", seq, self._Param(name, text))
        elif old != text and send and name not in self.changed_warned:
            self.changed_warned.add(name)
            self.ctx.warn(f"config {key!r} changed to {text[:80]!r}, but MLflow params never change: the MLflow "
                          f"run keeps {old[:80]!r} (evlog/config.json in its artifacts has the current config)")

    def _name(self, key: str) -> str:
        name = self.names.get(key)
        if name is None:
            name = self.names[key] = mlflow_name(key)
        return name

    def _clip_tag(self, key: str, value: str) -> str:
        text, cut = clip(value, MAX_TAG_VALUE)
        if cut and key not in self.clipped_warned:
            self.clipped_warned.add(key)
            self.ctx.warn(f"tag {key!r} is longer than MLflow's {MAX_TAG_VALUE} characters: it is cut")
        return text

    def _add(self, kind: str, seq: int, entity: Any) -> None:
        self.pending.append((kind, seq, entity))
        self.entities += 1

    # ------------------------------------------------------------- sending
    def _send(self, partial: bool) -> None:
        """Send pending operations in seq order: log_batch chunks within MLflow's limits, each
        ending with the `evlog.next_seq` tag of the records it completes; file uploads and status
        changes in between. `partial`: only full chunks (write() bounds its memory)."""
        i = 0
        pending = self.pending
        while i < len(pending):
            item = pending[i]
            if item[0] == "call":
                self._do(item)
                i += 1
                continue
            metrics: List[Any] = []
            params: List[Any] = []
            tags: Dict[str, Any] = {}
            chars = 0
            j = i
            while j < len(pending) and pending[j][0] != "call":
                kind, _, ent = pending[j]
                size = len(ent.key) + (len(ent.value) if kind != "m" else 24) + 40
                if (len(metrics) + len(params) + len(tags) + 1 >= MAX_ENTITIES or chars + size > MAX_REQUEST_CHARS
                        or (kind == "m" and len(metrics) >= MAX_METRICS)
                        or (kind == "p" and len(params) >= MAX_PARAMS_TAGS)
                        or (kind == "t" and len(tags) >= MAX_PARAMS_TAGS - 1)):  # room for evlog.next_seq
                    break
                if kind == "m":
                    metrics.append(ent)
                elif kind == "p":
                    params.append(ent)
                else:
                    tags.pop(ent.key, None)  # one value per key in a request: the later one
                    tags[ent.key] = ent
                chars += size
                j += 1
            full = j < len(pending) and pending[j][0] != "call"
            if partial and not full:
                break
            covered = pending[j][1] if j < len(pending) else self.seq_done
            self._batch(metrics, params, list(tags.values()), covered)
            self.entities -= j - i
            i = j
        del pending[:i]
        if not partial and not pending:
            if self.config_dirty:
                self._upload_config()
            if self.seq_done > self.remote_next:
                self._batch([], [], [], self.seq_done)

    def _batch(self, metrics: List[Any], params: List[Any], tags: List[Any], covered: int) -> None:
        if self.config_dirty and covered > self.remote_next:
            self._upload_config()
        if covered > self.remote_next:
            tags = tags + [self._RunTag(TAG_NEXT_SEQ, str(covered))]
        if not (metrics or params or tags):
            return
        self._log_batch(metrics, params, tags)
        self.remote_next = max(self.remote_next, covered)

    def _log_batch(self, metrics: List[Any], params: List[Any], tags: List[Any]) -> None:
        """log_batch; a batch MLflow refuses as invalid is halved until the one bad entity is found
        and left out with a warning (never the evlog.next_seq tag, which comes last)."""
        try:
            self._call(self.client.log_batch, self.run_id, metrics=metrics, params=params, tags=tags)
            return
        except self._MlflowException as exc:
            if exc.error_code != "INVALID_PARAMETER_VALUE":
                raise
            message = str(exc)
            if "active" in message and "state" in message:
                raise SinkError(f"MLflow run {self.run_id} is not active (deleted?): {message[:200]}; "
                                f"`evlog sync --include-synced --sink mlflow {self.ctx.folder}` mirrors the run "
                                "into a new MLflow run") from None
        items = [("m", e) for e in metrics] + [("p", e) for e in params] + [("t", e) for e in tags]
        if len(items) == 1:
            kind, ent = items[0]
            what = {"m": "metric", "p": "param", "t": "tag"}[kind]
            self.ctx.warn(f"MLflow refused {what} {ent.key!r}: {message[:200]}; it is left out")
            return
        half = len(items) // 2
        for part in (items[:half], items[half:]):
            self._log_batch([e for k, e in part if k == "m"], [e for k, e in part if k == "p"],
                            [e for k, e in part if k == "t"])

    def _do(self, item: tuple) -> None:
        _, seq, what, args = item
        if what == "status":
            status, end = args
            if status == "RUNNING":
                self._call(self.client.update_run, self.run_id, status="RUNNING")
            else:
                self._call(self.client.set_terminated, self.run_id, status, end)
        elif what == "files":
            for path in args:
                self._upload(path)

    def _upload(self, rel: str) -> None:
        parts = rel.split("/")
        local = Path(self.ctx.folder) / rel
        if rel.startswith("/") or ".." in parts or not local.is_file():
            if rel not in self.missing_warned:
                self.missing_warned.add(rel)
                self.ctx.warn(f"{local} is not there: not uploaded to MLflow")
            return
        self._call(self.client.log_artifact, self.run_id, str(local), "/".join(parts[:-1]) or None)

    def _upload_config(self) -> None:
        path = self.ctx.state_dir / "config.json"
        path.write_text(json.dumps(self.config, indent=2, sort_keys=True, default=repr, allow_nan=True))
        self._call(self.client.log_artifact, self.run_id, str(path), "evlog")
        self.config_dirty = False

    def _call(self, fn, *args: Any, **kw: Any) -> Any:  # noqa: ANN001
        """One client call; a connection failure is reported as `ctx.retrying` (spec/sinks.md 7)."""
        try:
            out = fn(*args, **kw)
        except Exception as exc:  # noqa: BLE001
            if _unreachable(exc):
                self.ctx.retrying(f"cannot reach {self.uri} ({type(exc).__name__})")
            raise
        self.ctx.retrying(None)
        return out


def _unreachable(exc: BaseException) -> bool:
    """True for errors that mean the server did not answer (refused, timed out, reset)."""
    text = f"{type(exc).__name__} {exc}"
    return any(s in text for s in ("ConnectionError", "Connection refused", "Max retries exceeded",
                                   "ConnectTimeout", "ReadTimeout", "RemoteDisconnected", "Connection reset"))
