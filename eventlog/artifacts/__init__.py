"""Artifacts: versioned, content-addressed sets of files a run logs or uses (wandb.Artifact).

`Artifact` builds one; `run.log_artifact` / `run.use_artifact` (eventlog/runops/artifacts.py) log
and use versions through the run root's local store (store.py); `fetch` reads one from the server.
Layout and records: spec/format.md 9; server endpoints: spec/protocol.md 8.
"""
from __future__ import annotations

from .artifact import Artifact, ArtifactEntry, ArtifactManifest
from .remote import fetch

__all__ = ["Artifact", "ArtifactEntry", "ArtifactManifest", "fetch"]
