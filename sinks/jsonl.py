"""The jsonl sink: the run's records as JSON lines in `<run>/sinks/jsonl/records.jsonl`.

Small on purpose: it is also the example of a sink that is exactly-once in effect. The file size at
each checkpoint is saved with the cursor; when the sink is opened again it cuts the file back to
that size, so records written after the last checkpoint (and delivered again) never appear twice.
"""
from __future__ import annotations

import os
from typing import Any, Dict, List, Mapping, Optional

from eventlog import Record
from eventlog.logfile.inspect import record_json

from .base import Sink, SinkContext


class JsonlSink(Sink):
    name = "jsonl"

    @classmethod
    def enabled(cls, run: Mapping[str, Any], env: Mapping[str, str]) -> bool:
        return False  # only when asked for (EVLOG_SINKS=jsonl, --sink jsonl)

    def open(self, ctx: SinkContext) -> None:
        self.ctx = ctx
        self.path = ctx.state_dir / "records.jsonl"
        size = int((ctx.state or {}).get("size", 0))
        self.file = open(self.path, "ab")
        self.file.truncate(size)  # drop lines written after the last checkpoint
        self.file.seek(size)
        self.size = size

    def write(self, records: List[Record]) -> Optional[int]:
        data = "".join(record_json(r) + "\n" for r in records).encode("utf-8")
        self.file.write(data)
        self.size += len(data)
        return None

    def flush(self) -> Dict[str, Any]:
        self.file.flush()
        os.fsync(self.file.fileno())
        return {"size": self.size}

    def close(self, state: str) -> None:
        self.file.close()
