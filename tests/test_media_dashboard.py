"""Media in the dashboard (issue 8, part 1): the run page lists every media key with a step slider,
images and videos load from the run's files under the session, histograms are drawn; the JSON and
the files the page reads follow the dashboard's permissions (a run one may not read is not found)."""
from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import pytest

from test_run_support import ev, of_type, records  # noqa: F401
from test_server_support import backend, pg_cluster, srv  # noqa: F401  (fixtures)
from test_server_sync import evlog_sync, sync_env


def media_run(ev, tmp_path, srv, run_id="dash-media"):
    user, key = srv.user()
    run = ev.init(project="pics", id=run_id)
    rs = np.random.RandomState(3)
    for i in range(3):
        run.log({"sample": ev.Image(rs.randint(0, 256, (12, 16, 3), dtype=np.uint8), caption=f"pic {i}"),
                 "weights": ev.Histogram(rs.randn(50) + i, num_bins=5), "loss": 1.0 / (i + 1)})
    run.log({"rollout": ev.Video(rs.rand(3, 3, 8, 8), fps=3)})
    run.finish()
    out = evlog_sync(run.dir, env=sync_env(tmp_path, srv.url, key))
    assert out.returncode == 0, out.stderr
    local = {r.body["step"]: r.body["data"] for r in of_type(records(run.dir), "history")}
    return user, key, run, local


def test_the_dashboard_reads_media_and_files_under_its_session(ev, srv, tmp_path):
    user, key, run, local = media_run(ev, tmp_path, srv)
    outsider, okey = srv.user("outsider")
    base = f"/-/api/runs/{user}/pics/dash-media/media"
    index = srv.get(base, key).json()["media"]
    assert sorted(index) == ["rollout", "sample", "weights"]
    assert index["sample"]["steps"] == [0, 1, 2]
    assert [m["caption"] for m in index["sample"]["items"]] == ["pic 0", "pic 1", "pic 2"]
    path = index["sample"]["items"][1]["path"]
    got = srv.get(f"/-/files/{user}/pics/dash-media/{path}", key)
    assert got.status_code == 200 and got.headers["content-type"] == "image/png"
    assert got.content == (Path(run.dir) / path).read_bytes()
    assert hashlib.sha256(got.content).hexdigest() == local[1]["sample"]["sha256"]
    # outsiders and anonymous readers of a private project: not found, like any page
    for k in (okey, None):
        assert srv.get(base, k).status_code == 404
        assert srv.get(f"/-/files/{user}/pics/dash-media/{path}", k).status_code == 404
