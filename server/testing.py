"""Throwaway infrastructure for tests and benchmarks: a private PostgreSQL cluster (initdb/pg_ctl
in a temp dir, on a free port, as a non-root user) and an `evlog server` subprocess."""
from __future__ import annotations

import functools
import glob
import os
import pwd
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Dict, List, Optional, Sequence


@functools.lru_cache(maxsize=None)
def evlog_boot() -> str:
    """Python code that runs the installed `evlog` command (its console_scripts entry point) on the
    arguments after `python -c CODE`: the harness starts the product as a user does, by its command,
    so the server package imports nothing of the CLI."""
    from importlib.metadata import entry_points

    found = entry_points()
    if hasattr(found, "select"):
        found = found.select(group="console_scripts", name="evlog")
    else:  # Python 3.9: a dict of groups
        found = [e for e in found.get("console_scripts", ()) if e.name == "evlog"]
    for ep in found:
        module, _, attr = ep.value.partition(":")
        return f"import sys; from {module} import {attr}; sys.exit({attr}())"
    raise RuntimeError("the `evlog` command is not installed: pip install -e . (setup.cfg's console_scripts)")


def __getattr__(name: str) -> str:
    if name == "SERVER_BOOT":  # `python -c SERVER_BOOT ARGS...` runs `evlog ARGS...`
        return evlog_boot()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def _die_with_parent() -> None:
    """In the child: get SIGTERM when the process that started us dies (Linux), so a killed test
    run leaves no server behind."""
    try:
        import ctypes

        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    except Exception:  # noqa: BLE001 - not Linux: best effort only
        pass


def free_port() -> int:
    """A TCP port on 127.0.0.1 that was free a moment ago."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def pg_bindir() -> Optional[Path]:
    """The folder holding initdb/pg_ctl/postgres (PATH first, then Debian's layout); None if absent."""
    found = shutil.which("initdb")
    if found:
        d = Path(os.path.realpath(found)).parent
        if (d / "pg_ctl").exists() and (d / "postgres").exists():
            return d
    versions = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"),
                      key=lambda p: int(Path(p).parts[-3]) if Path(p).parts[-3].isdigit() else 0)
    return Path(versions[-1]).parent if versions else None


class PgCluster:
    """A private PostgreSQL server: `start()`, `create_database(name)` -> URL, `stop()`.

    PostgreSQL refuses to run as root: as root, the cluster runs as the `postgres` user (runuser).
    `durable=False` turns fsync off (tests); benchmarks keep the defaults.
    """

    def __init__(self, bindir: Optional[Path] = None, *, durable: bool = False,
                 settings: Optional[Dict[str, str]] = None) -> None:
        bindir = bindir or pg_bindir()
        if bindir is None:
            raise FileNotFoundError("PostgreSQL server binaries (initdb, pg_ctl) are not installed")
        self.bindir = Path(bindir)
        self.durable = durable
        self.settings = dict(settings or {})
        self.port = 0
        self.root: Optional[Path] = None
        self.user = "evlog"

    def _as_owner(self, argv: Sequence[str]) -> List[str]:
        if os.geteuid() != 0:
            return list(argv)
        runuser = shutil.which("runuser")
        if runuser:
            return [runuser, "-u", "postgres", "--", *argv]
        import shlex

        return ["su", "postgres", "-s", "/bin/sh", "-c", shlex.join(argv)]

    def _run(self, argv: Sequence[str]) -> None:
        proc = subprocess.run(self._as_owner(argv), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, cwd="/")
        if proc.returncode != 0:
            log = ""
            if self.root and (self.root / "log").exists():
                log = (self.root / "log").read_text(errors="replace")[-3000:]
            raise RuntimeError(f"{argv[0]} failed ({proc.returncode}): {proc.stdout.decode(errors='replace')}\n{log}")

    def start(self) -> "PgCluster":
        self.root = Path(tempfile.mkdtemp(prefix="evlog-pg-"))
        if os.geteuid() == 0:
            try:
                pw = pwd.getpwnam("postgres")
            except KeyError:
                raise RuntimeError("PostgreSQL refuses to run as root and there is no `postgres` user to run "
                                   "it as: install Debian's postgresql package (scripts/setup-postgres.sh)") from None
            os.chown(self.root, pw.pw_uid, pw.pw_gid)
        data = self.root / "data"
        self._run([str(self.bindir / "initdb"), "-D", str(data), "-A", "trust", "-U", self.user, "-E", "UTF8",
                   "--no-locale", "-N"])
        opts = {"listen_addresses": "127.0.0.1", "unix_socket_directories": str(self.root),
                "max_connections": "200"}
        if not self.durable:
            opts.update(fsync="off", synchronous_commit="off", full_page_writes="off")
        opts.update(self.settings)
        last: Optional[Exception] = None
        for _ in range(5):  # a port taken between free_port() and the bind: try another
            self.port = free_port()
            o = " ".join([f"-p {self.port}"] + [f"-c {k}={v}" for k, v in opts.items()])
            try:
                self._run([str(self.bindir / "pg_ctl"), "-D", str(data), "-l", str(self.root / "log"), "-w",
                           "-t", "60", "-o", o, "start"])
                return self
            except RuntimeError as exc:
                last = exc
        raise RuntimeError(f"could not start PostgreSQL: {last}")

    @property
    def admin_url(self) -> str:
        return f"postgresql+psycopg://{self.user}@127.0.0.1:{self.port}/postgres"

    def url(self, database: str) -> str:
        return f"postgresql+psycopg://{self.user}@127.0.0.1:{self.port}/{database}"

    def postmaster_pid(self) -> int:
        """The server's main process (its backends are its children)."""
        assert self.root is not None
        return int((self.root / "data" / "postmaster.pid").read_text().split()[0])

    def create_database(self, name: str) -> str:
        """A fresh empty database; its SQLAlchemy URL."""
        import psycopg

        with psycopg.connect(f"host=127.0.0.1 port={self.port} user={self.user} dbname=postgres",
                             autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}"')
            conn.execute(f'CREATE DATABASE "{name}"')
        return self.url(name)

    def stop(self) -> None:
        if self.root is None:
            return
        try:
            self._run([str(self.bindir / "pg_ctl"), "-D", str(self.root / "data"), "-m", "immediate", "-w", "stop"])
        except RuntimeError:
            pass
        shutil.rmtree(self.root, ignore_errors=True)
        self.root = None


