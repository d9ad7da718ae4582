"""eventlog.capture: see the modules inside."""
