"""The evlog server: ingestion, accounts, permissions and the read API (installed as `eventlog.server`).

Needs the `server` extra (`pip install 'evlog[server]'`). The protocol is spec/protocol.md.
"""
from __future__ import annotations

PROTOCOL_VERSION = 1
