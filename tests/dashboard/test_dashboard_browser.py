"""The dashboard in a real browser (headless Debian Chromium driven by Playwright): sign in, open
a project and a run, charts with the right number of points, rename, compare, live updates, the
table's sort/filter/group, chart controls, and user strings shown as text. Screenshots of the main
pages are kept in tests/artifacts/."""
from __future__ import annotations

from support.dashboard import CODE_A, metric_run, shot, sign_in
from support.server import history, uniq

XSS_NAME = '<script>window.__xss=1</script><img src=x onerror="window.__xss=2">'
LIVE_WAIT = 15_000  # ms: only guards against hangs; the page polls every second


def chart_points(page, metric: str) -> int:
    return int(page.get_attribute(f'.chart[data-metric="{metric}"]', "data-points"))


def test_sign_in_open_a_project_and_a_run_and_see_its_charts(site, page):
    url, alice, proj = site["h"].url, site["alice"], site["proj"]
    page.goto(url + "/")
    shot(page, "home-signed-out")
    page.click("#signin-link")
    page.fill("#api_key", site["akey"])
    shot(page, "sign-in")
    page.click("#login-submit")
    page.wait_for_load_state()
    assert page.inner_text(".who") == f"signed in as {alice}"
    shot(page, "home")
    page.click(f'a[href="/{alice}/{proj}"]')
    page.wait_for_selector("#runs-table tbody tr")
    names = page.locator("#runs-table a.run-link").all_inner_texts()
    assert sorted(names) == ["run-a-name", "run-b-name"]
    row = page.locator('#runs-table tr[data-run="run-a"]')
    assert row.locator('td[data-col="state"]').inner_text() == "finished"
    assert row.locator('td[data-col="user"]').inner_text() == alice
    assert row.locator('td[data-col="group"]').inner_text() == "sweep-1"
    assert row.locator('td[data-col="config.lr"]').inner_text() == "0.01"
    assert row.locator('td[data-col="summary.loss"]').inner_text() == str(round(1 / 120, 8))
    # the project's charts: each metric of the runs shown, one line per run
    page.wait_for_selector('#project-charts .chart[data-metric="loss"]')
    assert page.get_attribute('#project-charts .chart[data-metric="loss"]', "data-lines") == "2"
    assert page.get_attribute('#project-charts .chart[data-metric="loss"]', "data-points") == "120"
    page.select_option("#filter-tag", "lr")
    page.wait_for_function("document.querySelector('#project-charts .chart[data-metric=\"loss\"]').dataset.lines === '1'")
    page.select_option("#filter-tag", "")
    page.wait_for_function("document.querySelector('#project-charts .chart[data-metric=\"loss\"]').dataset.lines === '2'")
    shot(page, "project")
    page.click("text=run-a-name")
    page.wait_for_selector("#charts[data-ready='1']")
    assert page.inner_text("#run-name") == "run-a-name"
    assert sorted(page.locator(".chart").evaluate_all("els => els.map(e => e.dataset.metric)")) == ["acc", "loss"]
    assert chart_points(page, "loss") == 120 and chart_points(page, "acc") == 120
    assert page.locator('.chart[data-metric="loss"] canvas').count() == 1
    # run details a member sees: git (linked), diff, saved code, command line
    assert page.inner_text("#git-commit") == "0123abcd"
    assert page.get_attribute("#git-commit", "href") == "https://example.com/r/commit/0123abcd"
    assert page.get_attribute("#git-remote", "href") == "https://example.com/r"
    assert "+lr = 0.01" in page.inner_text("#git-diff")
    assert page.inner_text("#code-text").strip() == CODE_A.strip()
    assert page.inner_text("#run-command") == "train.py --secret-flag"
    shot(page, "run")


