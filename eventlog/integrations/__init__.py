"""eventlog.integrations: see the modules inside."""
