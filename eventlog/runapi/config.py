"""`run.config`: the run's configuration, every change a `config` record.

Item and attribute access, `update()`, `setdefaults()`, `as_dict()`. Sources: a dict (or any
mapping), an `argparse.Namespace`, or the path of a YAML file (PyYAML needed for YAML). Setting a
key that holds a different value raises ConfigError unless allow_val_change=True (per call, or for
the whole run from init()); setting the same value again is fine and writes nothing. Keys and
values are stored as wandb stores them (`--lr` -> `lr`, `{1: "cat"}` -> `{"1": "cat"}`, a function
-> its qualified name, ...: eventlog/values.py).

(The module is not called `config.py`: `eventlog.config` is the current run's config object.)
"""
from __future__ import annotations

import os
import sys

from ..errors import ArgumentTypeError, ConfigError, ConfigValueWarning, UsageError
from .mapping import RunMapping
from ..values import config_key, normalize_config_value

DEFAULTS_FILE = "config-defaults.yaml"
_WANDB_META_KEYS = ("wandb_version", "_wandb", "evlog_version", "_evlog")


def load_yaml_mapping(path: str, where: str, what: str) -> dict:
    """The mapping a YAML (or JSON) file holds ({} for an empty file); a UsageError naming `where`
    (the argument) when PyYAML is missing, the file cannot be read, does not parse, or holds
    something other than a mapping of `what`."""
    try:
        import yaml
    except ImportError:
        raise UsageError(f"{where}: reading the YAML file {path} needs PyYAML: pip install PyYAML") from None
    try:
        with open(path, encoding="utf-8") as f:
            data = yaml.safe_load(f)
    except OSError as exc:
        raise UsageError(f"{where}: cannot read {path}: {exc.strerror or exc}") from None
    except yaml.YAMLError as exc:
        raise UsageError(f"{where}: {path} is not valid YAML: {exc}") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise UsageError(f"{where}: {path} must hold a mapping of {what}, not a {type(data).__name__}")
    return data


def _load_yaml(path: str, where: str) -> dict:
    """A config YAML file in wandb's layout (`key: {desc, value}` or `key: value`), meta keys left out."""
    data = load_yaml_mapping(path, where, "config keys")
    out = {}
    for k, v in data.items():
        if k in _WANDB_META_KEYS:
            continue
        # wandb's format: `key: {desc: ..., value: ...}`; plain `key: value` works too
        if isinstance(v, dict) and "value" in v and set(v) <= {"value", "desc"}:
            v = v["value"]
        out[k] = v
    return out


def _is_namespace(obj: object) -> bool:
    argparse = sys.modules.get("argparse")
    if argparse is not None and isinstance(obj, argparse.Namespace):
        return True
    absl = sys.modules.get("absl.flags")
    return absl is not None and isinstance(obj, getattr(absl, "FlagValues", ()))


def source_to_dict(src: object, where: str = "config") -> dict:
    """The key -> value dict of a config source (dict/mapping, Namespace, YAML path, Config)."""
    if src is None:
        return {}
    if isinstance(src, Config):
        return src.as_dict()
    if isinstance(src, dict):
        return dict(src)
    if isinstance(src, (str, os.PathLike)):
        path = os.fspath(src)
        if not os.path.isfile(path):
            raise UsageError(
                f"{where}={src!r}: no such file. {where} takes a dict, an argparse.Namespace, or the path "
                "of a YAML file"
            )
        return _load_yaml(path, where)
    if _is_namespace(src):
        if type(src).__name__ == "FlagValues":
            return {k: src[k].value for k in src}
        return dict(vars(src))
    keys = getattr(src, "keys", None)
    if callable(keys) and hasattr(src, "__getitem__"):
        return {k: src[k] for k in keys()}
    raise ArgumentTypeError(
        f"{where} must be a dict, an argparse.Namespace or the path of a YAML file, got {type(src).__name__}"
    )


def load_defaults(folder) -> dict:
    """`config-defaults.yaml` in `folder` (beside the script), or {} when there is none."""
    if folder is None:
        return {}
    path = os.path.join(folder, DEFAULTS_FILE)
    if not os.path.isfile(path):
        return {}
    return _load_yaml(path, DEFAULTS_FILE)


def normalize(d: dict) -> dict:
    """The config change `d` as stored (keys and values as in eventlog/values.py: dashes stripped,
    non-str keys as JSON text, objects converted); ConfigError for a key, ConfigValueError for a
    value that cannot be stored, before anything is written. One ConfigValueWarning per converted
    value, naming its key, once the whole change was accepted."""
    out, given, notes = {}, {}, []
    for k, v in d.items():
        name = config_key(k, "config ", top=True)
        if name in out:
            raise ConfigError(f"config keys {given[name]!r} and {k!r} are both stored as {name!r} (dashes are "
                              "stripped and non-str keys stored as their JSON text, as wandb does): keep one")
        given[name] = k
        out[name] = normalize_config_value(name, v, 0, notes)
    if notes:
        import warnings

        for text in notes:
            warnings.warn(ConfigValueWarning(text), stacklevel=4)
    return out


class Config(RunMapping):
    """The run's config. Reads come from memory; every change goes through the run, which writes a
    `config` record first and then updates the mirror."""

    _what = "config"

    def _set(self, d: dict) -> None:
        self._run._config_update(d)

    def _remove(self, keys) -> None:
        self._run._config_remove(list(keys))

    def update(self, d=None, allow_val_change=None, **kwargs) -> None:
        """Merge `d` (dict, Namespace, YAML path) and keyword arguments into the config."""
        src = source_to_dict(d, "config.update()")
        src.update(kwargs)
        if allow_val_change is not None and type(allow_val_change) is not bool:
            raise ArgumentTypeError(f"allow_val_change must be True or False, got {allow_val_change!r}")
        self._run._config_update(src, allow_val_change=allow_val_change)

    def setdefaults(self, d) -> None:
        """Set only the keys that are not in the config yet."""
        src = source_to_dict(d, "config.setdefaults()")
        self._run._config_update(src, only_missing=True)

    # wandb spells it both ways
    setdefault_many = setdefaults

    def setdefault(self, key, default=None):
        if key not in self._items:
            self._run._config_update({key: default}, only_missing=True)
        return self[key]

    def persist(self) -> None:
        """Accepted for wandb compatibility: every change is already a record."""
