"""Resuming a run: what `init(resume=...)` does (issue 6).

- `plan()` decides, from `resume`, `id` and what exists, whether init() starts a new run, continues
  a run folder on this machine, or continues a run from the server (a new machine after a
  preemption); it raises the typed ResumeError subclasses naming the run id and what to do.
- `from_log()` rebuilds a run's state (identity, config, summary, last step, sessions, whether the
  last session ended) from its log; `from_server()` from the server's `GET {run}/state`.
- `open_run()` opens the run's log to continue it: the same folder (LogWriter continues the seq,
  cuts a torn tail and records it) or a new folder whose log begins at the server's next seq, writes
  the `resume` record that marks the new session, and returns the Run with its state restored.

spec/format.md ("resume" record, section 1) and spec/protocol.md (`GET {run}/state`) say the rest.
"""
from __future__ import annotations

import os
import sys
import time
from pathlib import Path

from ..errors import (
    ConfigError,
    ResumeError,
    RunExistsError,
    RunInUseError,
    RunNotFoundError,
    ServerUnreachableError,
    UsageError,
    WriterLockedError,
)
from ..metricdefs import MetricFold
from ..protocol import STATE_TYPE, run_path  # noqa: F401  (resume.STATE_TYPE: GET {run}/state's media type)
from ..records.fold import RunFold
from ..records.types import IDENTITY  # noqa: F401  (resume.IDENTITY: the fields of a run's identity)
from .settings import RESUME_WORDS
from ..values import same_value

NEW, LOCAL, SERVER = "new", "local", "server"


# ------------------------------------------------------------------------- a run's state
class RunState(RunFold):
    """What a run is when a session starts: rebuilt from its log (the records' fold) or from the server."""

    def __init__(self) -> None:
        super().__init__()
        self.source = "log"      # "log" or "server"
        self.server_state = None  # the server's state of the run (server source)
        self.updated_at = None

    @property
    def run_id(self):
        return self.run.get("id")

    @property
    def name(self):
        return self.run.get("name")

    @property
    def resumable(self) -> bool:
        """Did the last session not finish: no exit record (crashed, killed), or interrupted by a
        signal (preempted)? What resume=True / "auto" continues."""
        return self.ended is None or bool(self.ended.get("interrupted"))


def from_log(folder) -> RunState:
    """The state a run folder's log holds (readable records, in seq order; damage is skipped)."""
    from ..logfile.reader import LogReader

    st = RunState()
    reader = LogReader(folder)
    for rec in reader.records():
        st.feed(rec.seq, rec.type, rec.body)
    if not st.run.get("id"):
        from ..logfile.segment import LOG_DIR

        st.run["id"] = _header_run_id(Path(reader.folder) / LOG_DIR)
    return st


def _header_run_id(log_dir: Path):
    from ..logfile.segment import segment_headers

    for _, header in segment_headers(log_dir):
        return header.run_id
    return None


def from_server(obj: dict) -> RunState:
    """The state of `GET {run}/state` (spec/protocol.md)."""
    st = RunState()
    st.source = SERVER
    st.run = {
        "id": obj.get("id"), "name": obj.get("name"), "project": obj.get("project"), "entity": obj.get("entity"),
        "group": obj.get("group"), "job_type": obj.get("job_type"), "notes": obj.get("notes"),
        "tags": list(obj.get("tags") or []), "mode": "online", "start_time": obj.get("started_at"),
        "settings": obj.get("settings") if isinstance(obj.get("settings"), dict) else {}, "url": obj.get("url"),
    }
    st.config = dict(obj.get("config") or {})
    st.summary = dict(obj.get("summary") or {})
    st.metrics = MetricFold.restore(obj.get("metrics"))
    st.last_step = obj.get("last_step")
    st.next_seq = int(obj.get("next_seq") or 0)
    st.session = max(int(obj.get("sessions") or 1) - 1, 0)
    st.server_state = obj.get("state")
    st.updated_at = obj.get("updated_at")
    if st.server_state in ("finished", "failed"):
        st.ended = {"exit_code": obj.get("exit_code"), "interrupted": False}
    return st


# ------------------------------------------------------------------------- the server
def fetch_state(login, run_id: str, timeout: float = 10.0):
    """The server's state of a run (a dict), None when it has no such run; PermissionDenied for a
    refusal, ServerUnreachableError when it does not answer."""
    import msgpack

    from ..client import accounts as api

    path = run_path(login.entity, login.project, run_id) + "/state"
    resp = api._get(login.base_url, path, login.api_key, timeout)
    if resp.status_code == 200:
        try:
            out = msgpack.unpackb(resp.content, raw=False, strict_map_key=False)
        except Exception:  # noqa: BLE001
            out = None
        if not isinstance(out, dict):
            raise ServerUnreachableError(f"the evlog server at {login.base_url} sent a state that does not decode")
        return out
    body = api._reason(resp)
    if resp.status_code == 404 and body.get("reason") in ("no_such_run", "no_such_project"):
        return None
    if resp.status_code in (401, 403, 404, 410) and body.get("reason"):  # 410: a deleted run's id
        raise api.refusal(resp.status_code, body, base_url=login.base_url, entity=login.entity,
                          project=login.project)
    raise ServerUnreachableError(f"the evlog server at {login.base_url} answered {resp.status_code}")