class _ExitedEarly(Exception):
    pass


class ServerProcess:
    """`evlog server` in a subprocess on a free port of 127.0.0.1."""

    def __init__(self, db_url: str, *, allow_anonymous: bool = False, workers: int = 1,
                 env: Optional[Dict[str, str]] = None, log_path: Optional[Path] = None,
                 extra_args: Sequence[str] = ()) -> None:
        self.db_url = db_url
        self.allow_anonymous = allow_anonymous
        self.workers = workers
        self.env = dict(os.environ if env is None else env)
        self.log_path = log_path
        self.extra_args = list(extra_args)
        self.port = 0
        self.proc: Optional[subprocess.Popen] = None
        self._log = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout: float = 60.0) -> "ServerProcess":
        """Start (or restart, on the same port once one was chosen) and wait until healthy.

        A first start whose port was taken meanwhile tries another port; a restart waits for its
        port (clients know only that one)."""
        restart = bool(self.port)
        end = time.monotonic() + timeout
        while True:
            if not restart:
                self.port = free_port()
            try:
                return self._start_once(end)
            except _ExitedEarly as exc:
                if time.monotonic() > end:
                    raise RuntimeError(str(exc)) from None
                time.sleep(0.5 if restart else 0.0)

    def _start_once(self, end: float) -> "ServerProcess":
        import requests

        argv = [sys.executable, "-c", evlog_boot(), "server", "--db", self.db_url, "--port", str(self.port),
                "--workers", str(self.workers), *self.extra_args]
        if self.allow_anonymous:
            argv.append("--allow-anonymous")
        if self.log_path is not None:
            self._log = open(self.log_path, "ab")
        out = self._log if self._log is not None else subprocess.DEVNULL
        self.proc = subprocess.Popen(argv, env=self.env, stdout=out, stderr=out, start_new_session=True,
                                     preexec_fn=_die_with_parent)
        while True:
            if self.proc.poll() is not None:
                code = self.proc.returncode
                self.proc = None
                if self._log is not None:
                    self._log.close()
                    self._log = None
                raise _ExitedEarly(f"evlog server exited with {code} while starting on port {self.port}"
                                   + (f" (log: {self.log_path})" if self.log_path else ""))
            try:
                if requests.get(self.url + "/api/v1/health", timeout=2).status_code == 200:
                    return self
            except requests.RequestException:
                pass
            if time.monotonic() > end:
                self.stop()
                raise RuntimeError("evlog server did not become healthy")
            time.sleep(0.05)

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def kill(self) -> None:
        """SIGKILL the server and its workers (its process group)."""
        self._signal(signal.SIGKILL)

    def stop(self) -> None:
        """SIGTERM, then SIGKILL if it lingers."""
        self._signal(signal.SIGTERM, grace=10.0)

    def _signal(self, sig: int, grace: float = 5.0) -> None:
        if self.proc is None:
            return
        try:
            os.killpg(self.proc.pid, sig)
        except ProcessLookupError:
            pass
        try:
            self.proc.wait(grace)
        except subprocess.TimeoutExpired:
            try:
                os.killpg(self.proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            self.proc.wait()
        self.proc = None
        if self._log is not None:
            self._log.close()
            self._log = None
