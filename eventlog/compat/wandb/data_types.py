"""`wandb.data_types`: the media types, evlog's (eventlog/media/)."""
import eventlog as _evlog


def __getattr__(name: str):
    if name in ("Image", "Histogram", "Video", "Table", "Audio", "Html"):
        return getattr(_evlog, name)
    raise AttributeError(f"module 'wandb.data_types' (evlog) has no attribute {name!r}")
