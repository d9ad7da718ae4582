"""Where the API key and server URL come from: environment first, then the user's settings file.

`EVLOG_API_KEY` / `EVLOG_BASE_URL` (aliases `WANDB_API_KEY` / `WANDB_BASE_URL`; EVLOG_* wins)
override the file `<config dir>/credentials.json` that `evlog login` writes. The file and its
folder are created readable by the user only (0600 / 0700); a file found with wider permissions is
narrowed before it is read. The config dir is `$EVLOG_CONFIG_DIR`, else `$XDG_CONFIG_HOME/evlog`,
else `~/.config/evlog`.
"""
from __future__ import annotations

import json
import os
import stat
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Dict, Mapping, Optional, Tuple

from ..util.atomic import write_atomic
from ..util.env import text as env_text

DEFAULT_BASE_URL = "http://127.0.0.1:8080"
FILE_NAME = "credentials.json"
KEY_VARS = ("EVLOG_API_KEY", "WANDB_API_KEY")
URL_VARS = ("EVLOG_BASE_URL", "WANDB_BASE_URL")


@dataclass(frozen=True)
class Credentials:
    """A server URL and the key to use there (None when there is none)."""

    base_url: str
    api_key: Optional[str]
    source: Optional[str]  # "env", "file" or None
    user: Optional[str] = None


def _env(env: Optional[Mapping[str, str]], names: Tuple[str, ...]) -> Optional[str]:
    return env_text(env, *names)


def normalize_url(url: str) -> str:
    """`url` without trailing slashes; `http://` is assumed when no scheme is given."""
    url = url.strip().rstrip("/")
    if "://" not in url:
        url = "http://" + url
    return url


def config_dir(env: Optional[Mapping[str, str]] = None) -> Path:
    d = _env(env, ("EVLOG_CONFIG_DIR",))
    if d:
        return Path(d)
    base = _env(env, ("XDG_CONFIG_HOME",)) or os.path.join(os.path.expanduser("~"), ".config")
    return Path(base) / "evlog"


def settings_path(env: Optional[Mapping[str, str]] = None) -> Path:
    return config_dir(env) / FILE_NAME


def _load(env: Optional[Mapping[str, str]] = None) -> Dict[str, Any]:
    path = settings_path(env)
    try:
        st = path.stat()
    except OSError:
        return {}
    if st.st_mode & (stat.S_IRWXG | stat.S_IRWXO):
        try:
            os.chmod(path, 0o600)
        except OSError:
            pass
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def _store(data: Dict[str, Any], env: Optional[Mapping[str, str]] = None) -> Path:
    path = settings_path(env)
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    write_atomic(path, json.dumps(data, indent=2, sort_keys=True).encode("utf-8"), mode=0o600, exact_mode=True,
                 fsync=True)
    return path


def base_url(env: Optional[Mapping[str, str]] = None) -> str:
    """The server to talk to: $EVLOG_BASE_URL, else the host of the last `evlog login`, else the default."""
    url = _env(env, URL_VARS) or _load(env).get("default_host") or DEFAULT_BASE_URL
    return normalize_url(url)


def lookup(url: Optional[str] = None, env: Optional[Mapping[str, str]] = None) -> Credentials:
    """The key for server `url` (default: base_url()): $EVLOG_API_KEY, else the stored one."""
    url = normalize_url(url) if url else base_url(env)
    key = _env(env, KEY_VARS)
    if key:
        return Credentials(url, key, "env")
    host = (_load(env).get("hosts") or {}).get(url) or {}
    if isinstance(host, dict) and host.get("api_key"):
        return Credentials(url, str(host["api_key"]), "file", host.get("user"))
    return Credentials(url, None, None)


def save(url: str, api_key: str, user: Optional[str] = None, env: Optional[Mapping[str, str]] = None) -> Path:
    """Store `api_key` for `url` and make `url` the default host; returns the file written."""
    url = normalize_url(url)
    data = _load(env)
    hosts = data.setdefault("hosts", {})
    hosts[url] = {"api_key": api_key, "user": user}
    data["default_host"] = url
    return _store(data, env)


def forget(url: Optional[str] = None, env: Optional[Mapping[str, str]] = None) -> bool:
    """Remove the stored key for `url`; True when there was one."""
    url = normalize_url(url) if url else base_url(env)
    data = _load(env)
    if url in (data.get("hosts") or {}):
        del data["hosts"][url]
        _store(data, env)
        return True
    return False


def lookup_anonymous(url: str, env: Optional[Mapping[str, str]] = None) -> Optional[Tuple[str, str]]:
    """(key, entity) of this machine's anonymous account on `url`, if one was made."""
    acct = (_load(env).get("anonymous") or {}).get(normalize_url(url))
    if isinstance(acct, dict) and acct.get("api_key") and acct.get("entity"):
        return str(acct["api_key"]), str(acct["entity"])
    return None


def save_anonymous(url: str, api_key: str, entity: str, env: Optional[Mapping[str, str]] = None) -> Path:
    data = _load(env)
    data.setdefault("anonymous", {})[normalize_url(url)] = {"api_key": api_key, "entity": entity}
    return _store(data, env)
