"""Run operations: artifacts (see eventlog/runops/__init__.py)."""
from __future__ import annotations


class ArtifactOps:
    __slots__ = ()
