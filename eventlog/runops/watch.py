"""Run operations: watch (see eventlog/runops/__init__.py)."""
from __future__ import annotations


class WatchOps:
    __slots__ = ()
