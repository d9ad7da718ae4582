"""The run page's Artifacts section (server/web/static/artifacts.js) in Chromium: the versions a
run logged and used, their aliases and files, each file a download link that gives its bytes
under the session cookie; references listed, not linked."""
from __future__ import annotations

from pathlib import Path

import pytest

from support.dashboard import sign_in
from support.server import start_harness
from support.client import evlog_sync, sync_env


@pytest.fixture(scope="module")
def art_site(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("art-site")
    h = start_harness(f"sqlite:///{tmp / 'arts.db'}", tmp)
    user, key = h.user("alice")
    yield {"h": h, "user": user, "key": key}
    h.proc.stop()
    h.close()


def test_the_run_page_lists_logged_and_used_artifacts_with_download_links(ev, art_site, page, tmp_path):
    (Path.cwd() / "w.bin").write_bytes(b"\x00weights\xff" * 100)
    run = ev.init(project="arts", id="artpage", mode="offline")
    a = ev.Artifact("model-a", type="model")
    a.add_file("w.bin", name="ckpt/model.ckpt")
    a.add_reference("s3://bucket/data.csv")
    run.log_artifact(a, aliases=["best"])
    run.use_artifact("model-a:best")
    run.finish()
    h, user, key = art_site["h"], art_site["user"], art_site["key"]
    out = evlog_sync(run.dir, env=sync_env(tmp_path, h.url, key))
    assert out.returncode == 0, out.stderr + out.stdout

    sign_in(page, h.url, key, f"/{user}/arts/runs/artpage")
    page.wait_for_selector("#artifacts-section:not([hidden]) .artifact-logged")
    logged = page.locator(".artifact-logged")
    assert logged.count() == 1 and page.locator(".artifact-used").count() == 1
    assert logged.locator(".artifact-name").inner_text() == "model-a:v0"
    assert logged.locator(".artifact-alias").all_inner_texts() == ["latest", "best"]
    logged.locator("summary").click()
    link = logged.locator("a.artifact-file")
    assert link.inner_text() == "ckpt/model.ckpt"
    assert "s3://bucket/data.csv" in logged.locator(".artifact-files").inner_text()
    href = link.get_attribute("href")
    assert href == f"/-/artifacts/{user}/arts/model-a/v0/files/ckpt/model.ckpt"
    got = page.request.get(h.url + href)
    assert got.status == 200 and got.body() == b"\x00weights\xff" * 100
    page.context.clear_cookies()
    assert page.request.get(h.url + href).status == 404  # signed out: a private project's file looks missing
