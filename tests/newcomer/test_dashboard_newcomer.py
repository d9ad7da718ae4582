"""The dashboard's rough edges of a newcomer's first hour (issue 16, section 4), in headless Chromium:
the run page's Files (code and diff for members only), history rows and the last step, start and
end on one clock, a metric of one point drawn, summary floats rounded with the full value on hover,
one colour per run on the project and compare pages, compare's grid of every metric with a linked
cursor, a media-only run saying what it has, /favicon.ico on every page, and a home page with each
project's runs, last activity and the most recent runs. Runs are made by the real client (offline)
and uploaded by `evlog sync`, or posted as records where a test needs exact times."""
from __future__ import annotations

import io
import time
from pathlib import Path

import numpy as np
import pytest
import requests
from PIL import Image

from support.dashboard import metric_run, put_file, shot, sign_in
from support.server import T0, history, run_record, start_harness, uniq
from support.client import evlog_sync, sync_env

FULL = 0.9631715074213296


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("newcomer")
    h = start_harness(f"sqlite:///{tmp / 'newcomer.db'}", tmp)
    alice, akey = h.user("alice")
    bob, bkey = h.user("bob")
    yield {"h": h, "alice": alice, "akey": akey, "bob": bob, "bkey": bkey}
    h.proc.stop()
    h.close()


def synced(ev, run, site, tmp_path) -> None:
    out = evlog_sync(run.dir, env=sync_env(tmp_path, site["h"].url, site["akey"]))
    assert out.returncode == 0, out.stderr + out.stdout


def open_run(page, site, project: str, run_id: str, key=None) -> None:
    path = f"/{site['alice']}/{project}/runs/{run_id}"
    if key:
        sign_in(page, site["h"].url, key, path)
    else:
        page.goto(site["h"].url + path)
    page.wait_for_selector("#charts[data-ready='1']", state="attached")


def meta(page, label: str) -> str:
    return page.locator("#run-meta tr", has=page.locator(f"th:text-is('{label}')")).locator("td").inner_text()


# ------------------------------------------------------------------ Files
def test_the_run_page_lists_saved_files_with_sizes_and_download_links(ev, site, page, tmp_path):
    work = Path.cwd()
    weights = bytes(range(256)) * 8  # 2048 bytes
    (work / "out").mkdir()
    (work / "out" / "weights.bin").write_bytes(weights)
    (work / "out" / "notes.txt").write_text("hello from a saved file\n")
    run = ev.init(project="files", id="saver", mode="offline")
    run.log({"loss": 0.5})
    run.save(str(work / "out" / "*"))
    run.finish()
    synced(ev, run, site, tmp_path)

    open_run(page, site, "files", "saver", site["akey"])
    page.wait_for_selector("#files-section:not([hidden]) #files-table")
    rows = page.locator("#files-table tr")
    assert rows.evaluate_all("rs => rs.map(r => r.dataset.path)") == ["files/notes.txt", "files/weights.bin"]
    row = page.locator('#files-table tr[data-path="files/weights.bin"]')
    assert row.locator(".file-size").inner_text() == "2.0 KiB"
    assert row.locator(".file-size").get_attribute("title") == "2048 bytes"
    href = row.locator("a.file-link").get_attribute("href")
    assert href == f"/-/files/{site['alice']}/files/saver/files/weights.bin"
    assert row.locator("a.file-link").get_attribute("download") == "weights.bin"
    got = page.evaluate("async (u) => Array.from(new Uint8Array(await (await fetch(u)).arrayBuffer()))", href)
    assert bytes(got) == weights  # the link gives the file's bytes under the page's session
    shot(page, "newcomer-files")