def test_renaming_a_run_is_kept_after_a_reload_and_shown_in_the_table(site, page):
    h, alice, proj = site["h"], site["alice"], site["proj"]
    sign_in(page, h.url, site["akey"], f"/{alice}/{proj}/runs/run-b")
    page.wait_for_selector("#charts[data-ready='1']")
    page.click("#edit-button")
    page.fill("#edit-name", "better <b>name</b>")
    page.fill("#edit-tags", "lr, tuned")
    page.fill("#edit-notes", "second try\nwith a lower lr")
    page.click("#edit-save")
    page.wait_for_function("document.getElementById('edit-status').textContent === 'saved'")
    assert page.inner_text("#run-name") == "better <b>name</b>"
    page.reload()
    assert page.inner_text("#run-name") == "better <b>name</b>"
    assert page.locator("#run-tags .tag").all_inner_texts() == ["lr", "tuned"]
    assert page.inner_text("#run-notes") == "second try\nwith a lower lr"
    page.goto(f"{h.url}/{alice}/{proj}")
    page.wait_for_selector('#runs-table tr[data-run="run-b"]')
    assert page.inner_text('#runs-table tr[data-run="run-b"] a.run-link') == "better <b>name</b>"
    assert h.run(alice, proj, "run-b", site["akey"]).json()["name"] == "better <b>name</b>"
    h.http.patch(f"{h.url}/api/v1/runs/{alice}/{proj}/run-b", json={"name": "run-b-name", "tags": ["lr"]},
                 headers=h.headers(site["akey"]))


def test_compare_two_runs_overlays_a_metric_and_diffs_their_code(site, page):
    h, alice, proj = site["h"], site["alice"], site["proj"]
    sign_in(page, h.url, site["akey"], f"/{alice}/{proj}")
    page.wait_for_selector("#runs-table tbody tr")
    assert page.is_disabled("#compare-button")
    page.check('#runs-table tr[data-run="run-a"] input.pick')
    page.check('#runs-table tr[data-run="run-b"] input.pick')
    page.click("#compare-button")
    page.wait_for_selector("#compare-chart[data-ready='1'] .chart")
    assert page.get_attribute("#compare-chart .chart", "data-lines") == "2"
    assert page.get_attribute("#compare-chart .chart", "data-metric") == "loss"
    assert int(page.get_attribute("#compare-chart .chart", "data-points")) == 120  # steps 0..119 of both, joined
    page.select_option("#compare-metric", "acc")
    page.wait_for_selector('#compare-chart .chart[data-metric="acc"]')
    assert page.inner_text("#diff-summary") == "1 line(s) differ"
    assert "lr = 0.01" in page.inner_text("#code-diff td.del") and "lr = 0.02" in page.inner_text("#code-diff td.add")
    assert page.locator("#compare-table tr.differs th").all_inner_texts() == ["config.lr", "summary.acc", "summary.loss"]
    shot(page, "compare")


def test_a_script_in_a_run_name_notes_tags_and_config_is_shown_as_text(site, page):
    h, alice, akey = site["h"], site["alice"], site["akey"]
    proj = uniq("xss")
    h.upload(alice, proj, "evil", metric_run("evil", 5, name=XSS_NAME, notes=XSS_NAME, tags=[XSS_NAME],
                                              group=XSS_NAME, config={XSS_NAME: XSS_NAME}), akey)
    sign_in(page, h.url, akey, f"/{alice}/{proj}")
    page.wait_for_selector("#runs-table tbody tr")
    page.check("#group-rows")
    assert page.inner_text("#runs-table a.run-link") == XSS_NAME
    assert XSS_NAME in page.inner_text("#runs-table tr.group-row")
    page.click("#columns summary")
    assert page.locator("#column-choices label").filter(has_text=XSS_NAME).count() == 1
    page.click("#runs-table a.run-link")
    page.wait_for_selector("#charts[data-ready='1']")
    assert page.inner_text("#run-name") == XSS_NAME
    assert page.inner_text("#run-notes") == XSS_NAME
    assert page.locator("#run-tags .tag").all_inner_texts() == [XSS_NAME]
    assert XSS_NAME in page.inner_text("#config-table")
    assert page.title() == f"{XSS_NAME} - evlog"
    page.wait_for_timeout(300)  # let an onerror handler run, if one were ever attached
    assert page.evaluate("window.__xss") is None
    assert page.locator("#run-name img, #run-name script, #run-notes img").count() == 0
    shot(page, "run-with-html-in-strings")


