"""init()'s arguments: validation, environment variables and defaults.

Precedence for every setting: the argument > `EVLOG_<NAME>` > `WANDB_<NAME>` > the default. An
environment variable set to the empty string counts as unset. A wrong argument raises
ArgumentTypeError (wrong type) or UsageError (wrong value); a wrong environment variable raises
UsageError naming the variable. Every message names the argument and how to fix it.
"""
from __future__ import annotations

import os

from ..errors import ArgumentTypeError, UsageError
from ..names import check_id
from ..util.env import lookup, parse_bool

# setting -> the name after the EVLOG_ / WANDB_ prefix
ENV_NAMES = {
    "project": "PROJECT",
    "entity": "ENTITY",
    "mode": "MODE",
    "dir": "DIR",
    "id": "RUN_ID",
    "resume": "RESUME",
    "name": "NAME",
    "notes": "NOTES",
    "tags": "TAGS",
    "group": "RUN_GROUP",
    "job_type": "JOB_TYPE",
    "disable_code": "DISABLE_CODE",
    "silent": "SILENT",
    "disable_git": "DISABLE_GIT",
    "finish_timeout": "FINISH_TIMEOUT",
    "console": "CONSOLE",
}
PREFIXES = ("EVLOG_", "WANDB_")

MODES = {"online": "online", "offline": "offline", "dryrun": "offline", "disabled": "disabled"}
RESUME_WORDS = ("allow", "must", "never", "auto")
ANONYMOUS_WORDS = ("allow", "never", "must")
DEFAULT_JOB_TYPE = "train"
DEFAULT_FINISH_TIMEOUT = 60.0
DEFAULT_SYSTEM_INTERVAL = 10.0  # seconds between system metrics samples (eventlog/capture/sysmetrics.py)
DEFAULT_FLUSH_INTERVAL = 1.0  # eventlog.logfile.writer.DEFAULT_FLUSH_INTERVAL (not imported: msgpack/zstd cost)
NAME_MAX = 128
TAG_MAX = 64


def env_lookup(setting: str, env=None):
    """(value, variable name) of the environment variable for `setting`, EVLOG_ before WANDB_;
    (None, None) when neither is set (or set to the empty string)."""
    return lookup(env, [prefix + ENV_NAMES[setting] for prefix in PREFIXES])


def env_flag(setting: str, env=None, default: bool = False) -> bool:
    v, var = env_lookup(setting, env)
    return default if v is None else parse_bool(v, var)


def _tname(v: object) -> str:
    return type(v).__name__


def _check_bool(arg: str, v: object) -> bool:
    if type(v) is bool:
        return v
    if type(v).__module__ == "numpy" and type(v).__name__ in ("bool_", "bool"):
        return bool(v)
    raise ArgumentTypeError(f"{arg} must be True or False, got {_tname(v)} {v!r}; pass {arg}=True or {arg}=False")


def _check_text(arg: str, v: object, *, where: str, limit: int = NAME_MAX, multiline: bool = False) -> str:
    if not isinstance(v, str):
        raise ArgumentTypeError(f"{where} must be a str, got {_tname(v)} {v!r}; pass {arg}=\"...\"")
    if not v.strip():
        raise UsageError(f"{where} is empty; give a non-empty {arg} or leave it out")
    if not multiline:
        if len(v) > limit:
            raise UsageError(f"{where} is {len(v)} characters long; at most {limit} are allowed")
        if "\n" in v or "\r" in v:
            raise UsageError(f"{where} contains a line break; {arg} must be one line")
    return v


def _check_entity_name(arg: str, v: object, where: str) -> str:
    v = _check_text(arg, v, where=where)
    ok = v[0].isascii() and v[0].isalnum() and all(c.isascii() and (c.isalnum() or c in "_.-") for c in v)
    if not ok:
        raise UsageError(
            f"{where}={v!r} is not a valid {arg} name: use letters, digits, '_', '.' and '-', starting "
            f"with a letter or digit, at most {NAME_MAX} characters (e.g. {arg}=\"my-{arg}\")"
        )
    return v