def test_code_and_diff_files_are_listed_to_members_only(site, page):
    h, alice, akey = site["h"], site["alice"], site["akey"]
    proj = uniq("openfiles")
    h.upload(alice, proj, "c1", metric_run("c1", 5), akey)
    put_file(h, alice, proj, "c1", "code/train.py", b"print('secret code')\n", "code", akey)
    put_file(h, alice, proj, "c1", "diff.patch", b"+secret change\n", "diff", akey)
    put_file(h, alice, proj, "c1", "files/model.txt", b"weights", "other", akey)
    h.visibility(alice, proj, "open")
    listed = "rs => rs.map(r => r.dataset.path)"
    open_run(page, site, proj, "c1", akey)
    page.wait_for_selector("#files-table")
    assert page.locator("#files-table tr").evaluate_all(listed) == ["code/train.py", "diff.patch", "files/model.txt"]
    assert page.inner_text('#files-table tr[data-path="diff.patch"] .file-kind') == "diff"
    shot(page, "newcomer-files-member")
    for key in (site["bkey"], None):  # an outsider with a key, and nobody signed in
        page.context.clear_cookies()
        open_run(page, site, proj, "c1", key)
        page.wait_for_selector("#files-table")
        assert page.locator("#files-table tr").evaluate_all(listed) == ["files/model.txt"]
        assert "secret" not in page.content()
    shot(page, "newcomer-files-outsider")
    # and the dashboard JSON behind it says the same
    files = requests.get(f"{h.url}/-/api/runs/{alice}/{proj}/c1/files", timeout=30).json()["files"]
    assert [f["path"] for f in files] == ["files/model.txt"]


# ------------------------------------------------------------------ rows, steps and times
def test_history_rows_and_last_step_are_shown_for_what_they_are(site, page):
    h, alice, akey = site["h"], site["alice"], site["akey"]
    proj = uniq("steps")
    h.upload(alice, proj, "s600", metric_run("s600", 600), akey)
    open_run(page, site, proj, "s600", akey)
    assert meta(page, "history") == "600 rows"
    assert meta(page, "last step") == "599"
    assert page.locator("#run-meta th:text-is('steps')").count() == 0


def test_started_and_ended_come_in_order_on_one_clock_everywhere(site, page):
    """The run's clock may be far from the server's (here an hour ahead): the page shows the run's
    start and end (both its clock), in order, and the server's first upload only as a tooltip."""
    h, alice, akey = site["h"], site["alice"], site["akey"]
    proj = uniq("clock")
    ahead = time.time() + 3600
    recs = [run_record("clk", start_time=ahead), history(1, 0, {"loss": 1.0}),
            [2, "exit", ahead + 125, {"exit_code": 0, "runtime": 125.0, "interrupted": False, "error": None}]]
    h.upload(alice, proj, "clk", recs, akey)
    open_run(page, site, proj, "clk", akey)
    labels = page.locator("#run-meta th").all_inner_texts()
    assert "created" not in labels and labels.index("started") < labels.index("ended")
    started = page.get_attribute("#run-started time", "data-t")
    ended = page.get_attribute("#run-ended time", "data-t")
    assert float(started) == pytest.approx(ahead) and float(ended) == pytest.approx(ahead + 125)
    assert meta(page, "started") < meta(page, "ended")  # "YYYY-MM-DD HH:MM:SS" sorts as time
    created = h.run(alice, proj, "clk", akey).json()["created_at"]
    tip = page.get_attribute("#run-started", "title")
    assert "first upload" in tip and time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(created)) in tip
    shown_on_run_page = meta(page, "started")
    page.goto(f"{h.url}/{alice}/{proj}")
    page.wait_for_selector('#runs-table tr[data-run="clk"]')
    assert page.inner_text("#runs-table th[data-sort='started_at']").startswith("started")
    assert page.inner_text('#runs-table tr[data-run="clk"] td[data-col="started_at"]') == shown_on_run_page


# ------------------------------------------------------------------ charts
def color_pixels(page, selector: str, hex_color: str) -> int:
    """Pixels of the chart's canvas within a small distance of `hex_color` (lines and dots)."""
    return page.evaluate("""([sel, hex]) => {
      const c = document.querySelector(sel + ' canvas');
      const rgb = [1, 3, 5].map((i) => parseInt(hex.slice(i, i + 2), 16));
      const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
      let n = 0;
      for (let i = 0; i < d.length; i += 4) {
        if (d[i + 3] > 200 && Math.abs(d[i] - rgb[0]) + Math.abs(d[i + 1] - rgb[1]) + Math.abs(d[i + 2] - rgb[2]) < 60) n++;
      }
      return n;
    }""", [selector, hex_color])


