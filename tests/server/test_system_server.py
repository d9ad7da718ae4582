"""System metrics on the server (server/system.py): the `system` records of each uploaded chunk are
indexed at ingestion (and by migration 5 for chunks stored before), GET {run}/system gives each
metric over seconds since the run started, downsampled keeping extremes; a real run synced shows
them; the run page draws one chart per metric in Chromium."""
from __future__ import annotations

import os
import subprocess
import sys
import textwrap

import pytest
from sqlalchemy import delete, func, select

from support.run import of_type, only_run_folder, records, scrubbed_env
from support.server import T0, history, run_record
from support.client import evlog_sync, sync_env


def system(seq: int, t: float, metrics) -> list:
    return [seq, "system", t, {"metrics": metrics}]


def sample_records(run_id: str) -> list:
    recs = [run_record(run_id)]  # start_time T0
    for i in range(40):
        seq = len(recs)
        if i % 10 == 9:
            recs.append(system(seq, T0 + 10.0 * (i // 10 + 1), {"cpu": 10.0 * (i // 10), "gpu.0.util": 50 + i // 10,
                                                                  "bad": "text", "nan": float("nan")}))
        else:
            recs.append(history(seq, i))
    recs.append([len(recs), "system", T0 + 45, {"metrics": "not a map"}])
    recs.append(history(len(recs), 40))
    return recs


def test_samples_are_indexed_per_chunk_and_served_over_time(srv):
    from eventlog.server import migrations, schema

    user, key = srv.user()
    outsider, okey = srv.user("outsider")
    recs = sample_records("sys1")
    srv.upload(user, "sys", "sys1", recs, key, batch=5)  # 9 chunks; system records in 4 of them
    url = f"/api/v1/runs/{user}/sys/sys1/system"
    want = {"cpu": [[10.0, 20.0, 30.0, 40.0], [0.0, 10.0, 20.0, 30.0]],
            "gpu.0.util": [[10.0, 20.0, 30.0, 40.0], [50.0, 51.0, 52.0, 53.0]]}
    got = srv.get(url, key).json()
    assert got["metrics"] == want and got["start"] == T0 and got["state"] == "running"
    with srv.engine.connect() as conn:
        pk = conn.execute(select(schema.runs.c.id).where(schema.runs.c.run_id == "sys1")).scalar_one()
        assert conn.execute(select(func.count()).select_from(schema.system)
                            .where(schema.system.c.run_pk == pk)).scalar_one() == 4
    two = srv.get(url, key, samples=2).json()["metrics"]["cpu"]
    assert two == [[10.0, 40.0], [0.0, 30.0]]  # first and last (and the extremes, here the same)
    assert srv.get(url, key, samples=1).status_code == 400
    assert srv.get(url, okey).status_code in (403, 404) and srv.get(url).status_code in (401, 403)
    # a database from before the index: migration 5 fills it in from the stored chunks
    with srv.engine.begin() as conn:
        conn.execute(delete(schema.system))
        conn.execute(delete(schema.schema_version).where(schema.schema_version.c.version == 5))
        schema.system.drop(conn)
    assert migrations.migrate(srv.engine) == migrations.LATEST
    assert srv.get(url, key).json()["metrics"] == want


def test_a_real_run_synced_shows_its_samples(srv, tmp_path):
    user, key = srv.user()
    script = tmp_path / "train.py"
    script.write_text(textwrap.dedent("""
        import time
        import eventlog as wandb
        run = wandb.init(project="sysreal", id="real1")
        end = time.time() + 1.2
        while time.time() < end:
            wandb.log({"x": 1.0})
        run.finish()
    """))
    env = scrubbed_env(tmp_path, EVLOG_SYSTEM_INTERVAL="0.2", EVLOG_MODE="offline")
    proc = subprocess.run([sys.executable, str(script)], cwd=tmp_path, env=env, capture_output=True, text=True,
                          timeout=120)
    assert proc.returncode == 0, proc.stderr
    folder = only_run_folder(tmp_path)
    local = of_type(records(folder), "system")
    assert len(local) >= 3
    assert evlog_sync(str(folder), env=sync_env(tmp_path, srv.url, key)).returncode == 0
    got = srv.get(f"/api/v1/runs/{user}/sysreal/real1/system", key).json()
    xs, ys = got["metrics"]["proc.cpu"]
    assert ys == [r.body["metrics"]["proc.cpu"] for r in local]
    assert xs == sorted(xs) and 0 < xs[0] < 1.0  # seconds since the run started


def test_the_run_page_draws_a_chart_per_metric(tmp_path, page):
    from support.dashboard import shot, sign_in
    from support.server import start_harness

    h = start_harness(f"sqlite:///{tmp_path / 'sys.db'}", tmp_path)
    try:
        user, key = h.user("alice")
        h.upload(user, "sys", "page1", sample_records("page1"), key, batch=5)
        sign_in(page, h.url, key, f"/{user}/sys/runs/page1")
        page.wait_for_selector("#system-charts[data-ready='1']")
        assert page.locator("#system-section").is_visible()
        charts = page.locator("#system-charts .chart")
        assert charts.evaluate_all("els => els.map(e => [e.dataset.metric, e.dataset.points])") == [
            ["cpu", "4"], ["gpu.0.util", "4"]]
        assert "minutes" in page.locator("#system-charts").inner_text()
        shot(page, "run-system")
    finally:
        h.proc.stop()
        h.close()