def check_tags(v: object, where: str = "tags") -> tuple:
    """A validated tuple of tags (order kept, duplicates dropped)."""
    if isinstance(v, str) or not isinstance(v, (list, tuple, set, frozenset)):
        hint = f"tags=[{v!r}]" if isinstance(v, str) else "tags=[\"baseline\", \"v2\"]"
        raise ArgumentTypeError(f"{where} must be a list of str, got {_tname(v)} {v!r}; pass e.g. {hint}")
    out = []
    for t in v:
        if not isinstance(t, str):
            raise ArgumentTypeError(f"{where}: every tag must be a str, got {_tname(t)} {t!r}")
        t = t.strip()
        if not t:
            raise UsageError(f"{where}: a tag is empty; drop it or give it text")
        if len(t) > TAG_MAX:
            raise UsageError(f"{where}: tag {t[:20]!r}... is {len(t)} characters long; at most {TAG_MAX}")
        if t not in out:
            out.append(t)
    return tuple(out)


def check_mode(v: object, where: str = "mode") -> str:
    if not isinstance(v, str):
        raise ArgumentTypeError(f"{where} must be a str, got {_tname(v)} {v!r}; pass mode=\"offline\"")
    m = v.strip().lower()
    if m not in MODES:
        raise UsageError(f"{where}={v!r} is not a mode: use \"online\", \"offline\" (alias \"dryrun\") or \"disabled\"")
    return m


def check_resume(v: object, where: str = "resume"):
    if v is None or type(v) is bool:
        return v
    if not isinstance(v, str):
        raise ArgumentTypeError(
            f"{where} must be True, False, \"allow\", \"must\", \"never\", \"auto\" or a run id, got {_tname(v)} {v!r}"
        )
    w = v.strip()
    if w.lower() in RESUME_WORDS:
        return w.lower()
    if w.lower() in ("true", "yes", "on"):
        return True
    if w.lower() in ("false", "no", "off"):
        return False
    try:
        return check_id(w, where)
    except UsageError:
        raise UsageError(
            f"{where}={v!r} is neither \"allow\", \"must\", \"never\", \"auto\", a bool, nor a valid run id "
            "(letters, digits, '-', '_', '.'; at most 64 characters)"
        ) from None


def check_anonymous(v: object) -> object:
    if v is None:
        return None
    if not isinstance(v, str):
        raise ArgumentTypeError(f"anonymous must be \"allow\", \"never\" or \"must\", got {_tname(v)} {v!r}")
    if v not in ANONYMOUS_WORDS:
        raise UsageError(f"anonymous={v!r} is not allowed: use \"allow\", \"never\" or \"must\" (or leave it out)")
    return v


def check_magic(v: object) -> object:
    """magic: a bool, a dict, a JSON object string, or the name of a YAML file."""
    if v is None or type(v) is bool:
        return v
    if isinstance(v, dict):
        return dict(v)
    if not isinstance(v, str):
        raise ArgumentTypeError(
            f"magic must be a bool, a dict, a JSON string or a YAML file name, got {_tname(v)} {v!r}"
        )
    s = v.strip()
    if s.startswith("{"):
        import json

        try:
            parsed = json.loads(s)
        except ValueError as exc:
            raise UsageError(f"magic={v!r} looks like JSON but does not parse ({exc}); fix the JSON text") from None
        if not isinstance(parsed, dict):
            raise UsageError(f"magic={v!r}: the JSON must be an object")
        return parsed
    if s.lower().endswith((".yaml", ".yml")):
        if not os.path.isfile(s):
            raise UsageError(f"magic={v!r}: no such YAML file; give an existing file name")
        return s
    raise UsageError(f"magic={v!r} is neither a JSON object string nor a .yaml/.yml file name")


