"""init(magic=...), and the integrations it switches on with sync_tensorboard and monitor_gym.

`magic` is True (every switch at its default), False/None (off), a dict, a JSON object string or
the name of a YAML file holding such a map. The switches (all booleans):

| key | default | effect |
|---|---|---|
| `argparse` | true | the parsed arguments of argparse land in the run's config: a Namespace the program parsed before init() (found in `__main__` or in the function that called init()), and every `parse_args()` / `parse_known_args()` after it |
| `absl` | true | the values of the absl flags defined by the main module land in config (when absl.flags is in use): at init() if the flags were parsed already, else when they are |
| `tensorboard` | true | TensorBoard event files are copied into the run, as with `sync_tensorboard=True` (eventlog/integrations/tensorboard.py) |
| `gym` | true | videos recorded by Gymnasium's RecordVideo (and the older gym VideoRecorder) are logged, as with `monitor_gym=True` (eventlog/integrations/gym.py) |

An unknown key is a UsageError that lists the known ones; a value that is not a bool is an
ArgumentTypeError. The patches are installed once per process and act on the current run only.
"""
from __future__ import annotations

import os
import sys
import weakref

from ..errors import ArgumentTypeError, UsageError
from ..util.postimport import when_imported

SWITCHES = {
    "argparse": True,
    "absl": True,
    "tensorboard": True,
    "gym": True,
}


# ------------------------------------------------------------------ parsing
def parse(value) -> dict:
    """The switches of a `magic` setting: {} when off, else every key of SWITCHES with its value."""
    if value is None or value is False:
        return {}
    if value is True:
        return dict(SWITCHES)
    given = value
    if isinstance(value, str):
        from ..runapi.config import load_yaml_mapping

        given = load_yaml_mapping(value, f"magic={value!r}", "switches")
    if not isinstance(given, dict):
        raise ArgumentTypeError(f"magic must be a bool, a dict, a JSON object string or a YAML file name, got "
                                f"{type(value).__name__}")
    unknown = sorted(str(k) for k in given if k not in SWITCHES)
    if unknown:
        raise UsageError(f"magic: unknown key{'s' if len(unknown) > 1 else ''} {', '.join(map(repr, unknown))}; "
                         f"the known keys are {', '.join(SWITCHES)} (each true or false)")
    out = dict(SWITCHES)
    for k, v in given.items():
        if type(v) is not bool:
            raise ArgumentTypeError(f"magic: key {k!r} must be true or false, got {type(v).__name__} {v!r}")
        out[k] = v
    return out


# --------------------------------------------------------------- argparse
_targets = {"argparse": None, "absl": None}  # switch -> weakref of the run whose config takes them
_argparse_patched = False
_absl_patched = False


def _target_run(switch: str):
    ref = _targets[switch]
    run = ref() if ref is not None else None
    if run is None or run.finished or run.disabled:
        return None
    return run


def _storable(d: dict) -> dict:
    """The values of an argparse/absl map the config can store (others as their str())."""
    from ..values import normalize_config_value

    out = {}
    for k, v in d.items():
        if not isinstance(k, str) or not k:
            continue
        try:
            out[k] = normalize_config_value(k, v)
        except Exception:  # noqa: BLE001 - file objects, custom types: their text
            out[k] = str(v)
    return out


def _to_config(values: dict, what: str, switch: str) -> None:
    run = _target_run(switch)
    if run is None or not values:
        return
    try:
        run.config.update(_storable(values), allow_val_change=True)
    except Exception as exc:  # noqa: BLE001 - never break the program's argument parsing
        sys.stderr.write(f"evlog: magic: {what} not stored in config: {exc}\n")


def _patch_argparse() -> None:
    global _argparse_patched
    if _argparse_patched:
        return
    import argparse

    original = argparse.ArgumentParser.parse_known_args

    def parse_known_args(self, args=None, namespace=None):
        ns, rest = original(self, args, namespace)
        if _targets["argparse"] is not None and isinstance(ns, argparse.Namespace):
            _to_config(vars(ns), "parsed arguments", "argparse")
        return ns, rest

    parse_known_args.__wrapped__ = original
    parse_known_args.__doc__ = original.__doc__
    argparse.ArgumentParser.parse_known_args = parse_known_args
    _argparse_patched = True


