"""A real `mlflow server` process for the tests (no tests here): SQLite backend, proxied artifacts,
on a free port of 127.0.0.1, killed with its process group when the block ends."""
from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Iterator, Tuple

from eventlog.server.testing import _die_with_parent, free_port


@contextlib.contextmanager
def mlflow_server(base: Path, start_timeout: float = 180.0) -> Iterator[Tuple[str, Path]]:
    """Start `mlflow server` with its database and artifacts in `base`; yield (URI, its log file)."""
    import requests

    port = free_port()
    log_path = base / "server.log"
    log = open(log_path, "wb")
    proc = subprocess.Popen(
        [sys.executable, "-m", "mlflow", "server", "--host", "127.0.0.1", "--port", str(port), "--workers", "1",
         "--backend-store-uri", f"sqlite:///{base / 'mlflow.db'}", "--artifacts-destination", str(base / "art")],
        stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True,
        preexec_fn=_die_with_parent, cwd=str(base))
    uri = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + start_timeout  # guards against a hang only
        while True:
            try:
                if requests.get(uri + "/health", timeout=2).ok:
                    break
            except requests.RequestException:
                pass
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("mlflow server did not start:\n" + log_path.read_text(errors="replace")[-3000:])
            time.sleep(0.3)
        yield uri, log_path
    finally:
        try:
            os.killpg(proc.pid, signal.SIGTERM)
        except ProcessLookupError:
            pass
        try:
            proc.wait(20)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(10)
        log.close()
