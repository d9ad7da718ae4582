"""Run operations: metrics (see eventlog/runops/__init__.py)."""
from __future__ import annotations


class MetricOps:
    __slots__ = ()
