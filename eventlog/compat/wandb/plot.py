"""`wandb.plot`: evlog's chart values (eventlog/media/plot.py)."""
from eventlog.media.plot import *  # noqa: F401,F403
