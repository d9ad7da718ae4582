"""`wandb.sdk.lib.config_util`: `ConfigError` is evlog's (raised when a config value changes)."""
from eventlog import ConfigError  # noqa: F401