def test_a_running_runs_chart_and_table_row_update_without_a_reload(site, page, browser):
    h, alice, akey = site["h"], site["alice"], site["akey"]
    proj = uniq("live")
    recs = metric_run("live-1", 40, exit_code=None, name="live run")
    h.upload(alice, proj, "live-1", recs[:12], akey)  # run + config + 10 steps
    sign_in(page, h.url, akey, f"/{alice}/{proj}/runs/live-1")
    page.wait_for_selector("#charts[data-ready='1']")
    assert chart_points(page, "loss") == 10 and page.inner_text("#run-state") == "running"
    table = browser.new_page()
    table.goto(f"{h.url}/{alice}/{proj}")
    table.wait_for_selector('#runs-table tr[data-run="live-1"]')
    assert table.inner_text('#runs-table tr[data-run="live-1"] td[data-col="state"]') == "running"

    h.upload(alice, proj, "live-1", recs[:27], akey)  # 15 more steps
    page.wait_for_function("document.querySelector('.chart[data-metric=\"loss\"]').dataset.points === '25'",
                           timeout=LIVE_WAIT)
    assert page.inner_text("#run-steps") == "24"
    table.wait_for_function(
        "document.querySelector('#runs-table tr[data-run=\"live-1\"] td[data-col=\"summary.loss\"]')"
        f".textContent === '{round(1 / 25, 8)}'", timeout=LIVE_WAIT)

    n = len(recs)
    h.upload(alice, proj, "live-1", recs + [[n, "exit", 0.0, {"exit_code": 0, "runtime": 3.0}]], akey)
    page.wait_for_function("document.getElementById('run-state').textContent === 'finished'", timeout=LIVE_WAIT)
    page.wait_for_function("document.querySelector('.chart[data-metric=\"loss\"]').dataset.points === '40'",
                           timeout=LIVE_WAIT)
    table.wait_for_function(
        "document.querySelector('#runs-table tr[data-run=\"live-1\"] td[data-col=\"state\"]').textContent === 'finished'",
        timeout=LIVE_WAIT)
    # a new run appears in the table by itself
    h.upload(alice, proj, "live-2", metric_run("live-2", 3, exit_code=None, name="second live run"), akey)
    table.wait_for_selector('#runs-table tr[data-run="live-2"]', timeout=LIVE_WAIT)
    shot(table, "project-live")
    table.close()


def test_the_runs_table_sorts_filters_and_groups(site, page):
    h, alice, akey = site["h"], site["alice"], site["akey"]
    proj = uniq("table")
    specs = [("t1", "alpha", "g1", ["x"], 0, 0.3), ("t2", "bravo", "g2", ["y"], 1, 0.1),
             ("t3", "charlie", "g1", ["x", "y"], None, 0.4), ("t4", "delta", None, [], 0, 0.2)]
    for rid, name, group, tags, code, lr in specs:
        h.upload(alice, proj, rid, metric_run(rid, 5 + len(name), exit_code=code, name=name, group=group, tags=tags,
                                              config={"lr": lr}), akey)
    sign_in(page, h.url, akey, f"/{alice}/{proj}")
    page.wait_for_selector("#runs-table tbody tr")

    def names():
        return page.locator("#runs-table a.run-link").all_inner_texts()
    assert sorted(names()) == ["alpha", "bravo", "charlie", "delta"]
    page.click('#runs-table th[data-sort="name"]')
    assert names() == ["alpha", "bravo", "charlie", "delta"]
    page.click('#runs-table th[data-sort="name"]')
    assert names() == ["delta", "charlie", "bravo", "alpha"]
    page.click('#runs-table th[data-sort="config.lr"]')
    assert names() == ["bravo", "delta", "alpha", "charlie"]
    page.select_option("#filter-state", "failed")
    assert names() == ["bravo"]
    page.select_option("#filter-state", "")
    page.select_option("#filter-tag", "x")
    assert sorted(names()) == ["alpha", "charlie"]
    page.select_option("#filter-tag", "")
    page.select_option("#filter-group", "g1")
    assert sorted(names()) == ["alpha", "charlie"]
    page.select_option("#filter-group", "")
    page.fill("#filter-text", "arl")
    assert names() == ["charlie"]
    page.fill("#filter-text", "")
    page.check("#group-rows")
    groups = page.locator("#runs-table tr.group-row").evaluate_all("els => els.map(e => e.dataset.group)")
    assert groups == ["", "g1", "g2"]
    assert names() == ["delta", "alpha", "charlie", "bravo"]
    # a chosen summary column, kept for the next visit
    page.click("#columns summary")
    page.uncheck('#column-choices input[data-col="config.lr"]')
    assert page.locator('#runs-table th[data-sort="config.lr"]').count() == 0
    page.reload()
    page.wait_for_selector("#runs-table tbody tr")
    assert page.locator('#runs-table th[data-sort="config.lr"]').count() == 0
    assert page.locator('#runs-table th[data-sort="summary.loss"]').count() == 1
    shot(page, "project-grouped")


