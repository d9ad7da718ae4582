"""TensorBoard files in a run folder (spec/sinks.md 2): the tensorboard sink writes its event files
into `<run>/tensorboard/`, each name ending in `.evlog`; sync_tensorboard copies the program's own
event files into `<run>/tensorboard/sync/`. Shared by the sink, sync_tensorboard and `evlog import`."""
from __future__ import annotations

TB_DIR = "tensorboard"
SYNC_DIR = TB_DIR + "/sync"
OWN_SUFFIX = ".evlog"  # ends the names of the sink's event files (which it may cut back or remove)


def is_program_event_file(name: str) -> bool:
    """A TensorBoard event file by its name, not one the tensorboard sink wrote."""
    return ".tfevents." in name and not name.endswith(OWN_SUFFIX)
