"""evlog's command line (installed as `eventlog.cli`); the `evlog` console script."""
from .main import main

__all__ = ["main"]
