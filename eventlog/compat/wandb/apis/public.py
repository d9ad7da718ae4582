"""`wandb.apis.public`: the read API's classes (eventlog/client/), for code that imports them by name."""
from eventlog.client.readapi import Api  # noqa: F401


def __getattr__(name: str):
    import importlib

    for mod in ("eventlog.client.runs", "eventlog.client.files", "eventlog.client.readapi"):
        try:
            value = getattr(importlib.import_module(mod), name)
        except (ImportError, AttributeError):
            continue
        return value
    raise AttributeError(f"module 'wandb.apis.public' (evlog) has no attribute {name!r}")