def connect(s, entity, project, run_id):
    """(mode, entity, project, url, login) as init() meets the server (runapi._online, for a given
    entity and project): offline without credentials or, unless force, with the server unreachable."""
    if s.mode != "online":
        return s.mode, entity, project, None, None
    from ..client import accounts as api

    try:
        login = api.resolve_online(entity, project, anonymous=s.anonymous, force=s.force, env=s.env)
    except ServerUnreachableError as exc:
        if s.force:
            raise
        if not s.silent:
            sys.stderr.write(f"evlog: {exc}; logging offline\n")
        return "offline", entity, project, None, None
    if login is None:
        return "offline", entity, project, None, None
    return "online", login.entity, login.project, login.run_url(run_id), login


# ------------------------------------------------------------------------- local folders
def lock_holder(folder: Path):
    """The text of log/LOCK when a live writer holds it (the run is running), else None."""
    from ..logfile.lockfile import holder
    from ..logfile.segment import LOG_DIR

    return holder(Path(folder) / LOG_DIR)


def _in_use(run_id: str, folder: Path, holder: str) -> RunInUseError:
    return RunInUseError(
        f"cannot resume run {run_id!r}: its log in {folder} is being written by {holder}; a run has one "
        "writer at a time: stop that process (or wait for it to finish) and resume again"
    )


def _read(folder: Path):
    """from_log(folder), or None when it holds no readable record (not even a log/ folder)."""
    from ..errors import NotARunFolderError

    try:
        st = from_log(folder)
    except NotARunFolderError:
        return None
    return st if st.records else None


def _set_aside(folder: Path) -> None:
    """Move a run folder that never got a readable record (its process died inside init()) out of
    the way, keeping its bytes: `<root>/.unborn-<name>-<time>`."""
    aside = folder.parent / f".unborn-{folder.name}-{int(time.time() * 1000)}"
    try:
        os.rename(folder, aside)
    except OSError as exc:
        raise ResumeError(f"run folder {folder} holds no readable record and cannot be moved aside ({exc}); "
                          "remove it, then try again") from None


def latest_resumable(base: str):
    """(folder, state) of `<base>/evlog/latest-run` when its last session did not finish and no
    process writes it; None otherwise."""
    from ..rundir.folder import LATEST, run_root

    link = run_root(base) / LATEST
    try:
        target = os.readlink(link)
    except OSError:
        return None
    folder = (link.parent / target).resolve()
    if not folder.is_dir() or lock_holder(folder) is not None:
        return None
    st = _read(folder)
    if st is None or not st.resumable:
        return None
    return folder, st


# ------------------------------------------------------------------------- deciding
class Plan:
    """What init() does: `kind` NEW (with `run_id`), LOCAL (`folder`, `state`) or SERVER (`state`
    from the server, `login`). `online` is the (mode, entity, project, url) already worked out."""

    def __init__(self, kind: str, run_id: str, *, folder=None, state=None, login=None, online=None) -> None:
        self.kind, self.run_id, self.folder, self.state = kind, run_id, folder, state
        self.login, self.online = login, online


def _where(s) -> str:
    from ..rundir.folder import run_root

    return str(run_root(s.dir))


