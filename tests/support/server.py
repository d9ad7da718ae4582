"""Helpers of the server tests (no tests here): PostgreSQL and SQLite databases, a real `evlog
server` process on a free port, and a small HTTP harness (the pg_cluster, backend and srv fixtures
are in tests/conftest.py).

PostgreSQL tests run on a throwaway cluster (initdb/pg_ctl in a temp dir). They are skipped only
when the PostgreSQL binaries are absent and CI is not set; with CI set they fail instead.
"""
from __future__ import annotations

import contextlib
import itertools
import os
import time
from pathlib import Path
from typing import Any, Dict, Iterator, List, Optional, Sequence

import pytest


def _need(module: str) -> None:
    """Skip without the `server` extra; with CI set, a missing extra is an error instead."""
    if os.environ.get("CI", "").strip().lower() not in ("", "0", "false", "no"):
        __import__(module)
    else:
        pytest.importorskip(module, reason="the server tests need the `server` extra: pip install -e '.[server]'")


for _m in ("sqlalchemy", "starlette", "uvicorn", "psycopg"):
    _need(_m)
import requests  # noqa: E402

from eventlog.server import accounts  # noqa: E402
from eventlog.server.db import make_engine  # noqa: E402
from eventlog.server.migrations import migrate  # noqa: E402
from eventlog.server.testing import PgCluster, ServerProcess  # noqa: E402
from eventlog.server.wire import encode_body  # noqa: E402

FRAMES = "application/vnd.evlog.frames+zstd"
T0 = 1_700_000_000.0
_names = itertools.count(1)
_dbs = itertools.count(1)


def uniq(prefix: str) -> str:
    """A name no other test uses (servers are shared within a module)."""
    return f"{prefix}{next(_names)}"


def ci() -> bool:
    return os.environ.get("CI", "").strip().lower() not in ("", "0", "false", "no")


def new_db_url(backend: str, request: Any, tmp: Path) -> str:
    """A fresh, empty database of `backend`."""
    if backend == "sqlite":
        return f"sqlite:///{tmp / f'server{next(_dbs)}.db'}"
    cluster: PgCluster = request.getfixturevalue("pg_cluster")
    return cluster.create_database(f"evlog_test_{os.getpid()}_{next(_dbs)}")


# ------------------------------------------------------------------ records
def run_record(run_id: str, seq: int = 0, **fields: Any) -> list:
    body = {"id": run_id, "name": fields.pop("name", f"name-{run_id}"), "project": None, "entity": None,
            "group": None, "job_type": "train", "notes": None, "tags": [], "mode": "online",
            "start_time": T0, "settings": {}, "program": {"argv": ["train.py", "--secret-flag"]},
            "git": {"commit": "0123abcd", "branch": "main", "remote": "https://example.com/r.git", "dirty": False,
                    "diff_file": "diff.patch"},
            "code": {"path": "code/train.py", "original": "/src/train.py", "sha256": "0" * 64}}
    body.update(fields)
    return [seq, "run", T0 + seq, body]


def history(seq: int, step: int, data: Optional[Dict[str, Any]] = None) -> list:
    return [seq, "history", T0 + seq, {"step": step, "data": data if data is not None else {"loss": 1.0 / (step + 1), "step_sq": step * step}}]


def simple_run(run_id: str, steps: int, *, exit_code: Optional[int] = 0, **fields: Any) -> List[list]:
    """run record, one config record, `steps` history records, an exit record (unless None)."""
    recs = [run_record(run_id, **fields), [1, "config", T0 + 1, {"update": {"lr": 0.01, "layers": 3}}]]
    recs += [history(2 + i, i) for i in range(steps)]
    if exit_code is not None:
        recs.append([len(recs), "exit", T0 + len(recs), {"exit_code": exit_code, "runtime": 12.5,
                                                          "interrupted": False, "error": None}])
    return recs


# ------------------------------------------------------------------ harness
class Harness:
    """A running server plus direct database access for administration."""

    def __init__(self, proc: ServerProcess, db_url: str) -> None:
        self.proc = proc
        self.db_url = db_url
        self.engine = make_engine(db_url, pool_size=1)
        self.http = requests.Session()

    @property
    def url(self) -> str:
        return self.proc.url

    def user(self, prefix: str = "user", *, admin: bool = False) -> tuple:
        """(name, key) of a new user."""
        name = uniq(prefix)
        return name, accounts.add_user(self.engine, name, admin=admin)

    def team(self, members: Sequence[str], prefix: str = "team") -> str:
        name = uniq(prefix)
        accounts.add_team(self.engine, name, members)
        return name

    def visibility(self, entity: str, project: str, vis: str) -> None:
        accounts.set_visibility(self.engine, f"{entity}/{project}", vis)

    @staticmethod
    def headers(key: Optional[str]) -> Dict[str, str]:
        return {"Authorization": f"Bearer {key}"} if key else {}

    def get(self, path: str, key: Optional[str] = None, **params: Any) -> requests.Response:
        return self.http.get(self.url + path, headers=self.headers(key), params=params or None, timeout=60)

    def post_records(self, entity: str, project: str, run_id: str, records: List[list], key: Optional[str],
                     *, gap_ok: bool = False, body: Optional[bytes] = None,
                     content_type: str = FRAMES) -> requests.Response:
        headers = self.headers(key)
        headers["Content-Type"] = content_type
        return self.http.post(
            f"{self.url}/api/v1/runs/{entity}/{project}/{run_id}/records",
            data=encode_body(records) if body is None else body, headers=headers,
            params={"gap_ok": "1"} if gap_ok else None, timeout=60,
        )

    def upload(self, entity: str, project: str, run_id: str, records: List[list], key: str,
               batch: int = 500) -> int:
        """Post records in batches, following 409 answers; returns the final next_seq."""
        i = 0
        nxt = 0
        while i < len(records):
            r = self.post_records(entity, project, run_id, records[i:i + batch], key)
            if r.status_code == 409:
                want = r.json()["expected_seq"]
                i = next(j for j, rec in enumerate(records) if rec[0] >= want)
                continue
            assert r.status_code == 200, r.text
            nxt = r.json()["next_seq"]
            i += batch
        return nxt

    def run(self, entity: str, project: str, run_id: str, key: Optional[str] = None) -> requests.Response:
        return self.get(f"/api/v1/runs/{entity}/{project}/{run_id}", key)

    def rows(self, entity: str, project: str, run_id: str, key: Optional[str] = None, **params: Any) -> list:
        r = self.get(f"/api/v1/runs/{entity}/{project}/{run_id}/history", key, **params)
        assert r.status_code == 200, r.text
        return r.json()["rows"]

    def close(self) -> None:
        self.http.close()
        self.engine.dispose()


def start_harness(db_url: str, tmp: Path, **kw: Any) -> Harness:
    engine = make_engine(db_url, pool_size=1)
    migrate(engine)
    engine.dispose()
    proc = ServerProcess(db_url, log_path=tmp / "server.log", **kw).start()
    return Harness(proc, db_url)


@contextlib.contextmanager
def sqlite_harness(tmp: Path, **kw: Any) -> Iterator[Harness]:
    """A server on a fresh SQLite database in `tmp`, stopped when the block ends (module fixtures)."""
    h = start_harness(f"sqlite:///{tmp / 'server.db'}", tmp, **kw)
    try:
        yield h
    finally:
        h.proc.stop()
        h.close()


def wait_until(predicate: Any, timeout: float = 60.0, what: str = "condition") -> None:
    """Poll until true; the timeout only guards against hangs."""
    end = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > end:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.02)