def test_a_metric_of_one_point_draws_its_point(site, page):
    h, alice, akey = site["h"], site["alice"], site["akey"]
    proj = uniq("lonely")
    recs = [run_record("one")] + [history(1 + i, i, {"loss": 1.0 / (i + 1)}) for i in range(10)]
    recs.append(history(len(recs), 10, {"loss": 0.05, "final_acc": 0.87}))
    h.upload(alice, proj, "one", recs, akey)
    open_run(page, site, proj, "one", akey)
    chart = '.chart[data-metric="final_acc"]'
    assert page.get_attribute(chart, "data-points") == "1"
    color = page.evaluate("EV.runColor(EV.data())")
    assert color_pixels(page, chart, color) > 20  # the dot, in the run's colour
    assert color_pixels(page, '.chart[data-metric="loss"]', color) > 20
    shot(page, "newcomer-one-point")


def test_summary_floats_are_rounded_with_the_full_value_on_hover(site, page):
    h, alice, akey = site["h"], site["alice"], site["akey"]
    proj = uniq("rounding")
    for rid in ("r1", "r2"):
        recs = [run_record(rid), history(1, 0, {"acc": FULL, "eval": {"f1": 0.123456789}, "epochs": 3})]
        h.upload(alice, proj, rid, recs, akey)
    open_run(page, site, proj, "r1", akey)
    cell = page.locator("#summary-table tr", has=page.locator("th:text-is('acc')")).locator("code")
    assert cell.inner_text() == "0.963172" and cell.get_attribute("title") == str(FULL)
    nested = page.locator("#summary-table tr", has=page.locator("th:text-is('eval')")).locator("code")
    assert nested.inner_text() == '{"f1": 0.123457}' and "0.123456789" in nested.get_attribute("title")
    whole = page.locator("#summary-table tr", has=page.locator("th:text-is('epochs')")).locator("code")
    assert whole.inner_text() == "3" and whole.get_attribute("title") is None
    shot(page, "newcomer-summary")
    page.goto(f"{h.url}/{alice}/{proj}")
    td = page.locator('#runs-table tr[data-run="r1"] td[data-col="summary.acc"]')
    assert td.inner_text() == "0.963172" and td.get_attribute("title") == str(FULL)
    page.goto(f"{h.url}/{alice}/{proj}/compare?runs=r1,r2")
    row = page.locator("#compare-table tr", has=page.locator("th:text-is('summary.acc')"))
    assert row.locator("code").all_inner_texts() == ["0.963172", "0.963172"]
    assert row.locator("code").first.get_attribute("title") == str(FULL)


LEGEND = """(sel) => Array.from(document.querySelectorAll(sel + ' .u-legend .u-series')).slice(1).map((s) => [
  s.querySelector('.u-label').textContent, getComputedStyle(s.querySelector('.u-marker')).borderColor])"""


def test_each_run_has_one_colour_on_the_project_and_compare_pages(site, page):
    h, alice, akey = site["h"], site["alice"], site["akey"]
    proj = uniq("colours")
    for rid in ("c-a", "c-b", "c-c"):  # only_a: a metric of the first run alone, the one line of its chart
        extra = {"only_a": lambda i: float(i)} if rid == "c-a" else None
        h.upload(alice, proj, rid, metric_run(rid, 20, name=f"{rid}-name", metrics=extra), akey)
    sign_in(page, h.url, akey, f"/{alice}/{proj}")
    page.wait_for_selector('#project-charts .chart[data-metric="loss"][data-lines="3"]')
    project = dict(page.evaluate(LEGEND, '#project-charts .chart[data-metric="loss"]'))
    assert len(set(project.values())) == 3  # three runs, three colours
    assert dict(page.evaluate(LEGEND, '#project-charts .chart[data-metric="only_a"]')) == {
        "c-a-name": project["c-a-name"]}
    swatches = {page.inner_text(f'#runs-table tr[data-run="{r}"] a.run-link'):
                page.eval_on_selector(f'#runs-table tr[data-run="{r}"] .swatch', "n => getComputedStyle(n).backgroundColor")
                for r in ("c-a", "c-b", "c-c")}
    assert swatches == project
    shot(page, "newcomer-colours-project")
    # compare the last two in another order: each keeps its colour (not the first palette colours)
    page.goto(f"{h.url}/{alice}/{proj}/compare?runs=c-c,c-b")
    page.wait_for_selector("#compare-chart[data-ready='1'] .chart")
    compare = dict(page.evaluate(LEGEND, "#compare-chart .chart"))
    assert compare == {"c-c-name": project["c-c-name"], "c-b-name": project["c-b-name"]}
    for metric in ("acc", "loss"):
        assert dict(page.evaluate(LEGEND, f'#compare-grid .chart[data-metric="{metric}"]')) == compare
    page.goto(f"{h.url}/{alice}/{proj}/runs/c-b")
    page.wait_for_selector("#charts[data-ready='1']")
    run_swatch = page.eval_on_selector(".run-head .swatch", "n => getComputedStyle(n).backgroundColor")
    assert run_swatch == project["c-b-name"]
    assert dict(page.evaluate(LEGEND, '.chart[data-metric="loss"]')) == {"loss": project["c-b-name"]}


