"""Free text as every database holds it: PostgreSQL text cannot hold NUL, so a NUL character in a
text column (a run's name, notes, group, job_type) is stored as U+FFFD on every database alike
(spec/protocol.md 1)."""
from __future__ import annotations

from typing import Optional

NUL_STORED_AS = "\ufffd"


def column_text(value: Optional[str]) -> Optional[str]:
    """`value` with each NUL replaced by U+FFFD (None stays None)."""
    if value is None or "\x00" not in value:
        return value
    return value.replace("\x00", NUL_STORED_AS)
