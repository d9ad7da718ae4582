"""`wandb.errors`: wandb's error names mapped onto evlog's error classes."""
from eventlog.errors import ConfigError, Error, UsageError  # noqa: F401
from eventlog.errors import NotLoggedInError as AuthenticationError  # noqa: F401
from eventlog.errors import ServerUnreachableError as CommError  # noqa: F401
from eventlog.errors import PermissionDenied as PermissionError  # noqa: F401,A001
