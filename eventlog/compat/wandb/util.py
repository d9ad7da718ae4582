"""`wandb.util`: the few helpers training code takes from it."""
from __future__ import annotations

import os

from eventlog.names import generate_id as _generate_id


def generate_id(length: int = 8) -> str:
    """A run id as init() makes them (8 lowercase letters and digits by default)."""
    out = ""
    while len(out) < length:
        out += _generate_id()
    return out[:length]


def to_forward_slash_path(path: str) -> str:
    return path.replace(os.sep, "/")


def make_artifact_name_safe(name: str) -> str:
    """An artifact name with characters other than letters, digits, '-', '_', '.' replaced by '_'."""
    return "".join(c if c.isalnum() or c in "-_." else "_" for c in name)
