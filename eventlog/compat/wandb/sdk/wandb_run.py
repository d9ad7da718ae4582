"""`wandb.sdk.wandb_run`: `Run` is evlog's Run."""
from eventlog import Run  # noqa: F401
