"""Validation of the names that appear in URLs: entities, projects, run ids, file paths."""
from __future__ import annotations

import re

from .errors import bad_name

NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$")
RUN_ID_RE = re.compile(r"^(?!\.{1,2}$)[A-Za-z0-9_.-]{1,128}$")  # the run API allows "."; not "." or ".."
MAX_PATH = 1024
MEDIA_PATH = re.compile(r"^media/([0-9a-f]{64})\.([a-z0-9]+)$")  # content-addressed: media/<sha256>.<ext>


def check_name(kind: str, value: str) -> str:
    """`value` if it is a valid entity/project name, else ApiError 400 bad_name."""
    if not isinstance(value, str) or not NAME_RE.match(value):
        raise bad_name(f"invalid {kind} name {value!r}: use 1-128 letters, digits, '_', '-', '.', starting with a letter or digit")
    return value


def check_run_id(value: str) -> str:
    if not isinstance(value, str) or not RUN_ID_RE.match(value):
        raise bad_name(f"invalid run id {value!r}: use 1-128 letters, digits, '_' or '-'")
    return value


def check_path(value: str) -> str:
    """A file path relative to the run folder: no absolute paths, '..', empty parts or control chars."""
    parts = value.split("/") if isinstance(value, str) else []
    if (
        not parts
        or len(value) > MAX_PATH
        or any(p in ("", ".", "..") for p in parts)
        or any(ord(c) < 32 or c in "\\\x7f" for c in value)
    ):
        raise bad_name(f"invalid file path {value!r}: give a relative path inside the run folder")
    return value
