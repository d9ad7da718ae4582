"""Run operations: `run.log_code()`, saving a tree of source files with the run (kind `code`, which
outsiders of a public project cannot see, spec/protocol.md 2)."""
from __future__ import annotations

import os

from ._current import current

MAX_CODE_FILES = 10000


def _default_include(path: str, root: str = None) -> bool:
    return path.endswith(".py")


def _default_exclude(path: str, root: str = None) -> bool:
    parts = os.path.relpath(path, root or ".").split(os.sep)
    return any(p in ("evlog", "wandb", ".git", "__pycache__", ".venv", "venv", "node_modules")
               or (p.startswith(".") and p not in (".", "..")) for p in parts[:-1])


def _call(fn, path: str, root: str) -> bool:
    try:
        return bool(fn(path, root))
    except TypeError:  # wandb accepts one-argument filters too
        return bool(fn(path))


class CodeOps:
    __slots__ = ()

    def log_code(self, root=".", name=None, include_fn=_default_include, exclude_fn=_default_exclude):
        """Copy the source files under `root` (by default every `.py`, leaving out run folders,
        virtualenvs and hidden folders) into `<run folder>/code/`, announced by one `files` record of kind
        `code`. Returns the saved paths, relative to the run folder."""
        from ..errors import ArgumentTypeError, UsageError

        if not isinstance(root, (str, os.PathLike)):
            raise ArgumentTypeError(f"log_code(root=...) must be a folder path, got {type(root).__name__}")
        if name is not None and not isinstance(name, str):
            raise ArgumentTypeError(f"log_code(name=...) must be a str, got {type(name).__name__}")
        for arg, fn in (("include_fn", include_fn), ("exclude_fn", exclude_fn)):
            if not callable(fn):
                raise ArgumentTypeError(f"log_code({arg}=...) must be a function (path, root) -> bool")
        base = os.path.abspath(os.fspath(root))
        if not os.path.isdir(base):
            raise UsageError(f"log_code(root={root!r}): no such folder")
        sources = []
        for folder, dirs, files in os.walk(base):
            dirs.sort()
            for f in sorted(files):
                path = os.path.join(folder, f)
                if _call(include_fn, path, base) and not _call(exclude_fn, path, base):
                    sources.append(path)
                    if len(sources) > MAX_CODE_FILES:
                        raise UsageError(f"log_code(root={root!r}) matches more than {MAX_CODE_FILES} files; "
                                         "narrow it with include_fn/exclude_fn")
        if self.disabled or not sources:
            return []
        sub = "code/" + (name.strip("/") + "/" if name else "")
        entries = []
        with self._open():
            for src in sources:
                rel = sub + os.path.relpath(src, base).replace(os.sep, "/")
                entry = self._copy_file(src, rel, "code")
                if entry is not None:
                    entries.append(entry)
            if entries:
                self._writer.append("files", {"files": entries})
        return [e["path"] for e in entries]


def log_code(root=".", name=None, include_fn=_default_include, exclude_fn=_default_exclude):
    """`log_code()` on the current run."""
    return current("log_code").log_code(root, name, include_fn, exclude_fn)
