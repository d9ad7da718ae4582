"""What `run.log_artifact` and `run.use_artifact` do: store the files in the run root's artifact
store, number the version, move the aliases, and write the `artifact` / `use_artifact` record
(spec/format.md 9); resolve "name:alias" locally or on the server."""
from __future__ import annotations

import os
from typing import Any, Dict, Optional

from ..errors import ArgumentTypeError, ArtifactError, ArtifactNotFoundError, ServerUnreachableError
from .artifact import Artifact
from .names import ArtifactPath, check_aliases, check_name, parse
from .store import DEFAULT_PROJECT, LocalStore


def _as_artifact(run: Any, obj: Any, name: Optional[str], type_: Optional[str]) -> Artifact:
    if isinstance(obj, Artifact):
        return obj
    if not isinstance(obj, (str, os.PathLike)):
        raise ArgumentTypeError(f"log_artifact() takes an eventlog.Artifact or a path, got {type(obj).__name__}")
    path = os.fspath(obj)
    if not os.path.exists(path):
        raise ArtifactError(f"log_artifact({path!r}): no such file or folder")
    base = os.path.basename(os.path.abspath(path))
    art = Artifact(name or check_name(f"run-{run.id}-{base}"[:128]), type_ or "unspecified")
    if os.path.isdir(path):
        art.add_dir(path)
    else:
        art.add_file(path)
    return art


def _store_files(store: LocalStore, art: Artifact) -> None:
    """Every file of `art` into the store (staged copies are moved, immutable sources copied and checked)."""
    staging = art._staging
    for e in art.files():
        if e.ref is not None:
            continue
        blob = str(store.blob(e.sha256))
        if e._local != blob:
            if staging is not None and e._local is not None and e._local.startswith(staging + os.sep):
                store.adopt(e._local, e.sha256)
            else:
                store.add_copy(e._local, e.sha256)
            e._local = blob


def log_artifact(run: Any, obj: Any, name: Optional[str] = None, type_: Optional[str] = None,
                 aliases: Any = None) -> Artifact:
    """run.log_artifact: the artifact, now a version of the run's project with `aliases` (and "latest")."""
    art = _as_artifact(run, obj, name, type_)
    if name is not None and isinstance(obj, Artifact) and name != art._name:
        raise ArtifactError(f"log_artifact(name={name!r}) names a path's artifact; this Artifact is {art._name!r}")
    if type_ is not None and type_ != art.type:
        raise ArtifactError(f"log_artifact(type={type_!r}) differs from the artifact's type {art.type!r}")
    alias_list = check_aliases(aliases if aliases is not None else (art._aliases or None))
    if run._folder is None:  # a disabled run stores nothing
        return art
    doc = _commit(run, art, alias_list)
    body = {k: doc[k] for k in ("name", "type", "version", "digest", "description", "metadata", "files", "size")}
    body.update(aliases=alias_list, project=run.project)  # the aliases this call moves, "latest" first
    run._artifact_record("artifact", body)
    return art


def _commit(run: Any, art: Artifact, alias_list: list) -> Dict[str, Any]:
    store = LocalStore.of_run_folder(run._folder)
    _store_files(store, art)
    files = art.manifest.to_list()
    doc = {"name": art._name, "type": art.type, "digest": art.digest, "description": art.description,
           "metadata": art.metadata, "files": files, "size": art.size, "run_id": run.id}
    doc = store.commit(run.project, doc, alias_list)
    art._version, art._aliases, art._created_at = doc["version"], doc["aliases"], doc.get("created_at")
    art._store, art._entity, art._project = store, run.entity, run.project or DEFAULT_PROJECT
    return doc


def use_artifact(run: Any, obj: Any, type_: Optional[str] = None) -> Artifact:
    """run.use_artifact: the artifact (resolved locally or on the server), its use recorded."""
    if isinstance(obj, Artifact):
        art, asked, source = obj, None, "server" if obj._remote is not None else "local"
        if art.is_draft() and run._folder is not None:  # wandb logs a draft it is given as the run's input
            _commit(run, art, check_aliases(None))
    else:
        spec = parse(obj)
        art, source = resolve(run, spec)
        asked = str(spec)
    if type_ is not None and type_ != art.type:
        raise ArtifactError(f"use_artifact({asked or art.name!r}, type={type_!r}): the artifact's type is {art.type!r}")
    if run._folder is not None:
        run._artifact_record("use_artifact", {
            "name": art._name, "type": art.type, "version": art._version, "digest": art.digest,
            "path": asked, "entity": art.entity, "project": art.project, "source": source})
    return art


def resolve(run: Any, spec: ArtifactPath) -> tuple:
    """(Artifact, "local" | "server") for a parsed path: the server first for an online run (a
    project of another entity only there), then the run root's store."""
    project = spec.project or run.project
    foreign = spec.entity is not None and spec.entity != run.entity
    tried = []
    if run.mode == "online" or foreign:
        from . import remote

        try:
            art = remote.fetch_spec(ArtifactPath(spec.entity or run.entity, project or DEFAULT_PROJECT,
                                                 spec.name, spec.alias))
            return art, "server"
        except ArtifactNotFoundError:
            tried.append("on the server")
        except ServerUnreachableError as exc:
            tried.append(f"on the server ({exc})")
    if not foreign and run._folder is not None:
        store = LocalStore.of_run_folder(run._folder)
        doc = store.resolve(project, spec.name, spec.alias)
        if doc is not None:
            return Artifact._from_doc(doc, store=store, entity=run.entity, project=project or DEFAULT_PROJECT), "local"
        tried.append(f"in {store.root}")
    raise ArtifactNotFoundError(
        f"no artifact {spec} (looked {' and '.join(tried) or 'nowhere: the run is disabled'}); log it first with "
        "run.log_artifact(), or check the name and the version/alias")
