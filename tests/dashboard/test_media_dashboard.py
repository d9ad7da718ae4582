"""Media in the dashboard (issue 8, part 1): the run page lists every media key with a step slider,
images and videos load from the run's files under the session, histograms are drawn; the JSON and
the files the page reads follow the dashboard's permissions (a run one may not read is not found)."""
from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import pytest

from support.run import of_type, records
from support.client import evlog_sync, sync_env


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


# ------------------------------------------------------------------ browser
# the solid colour of image j of the gallery logged at step i (the training script's and the test's)
GALLERY_RGB_SRC = "(20 + 90 * j, 100 * i, 255 - 70 * j)"


def gallery_rgb(i: int, j: int) -> list:
    return list(eval(GALLERY_RGB_SRC, {}, {"i": i, "j": j}))


def pixel(locator):
    """The red, green, blue of an image's top-left pixel, as the browser decoded it."""
    return locator.evaluate("im => { const c = document.createElement('canvas'); c.width = im.naturalWidth;"
                            " c.height = im.naturalHeight; const x = c.getContext('2d'); x.drawImage(im, 0, 0);"
                            " return Array.from(x.getImageData(0, 0, 1, 1).data.slice(0, 3)); }")


@pytest.fixture(scope="module")
def media_site(tmp_path_factory):
    """A SQLite server with one run that logged images, histograms and videos (gif and mp4)."""
    import os

    from support.server import start_harness

    tmp = tmp_path_factory.mktemp("media-site")
    h = start_harness(f"sqlite:///{tmp / 'media.db'}", tmp)
    user, key = h.user("alice")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("EVLOG_", "WANDB_"))}
    script = tmp / "train.py"
    script.write_text(
        "import numpy as np\nimport eventlog\n"
        "run = eventlog.init(project='pics', id='browser-media')\n"
        "rs = np.random.RandomState(5)\n"
        f"GALLERY_RGB = lambda i, j: {GALLERY_RGB_SRC}\n"
        "for i in range(3):\n"
        "    img = np.zeros((12, 16, 3), np.uint8); img[:, :, i] = 255\n"
        "    run.log({'sample': eventlog.Image(img, caption=f'pic {i}'),\n"
        "             'weights': eventlog.Histogram(rs.randn(200) * (i + 1), num_bins=12),\n"
        "             'gallery': [eventlog.Image(np.full((8, 10, 3), GALLERY_RGB(i, j), np.uint8),\n"
        "                                        caption=f'g{i}-{j}') for j in range(3)]})\n"
        "run.log({'gif': eventlog.Video(rs.rand(4, 3, 10, 10), fps=4),\n"
        "         'mp4': eventlog.Video(rs.rand(6, 3, 32, 48), fps=6, format='mp4')})\n"
        "t = eventlog.Table(columns=['n', 'text', 'score'])\n"
        "for n in range(250):\n"
        "    t.add_data(n, '<script>alert(1)</script>' if n == 1 else f'row {n}', n / 4)\n"
        "run.log({'preds': t})\n"
        "run.finish()\n")
    import subprocess
    import sys

    env.update(EVLOG_MODE="offline", EVLOG_SINKS="none", EVLOG_SILENT="true", EVLOG_DISABLE_GIT="true",
               EVLOG_CONFIG_DIR=str(tmp / "cfg"), HOME=str(tmp))
    subprocess.run([sys.executable, str(script)], cwd=tmp, env=env, check=True, timeout=120)
    (folder,) = [p for p in (tmp / "evlog").iterdir() if p.name.startswith("run-")]
    out = evlog_sync(str(folder), env=sync_env(tmp, h.url, key))
    assert out.returncode == 0, out.stderr
    yield {"h": h, "user": user, "key": key, "folder": folder}
    h.proc.stop()
    h.close()


def test_the_run_page_shows_images_with_a_step_slider_histograms_and_videos(media_site, page):
    from support.dashboard import shot, sign_in

    h, user = media_site["h"], media_site["user"]
    sign_in(page, h.url, media_site["key"], f"/{user}/pics/runs/browser-media")
    page.wait_for_selector("#media[data-ready='1']")
    keys = page.locator(".media-panel").evaluate_all("els => els.map(e => e.dataset.key)")
    assert keys == ["gallery", "gif", "mp4", "preds", "sample", "weights"]
    sample = page.locator('.media-panel[data-key="sample"]')
    img = sample.locator("img")
    page.wait_for_function("document.querySelector('.media-panel[data-key=\"sample\"] img').naturalWidth === 16")
    assert sample.locator(".media-step-label").inner_text() == "step 2 (3/3)"  # the last step first
    assert sample.locator(".media-caption").inner_text() == "pic 2"

    def pixel(locator):  # the red, green, blue of the image's top-left pixel, as the browser decoded it
        return locator.evaluate("im => { const c = document.createElement('canvas'); c.width = im.naturalWidth;"
                                " c.height = im.naturalHeight; const x = c.getContext('2d'); x.drawImage(im, 0, 0);"
                                " return Array.from(x.getImageData(0, 0, 1, 1).data.slice(0, 3)); }")

    assert pixel(img) == [0, 0, 255]
    sample.locator("input.media-step").evaluate("s => { s.value = '0'; s.dispatchEvent(new Event('input')); }")
    page.wait_for_function("document.querySelector('.media-panel[data-key=\"sample\"] .media-caption')"
                           ".textContent === 'pic 0'")
    page.wait_for_function("(() => { const im = document.querySelector('.media-panel[data-key=\"sample\"] img');"
                           " return im.complete && im.naturalWidth === 16; })()")
    assert sample.locator(".media-step-label").inner_text() == "step 0 (1/3)"
    assert pixel(img) == [255, 0, 0]
    # the histogram: bars drawn on its canvas, for the chosen step
    painted = page.locator('.media-panel[data-key="weights"] canvas').evaluate(
        "c => { const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data; let n = 0;"
        " for (let i = 3; i < d.length; i += 4) if (d[i] > 0) n++; return n; }")
    assert painted > 500
    # videos: the GIF as an image, the mp4 in a <video> the browser can play
    page.wait_for_function("document.querySelector('.media-panel[data-key=\"gif\"] img').naturalWidth === 10")
    assert page.locator('.media-panel[data-key="mp4"] video').count() == 1
    page.wait_for_function("document.querySelector('.media-panel[data-key=\"mp4\"] video').readyState >= 1",
                           timeout=15_000)
    assert page.locator('.media-panel[data-key="mp4"] video').evaluate("v => v.videoWidth") == 48
    summary = page.inner_text("#summary-table")
    assert "image 16x12 png" in summary and "histogram, 12 bins" in summary and "video 48x32 mp4" in summary
    assert "sha256" not in summary
    shot(page, "run-media")


