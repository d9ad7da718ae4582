"""`wandb.wandb_run` (the old path Lightning imports `Run` from): evlog's Run."""
from eventlog import Run  # noqa: F401
