"""Sinks that receive a run's records from the syncer (installed as `eventlog.sinks`)."""