def test_a_step_that_logged_a_list_of_images_shows_as_a_gallery(media_site, page):
    from support.dashboard import shot, sign_in

    h, user = media_site["h"], media_site["user"]
    sign_in(page, h.url, media_site["key"], f"/{user}/pics/runs/browser-media")
    page.wait_for_selector("#media[data-ready='1']")
    gallery = page.locator('.media-panel[data-key="gallery"]')
    imgs = gallery.locator(".media-gallery img")
    loaded = ("(() => { const ims = document.querySelectorAll('.media-panel[data-key=\"gallery\"] .media-gallery img');"
              " return ims.length === 3 && Array.from(ims).every(im => im.complete && im.naturalWidth === 10); })()")
    page.wait_for_function(loaded)
    # the last step first: its three images side by side, each with its own caption (as text), in order
    assert gallery.locator(".media-step-label").inner_text() == "step 2 (3/3)"
    assert gallery.locator(".media-gallery .media-caption").all_inner_texts() == ["g2-0", "g2-1", "g2-2"]
    assert imgs.evaluate_all("els => els.map(e => e.alt)") == [
        "gallery [0] at step 2", "gallery [1] at step 2", "gallery [2] at step 2"]
    assert [pixel(imgs.nth(j)) for j in range(3)] == [gallery_rgb(2, j) for j in range(3)]
    boxes = [imgs.nth(j).bounding_box() for j in range(3)]
    assert boxes[0]["y"] == boxes[1]["y"] == boxes[2]["y"] and boxes[0]["x"] < boxes[1]["x"] < boxes[2]["x"]
    assert gallery.locator(".media-caption").count() == 3  # no single-value caption besides
    # the step slider: step 0's gallery
    gallery.locator("input.media-step").evaluate("s => { s.value = '0'; s.dispatchEvent(new Event('input')); }")
    page.wait_for_function("document.querySelector('.media-panel[data-key=\"gallery\"] .media-caption')"
                           ".textContent === 'g0-0'")
    page.wait_for_function(loaded)
    assert gallery.locator(".media-step-label").inner_text() == "step 0 (1/3)"
    assert gallery.locator(".media-gallery .media-caption").all_inner_texts() == ["g0-0", "g0-1", "g0-2"]
    assert pixel(imgs.nth(0)) == gallery_rgb(0, 0) != gallery_rgb(2, 0)
    assert pixel(imgs.nth(2)) == gallery_rgb(0, 2)
    assert imgs.nth(0).get_attribute("alt") == "gallery [0] at step 0"
    # the summary table describes the list
    row = page.locator("#summary-table tr", has_text="gallery")
    assert " ".join(row.inner_text().split()) == "gallery 3 x image 10x8 png"
    shot(page, "run-media-gallery")


def test_a_logged_table_is_shown_as_text_rows(media_site, page):
    from support.dashboard import shot, sign_in

    h, user = media_site["h"], media_site["user"]
    sign_in(page, h.url, media_site["key"], f"/{user}/pics/runs/browser-media")
    page.wait_for_selector('.media-panel[data-key="preds"] .media-table[data-rows="200"]')
    panel = page.locator('.media-panel[data-key="preds"]')
    assert panel.locator("thead th").all_inner_texts() == ["n", "text", "score"]
    rows = panel.locator("tbody tr")
    assert rows.count() == 200 and "showing the first 200 of 250 rows" in panel.inner_text()
    assert rows.nth(1).locator("td").all_inner_texts() == ["1", "<script>alert(1)</script>", "0.25"]
    assert page.locator('.media-panel[data-key="preds"] tbody script').count() == 0  # text, never markup
    assert rows.nth(199).locator("td").first.inner_text() == "199"  # the first 200 rows, in order
    assert "table, 250 rows x 3 columns" in page.inner_text("#summary-table")
    panel.scroll_into_view_if_needed()
    shot(page, "run-media-table")
