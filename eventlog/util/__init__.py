"""eventlog.util: small helpers shared by the run side, the sinks and the server (environment
variables, atomic files, file hashes, watching a folder); the lowest layer: it imports only
eventlog.errors."""