def check_dir(v: object, where: str = "dir") -> str:
    if not isinstance(v, (str, os.PathLike)):
        raise ArgumentTypeError(f"{where} must be a path (str or os.PathLike), got {_tname(v)} {v!r}")
    p = os.fspath(v)
    if not isinstance(p, str) or not p.strip():
        raise UsageError(f"{where} is empty; give a folder or leave it out for the working directory")
    p = os.path.abspath(os.path.expanduser(p))
    if os.path.exists(p) and not os.path.isdir(p):
        raise UsageError(f"{where}={v!r} is a file, not a folder; give the folder to write evlog/ runs under")
    return p


CONSOLE_ON = ("auto", "wrap", "redirect", "wrap_raw", "wrap_emu", "on", "true", "1", "yes")
CONSOLE_OFF = ("off", "false", "0", "no")


def check_console(text, var) -> bool:
    """EVLOG_CONSOLE (WANDB_CONSOLE): capture stdout/stderr into the run (default) or not ("off").
    wandb's capture modes ("auto", "wrap", "redirect", ...) all mean on: evlog wraps sys.stdout/stderr."""
    if text is None:
        return True
    t = text.strip().lower()
    if t in CONSOLE_ON:
        return True
    if t in CONSOLE_OFF:
        return False
    raise UsageError(f"{var}={text!r} is not a console mode: set it to auto (capture stdout and stderr "
                     "into the run, the default) or off")


class Settings:
    """The resolved settings of one init() call (what the `run` record's `settings` map holds and more)."""

    __slots__ = (
        "project", "entity", "save_code", "group", "job_type", "name", "notes", "config", "tags", "dir",
        "sync_tensorboard", "resume", "reinit", "anonymous", "force", "magic", "id", "monitor_gym",
        "allow_val_change", "mode", "mode_requested", "silent", "disable_git", "finish_timeout", "flush_interval",
        "fsync", "console", "system_interval", "sources", "env",
    )

    def __init__(self) -> None:
        for s in self.__slots__:
            setattr(self, s, None)
        self.sources = {}

    def record(self) -> dict:
        """The `settings` map of the run record."""
        return {
            "sync_tensorboard": self.sync_tensorboard,
            "resume": self.resume,
            "reinit": self.reinit,
            "anonymous": self.anonymous,
            "force": self.force,
            "magic": self.magic,
            "monitor_gym": self.monitor_gym,
            "allow_val_change": self.allow_val_change,
            "save_code": self.save_code,
            "mode": self.mode_requested,
        }


