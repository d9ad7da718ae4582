"""Run operations: artifacts. `log_artifact` stores an artifact's files in the run root's store
and writes an `artifact` record (a version, v0, v1, ..., with aliases); `use_artifact` resolves
"name:alias" and writes a `use_artifact` record (eventlog/artifacts/, spec/format.md 9)."""
from __future__ import annotations

from typing import Any, List, Optional


class ArtifactOps:
    __slots__ = ()

    def log_artifact(self, artifact_or_path: Any, name: Optional[str] = None, type: Optional[str] = None,  # noqa: A002
                     aliases: Optional[List[str]] = None, tags: Optional[List[str]] = None) -> Any:
        """Log an eventlog.Artifact (or a file/folder path) as a version of its name in the run's
        project: same contents as a version already there, that version; `aliases` (and "latest")
        move to it. Files are stored once per content. Returns the Artifact (now `name:vN`)."""
        from ..artifacts.runside import log_artifact

        return log_artifact(self, artifact_or_path, name, type, aliases)

    def use_artifact(self, artifact_or_name: Any, type: Optional[str] = None,  # noqa: A002
                     aliases: Optional[List[str]] = None, use_as: Optional[str] = None) -> Any:
        """The artifact "name:alias" / "project/name:v3" / "entity/project/name:alias" (or an
        Artifact), from the server when online, else from this run root's store; the use is
        recorded. `.download()` materialises its files."""
        from ..artifacts.runside import use_artifact

        return use_artifact(self, artifact_or_name, type)

    def link_artifact(self, artifact: Any, target_path: str, aliases: Optional[List[str]] = None) -> None:
        """wandb links to its model registry; evlog has none: a clear error, not a silent no-op."""
        from ..errors import ArtifactError

        raise ArtifactError(
            f"link_artifact(..., {target_path!r}): evlog has no model registry; give the version an alias instead: "
            "run.log_artifact(artifact, aliases=['production'])")

    def log_model(self, path: str, name: Optional[str] = None, aliases: Optional[List[str]] = None) -> Any:
        """A file or folder logged as an artifact of type "model" (wandb's run.log_model)."""
        from ..artifacts.runside import log_artifact

        return log_artifact(self, path, name, "model", aliases)

    def use_model(self, name: str) -> str:
        """Download the model artifact `name:alias` and return the folder (wandb's run.use_model)."""
        return self.use_artifact(name).download()

    def _artifact_record(self, type_: str, body: dict) -> None:
        """Append an `artifact` / `use_artifact` record under the run's lock (a finished run refuses)."""
        with self._open():
            self._writer.append(type_, body)


def log_artifact(artifact_or_path: Any, name: Optional[str] = None, type: Optional[str] = None,  # noqa: A002
                 aliases: Optional[List[str]] = None, tags: Optional[List[str]] = None) -> Any:
    """`log_artifact()` on the current run (see Run.log_artifact)."""
    from ._current import current

    return current("log_artifact").log_artifact(artifact_or_path, name, type, aliases)


def use_artifact(artifact_or_name: Any, type: Optional[str] = None,  # noqa: A002
                 aliases: Optional[List[str]] = None, use_as: Optional[str] = None) -> Any:
    """`use_artifact()` on the current run (see Run.use_artifact)."""
    from ._current import current

    return current("use_artifact").use_artifact(artifact_or_name, type)
