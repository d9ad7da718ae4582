"""`eventlog.Settings` and `init(settings=...)`: wandb's Settings fields mapped onto init() arguments
and evlog's environment settings.

A field evlog has an equal of is mapped (`mode`, `silent`, `console`, `save_code`, `disable_git`,
`run_name`, `root_dir`, `x_disable_stats`, ...). wandb tuning knobs that evlog does not need
(`init_timeout`, `start_method`, `_service_wait`, ...) are accepted and do nothing; any other field
is accepted with one warning naming it. Explicit settings win over environment variables.
"""
from __future__ import annotations

import warnings

from ..errors import ArgumentTypeError, EvlogWarning

# Settings field -> init() argument
INIT_FIELDS = {
    "mode": "mode", "project": "project", "entity": "entity", "run_name": "name", "run_id": "id",
    "run_group": "group", "run_job_type": "job_type", "run_notes": "notes", "run_tags": "tags",
    "root_dir": "dir", "resume": "resume", "anonymous": "anonymous", "save_code": "save_code",
    "sync_tensorboard": "sync_tensorboard", "allow_val_change": "allow_val_change", "force": "force",
    "reinit": "reinit", "magic": "magic", "monitor_gym": "monitor_gym",
}
# Settings field -> (evlog environment variable, value -> its text)
_BOOL = lambda v: "true" if v else "false"  # noqa: E731
ENV_FIELDS = {
    "silent": ("EVLOG_SILENT", _BOOL),
    "quiet": ("EVLOG_SILENT", _BOOL),
    "disable_git": ("EVLOG_DISABLE_GIT", _BOOL),
    "console": ("EVLOG_CONSOLE", str),
    "base_url": ("EVLOG_BASE_URL", str),
    "api_key": ("EVLOG_API_KEY", str),
    "x_disable_stats": ("EVLOG_SYSTEM_INTERVAL", lambda v: "0" if v else None),
    "_disable_stats": ("EVLOG_SYSTEM_INTERVAL", lambda v: "0" if v else None),
    "x_stats_sampling_interval": ("EVLOG_SYSTEM_INTERVAL", str),
    "finish_timeout": ("EVLOG_FINISH_TIMEOUT", str),
    "notebook_name": ("EVLOG_NOTEBOOK_NAME", str),
}
# accepted, no effect in evlog (it never waits on the network in init(), has one syncer process per run, ...)
NO_EFFECT = frozenset((
    "init_timeout", "start_method", "_service_wait", "x_service_wait", "show_info", "show_warnings",
    "show_errors", "show_emoji", "_disable_meta", "x_disable_meta", "disable_job_creation", "program",
    "program_relpath", "_disable_setproctitle", "x_disable_setproctitle", "label_disable", "_save_requirements",
    "x_save_requirements", "heartbeat_seconds", "_offline", "x_disable_machine_info", "_disable_machine_info",
    "console_multipart", "x_label", "x_primary", "x_update_finish_state", "code_dir", "disable_code",
))
_warned: set = set()


class Settings:
    """wandb.Settings: keyword fields, read and set as attributes (`Settings(mode="offline", silent=True)`)."""

    def __init__(self, **fields) -> None:
        object.__setattr__(self, "_fields", {})
        self.update(**fields)

    def update(self, settings=None, **fields) -> None:
        """Set fields from a dict / Settings and keyword arguments."""
        if settings is not None:
            fields = {**as_dict(settings, "Settings.update()"), **fields}
        for k, v in fields.items():
            if not isinstance(k, str):
                raise ArgumentTypeError(f"Settings field names are str, got {k!r}")
            self._fields[k] = v

    def to_dict(self) -> dict:
        return dict(self._fields)

    def __getattr__(self, name: str):
        if name.startswith("__"):
            raise AttributeError(name)
        return self._fields.get(name)

    def __setattr__(self, name: str, value) -> None:
        self._fields[name] = value

    def __repr__(self) -> str:
        inner = ", ".join(f"{k}={v!r}" for k, v in self._fields.items())
        return f"eventlog.Settings({inner})"


def as_dict(settings, where: str = "init(settings=...)") -> dict:
    """The fields of a Settings or a dict."""
    if isinstance(settings, Settings):
        return settings.to_dict()
    if isinstance(settings, dict):
        return dict(settings)
    to_dict = getattr(settings, "to_dict", None) or getattr(settings, "model_dump", None)
    if callable(to_dict):  # a real wandb.Settings passed in by code that imported wandb itself
        return {k: v for k, v in to_dict().items() if v is not None}
    raise ArgumentTypeError(f"{where} takes an eventlog.Settings or a dict, got {type(settings).__name__}")


def apply(settings, args: dict, env) -> dict:
    """Fill init()'s unset `args` from `settings`; returns the environment (a copy of `env` with the
    settings' environment fields) that init() resolves against."""
    fields = as_dict(settings)
    env = dict(env)
    unknown = []
    for k, v in fields.items():
        if v is None:
            continue
        if k in INIT_FIELDS:
            arg = INIT_FIELDS[k]
            if args.get(arg) is None:
                args[arg] = list(v) if arg == "tags" and isinstance(v, tuple) else v
        elif k == "disable_code":
            if args.get("save_code") is None:
                args["save_code"] = not v
        elif k in ENV_FIELDS:
            var, text = ENV_FIELDS[k]
            value = text(v)
            if value is not None:
                env[var] = value
        elif k not in NO_EFFECT:
            unknown.append(k)
    new = [k for k in unknown if k not in _warned]
    if new:
        _warned.update(new)
        warnings.warn(EvlogWarning(
            f"init(settings=...): evlog has no setting {', '.join(sorted(new))}; "
            f"{'it is' if len(new) == 1 else 'they are'} ignored"), stacklevel=3)
    return env
