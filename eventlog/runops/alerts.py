"""Run operations: alerts (see eventlog/runops/__init__.py)."""
from __future__ import annotations


class AlertOps:
    __slots__ = ()
