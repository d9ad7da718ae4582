"""`wandb.sdk.lib`: `RunDisabled` (a disabled evlog run is a Run with `disabled` True, so nothing is
ever an instance of this class; it exists for isinstance checks) and `config_util`."""
from . import config_util  # noqa: F401


class RunDisabled:
    """wandb's type of a disabled run; evlog's disabled runs are `eventlog.Run` (run.disabled)."""
