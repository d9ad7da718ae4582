"""The names of artifacts: artifact names and types, aliases, file paths inside an artifact, and
the "entity/project/name:alias" strings `use_artifact` and `fetch` take (spec/format.md 9)."""
from __future__ import annotations

import re
from typing import NamedTuple, Optional

from ..errors import ArgumentTypeError, ArtifactError

NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$")  # as entity and project names (URL-safe)
ALIAS_RE = re.compile(r"^[A-Za-z0-9_.-]{1,128}$")
VERSION_RE = re.compile(r"^v(0|[1-9][0-9]{0,17})$")
MAX_PATH = 1024
LATEST = "latest"


def check_name(value: object, argument: str = "name") -> str:
    """An artifact name or type: 1-128 letters, digits, '_', '-', '.', starting with a letter or digit."""
    if not isinstance(value, str):
        raise ArgumentTypeError(f"artifact {argument} must be a str, got {type(value).__name__}")
    if not NAME_RE.match(value):
        raise ArtifactError(
            f"artifact {argument} {value!r} is not valid: use 1-128 letters, digits, '_', '-' or '.', "
            "starting with a letter or digit (e.g. 'model-run1')")
    return value


def check_alias(value: object) -> str:
    """A user alias ("best", "base_model"): 1-128 letters, digits, '_', '-', '.'; never like a version."""
    if not isinstance(value, str):
        raise ArgumentTypeError(f"an artifact alias must be a str, got {type(value).__name__} {value!r}")
    if not ALIAS_RE.match(value) or VERSION_RE.match(value):
        raise ArtifactError(
            f"artifact alias {value!r} is not valid: use 1-128 letters, digits, '_', '-' or '.', and not a "
            "version like 'v3' (versions are given by evlog)")
    return value


def check_aliases(aliases: object) -> list:
    """`aliases` of log_artifact (None, a str or a list of str) as a list with "latest" first, no repeats."""
    if aliases is None:
        given: list = []
    elif isinstance(aliases, str):
        given = [aliases]
    elif isinstance(aliases, (list, tuple, set, frozenset)):
        given = list(aliases)
    else:
        raise ArgumentTypeError(f"aliases must be a list of str, got {type(aliases).__name__}")
    out = [LATEST]
    for a in given:
        check_alias(a)
        if a not in out:
            out.append(a)
    return out


def check_path(value: object, argument: str = "name") -> str:
    """A file's path inside an artifact: relative, '/'-separated, no '.', '..' or empty parts, no control chars."""
    if not isinstance(value, str):
        raise ArgumentTypeError(f"{argument} must be a str (a path inside the artifact), got {type(value).__name__}")
    parts = value.split("/")
    if (not value or len(value) > MAX_PATH or any(p in ("", ".", "..") for p in parts)
            or any(ord(c) < 32 or c in "\\\x7f" for c in value)):
        raise ArtifactError(
            f"{argument} {value!r} is not a valid path inside an artifact: give a relative path like "
            "'model.ckpt' or 'weights/layer1.bin' (no '..', no leading '/', at most 1024 characters)")
    return value


def version_index(text: str) -> Optional[int]:
    """3 for "v3"; None for anything else (an alias)."""
    m = VERSION_RE.match(text)
    return int(m.group(1)) if m else None


class ArtifactPath(NamedTuple):
    """A parsed "entity/project/name:alias" (entity and project may be None; alias "latest" when absent)."""

    entity: Optional[str]
    project: Optional[str]
    name: str
    alias: str

    def __str__(self) -> str:
        prefix = "/".join(p for p in (self.entity, self.project) if p)
        return f"{prefix + '/' if prefix else ''}{self.name}:{self.alias}"


def parse(path: object, argument: str = "artifact") -> ArtifactPath:
    """"name", "name:alias", "project/name:v3" or "entity/project/name:alias" as an ArtifactPath."""
    if not isinstance(path, str):
        raise ArgumentTypeError(f"{argument} must be an Artifact or a str like 'name:latest', got {type(path).__name__}")
    parts = path.split("/")
    if len(parts) > 3 or not all(parts):
        raise ArtifactError(
            f"{argument} {path!r} is not an artifact path: give 'name', 'name:alias', 'project/name:v3' or "
            "'entity/project/name:alias'")
    name, _, alias = parts[-1].partition(":")
    alias = alias or LATEST
    check_name(name)
    if version_index(alias) is None and not ALIAS_RE.match(alias):
        raise ArtifactError(f"{argument} {path!r}: {alias!r} is neither a version (v0, v1, ...) nor an alias")
    entity = parts[0] if len(parts) == 3 else None
    project = parts[-2] if len(parts) >= 2 else None
    for what, v in (("entity", entity), ("project", project)):
        if v is not None and not NAME_RE.match(v):
            raise ArtifactError(f"{argument} {path!r}: {v!r} is not a valid {what} name")
    return ArtifactPath(entity, project, name, alias)