def test_compare_shows_every_metric_in_a_grid_with_a_linked_cursor(site, page):
    h, alice, akey = site["h"], site["alice"], site["akey"]
    proj = uniq("grid")
    h.upload(alice, proj, "g1", metric_run("g1", 50, metrics={"lr": lambda i: 0.1 * 0.9 ** i}), akey)
    h.upload(alice, proj, "g2", metric_run("g2", 40), akey)
    sign_in(page, h.url, akey, f"/{alice}/{proj}/compare?runs=g1,g2")
    page.wait_for_selector("#compare-chart[data-ready='1'] .chart")
    grid = page.locator("#compare-grid .chart")
    assert grid.evaluate_all("cs => cs.map(c => c.dataset.metric)") == ["acc", "loss", "lr"]
    assert page.get_attribute('#compare-grid .chart[data-metric="lr"]', "data-lines") == "1"
    assert page.get_attribute('#compare-grid .chart[data-metric="loss"]', "data-lines") == "2"
    # the picker is kept: it chooses the large chart
    assert page.get_attribute("#compare-chart .chart", "data-metric") == "loss"
    page.select_option("#compare-metric", "lr")
    page.wait_for_selector('#compare-chart .chart[data-metric="lr"]')
    assert page.get_attribute('#compare-grid .chart.picked', "data-metric") == "lr"
    # hovering one chart moves the cursor on all of them, to the same step
    plot = page.locator('#compare-grid .chart[data-metric="acc"] .u-over')
    box = plot.bounding_box()
    page.mouse.move(box["x"] + box["width"] * 0.5, box["y"] + box["height"] * 0.5)
    x_of = "(sel) => document.querySelector(sel + ' .u-legend .u-series .u-value').textContent"
    hovered = page.evaluate(x_of, '#compare-grid .chart[data-metric="acc"]')
    assert hovered not in ("", "--") and 10 <= float(hovered) <= 40
    for sel in ('#compare-grid .chart[data-metric="loss"]', '#compare-grid .chart[data-metric="lr"]',
                "#compare-chart .chart"):
        assert page.evaluate(x_of, sel) == hovered, sel
        assert "u-off" not in page.get_attribute(sel + " .u-cursor-x", "class")
    shot(page, "newcomer-compare-grid")


# ------------------------------------------------------------------ a run with media only
def test_a_finished_run_with_only_media_says_what_it_has(ev, site, page, tmp_path):
    (Path.cwd() / "report.txt").write_text("a report")
    run = ev.init(project="mediaonly", id="pics", mode="offline")
    rs = np.random.RandomState(1)
    for _ in range(2):
        run.log({"sample": ev.Image(rs.randint(0, 256, (8, 8, 3), dtype=np.uint8))})
    run.save(str(Path.cwd() / "report.txt"))
    run.finish()
    synced(ev, run, site, tmp_path)
    open_run(page, site, "mediaonly", "pics", site["akey"])
    page.wait_for_function("document.getElementById('chart-status').dataset.has === 'media,files'")
    status = page.inner_text("#chart-status")
    assert status == "no metrics logged; this run has media, files (below)"
    assert "yet" not in status
    shot(page, "newcomer-media-only")