def _namespaces_before_init(depth_limit: int = 50) -> list:
    """argparse Namespaces the program made before init(): globals of __main__, locals of the
    function that called init(), and locals of the main script's functions that led to it."""
    argparse = sys.modules.get("argparse")
    if argparse is None:
        return []
    found = []
    seen = set()

    def scan(ns: dict) -> None:
        for v in list(ns.values()):
            if isinstance(v, argparse.Namespace) and id(v) not in seen:
                seen.add(id(v))
                found.append(v)

    main = sys.modules.get("__main__")
    if main is not None:
        scan(vars(main))
    pkg = os.path.dirname(os.path.abspath(__file__))
    try:
        frame = sys._getframe(1)
    except (AttributeError, ValueError):  # pragma: no cover
        frame = None
    n = 0
    caller_seen = False
    while frame is not None and n < depth_limit:
        if not os.path.abspath(frame.f_code.co_filename).startswith(pkg + os.sep):
            if not caller_seen or frame.f_globals.get("__name__") == "__main__":
                scan(frame.f_locals)
            caller_seen = True
        frame = frame.f_back
        n += 1
    return found


# -------------------------------------------------------------------- absl
def _absl_main_flags(flags_module) -> dict:
    FLAGS = flags_module.FLAGS
    if not FLAGS.is_parsed():
        return {}
    main = sys.argv[0] if sys.argv else None
    flag_objs = []
    by_module = FLAGS.flags_by_module_dict()
    for module, objs in by_module.items():
        if module == main or module == "__main__" or not (module.startswith("absl.") or module.startswith("absl/")
                                                           or "/absl/" in module):
            flag_objs.extend(objs)
    return {f.name: f.value for f in flag_objs}


def _capture_absl(flags_module) -> None:
    global _absl_patched
    _to_config(_absl_main_flags(flags_module), "absl flags", "absl")
    if _absl_patched:
        return
    FlagValues = flags_module.FlagValues
    original = FlagValues.__call__

    def __call__(self, *args, **kwargs):
        out = original(self, *args, **kwargs)
        if _targets["absl"] is not None and self is flags_module.FLAGS:
            _to_config(_absl_main_flags(flags_module), "absl flags", "absl")
        return out

    __call__.__wrapped__ = original
    FlagValues.__call__ = __call__
    _absl_patched = True


# ------------------------------------------------------------------- start
class Integrations:
    """What init() switched on for one run; `stop()` (at finish) turns it off again."""

    def __init__(self, run, switches: dict) -> None:
        self.run = run
        self.switches = switches
        self.tb = None
        self.gym = False
        self._stopped = False

    def stop(self) -> None:
        if self._stopped:
            return
        self._stopped = True
        if self.tb is not None:
            try:
                self.tb.stop()
            except Exception as exc:  # noqa: BLE001 - finishing the run goes on
                sys.stderr.write(f"evlog: sync_tensorboard: stopping failed: {exc}\n")
        if self.gym:
            from . import gym

            gym.disable(self.run)
        for switch, ref in list(_targets.items()):
            if ref is not None and ref() is self.run:
                _targets[switch] = None


def start(run, settings) -> Integrations:
    """Switch on what `settings` (sync_tensorboard, monitor_gym, magic) asks for, for `run`."""
    switches = parse(settings.magic)
    out = Integrations(run, switches)
    if run.disabled or run.dir is None:
        return out
    for switch in _targets:
        _targets[switch] = weakref.ref(run) if switches.get(switch) else None
    if switches.get("argparse"):
        for ns in _namespaces_before_init():
            _to_config(vars(ns), "parsed arguments", "argparse")
        _patch_argparse()
    if switches.get("absl"):
        when_imported("absl.flags", _capture_absl)
    if settings.sync_tensorboard or switches.get("tensorboard"):
        from . import tensorboard as tbsync

        out.tb = tbsync.start(run)
    if settings.monitor_gym or switches.get("gym"):
        from . import gym

        gym.enable(run)
        out.gym = True
    return out
