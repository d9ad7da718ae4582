"""Finding sink classes: built-ins, the `eventlog.sinks` entry-point group, `module:Class` paths;
and choosing which sinks a run uses."""
from __future__ import annotations

import importlib
import sys
from typing import Any, Dict, List, Mapping, Optional, Tuple, Type

from .base import NAME_RE, Sink, SinkError, env_flag, env_value

ENTRY_POINT_GROUP = "eventlog.sinks"

BUILTIN: Dict[str, str] = {
    "stdout": "eventlog.sinks.stdout:StdoutSink",
    "tensorboard": "eventlog.sinks.tensorboard:TensorBoardSink",
    "jsonl": "eventlog.sinks.jsonl:JsonlSink",
    "http": "eventlog.sinks.http:HttpSink",
    "mlflow": "eventlog.sinks.mlflow:MlflowSink",
}


def _entry_points() -> Dict[str, Any]:
    try:
        from importlib.metadata import entry_points
    except ImportError:  # pragma: no cover
        return {}
    try:
        eps = entry_points(group=ENTRY_POINT_GROUP)  # Python 3.10+
    except TypeError:  # pragma: no cover - Python 3.9
        eps = entry_points().get(ENTRY_POINT_GROUP, [])
    out: Dict[str, Any] = {}
    for ep in eps:
        out.setdefault(ep.name, ep)
    return out


def available() -> Dict[str, str]:
    """name -> where it comes from ("module:Class"), built-ins first."""
    out = dict(BUILTIN)
    for name, ep in _entry_points().items():
        out.setdefault(name, ep.value)
    return out


def _import_path(path: str) -> Any:
    module, _, attr = path.partition(":")
    if not module or not attr:
        raise SinkError(f"{path!r} is not a sink: give a name or module:Class")
    try:
        obj = importlib.import_module(module)
    except ImportError as exc:
        raise SinkError(f"cannot import {module} for sink {path!r}: {exc}") from None
    for part in attr.split("."):
        try:
            obj = getattr(obj, part)
        except AttributeError:
            raise SinkError(f"{module} has no {attr} (sink {path!r})") from None
    return obj


def load(spec: str) -> Type[Sink]:
    """The sink class for a name (built-in or entry point) or a `module:Class` path."""
    spec = spec.strip()
    if ":" in spec and spec not in BUILTIN:
        cls = _import_path(spec)
    elif spec in BUILTIN:
        cls = _import_path(BUILTIN[spec])
    else:
        eps = _entry_points()
        if spec not in eps:
            names = ", ".join(sorted(available()))
            raise SinkError(f"no sink named {spec!r} (installed: {names}; or give module:Class)")
        try:
            cls = eps[spec].load()
        except Exception as exc:  # a broken plug-in must not take the others down
            raise SinkError(f"sink {spec!r} failed to load: {type(exc).__name__}: {exc}") from None
    if not (isinstance(cls, type) and issubclass(cls, Sink)):
        raise SinkError(f"{spec!r} is not a subclass of eventlog.sinks.Sink")
    if not NAME_RE.match(cls.name or ""):
        raise SinkError(f"sink class {cls.__module__}.{cls.__qualname__} needs a file-name-safe `name`")
    return cls


def parse_list(text: str) -> List[str]:
    return [p.strip() for p in text.replace(" ", ",").split(",") if p.strip()]


def select(
    run: Mapping[str, Any],
    env: Mapping[str, str],
    *,
    live: bool,
    requested: Optional[List[str]] = None,
    previous: Tuple[str, ...] = (),
    warn=None,  # noqa: ANN001
) -> List[Type[Sink]]:
    """The sink classes to feed for a run.

    - `requested` (`--sink`): exactly those.
    - else EVLOG_SINKS (comma-separated names or module:Class; "none" for none): exactly those.
    - else every installed sink whose `enabled(run, env)` says so; for `evlog sync`, also the sinks
      that already have a cursor in the run folder (`previous`); live-only sinks (stdout) are left
      out of `evlog sync` unless requested.
    EVLOG_SILENT=true always removes the stdout sink from a live run.
    """
    def warn_(msg: str) -> None:
        if warn is not None:
            warn(msg)
        else:
            sys.stderr.write(f"evlog: {msg}\n")

    settings = run.get("settings") if isinstance(run.get("settings"), dict) else {}
    silent = env_flag(env, "EVLOG_SILENT", "WANDB_SILENT") or settings.get("silent") is True
    explicit = requested if requested else None
    if explicit is None:
        text = env_value(env, "EVLOG_SINKS")
        if text is not None:
            explicit = [] if text.lower() in ("none", "-") else parse_list(text)
    chosen: List[Type[Sink]] = []
    seen = set()

    def add(cls: Type[Sink]) -> None:
        if cls.name not in seen:
            seen.add(cls.name)
            chosen.append(cls)

    if explicit is not None:
        for spec in explicit:
            cls = load(spec)  # an explicit wrong name is an error the caller reports
            if live and silent and cls.name == "stdout":
                continue
            add(cls)
        return chosen
    for name in available():
        try:
            cls = load(name)
        except SinkError as exc:
            if name in previous or name in BUILTIN:
                warn_(str(exc))
            continue
        if not live and cls.live_only:
            continue
        if live and silent and cls.name == "stdout":
            continue
        try:
            on = cls.enabled(run, env) or (not live and cls.name in previous)
        except Exception as exc:  # noqa: BLE001
            warn_(f"sink {name}: enabled() failed: {type(exc).__name__}: {exc}")
            continue
        if on:
            add(cls)
    for name in previous:
        if name not in seen and name not in available():
            warn_(f"this run was synced to sink {name!r} before, but no such sink is installed now")
    return chosen