# ------------------------------------------------------------------ favicon
def test_every_page_has_a_favicon_and_no_request_fails(site, page):
    h, alice, akey = site["h"], site["alice"], site["akey"]
    proj = uniq("icon")
    for rid in ("i1", "i2"):
        h.upload(alice, proj, rid, metric_run(rid, 5), akey)
    failed = []
    page.on("response", lambda r: failed.append((r.status, r.url)) if r.status >= 400 else None)
    sign_in(page, h.url, akey, "/")
    for path in ("/", f"/{alice}", f"/{alice}/{proj}", f"/{alice}/{proj}/runs/i1",
                 f"/{alice}/{proj}/compare?runs=i1,i2", "/-/login"):
        page.goto(h.url + path)
        page.wait_for_load_state("networkidle")
        href = page.get_attribute('link[rel="icon"]', "href")
        got = page.evaluate("async (u) => { const r = await fetch(u); return [r.status, r.headers.get('content-type'),"
                            " Array.from(new Uint8Array(await r.arrayBuffer()))]; }", href)
        assert href == "/favicon.ico" and got[0] == 200 and got[1] == "image/x-icon", path
        icon = Image.open(io.BytesIO(bytes(got[2])))
        assert icon.format == "ICO" and (32, 32) in icon.info["sizes"]
    assert failed == []
    assert requests.get(h.url + "/favicon.ico", timeout=30).status_code == 200  # without a session too


# ------------------------------------------------------------------ home
def test_the_home_page_shows_run_counts_last_activity_and_the_latest_runs(site, page):
    h, alice, akey, bob = site["h"], site["alice"], site["akey"], site["bob"]
    busy, quiet = uniq("busy"), uniq("quiet")
    h.upload(alice, quiet, "q1", metric_run("q1", 3, name="quiet run"), akey)
    for rid in ("b1", "b2", "b3"):
        h.upload(alice, busy, rid, metric_run(rid, 3, name=f"busy {rid}"), akey)
    h.upload(alice, busy, "b4", metric_run("b4", 2, exit_code=None, name="latest run"), akey)
    sign_in(page, h.url, akey, "/")
    row = page.locator(f'tr[data-project="{alice}/{busy}"]')
    assert row.locator(".project-runs").inner_text() == "4"
    assert page.locator(f'tr[data-project="{alice}/{quiet}"] .project-runs').inner_text() == "1"
    last = h.run(alice, busy, "b4", akey).json()["updated_at"]
    assert float(row.locator(".project-activity time").get_attribute("data-t")) == pytest.approx(last)
    recent = page.locator("#recent-runs tbody tr")
    assert recent.first.get_attribute("data-run") == "b4"
    assert recent.first.locator("a.run-link").inner_text() == "latest run"
    assert recent.first.locator(".state").inner_text() == "running"
    assert recent.evaluate_all("rs => rs.map(r => r.dataset.run)")[:5] == ["b4", "b3", "b2", "b1", "q1"]
    page.click("#recent-runs a.run-link >> nth=0")
    page.wait_for_selector("#charts[data-ready='1']")
    assert page.inner_text("#run-name") == "latest run"
    page.goto(h.url + "/")
    shot(page, "newcomer-home")
    # bob sees none of alice's private projects nor their runs
    page.context.clear_cookies()
    sign_in(page, h.url, site["bkey"], "/")
    assert busy not in page.content() and "latest run" not in page.content()
    assert page.locator(f'tr[data-project="{bob}/{busy}"]').count() == 0


def test_the_palette_is_the_same_in_the_page_scripts_the_server_pages_and_the_spec():
    import re

    from eventlog.server.web import pages

    root = Path(__file__).resolve().parents[2]
    js = (root / "server" / "web" / "static" / "evlog.js").read_text()
    scripts = re.findall(r'"(#[0-9a-f]{6})"', js[js.index("const COLORS"):js.index("EV.color =")])
    spec = (root / "spec" / "protocol.md").read_text()
    listed = re.search(r"the palette ((?:`?#[0-9a-f]{6}`?\s*)+)", spec).group(1)
    assert scripts == pages.SWATCHES == re.findall(r"#[0-9a-f]{6}", listed) and len(scripts) == 10
