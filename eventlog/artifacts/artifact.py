"""`eventlog.Artifact` (wandb.Artifact): a named, typed set of files, built with add_file /
add_dir / new_file / add_reference, then logged by `run.log_artifact` as a version (v0, v1, ...)
or got back by `run.use_artifact` / `fetch` and materialised by `download()`."""
from __future__ import annotations

import contextlib
import os
import weakref
from typing import Any, Dict, Iterator, List, Optional

from ..errors import ArgumentTypeError, ArtifactError
from . import files as fs
from . import metadata as md
from .names import check_name, check_path

POLICIES = ("mutable", "immutable")
MAX_FILES = 100_000
ARTIFACT_DIR_VARS = ("EVLOG_ARTIFACT_DIR", "WANDB_ARTIFACT_DIR")


class ArtifactEntry:
    """One file (or reference) of an artifact: `path` inside it, `sha256` (also `digest`), `size`, `ref`."""

    __slots__ = ("path", "sha256", "size", "ref", "_local", "_artifact")

    def __init__(self, path: str, sha256: Optional[str], size: Optional[int], ref: Optional[str] = None,
                 local: Optional[str] = None, artifact: Optional["Artifact"] = None) -> None:
        self.path, self.sha256, self.size, self.ref = path, sha256, size, ref
        self._local = local  # where the bytes are now (staged copy, immutable source, store blob)
        self._artifact = artifact

    @property
    def digest(self) -> str:
        return self.sha256 or str(self.ref)

    @property
    def name(self) -> str:
        return self.path

    def record(self) -> Dict[str, Any]:
        """The entry as a manifest map (spec/format.md 9)."""
        if self.ref is not None:
            return {"path": self.path, "ref": self.ref}
        return {"path": self.path, "sha256": self.sha256, "size": self.size}

    def download(self, root: Optional[str] = None) -> str:
        """Materialise this one file under `root` (default: the artifact's download folder); its path."""
        assert self._artifact is not None
        return self._artifact._download_entry(self, self._artifact._root(root))

    def ref_url(self) -> Optional[str]:
        return self.ref

    def __repr__(self) -> str:
        what = f"ref={self.ref!r}" if self.ref is not None else f"sha256={self.sha256[:12]}... size={self.size}"
        return f"<ArtifactEntry {self.path!r} {what}>"


class ArtifactManifest:
    """The files of an artifact: `entries` maps each path to its ArtifactEntry."""

    def __init__(self, entries: Dict[str, ArtifactEntry]) -> None:
        self.entries = entries

    def get_entry_by_path(self, path: str) -> Optional[ArtifactEntry]:
        return self.entries.get(path)

    def to_list(self) -> List[Dict[str, Any]]:
        return [self.entries[p].record() for p in sorted(self.entries, key=lambda p: p.encode("utf-8"))]

    def __len__(self) -> int:
        return len(self.entries)


