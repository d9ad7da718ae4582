"""eventlog.rundir: see the modules inside."""
