"""Sinks that receive a run's records from the syncer (installed as `eventlog.sinks`).

Write one by subclassing `Sink` (see spec/sinks.md) and registering it under the entry-point group
`eventlog.sinks`.
"""
from .base import CRASHED, DETACHED, FAILED, FINISHED, Sink, SinkContext, SinkError

__all__ = ["CRASHED", "DETACHED", "FAILED", "FINISHED", "Sink", "SinkContext", "SinkError"]