def test_chart_controls_log_scale_smoothing_and_hover_values(site, page):
    h, alice, proj = site["h"], site["alice"], site["proj"]
    sign_in(page, h.url, site["akey"], f"/{alice}/{proj}/runs/run-a")
    page.wait_for_selector("#charts[data-ready='1']")
    chart = 'Array.from(EV.Chart.all).find(c => c.title === "loss")'
    assert page.evaluate(f"{chart}.plot.scales.y.distr") == 1
    page.check("#log-scale")
    assert page.evaluate(f"{chart}.plot.scales.y.distr") == 3
    assert chart_points(page, "loss") == 120
    page.uncheck("#log-scale")
    assert page.evaluate(f"{chart}.plot.series.length") == 2
    page.fill("#smoothing", "0.9")
    page.dispatch_event("#smoothing", "input")
    assert page.evaluate(f"{chart}.plot.series.length") == 3  # x, raw (faint), smoothed
    raw, smooth = page.evaluate(f"[{chart}.plot.data[1][60], {chart}.plot.data[2][60]]")
    assert raw == 1 / 61 and smooth > raw  # a decreasing curve: the average lags above it
    box = page.locator('.chart[data-metric="loss"] .u-over').bounding_box()
    page.mouse.move(box["x"] + box["width"] * 0.5, box["y"] + box["height"] * 0.5)
    values = page.locator('.chart[data-metric="loss"] .u-legend .u-value').all_inner_texts()
    assert values[0] not in ("", "--") and all(v not in ("", "--") for v in values)
    axis_labels = page.locator('.chart[data-metric="loss"] .u-label').all_inner_texts()
    assert "step" in axis_labels and "loss" in axis_labels
    shot(page, "run-smoothed")


def test_outsiders_get_404_for_private_projects_and_no_git_or_code_on_open_ones(site, page):
    h, alice, bob = site["h"], site["alice"], site["bob"]
    sign_in(page, h.url, site["bkey"], "/")
    for path in (f"/{alice}/{site['proj']}", f"/{alice}/{site['proj']}/runs/run-a"):
        assert page.goto(h.url + path).status == 404
    assert page.goto(f"{h.url}/{alice}").status == 200
    assert page.locator(f'a[href="/{alice}/{site["proj"]}"]').count() == 0
    assert page.goto(f"{h.url}/{alice}/{site['open']}/runs/pub-1").status == 200
    page.wait_for_selector("#charts[data-ready='1']")
    assert chart_points(page, "loss") == 30
    assert page.locator("#git, #code, #git-diff, #run-command, #edit-button").count() == 0
    assert page.locator("#hidden-note").count() == 1
    assert bob in page.inner_text(".who")
    shot(page, "run-outsider")
    # not signed in at all: the same
    page.context.clear_cookies()
    assert page.goto(f"{h.url}/{alice}/{site['proj']}").status == 404
    assert page.goto(f"{h.url}/{alice}/{site['open']}/runs/pub-1").status == 200
    assert page.locator("#git, #code").count() == 0


def test_a_history_row_with_a_new_key_adds_a_chart_live(site, page):
    h, alice, akey = site["h"], site["alice"], site["akey"]
    proj = uniq("newkey")
    recs = metric_run("nk", 5, exit_code=None)
    h.upload(alice, proj, "nk", recs, akey)
    sign_in(page, h.url, akey, f"/{alice}/{proj}/runs/nk")
    page.wait_for_selector("#charts[data-ready='1']")
    assert page.locator(".chart").count() == 2
    h.upload(alice, proj, "nk", recs + [history(len(recs), 5, {"val/loss": 0.5})], akey)
    page.wait_for_selector('.chart[data-metric="val/loss"]', timeout=LIVE_WAIT)
    assert chart_points(page, "val/loss") == 1
    assert page.locator(".chart").evaluate_all("els => els.map(e => e.dataset.metric)") == ["acc", "loss", "val/loss"]
