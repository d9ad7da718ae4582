"""eventlog.logfile: see the modules inside."""
