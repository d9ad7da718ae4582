"""`wandb.sdk`: the names frameworks import from it."""
from eventlog import Run, init  # noqa: F401

from . import lib, wandb_run  # noqa: F401


def __getattr__(name: str):
    import eventlog

    return getattr(eventlog, name)
