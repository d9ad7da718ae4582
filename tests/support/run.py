"""Helpers shared by the run API tests (tests/runapi/ and others): a clean environment, reading a run's
records back, and running scripts in a subprocess."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Dict, List, Optional

import eventlog
from eventlog import LogReader

SEED_DIR = Path(__file__).resolve().parent.parent / "seed"


def scrubbed_env(tmp: Path, **extra: str) -> Dict[str, str]:
    """os.environ without any EVLOG_* / WANDB_* variable, with no sinks, no syncer output, and a
    private config dir (no stored credentials)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("EVLOG_", "WANDB_"))}
    env.update(EVLOG_SINKS="none", EVLOG_SILENT="true", EVLOG_CONFIG_DIR=str(tmp / ".evlog-config"))
    env.update(extra)
    return {k: v for k, v in env.items() if v is not None}


def records(folder) -> List[eventlog.Record]:
    reader = LogReader(folder)
    recs = list(reader.records())
    assert not reader.damage, reader.damage
    assert [r.seq for r in recs] == list(range(len(recs))), "seq must be contiguous from 0"
    return recs


def of_type(recs, type_: str):
    return [r for r in recs if r.type == type_]


def run_folders(base: Path) -> List[Path]:
    root = base / "evlog"
    return sorted(p for p in root.iterdir() if p.name.startswith("run-")) if root.is_dir() else []


def summary_from_log(recs) -> dict:
    """The run's summary computed as spec/format.md says, from the records alone."""
    out: dict = {}
    for r in recs:
        if r.type == "history":
            out.update(r.body["data"])
        elif r.type == "summary":
            out.update(r.body["update"])
            for k in r.body.get("remove") or []:
                out.pop(k, None)
    return out


def config_from_log(recs) -> dict:
    out: dict = {}
    for r in recs:
        if r.type == "config":
            out.update(r.body["update"])
            for k in r.body.get("remove") or []:
                out.pop(k, None)
    return out


def run_script(path: Path, cwd: Path, env: Dict[str, str], args=(), timeout: float = 60,
               **kw) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(path), *args], cwd=cwd, env=env, capture_output=True, text=True,
                          timeout=timeout, **kw)


def only_run_folder(base: Path) -> Path:
    folders = run_folders(base)
    assert len(folders) == 1, folders
    return folders[0]


def wait_for(pred, timeout: float = 20.0, interval: float = 0.02) -> bool:
    import time

    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if pred():
            return True
        time.sleep(interval)
    return pred()