class Artifact:
    """A versioned set of files: build it, then `run.log_artifact(artifact, aliases=[...])`."""

    def __init__(self, name: str, type: str, description: Optional[str] = None,  # noqa: A002 - wandb's name
                 metadata: Optional[dict] = None, incremental: bool = False, use_as: Optional[str] = None) -> None:
        self._name = check_name(name)
        self._type = check_name(type, "type")
        if description is not None and not isinstance(description, str):
            raise ArgumentTypeError(f"artifact description must be a str, got {description.__class__.__name__}")
        self._description = description
        self._metadata = md.normalize(metadata)
        self._entries: Dict[str, ArtifactEntry] = {}
        self._staging: Optional[str] = None
        self._version: Optional[int] = None
        self._aliases: List[str] = []
        self._entity: Optional[str] = None
        self._project: Optional[str] = None
        self._created_at: Optional[float] = None
        self._store: Any = None  # LocalStore holding the files, once logged or resolved locally
        self._remote: Any = None  # remote.Remote, for an artifact read from a server

    # ----------------------------------------------------------------- properties
    @property
    def name(self) -> str:
        """The name; once logged, `name:vN` as wandb."""
        return self._name if self._version is None else f"{self._name}:v{self._version}"

    @property
    def source_name(self) -> str:
        return self.name

    @property
    def qualified_name(self) -> str:
        prefix = "/".join(p for p in (self._entity, self._project) if p)
        return f"{prefix}/{self.name}" if prefix else self.name

    @property
    def type(self) -> str:
        return self._type

    @property
    def version(self) -> Optional[str]:
        """"v3" once logged (or read back); None for an artifact not logged yet."""
        return None if self._version is None else f"v{self._version}"

    @property
    def aliases(self) -> List[str]:
        return self._aliases

    @aliases.setter
    def aliases(self, value: List[str]) -> None:
        from .names import check_alias

        self._aliases = [check_alias(a) for a in value]

    @property
    def description(self) -> Optional[str]:
        return self._description

    @description.setter
    def description(self, value: Optional[str]) -> None:
        self._description = value

    @property
    def metadata(self) -> dict:
        return self._metadata

    @metadata.setter
    def metadata(self, value: dict) -> None:
        self._metadata = md.normalize(value)

    @property
    def digest(self) -> str:
        """SHA-256 of the manifest (spec/format.md 9): equal contents, equal digest."""
        return fs.manifest_digest(self.manifest.to_list())

    @property
    def size(self) -> int:
        return sum(e.size or 0 for e in self._entries.values())

    @property
    def manifest(self) -> ArtifactManifest:
        return ArtifactManifest(dict(self._entries))

    @property
    def entity(self) -> Optional[str]:
        return self._entity

    @property
    def project(self) -> Optional[str]:
        return self._project

    @property
    def created_at(self) -> Optional[float]:
        return self._created_at

    @property
    def state(self) -> str:
        return "PENDING" if self._version is None else "COMMITTED"

    @property
    def id(self) -> Optional[str]:
        return None if self._version is None else self.digest

    def is_draft(self) -> bool:
        return self._version is None

    def files(self) -> List[ArtifactEntry]:
        """The entries, in path order."""
        return [self._entries[p] for p in sorted(self._entries)]

    def wait(self, timeout: Optional[float] = None) -> "Artifact":
        """Accepted for wandb code: a logged artifact is committed locally at once (the sink uploads it)."""
        return self

    def __repr__(self) -> str:
        return f"<eventlog.Artifact {self.qualified_name!r} type={self._type!r} files={len(self._entries)}>"

    # ------------------------------------------------------------------ building
    def _check_draft(self, what: str) -> None:
        if self._version is not None:
            raise ArtifactError(
                f"artifact {self.name!r} is logged and cannot change: {what} on a new "
                f"eventlog.Artifact({self._name!r}, {self._type!r}) and log that (a new version)")
        if len(self._entries) >= MAX_FILES:
            raise ArtifactError(f"artifact {self._name!r} has {MAX_FILES} files, the most one version may hold: "
                                "split it into several artifacts, or pack files into an archive")

    def _staging_dir(self) -> str:
        """A folder for copies made while building: in the current run's store when there is one
        (the copy is then moved, not copied again, at log time), else in the system's temp folder."""
        if self._staging is None:
            import shutil
            import tempfile

            base = None
            from ..runapi import state

            run = state.current_run()
            if run is not None and getattr(run, "_folder", None) is not None:
                from .store import LocalStore

                base = LocalStore.of_run_folder(run._folder).tmp_dir()
            self._staging = tempfile.mkdtemp(prefix="evlog-artifact-", dir=base)
            weakref.finalize(self, shutil.rmtree, self._staging, True)
        return self._staging

    def _put(self, entry: ArtifactEntry, overwrite: bool) -> ArtifactEntry:
        old = self._entries.get(entry.path)
        if old is not None and not overwrite and old.digest != entry.digest:
            raise ArtifactError(
                f"artifact {self._name!r} already has a different file at {entry.path!r}: give another name=, "
                "or overwrite=True")
        entry._artifact = self
        self._entries[entry.path] = entry
        return entry

    def add_file(self, local_path: str, name: Optional[str] = None, is_tmp: bool = False,
                 skip_cache: Optional[bool] = None, policy: str = "mutable", overwrite: bool = False) -> ArtifactEntry:
        """Add file `local_path` as `name` (default: its base name). policy "mutable" copies it now;
        "immutable" reads it when the artifact is logged (it must not change until then)."""
        self._check_draft("add_file")
        if not isinstance(local_path, (str, os.PathLike)):
            raise ArgumentTypeError(f"add_file() takes a file path, got {type(local_path).__name__}")
        local_path = os.fspath(local_path)
        if not os.path.isfile(local_path):
            raise ArtifactError(f"add_file(): {local_path!r} is not a file"
                                + (" (it is a folder: use add_dir())" if os.path.isdir(local_path) else ""))
        if policy not in POLICIES:
            raise ArtifactError(f"add_file(policy={policy!r}): policy is 'mutable' (copy now) or 'immutable'")
        path = check_path(name if name is not None else os.path.basename(local_path))
        if policy == "immutable":
            sha, size = fs.hash_file(local_path)
            return self._put(ArtifactEntry(path, sha, size, local=os.path.abspath(local_path)), overwrite)
        tmp, sha, size = fs.copy_file(local_path, self._staging_dir())
        return self._put(ArtifactEntry(path, sha, size, local=tmp), overwrite)

    def add_dir(self, local_path: str, name: Optional[str] = None, skip_cache: Optional[bool] = None,
                policy: str = "mutable", merge: bool = False) -> None:
        """Add every file under folder `local_path` (recursively), under the prefix `name` if given."""
        self._check_draft("add_dir")
        if not isinstance(local_path, (str, os.PathLike)):
            raise ArgumentTypeError(f"add_dir() takes a folder path, got {type(local_path).__name__}")
        local_path = os.fspath(local_path)
        if not os.path.isdir(local_path):
            raise ArtifactError(f"add_dir(): {local_path!r} is not a folder")
        prefix = check_path(name.strip("/"), "name") + "/" if name else ""
        for top, dirs, names in os.walk(local_path):
            dirs.sort()
            for n in sorted(names):
                full = os.path.join(top, n)
                if os.path.isfile(full):
                    rel = os.path.relpath(full, local_path).replace(os.sep, "/")
                    self.add_file(full, prefix + rel, policy=policy, overwrite=merge)

    @contextlib.contextmanager
    def new_file(self, name: str, mode: str = "x", encoding: Optional[str] = None) -> Iterator[Any]:
        """A file to write into the artifact as `name`: `with artifact.new_file("a.txt") as f: f.write(...)`."""
        self._check_draft("new_file")
        path = check_path(name)
        if mode not in ("w", "wb", "x", "xb"):
            raise ArtifactError(f"new_file(mode={mode!r}): mode is 'w', 'wb', 'x' or 'xb'")
        if mode.startswith("x") and path in self._entries:
            raise ArtifactError(f"artifact {self._name!r} already has a file {path!r} (mode 'w' replaces it)")
        import tempfile

        fd, tmp = tempfile.mkstemp(prefix=".new-", dir=self._staging_dir())
        binary = mode.endswith("b")
        f = os.fdopen(fd, "wb" if binary else "w", **({} if binary else {"encoding": encoding or "utf-8"}))
        try:
            with f:
                yield f
        except BaseException:
            fs._unlink(tmp)
            raise
        sha, size = fs.hash_file(tmp)
        self._put(ArtifactEntry(path, sha, size, local=tmp), overwrite=True)

    def add_reference(self, uri: str, name: Optional[str] = None, checksum: bool = True,
                      max_objects: Optional[int] = None) -> List[ArtifactEntry]:
        """Record a reference to `uri` (s3://, gs://, https://, file://, ...) as `name`: recorded, never fetched."""
        self._check_draft("add_reference")
        if not isinstance(uri, str) or "://" not in uri or any(ord(c) < 32 for c in uri):
            raise ArtifactError(f"add_reference() takes a URI like 's3://bucket/key' or 'file:///data', got {uri!r}")
        default = uri.split("://", 1)[1].rstrip("/").rsplit("/", 1)[-1] or "reference"
        path = check_path(name if name is not None else default)
        return [self._put(ArtifactEntry(path, None, None, ref=uri), overwrite=True)]

    def add(self, obj: Any, name: str, overwrite: bool = False) -> ArtifactEntry:
        """wandb stores media objects (Table, Image) in artifacts; evlog does not (yet)."""
        raise ArtifactError(
            f"Artifact.add({type(obj).__name__}, {name!r}) is not supported by evlog: write the object to a file "
            "and use add_file() (or new_file()), or log it with run.log()")

    def remove(self, item: Any) -> None:
        self._check_draft("remove")
        path = item.path if isinstance(item, ArtifactEntry) else item
        if self._entries.pop(path, None) is None:
            raise ArtifactError(f"artifact {self._name!r} has no file {path!r}")

    def get_path(self, name: str) -> ArtifactEntry:
        """The entry of file `name` (its `.download()` fetches it)."""
        e = self._entries.get(name)
        if e is None:
            raise ArtifactError(f"artifact {self.name!r} has no file {name!r}; it has: "
                                + ", ".join(sorted(self._entries)[:20]))
        return e

    get_entry = get_path

    # ----------------------------------------------------------------- download
    def _root(self, root: Optional[str]) -> str:
        if root is not None:
            return os.fspath(root)
        base = next((os.environ[v] for v in ARTIFACT_DIR_VARS if os.environ.get(v)), None) or os.path.join(".", "artifacts")
        return os.path.join(base, self.name)

    def download(self, root: Optional[str] = None, allow_missing_references: bool = False,
                 skip_cache: Optional[bool] = None, path_prefix: Optional[str] = None,
                 multipart: Optional[bool] = None) -> str:
        """Write the artifact's files under `root` (default `./artifacts/<name>:<version>`) and return
        it. Each file's SHA-256 is checked; a file already there with the right content is kept.
        References are not fetched."""
        root = self._root(root)
        os.makedirs(root, exist_ok=True)
        for e in self.files():
            if e.ref is None and (path_prefix is None or e.path.startswith(path_prefix)):
                self._download_entry(e, root)
        return root

    def _download_entry(self, e: ArtifactEntry, root: str) -> str:
        if e.ref is not None:
            raise ArtifactError(f"{e.path!r} of artifact {self.name!r} is a reference to {e.ref}: it is not stored")
        dest = os.path.join(root, *e.path.split("/"))
        if fs.same_file(dest, e.sha256, e.size):
            return dest
        folder = os.path.dirname(dest)
        if e._local is not None and os.path.isfile(e._local):
            tmp, _, _ = fs.copy_file(e._local, folder, e.sha256)
        elif self._remote is not None:
            tmp = self._remote.download(self, e, folder)
        else:
            raise ArtifactError(f"the bytes of {e.path!r} of artifact {self.name!r} are not on this machine "
                                "(the local artifact store lost them) and no server holds them")
        fs.place(tmp, dest)
        return dest

    # -------------------------------------------------------------- from a record
    @classmethod
    def _from_doc(cls, doc: Dict[str, Any], *, store: Any = None, remote: Any = None,
                  entity: Optional[str] = None, project: Optional[str] = None) -> "Artifact":
        """A logged version (a store or server document: name, type, version, files, ...)."""
        art = cls(doc["name"], doc["type"], description=doc.get("description"), metadata=doc.get("metadata"))
        for f in doc.get("files") or ():
            local = str(store.blob(f["sha256"])) if store is not None and f.get("sha256") else None
            e = ArtifactEntry(f["path"], f.get("sha256"), f.get("size"), f.get("ref"), local, art)
            art._entries[e.path] = e
        art._version = int(doc["version"])
        art._aliases = list(doc.get("aliases") or [])
        art._created_at = doc.get("created_at")
        art._store, art._remote = store, remote
        art._entity, art._project = entity, project
        return art
