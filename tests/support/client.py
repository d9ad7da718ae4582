"""A client process's environment pointed at a test server (its own config folder and saved
credentials, no EVLOG_*/WANDB_* of the machine), and `evlog sync` run in it."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Dict, Optional

from eventlog.client import credentials
from eventlog.server.testing import SERVER_BOOT


def sync_env(tmp_path: Path, url: str, key: Optional[str], **extra: str) -> Dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("EVLOG_", "WANDB_"))}
    env.update(EVLOG_CONFIG_DIR=str(tmp_path / "cfg"), HOME=str(tmp_path), EVLOG_BASE_URL=url, CI="")
    env.update(extra)
    if key:
        credentials.save(url, key, env=env)
    return env


def evlog_sync(*args: str, env: Dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", SERVER_BOOT, "sync", *args], capture_output=True, text=True,
                          env=env, timeout=600)


def client_env(tmp: Path, url: str, key: Optional[str], user: Optional[str] = None, **extra: str) -> Dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("EVLOG_", "WANDB_"))}
    env.update(EVLOG_CONFIG_DIR=str(tmp / "cfg"), HOME=str(tmp), EVLOG_BASE_URL=url, EVLOG_SILENT="true",
               EVLOG_FINISH_TIMEOUT="120")
    env.update(extra)
    if key:
        credentials.save(url, key, user, env=env)
    return env
