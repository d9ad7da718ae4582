"""Server settings: from `evlog server` options, passed to workers through the environment."""
from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Optional

from eventlog.util.env import TRUE_WORDS, is_true

MiB = 1024 * 1024


def _env_bool(name: str) -> bool:
    return is_true(os.environ.get(name, ""), TRUE_WORDS)


def _env_int(name: str, default: int) -> int:
    v = os.environ.get(name)
    return int(v) if v and v.strip().isdigit() else default


@dataclass
class ServerConfig:
    """What a server process needs to know; every field has an EVLOG_SERVER_* variable."""

    db_url: Optional[str] = None  # None: $EVLOG_SERVER_DB, else the embedded SQLite file
    allow_anonymous: bool = False
    public_url: Optional[str] = None  # base of printed run URLs; default: the request's own base URL
    max_body: int = 32 * MiB
    max_decompressed: int = 256 * MiB
    max_file: int = 64 * MiB
    max_artifact_file: int = 64 * 1024 * MiB  # one artifact file (streamed into the database in parts)
    pool_size: int = 8
    max_records: int = 100_000  # records in one records body
    max_values: int = 1_000_000  # values (allocations) one records body may decode into
    header_timeout: int = 30  # seconds a request's headers may take
    body_timeout: int = 60  # seconds a request body may go without a byte (and ends 1 KiB/s under)

    @classmethod
    def from_env(cls) -> "ServerConfig":
        return cls(
            db_url=os.environ.get("EVLOG_SERVER_DB") or None,
            allow_anonymous=_env_bool("EVLOG_SERVER_ALLOW_ANONYMOUS"),
            public_url=os.environ.get("EVLOG_SERVER_PUBLIC_URL") or None,
            max_body=_env_int("EVLOG_SERVER_MAX_BODY", 32 * MiB),
            max_decompressed=_env_int("EVLOG_SERVER_MAX_DECOMPRESSED", 256 * MiB),
            max_file=_env_int("EVLOG_SERVER_MAX_FILE", 64 * MiB),
            max_artifact_file=_env_int("EVLOG_SERVER_MAX_ARTIFACT_FILE", 64 * 1024 * MiB),
            pool_size=_env_int("EVLOG_SERVER_POOL_SIZE", 8),
            max_records=_env_int("EVLOG_SERVER_MAX_RECORDS", 100_000),
            max_values=_env_int("EVLOG_SERVER_MAX_VALUES", 1_000_000),
            header_timeout=_env_int("EVLOG_SERVER_HEADER_TIMEOUT", 30),
            body_timeout=_env_int("EVLOG_SERVER_BODY_TIMEOUT", 60),
        )

    def to_env(self) -> dict:
        """The environment that makes `from_env()` in a worker process return this config."""
        env = {
            "EVLOG_SERVER_ALLOW_ANONYMOUS": "1" if self.allow_anonymous else "0",
            "EVLOG_SERVER_MAX_BODY": str(self.max_body),
            "EVLOG_SERVER_MAX_DECOMPRESSED": str(self.max_decompressed),
            "EVLOG_SERVER_MAX_FILE": str(self.max_file),
            "EVLOG_SERVER_MAX_ARTIFACT_FILE": str(self.max_artifact_file),
            "EVLOG_SERVER_POOL_SIZE": str(self.pool_size),
            "EVLOG_SERVER_MAX_RECORDS": str(self.max_records),
            "EVLOG_SERVER_MAX_VALUES": str(self.max_values),
            "EVLOG_SERVER_HEADER_TIMEOUT": str(self.header_timeout),
            "EVLOG_SERVER_BODY_TIMEOUT": str(self.body_timeout),
        }
        if self.db_url:
            env["EVLOG_SERVER_DB"] = self.db_url
        if self.public_url:
            env["EVLOG_SERVER_PUBLIC_URL"] = self.public_url
        return env
