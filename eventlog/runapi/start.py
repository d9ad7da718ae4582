"""`init()`: settings resolved, the run folder and its first records written (or an existing run
continued: eventlog/runapi/resume.py), then the run launched: latest-run link, exit hooks, syncer,
integrations, console and system capture."""
from __future__ import annotations

import os
import sys
import time
import warnings

from ..errors import ArgumentTypeError, ReinitWarning, UsageError
from ..names import generate_id, generate_name
from .config import load_defaults, normalize as normalize_config, source_to_dict
from .settings import RESUME_WORDS, resolve
from . import state
from .facade import _set_current
from .hooks import _install_hooks
from .run import Run

INIT_ARGUMENTS = (
    "project", "entity", "save_code", "group", "job_type", "name", "notes", "config", "tags", "dir",
    "sync_tensorboard", "resume", "reinit", "anonymous", "force", "magic", "id", "monitor_gym",
    "allow_val_change", "mode", "settings", "config_exclude_keys", "config_include_keys",
)


class _NullWriter:
    """The writer of a disabled run: takes every record, keeps nothing."""

    next_seq = 0
    closed = False

    def append(self, type, body, *, when=None):  # noqa: A002 - LogWriter's signature
        return -1

    def append_record(self, type, body, when=None):  # noqa: A002 - LogWriter's signature
        return -1

    def append_plain(self, type, body):  # noqa: A002 - LogWriter's signature
        return -1

    def flush(self, fsync=False):
        pass

    def close(self):
        pass


_NULL_WRITER = _NullWriter()


def _online(s, run_id):
    """Where init() meets the server: (mode, entity, project, url). Online without credentials (or
    with the server unreachable, unless force=True) logs offline; the run syncs later."""
    if s.mode != "online":
        return s.mode, s.entity, s.project, None
    from ..client import accounts as api
    from ..errors import ServerUnreachableError

    try:
        login = api.resolve_online(s.entity, s.project, anonymous=s.anonymous, force=s.force, env=s.env,
                                   run_id=run_id)  # a new run: its id must be free on the server
    except ServerUnreachableError as exc:
        if s.force:
            raise
        if not s.silent:
            sys.stderr.write(f"evlog: {exc}; logging offline\n")
        return "offline", s.entity, s.project, None
    if login is None:
        return "offline", s.entity, s.project, None
    return "online", login.entity, login.project, login.run_url(run_id)


def _record_files(folder, code_file, git):
    files = []
    if code_file is not None:
        files.append(code_file)
    if git is not None and git.get("diff_file"):
        from ..capture.sysinfo import file_digest

        try:
            sha, size = file_digest(folder / git["diff_file"])
            files.append({"path": git["diff_file"], "sha256": sha, "size": size, "kind": "diff"})
        except OSError:
            pass
    return files


def _start(s) -> Run:
    from ..rundir import folder as runfolder
    from ..capture import sysinfo

    start_time = time.time()
    script = sysinfo.main_script()
    script_dir = os.path.dirname(script) if script else os.getcwd()
    run_id = s.id
    if run_id is None and isinstance(s.resume, str) and s.resume not in RESUME_WORDS:
        run_id = s.resume
    if run_id is None:
        run_id = generate_id()

    # the config first: a bad config fails init() before anything is created
    cfg = normalize_config(load_defaults(script_dir))
    cfg.update(normalize_config(source_to_dict(s.config, "config")))

    if s.mode == "disabled":
        run = Run(settings=s, run_id=run_id, name=s.name or generate_name(), folder=None, writer=_NULL_WRITER,
                  mode="disabled", url=None, project=s.project, entity=s.entity, start_time=start_time,
                  disabled=True)
        run._config._items.update(cfg)
        return run

    online = None
    if s.resume:  # continue an existing run when there is one (eventlog/runapi/resume.py)
        from . import resume

        plan = resume.plan(s, run_id)
        run_id, online = plan.run_id, plan.online
        if plan.kind != resume.NEW:
            def make_run(**kw):
                return Run(settings=s, run_id=run_id, disabled=False, **kw)

            return _launch(s, resume.open_run(s, plan, cfg, make_run))
    count, taken = runfolder.scan_runs(s.dir, run_id if s.id is not None or s.resume else None)
    if taken is not None:
        raise UsageError(
            f"run id {run_id!r} is already used by {runfolder.run_root(s.dir) / taken}; a run id names one run: "
            "give another id (or leave id= out), or pass resume=\"allow\" to continue that run"
        )
    mode, entity, project, url = online or _online(s, run_id)
    name = s.name or generate_name(count + 1)
    folder = runfolder.create(s.dir, run_id, start_time)
    probe = None if s.disable_git else sysinfo.GitProbe(script_dir, folder)
    from ..logfile.writer import LogWriter

    try:
        writer = LogWriter(folder, run_id, flush_interval=s.flush_interval, fsync=s.fsync)
    except BaseException:
        if probe is not None:
            probe.result()
        raise
    try:
        code, code_file = sysinfo.save_code(folder) if s.save_code else (None, None)
        git = probe.result() if probe is not None else None
        body = {
            "id": run_id, "name": name, "project": project, "entity": entity, "group": s.group,
            "job_type": s.job_type, "notes": s.notes, "tags": list(s.tags), "mode": mode,
            "start_time": start_time, "settings": s.record(), "program": sysinfo.program_info(),
            "git": git, "code": code,
        }
        if url is not None:
            body["url"] = url
        writer.append("run", body, when=start_time)
        if cfg:
            writer.append("config", {"update": cfg})
        files = _record_files(folder, code_file, git)
        if files:
            writer.append("files", {"files": files})
        writer.flush()
    except BaseException:
        writer.close()
        raise
    run = Run(settings=s, run_id=run_id, name=name, folder=folder, writer=writer, mode=mode, url=url,
              project=project, entity=entity, start_time=start_time, disabled=False)
    run._config._items.update(cfg)
    return _launch(s, run)