def resolve(args: dict, env=None) -> Settings:
    """Validate init()'s arguments (`args`: name -> value, None meaning not given) against the
    environment and defaults."""
    env = os.environ if env is None else env
    s = Settings()
    s.env = None if env is os.environ else dict(env)  # what the run's syncer process gets, when not os.environ

    def pick(setting: str):
        """(value, where) from the argument, else the environment; where names it for messages."""
        v = args.get(setting)
        if v is not None:
            s.sources[setting] = "argument"
            return v, setting, False
        ev, var = env_lookup(setting, env)
        if ev is not None:
            s.sources[setting] = var
            return ev, var, True
        return None, setting, False

    v, where, from_env = pick("mode")
    s.mode_requested = check_mode(v, where) if v is not None else "online"
    s.mode = MODES[s.mode_requested]

    for key in ("project", "entity"):
        v, where, _ = pick(key)
        setattr(s, key, _check_entity_name(key, v, where) if v is not None else None)
    for key in ("group", "job_type"):
        v, where, _ = pick(key)
        setattr(s, key, _check_text(key, v, where=where) if v is not None else None)
    if s.job_type is None:
        s.job_type = DEFAULT_JOB_TYPE
    v, where, _ = pick("name")
    s.name = _check_text("name", v, where=where) if v is not None else None
    v, where, _ = pick("notes")
    if v is not None and not isinstance(v, str):
        raise ArgumentTypeError(f"notes must be a str, got {_tname(v)} {v!r}; pass notes=\"...\"")
    s.notes = v

    v, where, from_env = pick("tags")
    if v is None:
        s.tags = ()
    elif from_env:
        s.tags = check_tags([t for t in v.split(",") if t.strip()], where)
    else:
        s.tags = check_tags(v, where)

    v, where, _ = pick("dir")
    s.dir = check_dir(v, where) if v is not None else os.getcwd()

    v, where, _ = pick("id")
    s.id = check_id(v.strip() if isinstance(v, str) and where != "id" else v, where) if v is not None else None

    v, where, from_env = pick("resume")
    s.resume = check_resume(v, where)

    for key in ("sync_tensorboard", "reinit", "force", "monitor_gym", "allow_val_change"):
        v = args.get(key)
        setattr(s, key, _check_bool(key, v) if v is not None else False)

    v = args.get("save_code")
    if v is not None:
        s.save_code = _check_bool("save_code", v)
        s.sources["save_code"] = "argument"
    else:
        ev, var = env_lookup("disable_code", env)
        s.save_code = not parse_bool(ev, var) if ev is not None else True
        if ev is not None:
            s.sources["save_code"] = var

    s.anonymous = check_anonymous(args.get("anonymous"))
    s.magic = check_magic(args.get("magic"))
    if s.magic:
        from ..integrations.magic import parse as parse_magic

        parse_magic(s.magic)  # unknown keys (the error lists the known ones), values that are not bools
    s.config = args.get("config")

    ev, var = env_lookup("silent", env)
    s.silent = parse_bool(ev, var) if ev is not None else False
    ev, var = env_lookup("disable_git", env)
    s.disable_git = parse_bool(ev, var) if ev is not None else False
    s.console = check_console(*env_lookup("console", env))
    ev, var = env_lookup("finish_timeout", env)
    s.finish_timeout = _seconds(ev, var, DEFAULT_FINISH_TIMEOUT, lambda v: v >= 0, ">= 0 (e.g. {var}=60)")
    # evlog's own settings (wandb has none such): no WANDB_ alias
    var = "EVLOG_SYSTEM_INTERVAL"
    s.system_interval = _seconds(env.get(var), var, DEFAULT_SYSTEM_INTERVAL, lambda v: v >= 0,
                                 ">= 0 (e.g. {var}=10; 0 turns system metrics off)")
    var = "EVLOG_FLUSH_INTERVAL"
    s.flush_interval = _seconds(env.get(var), var, DEFAULT_FLUSH_INTERVAL, lambda v: 0 < v <= 3600,
                                "> 0 (e.g. {var}=0.2): how long a frame of the run's log stays open before "
                                "its checksum is written")
    s.fsync = _fsync_policy(env.get("EVLOG_FSYNC"))
    return s


def _fsync_policy(text):
    """EVLOG_FSYNC: off (default), frame, write, or seconds; the LogWriter's `fsync` (spec/format.md 5)."""
    if text is None or not text.strip() or text.strip().lower() in ("off", "frame", "write"):
        return (text or "off").strip().lower() or "off"
    try:
        value = float(text)
    except ValueError:
        value = 0.0
    if not 0 < value <= 3600:
        raise UsageError(f"EVLOG_FSYNC={text!r} is not an fsync policy: set it to off (the default), frame "
                         "(fsync every finished frame), write (every write) or a number of seconds (e.g. "
                         "EVLOG_FSYNC=1: at most 1 s after a write)")
    return value


def _seconds(text, var: str, default: float, ok, what: str) -> float:
    """An environment variable's number of seconds: `default` when unset or empty; UsageError
    "VAR='text' is not a number of seconds <what>" unless `ok(value)` ({var} in `what` is VAR)."""
    if text is None or not text.strip():
        return default
    try:
        value = float(text)
    except ValueError:
        value = None
    if value is None or not ok(value):
        raise UsageError(f"{var}={text!r} is not a number of seconds " + what.format(var=var))
    return value
