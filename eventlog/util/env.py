"""Environment variables read the same way everywhere: a variable set to blank text counts as unset,
the first of several names (EVLOG_* before its WANDB_* alias) wins, and booleans are words."""
from __future__ import annotations

import os
from typing import TYPE_CHECKING

from ..errors import UsageError

if TYPE_CHECKING:
    from typing import Iterable, Mapping, Optional, Tuple

TRUE = ("1", "true", "yes", "on", "y", "t")
FALSE = ("0", "false", "no", "off", "n", "f", "")
TRUE_WORDS = ("1", "true", "yes", "on")  # the server's settings and a run's settings: no one-letter forms


def lookup(env: "Optional[Mapping[str, str]]", names: "Iterable[str]") -> "Tuple[Optional[str], Optional[str]]":
    """(value as set, name) of the first of `names` set to non-blank text in `env` (None:
    os.environ); (None, None) when none is."""
    env = os.environ if env is None else env
    for name in names:
        value = env.get(name)
        if value is not None and value.strip() != "":
            return value, name
    return None, None


def text(env: "Optional[Mapping[str, str]]", *names: str) -> "Optional[str]":
    """The stripped value of the first of `names` set to non-blank text in `env`, else None."""
    value, _ = lookup(env, names)
    return None if value is None else value.strip()


def is_true(value: str, true: "Iterable[str]" = TRUE) -> bool:
    """Whether `value` is one of the words `true` (case and surrounding blanks ignored); any other
    text is false, never an error."""
    return value.strip().lower() in true


def parse_bool(value: str, var: str) -> bool:
    """`value` of variable `var` as a boolean (TRUE or FALSE words); UsageError naming `var` otherwise."""
    t = value.strip().lower()
    if t in TRUE:
        return True
    if t in FALSE:
        return False
    raise UsageError(f"{var}={value!r} is not a boolean: set it to true or false (or 1 / 0)")
