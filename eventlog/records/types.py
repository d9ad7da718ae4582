"""The record types of a run's log (spec/format.md 3) by name, and the fields of `run` and `meta`
records that readers pick out: one list for the writers, the readers and `evlog tail --type`."""
from __future__ import annotations

RUN = "run"
CONFIG = "config"
HISTORY = "history"
SUMMARY = "summary"
META = "meta"
FILES = "files"
EXIT = "exit"
RESUME = "resume"
RECOVERY = "recovery"
WARNING = "warning"
PREEMPTING = "preempting"
SYSTEM = "system"
OUTPUT = "output"
METRIC = "metric"
ALERT = "alert"
ATTACH = "attach"
ARTIFACT = "artifact"
USE_ARTIFACT = "use_artifact"

# in the order of spec/format.md 3's table
RECORD_TYPES = (RUN, CONFIG, HISTORY, SUMMARY, META, FILES, EXIT, RESUME, RECOVERY, WARNING, PREEMPTING, SYSTEM,
                OUTPUT, METRIC, ALERT, ATTACH, ARTIFACT, USE_ARTIFACT)

# the run record's fields that identify a run (what sinks need; the `run` map of a resume record)
IDENTITY = ("id", "name", "project", "entity", "group", "job_type", "notes", "tags", "mode", "start_time",
            "settings", "url")
# what a `meta` record may change (only the changed ones are in its body)
META_FIELDS = ("name", "notes", "tags")
