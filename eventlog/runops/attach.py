"""Run operations: attach (see eventlog/runops/__init__.py)."""
from __future__ import annotations


class AttachOps:
    __slots__ = ()