def plan(s, run_id: str) -> Plan:
    """Decide what init() does for `s.resume` (the settings are validated already); see the module
    docstring. Raises RunNotFoundError, RunExistsError, RunInUseError, ResumeError."""
    from ..rundir import folder as runfolder

    mode = s.resume
    by_resume = isinstance(mode, str) and mode not in RESUME_WORDS
    if by_resume and s.id is not None and s.id != mode:
        raise UsageError(f"id={s.id!r} and resume={mode!r} name two different runs; give the id of the run to "
                         "resume once (id=..., resume=\"allow\")")
    explicit = s.id is not None or by_resume
    if not explicit:
        if mode is True or mode == "auto":
            found = latest_resumable(s.dir)
            if found is not None:
                folder, st = found
                return Plan(LOCAL, st.run_id or run_id, folder=folder, state=st)
        elif mode == "must":
            raise ResumeError(
                "resume=\"must\" needs the id of the run to resume: pass id=\"<run id>\" (or set EVLOG_RUN_ID); "
                "`evlog runs ls` lists the runs of a folder with their ids. resume=True resumes the last run "
                "started from this folder if it did not finish"
            )
        return Plan(NEW, run_id)
    # "allow", "must", "never", True with an id, or the id itself (= "allow")
    must = mode == "must"
    _, taken = runfolder.scan_runs(s.dir, run_id)
    folder = runfolder.run_root(s.dir) / taken if taken is not None else None
    if folder is not None:
        holder = lock_holder(folder)
        if holder is not None:
            if mode == "never":
                raise RunExistsError(f"run id {run_id!r} is already used by {folder} (resume=\"never\"), which is "
                                     f"running ({holder}); give another id or leave id= out")
            raise _in_use(run_id, folder, holder)
        st = _read(folder)
        if st is not None:
            if mode == "never":
                raise RunExistsError(
                    f"run {run_id!r} exists already in {folder}, and resume=\"never\" forbids continuing it: give "
                    "another id (or leave id= out for a new one), or pass resume=\"allow\" to continue it"
                )
            return _plan_local(s, run_id, folder, st)
        _set_aside(folder)  # died inside init(): nothing readable to continue
    online = connect(s, s.entity, s.project, run_id)
    login = online[4]
    if login is not None:
        try:
            if login.entity is None:
                raise ServerUnreachableError(f"cannot reach the evlog server at {login.base_url}")
            remote = fetch_state(login, run_id)
        except ServerUnreachableError as exc:
            if mode == "never":
                return Plan(NEW, run_id, online=online[:4])
            raise ResumeError(
                f"cannot resume run {run_id!r}: there is no run folder with that id under {_where(s)}, and the "
                f"server cannot be asked for it ({exc}). Retry when the server is reachable, or pass dir= the "
                "folder the run was started from"
            ) from None
        if remote is not None:
            if mode == "never":
                raise RunExistsError(
                    f"run {run_id!r} exists already on {login.base_url} ({login.entity}/{login.project}), and "
                    "resume=\"never\" forbids continuing it: give another id (or leave id= out), or pass "
                    "resume=\"allow\" to continue it"
                )
            return Plan(SERVER, run_id, state=from_server(remote), login=login, online=online[:4])
    if must:
        if login is not None:
            where = f"and none on {login.base_url} in {login.entity}/{login.project}"
        elif s.mode == "online":
            where = "and the server was not asked (not logged in: run `evlog login`)"
        else:
            where = f"and the server was not asked (mode={s.mode_requested!r})"
        raise RunNotFoundError(
            f"resume=\"must\": there is no run {run_id!r} to resume: no run folder with that id under {_where(s)} "
            f"{where}. Pass dir= the folder the run was started from (or project=/entity= where it was logged), "
            "check the id (`evlog runs ls`), or use resume=\"allow\" to start it when it does not exist"
        )
    return Plan(NEW, run_id, online=online[:4])


def _plan_local(s, run_id: str, folder: Path, st: RunState) -> Plan:
    """A local run folder to continue; online, the server must not be ahead of it."""
    project = st.run.get("project")
    if s.project is not None and project is not None and s.project != project:
        raise ResumeError(f"run {run_id!r} ({folder}) belongs to project {project!r}, not {s.project!r}: "
                          f"leave project= out, or pass project={project!r}")
    return Plan(LOCAL, run_id, folder=folder, state=st)


# ------------------------------------------------------------------------- continuing
def config_changes(run_id: str, have: dict, given: dict, allow: bool) -> dict:
    """The config keys of init(config=...) to write for a resumed run: new keys and, with
    allow_val_change, changed ones; ConfigError for a changed value otherwise."""
    out = {}
    for k, v in given.items():
        if k in have:
            if same_value(have[k], v):
                continue
            if not allow:
                raise ConfigError(
                    f"resuming run {run_id!r}: config key {k!r} is {have[k]!r} in the run and {v!r} in init(config=); "
                    "pass the run's value, or allow_val_change=True to init() to change it"
                )
        out[k] = v
    return out


def _meta_changes(s, st: RunState) -> dict:
    """name / notes / tags given to init() (argument or environment) that differ from the run's."""
    out = {}
    if "name" in s.sources and s.name is not None and s.name != st.run.get("name"):
        out["name"] = s.name
    if "notes" in s.sources and s.notes != st.run.get("notes"):
        out["notes"] = s.notes
    if "tags" in s.sources and list(s.tags) != list(st.run.get("tags") or []):
        out["tags"] = list(s.tags)
    return out


