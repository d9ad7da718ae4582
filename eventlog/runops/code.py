"""Run operations: code (see eventlog/runops/__init__.py)."""
from __future__ import annotations


class CodeOps:
    __slots__ = ()
