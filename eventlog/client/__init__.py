"""Clients of the evlog server beyond what init() needs (eventlog/client/accounts.py): the read API (`eventlog.Api`)."""
