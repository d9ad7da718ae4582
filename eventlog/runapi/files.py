"""Saving files with a run: `run.save(glob, base_path, policy)` copies files into the run folder's
`files/` and announces them with a `files` record (spec/format.md 3); "live" and "end" files are
copied again at finish if they changed. A mixin of Run."""
from __future__ import annotations

import os
import warnings

from ..errors import ArgumentTypeError, UsageError

_SAVE_POLICIES = ("live", "now", "end")


class RunFiles:
    """Run's file saving (save(), and the copies at finish); the run's lock and gate are Run's."""

    __slots__ = ()

    def save(self, glob_str=None, base_path=None, policy: str = "live"):
        """With no argument: flush the log (accepted for `run.name = ...; run.save()`).

        With a path or glob: copy the matching files into `<run folder>/files/` (paths relative to
        `base_path`, by default the folder of the glob) and write a `files` record. `policy`:
        "now" copies now, "live" now and again at finish if the file changed, "end" at finish.
        Returns the saved paths, relative to the run folder.
        """
        if glob_str is None:
            with self._open():
                self._writer.flush()
            return True
        if not isinstance(glob_str, (str, os.PathLike)):
            raise ArgumentTypeError(f"save() takes a path or glob pattern (str), got {type(glob_str).__name__}")
        if base_path is not None and not isinstance(base_path, (str, os.PathLike)):
            raise ArgumentTypeError(f"base_path must be a folder path, got {type(base_path).__name__}")
        if policy not in _SAVE_POLICIES:
            raise UsageError(f"policy={policy!r} is not one of \"live\", \"now\", \"end\"")
        import glob

        pattern = os.path.abspath(os.path.expanduser(os.fspath(glob_str)))
        if base_path is None:
            base = pattern
            while glob.has_magic(base):
                base = os.path.dirname(base)
            base = base if glob.has_magic(pattern) else os.path.dirname(pattern)
        else:
            base = os.path.abspath(os.fspath(base_path))
        matches = sorted(p for p in glob.glob(pattern, recursive=True) if os.path.isfile(p))
        targets = []
        for src in matches:
            rel = os.path.relpath(src, base)
            if rel.startswith(".." + os.sep) or rel == ".." or os.path.isabs(rel):
                raise UsageError(f"save(): {src} is not inside base_path {base}; give a base_path that holds it")
            targets.append((src, "files/" + rel.replace(os.sep, "/")))
        if self._disabled:
            return [t for _, t in targets]
        with self._open():
            entries = []
            for src, rel in targets:
                if policy != "end":
                    entry = self._copy_file(src, rel, "other")
                    if entry is not None:
                        entries.append(entry)
                if policy != "now":
                    sha = entries[-1]["sha256"] if entries and entries[-1]["path"] == rel else None
                    self._save_at_finish[rel] = [src, "other", sha]
            if entries:
                self._writer.append("files", {"files": entries})
        return [t for _, t in targets]

    def _copy_file(self, src: str, rel: str, kind: str):
        from ..capture.sysinfo import copy_file, file_digest

        dest = self._folder / rel
        try:
            dest.parent.mkdir(parents=True, exist_ok=True)
            copy_file(src, dest)
            sha, size = file_digest(dest)
        except OSError as exc:
            warnings.warn(f"evlog: could not save {src}: {exc}", stacklevel=4)
            return None
        return {"path": rel, "sha256": sha, "size": size, "kind": kind}

    def _files_at_finish(self) -> None:
        """Copy the files saved with policy "live"/"end" once more if they changed (lock held)."""
        if not self._save_at_finish:
            return
        from ..capture.sysinfo import file_digest

        entries = []
        for rel, (src, kind, sha) in self._save_at_finish.items():
            try:
                now, _ = file_digest(src)
            except OSError:
                continue
            if now != sha:
                entry = self._copy_file(src, rel, kind)
                if entry is not None:
                    entries.append(entry)
        if entries:
            self._writer.append("files", {"files": entries})
