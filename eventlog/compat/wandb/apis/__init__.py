"""`wandb.apis`: `PublicApi` is evlog's read client of its server (`eventlog.Api`)."""


def __getattr__(name: str):
    if name in ("PublicApi", "Api"):
        import eventlog

        return eventlog.Api
    raise AttributeError(f"module 'wandb.apis' (evlog) has no attribute {name!r}")
