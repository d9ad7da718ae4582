"""How a program or a `with run:` block ended, as the `exit` record says it (spec/format.md 3):
the exit code of a `sys.exit()` status, and an exception as {"type", "message"}."""
from __future__ import annotations


def _error_map(exc_type, exc) -> dict:
    mod = getattr(exc_type, "__module__", "builtins")
    name = exc_type.__qualname__ if mod in ("builtins", None) else f"{mod}.{exc_type.__qualname__}"
    try:
        msg = str(exc)
    except Exception:  # noqa: BLE001
        msg = "<str() of the exception failed>"
    return {"type": name, "message": msg[:10000]}


def _exit_code_of(status) -> int:
    if status is None:
        return 0
    if isinstance(status, bool):
        return int(status)
    if isinstance(status, int):
        return status
    return 1  # sys.exit("message") prints it and exits with 1
