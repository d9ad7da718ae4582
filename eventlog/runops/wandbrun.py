"""Run operations: wandbrun (see eventlog/runops/__init__.py)."""
from __future__ import annotations


class WandbRunOps:
    __slots__ = ()
