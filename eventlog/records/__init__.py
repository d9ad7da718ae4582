"""The records vocabulary of a run's log: record type names (types), the config/summary
update-remove rule (update) and the fold of records into a run's state (fold), the one home of
each for the run API's resume, the sinks and the server. Standard library and eventlog.metricdefs
only: the lowest readers import it."""
from __future__ import annotations

from .fold import RunFold, exit_state, later_step, run_identity
from .types import IDENTITY, META_FIELDS, RECORD_TYPES
from .update import apply_update, str_keys

__all__ = ["IDENTITY", "META_FIELDS", "RECORD_TYPES", "RunFold", "apply_update", "exit_state", "later_step",
           "run_identity", "str_keys"]