def _launch(s, run) -> Run:
    """A run whose log is open and flushed: point latest-run at it, install the exit hooks, start
    its syncer (a resumed session gets one too; the sinks continue from their cursors)."""
    from ..rundir import folder as runfolder
    from ..capture import sysinfo

    folder, mode = run._folder, run._mode
    runfolder.link_latest(folder)
    _install_hooks()
    from .syncproc import start_syncer
    from ..terminal import banner

    # the banner before init() returns (before the program's next print); the syncer's stdout sink then skips it
    env = os.environ if s.env is None else s.env
    shown = not s.silent and banner.stdout_sink_on(env)
    if shown:
        banner.show(banner.for_run(run, env))
    try:
        run._syncer = start_syncer(folder, parent_pid=os.getpid(), env=banner.syncer_env(s.env) if shown else s.env)
    except Exception as exc:  # noqa: BLE001 - the run logs; it can be synced later
        sys.stderr.write(f"evlog: could not start the syncer ({exc}); sync later with: evlog sync {folder}\n")
    if s.sync_tensorboard or s.monitor_gym or s.magic:
        from ..integrations import magic

        run._integrations = magic.start(run, s)
    if mode == "offline" and not s.silent and not shown and getattr(run, "_syncer", None) is None:
        # otherwise the banner has this hint
        sys.stderr.write(f"evlog: run stored offline in {folder}; sync it later with: "
                         f"evlog sync {sysinfo.shell_quote(str(folder))}\n")
    if s.console:
        from ..capture.console import Capture

        run._console = Capture(run._output)
    if s.system_interval > 0:
        from ..capture.sysmetrics import Sampler

        run._sampler = Sampler(run._system, s.system_interval, str(folder), nvidia_smi=sysinfo.which("nvidia-smi"))
    return run


def _filter_config(config, include, exclude) -> dict:
    """init()'s config with only `include`d keys, or without `exclude`d ones (not both, as wandb)."""
    if include is not None and exclude is not None:
        raise UsageError("init(): give config_include_keys or config_exclude_keys, not both")
    for name, keys in (("config_include_keys", include), ("config_exclude_keys", exclude)):
        if keys is not None and (isinstance(keys, str) or not all(isinstance(k, str) for k in keys)):
            raise ArgumentTypeError(f"{name} must be a list of str, got {keys!r}")
    src = source_to_dict(config, "config")
    if include is not None:
        return {k: v for k, v in src.items() if k in set(include)}
    return {k: v for k, v in src.items() if k not in set(exclude)}


def init(
    *,
    project=None, entity=None, save_code=None, group=None, job_type=None, name=None, notes=None,
    config=None, tags=None, dir=None, sync_tensorboard=None, resume=None, reinit=None, anonymous=None,  # noqa: A002
    force=None, magic=None, id=None, monitor_gym=None, allow_val_change=None, mode=None,  # noqa: A002
    settings=None, config_exclude_keys=None, config_include_keys=None,
    **unknown,
) -> Run:
    """Start a run and return it; also sets `eventlog.run`, `eventlog.config`, `eventlog.summary`.

    Every argument of the seed's table is accepted and validated (a wrong type raises
    ArgumentTypeError, a wrong value UsageError, both naming the argument). Environment variables
    (EVLOG_*, then WANDB_*) fill in what the arguments leave out; see README "Environment variables".
    While a run is active, init() returns it with a ReinitWarning unless reinit=True, which
    finishes it and starts a new one. `settings` (an eventlog.Settings or a dict of wandb's Settings
    fields) fills in what the arguments leave out (eventlog/compat/settings.py);
    `config_include_keys` / `config_exclude_keys` filter `config` as wandb does.
    """
    for wandb_only in ("fork_from", "resume_from"):
        if wandb_only in unknown:
            raise UsageError(f"init({wandb_only}=...) (forking or rewinding a run) is not supported by evlog; "
                             "use resume=\"allow\" with id= to continue a run")
    if unknown:
        import difflib

        bad = sorted(unknown)[0]
        close = difflib.get_close_matches(bad, INIT_ARGUMENTS, n=1)
        hint = f" Did you mean {close[0]}=?" if close else ""
        raise ArgumentTypeError(
            f"init() got an unknown argument {bad}=.{hint} It takes: {', '.join(INIT_ARGUMENTS)}"
        )
    args = dict(
        project=project, entity=entity, save_code=save_code, group=group, job_type=job_type, name=name,
        notes=notes, config=config, tags=tags, dir=dir, sync_tensorboard=sync_tensorboard, resume=resume,
        reinit=reinit, anonymous=anonymous, force=force, magic=magic, id=id, monitor_gym=monitor_gym,
        allow_val_change=allow_val_change, mode=mode,
    )
    env = None
    if settings is not None:
        from ..compat.settings import apply

        env = apply(settings, args, os.environ)
    if config_include_keys is not None or config_exclude_keys is not None:
        args["config"] = _filter_config(args["config"], config_include_keys, config_exclude_keys)
    s = resolve(args, env)
    with state._glock:
        cur = state._current
        if cur is not None and (cur._forked or cur._finished):
            _set_current(None)
            cur = None
        if cur is not None:
            if not s.reinit:
                warnings.warn(ReinitWarning(
                    f"init() was called while run {cur.id!r} ({cur.name}) is active: returning that run. Pass "
                    "reinit=True to finish it and start a new run, or call run.finish() first"
                ), stacklevel=2)
                return cur
            cur.finish()
        run = _start(s)
        state._ever_started = True
        _set_current(run)
        return run