def open_run(s, p: Plan, cfg: dict, make_run):
    """Continue the planned run: open its log, write the `resume` record (and the config / meta
    changes init() asks for), and return `make_run(...)`'s Run with the state restored."""
    from ..rundir import folder as runfolder
    from ..capture import sysinfo
    from ..logfile.writer import LogWriter

    st, run_id = p.state, p.run_id
    changes = config_changes(run_id, st.config, cfg, s.allow_val_change)
    meta = _meta_changes(s, st)
    if p.kind == LOCAL:
        folder = Path(p.folder)
        ident = st.run
        if ident.get("mode") == "offline" or s.mode != "online":
            mode, entity, project, url, login = (s.mode if s.mode != "online" else "offline", ident.get("entity"),
                                                 ident.get("project"), None, None)
        else:
            mode, entity, project, url, login = connect(s, ident.get("entity") or s.entity,
                                                        ident.get("project") or s.project, run_id)
            if login is not None and login.verified and login.entity:
                _check_not_ahead(login, run_id, folder, st)
        try:
            writer = LogWriter(folder, run_id, flush_interval=s.flush_interval, fsync=s.fsync)
        except WriterLockedError:
            raise _in_use(run_id, folder, lock_holder(folder) or "another process") from None
        if writer.first_seq != st.next_seq:  # written between our read and the lock: read again
            try:
                st = from_log(folder)
                changes = config_changes(run_id, st.config, cfg, s.allow_val_change)
                meta = _meta_changes(s, st)
            except BaseException:
                writer.close()
                raise
    else:
        mode, entity, project, url = p.online
        login = p.login
        if st.server_state == "running" and not s.silent:
            sys.stderr.write(
                f"evlog: run {run_id} is marked running on {login.base_url}: resuming it here. If its old process "
                "still runs somewhere, stop it: two processes writing one run lose data\n")
        folder = runfolder.create(s.dir, run_id, time.time())
        writer = LogWriter(folder, run_id, flush_interval=s.flush_interval, fsync=s.fsync, first_seq=st.next_seq)
        if writer.first_seq != st.next_seq:
            writer.close()
            raise ResumeError(f"the new run folder {folder} for run {run_id!r} is not empty; remove it and retry")
    try:
        u = os.uname()
        session = st.session + 1
        body = {"session": session, "pid": os.getpid(), "host": u.nodename, "start_time": time.time(),
                "last_step": st.last_step, "mode": mode, "source": st.source, "program": sysinfo.program_info()}
        if p.kind == SERVER:
            ident = dict(st.run, mode=mode, settings=s.record())
            if url:
                ident["url"] = url
            body.update(run=ident, config=st.config, summary=st.summary)
            if st.metrics.active:
                body["metrics"] = st.metrics.state()
        writer.append("resume", body)
        if changes:
            writer.append("config", {"update": changes})
        if meta:
            writer.append("meta", meta)
        writer.flush()
    except BaseException:
        writer.close()
        raise
    ident = dict(st.run, **meta)
    run = make_run(folder=folder, writer=writer, mode=mode, url=url, project=project or ident.get("project"),
                   entity=entity or ident.get("entity"), name=ident.get("name") or run_id,
                   start_time=ident.get("start_time") or time.time())
    run._port().restore(ident, config={**st.config, **changes}, summary=st.summary,
                        metrics=st.metrics if st.metrics.active else None, last_step=st.last_step,
                        session=session)
    return run


def _check_not_ahead(login, run_id: str, folder: Path, st: RunState) -> None:
    """Online, a local run folder is continued only if the server has nothing past its log (the
    run was not continued on another machine meanwhile)."""
    try:
        remote = fetch_state(login, run_id)
    except ServerUnreachableError:
        return
    if remote is not None and int(remote.get("next_seq") or 0) > st.next_seq:
        raise ResumeError(
            f"cannot resume run {run_id!r} from {folder}: the server has {remote['next_seq']} of its records and "
            f"this folder only {st.next_seq}: the run was continued elsewhere. Resume it from the server with "
            "dir= a folder that does not hold this run, or sync this folder's copy under another id"
        )


def resume_command(folder, st: RunState):
    """The shell command that resumes a run: its last session's program, run again in the same
    working directory with EVLOG_RESUME=must, EVLOG_RUN_ID and EVLOG_DIR set; None when the
    program cannot be run again (an interactive session, `python -c`)."""
    from ..capture.sysinfo import shell_quote as q

    prog = st.program if isinstance(st.program, dict) else {}
    argv = prog.get("argv")
    if not isinstance(argv, list) or not argv or not argv[0] or argv[0] in ("-c", "-") or not st.run_id:
        return None
    exe = prog.get("executable") or "python3"
    base = Path(folder).resolve().parent.parent
    env = f"EVLOG_RESUME=must EVLOG_RUN_ID={q(str(st.run_id))} EVLOG_DIR={q(str(base))}"
    cmd = " ".join(q(str(a)) for a in [exe, *argv])
    cwd = prog.get("cwd")
    return f"cd {q(str(cwd))} && {env} {cmd}" if cwd else f"{env} {cmd}"
