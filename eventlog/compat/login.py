"""`eventlog.login()`: what `evlog login` does, as wandb.login() takes it (key, host, relogin)."""
from __future__ import annotations

import sys
from typing import Optional

from ..client import accounts as api, credentials
from ..errors import ArgumentTypeError, NotLoggedInError, UsageError


def login(anonymous=None, key: Optional[str] = None, relogin: Optional[bool] = None, host: Optional[str] = None,
          force: Optional[bool] = None, timeout: Optional[float] = None, verify: bool = False, **_ignored) -> bool:
    """Log in to an evlog server; True when a valid key is stored (or given) for it.

    With `key`, the key is checked against the server (`/api/v1/auth/whoami`) and stored as
    `evlog login KEY` does. Without one, a stored or EVLOG_API_KEY/WANDB_API_KEY key is used; on a
    terminal the key is asked for (also with `relogin=True`); elsewhere NotLoggedInError says what to do.
    """
    if key is not None and not isinstance(key, str):
        raise ArgumentTypeError(f"login(key=...) must be a str, got {type(key).__name__}")
    if host is not None and not isinstance(host, str):
        raise ArgumentTypeError(f"login(host=...) must be a URL str, got {type(host).__name__}")
    url = credentials.normalize_url(host) if host else credentials.base_url()
    wait = float(timeout) if timeout is not None else api.DEFAULT_TIMEOUT
    if key is None and not relogin:
        found = credentials.lookup(url)
        if found.api_key:
            if verify:
                api.whoami(url, found.api_key, wait)
            return True
    if key is None:
        if not sys.stdin.isatty():
            raise NotLoggedInError(
                f"login(): no API key for {url} and no terminal to ask for one; pass login(key=...), set "
                "EVLOG_API_KEY, or run `evlog login` once")
        import getpass

        key = getpass.getpass(f"evlog: API key for {url}: ")
    key = key.strip()
    if not key:
        raise UsageError("login(): the API key is empty")
    who = api.whoami(url, key, wait)
    credentials.save(url, key, who.get("user"))
    return True
