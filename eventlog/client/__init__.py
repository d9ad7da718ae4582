"""Clients of the evlog server beyond what init() needs (eventlog/api.py): the read API (`eventlog.Api`)."""
