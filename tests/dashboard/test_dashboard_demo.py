"""The main job (README's first command, scripts/demo.sh) end to end, in a sandbox: it starts a
server on the embedded SQLite default, logs one run live and one offline then synced, prints the
dashboard URL; the dashboard then shows both runs with their charts to a visitor, and `stop` ends
the server. (The install step is skipped: the test's own environment has evlog installed.)"""
from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import requests

from eventlog.server.testing import free_port
from support.server import wait_until  # (importing it also requires the server extra)

REPO = Path(__file__).resolve().parents[2]


def demo(env, tmp_path, *args):
    """Run scripts/demo.sh; its output goes to a file (syncers left in the background would hold a pipe)."""
    log = tmp_path / "demo.out"
    with open(log, "w") as f:
        proc = subprocess.run(["bash", str(REPO / "scripts" / "demo.sh"), *args], env=env, cwd=str(tmp_path),
                              stdout=f, stderr=subprocess.STDOUT, timeout=300)
    return proc.returncode, log.read_text()


def down(url):
    try:
        requests.get(url + "/api/v1/health", timeout=5)
    except requests.RequestException:
        return True
    return False


def test_demo_brings_up_a_server_with_a_live_and_a_synced_run(tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith(("EVLOG_", "WANDB_"))}
    env.update(HOME=str(tmp_path), XDG_DATA_HOME=str(tmp_path / "data"), EVLOG_DEMO_DIR=str(tmp_path / "state"),
               EVLOG_DIR=str(tmp_path / "runs"), EVLOG_DEMO_PORT=str(free_port()), EVLOG_DEMO_NO_INSTALL="1",
               EVLOG_DEMO_VENV=str(Path(sys.executable).parent.parent), EVLOG_FINISH_TIMEOUT="120")
    (tmp_path / "runs").mkdir()
    try:
        code, out = demo(env, tmp_path)
        assert code == 0, out
        url = re.search(r"^\s+(http://127\.0\.0\.1:\d+/demo/demo)$", out, re.M).group(1)
        key = re.search(r"^\s+([0-9a-f]{40})$", out, re.M).group(1)
        assert (tmp_path / "data" / "evlog" / "server.db").exists()  # the embedded default database

        page = requests.get(url, timeout=30)  # a visitor, not signed in: the demo project is open
        assert page.status_code == 200 and 'id="runs-table"' in page.text
        base = url.rsplit("/demo/demo", 1)[0]
        runs = requests.get(f"{base}/-/api/runs/demo/demo", timeout=30).json()["runs"]
        assert sorted(r["name"] for r in runs) == ["live-lr-0.01", "offline-lr-0.03"]
        assert all(r["state"] == "finished" and r["history_rows"] == 600 for r in runs)
        for r in runs:
            s = requests.get(f"{base}/-/api/runs/demo/demo/{r['id']}/series", timeout=30).json()["series"]
            assert {"loss", "accuracy", "lr", "val/loss"} <= set(s) and len(s["loss"][0]) == 600
            assert len(s["val/loss"][0]) == 3
        # the member sees the saved code of the example
        member = requests.get(f"{base}/-/api/runs/demo/demo/{runs[0]['id']}", timeout=30,
                              headers={"Authorization": f"Bearer {key}"}).json()
        assert member["code"]["path"].endswith("train.py")

        code, again = demo(env, tmp_path)
        assert code == 0, again
        assert url in again  # the same server, reused
        assert len(requests.get(f"{base}/-/api/runs/demo/demo", timeout=30).json()["runs"]) == 2  # not logged again
    finally:
        demo(env, tmp_path, "stop")
    wait_until(lambda: down(base), 30, "the demo server to stop")
