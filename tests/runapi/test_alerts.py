"""alert (issue 13): `alert` records with title, text, level and wait_duration, repeats within
wait_duration dropped as wandb does, typed errors, the server keeping a run's alerts after sync,
and the run page showing them (headless Chromium)."""
from __future__ import annotations

import datetime

import pytest

from support.dashboard import sign_in
from support.run import of_type, records
from support.server import T0, run_record, start_harness, uniq
from support.client import evlog_sync, sync_env


def alert_bodies(run):
    return [r.body for r in of_type(records(run.dir), "alert")]


def test_alerts_are_records_with_their_level_and_repeats_within_wait_duration_are_dropped(ev):
    run = ev.init(project="p")
    run.alert("loss is NaN", "at step 3", ev.AlertLevel.ERROR)
    run.alert("loss is NaN", "at step 4", ev.AlertLevel.ERROR)  # within the default 60 s: dropped, as wandb
    run.alert("slow", "epoch took 10 min", "WARN", wait_duration=0)
    run.alert("slow", "epoch took 11 min", "warn", wait_duration=datetime.timedelta(seconds=0))
    run.alert("done", "training finished")  # level INFO by default
    run.finish()
    assert alert_bodies(run) == [
        {"title": "loss is NaN", "text": "at step 3", "level": "ERROR", "wait_duration": 60.0},
        {"title": "slow", "text": "epoch took 10 min", "level": "WARN", "wait_duration": 0.0},
        {"title": "slow", "text": "epoch took 11 min", "level": "WARN", "wait_duration": 0.0},
        {"title": "done", "text": "training finished", "level": "INFO", "wait_duration": 60.0},
    ]
    assert [lv.value for lv in ev.AlertLevel] == ["INFO", "WARN", "ERROR"]


@pytest.mark.parametrize("args, kwargs, error, words", [
    ((3, "t"), {}, "ArgumentTypeError", "title="),
    (("t", None), {}, "ArgumentTypeError", "text="),
    ((" ", "t"), {}, "UsageError", "title="),
    (("t", "x"), {"level": "FATAL"}, "UsageError", "level="),
    (("t", "x"), {"level": 2}, "ArgumentTypeError", "level="),
    (("t", "x"), {"wait_duration": "1m"}, "ArgumentTypeError", "wait_duration="),
    (("t", "x"), {"wait_duration": -1}, "UsageError", "wait_duration="),
])
def test_bad_arguments_raise_typed_errors_naming_the_argument_and_write_nothing(ev, args, kwargs, error, words):
    run = ev.init(project="p")
    with pytest.raises(getattr(ev, error)) as info:
        run.alert(*args, **kwargs)
    assert words in str(info.value)
    run.finish()
    assert alert_bodies(run) == []


def test_module_level_alert_acts_on_the_current_run(ev):
    with pytest.raises(ev.NoRunError, match="alert"):
        ev.alert("t", "x")
    run = ev.init(project="p")
    ev.alert("hello", "from the module", level="ERROR")
    run.finish()
    assert alert_bodies(run) == [{"title": "hello", "text": "from the module", "level": "ERROR", "wait_duration": 60.0}]
    with pytest.raises(ev.RunFinishedError):
        run.alert("late", "after finish")


def test_the_server_keeps_the_alerts_of_a_synced_run(srv, ev, tmp_path):
    user, key = srv.user()
    run = ev.init(project="alerts")
    run.alert("first", "one", "INFO")
    run.log({"loss": 1.0})
    run.alert("second", "two <b>bold</b>", "ERROR")
    run.finish()
    out = evlog_sync(run.dir, env=sync_env(tmp_path, srv.url, key))
    assert out.returncode == 0, out.stdout + out.stderr
    got = srv.run(user, "alerts", run.id, key).json()
    recs = {r.body["title"]: r for r in of_type(records(run.dir), "alert")}
    assert [(a["title"], a["text"], a["level"]) for a in got["alerts"]] == [
        ("first", "one", "INFO"), ("second", "two <b>bold</b>", "ERROR")]
    assert [(a["seq"], a["time"]) for a in got["alerts"]] == [(recs[t].seq, recs[t].time) for t in ("first", "second")]
    listed = srv.get(f"/api/v1/runs/{user}/alerts", key).json()["runs"]
    assert "alerts" not in listed[0], "the runs list stays small: alerts only in a run's own answer"


def test_a_bad_alert_record_is_refused(srv):
    user, key = srv.user()
    rid = uniq("badalert")
    recs = [run_record(rid), [1, "alert", T0 + 1, {"title": "t", "text": 5, "level": "INFO"}]]
    r = srv.post_records(user, "alerts", rid, recs, key)
    assert r.status_code == 400 and r.json()["reason"] == "bad_record"


def test_the_run_page_shows_the_alerts_newest_first(tmp_path_factory, page):
    tmp = tmp_path_factory.mktemp("alert-dash")
    h = start_harness(f"sqlite:///{tmp / 'dash.db'}", tmp)
    try:
        alice, akey = h.user("alice")
        recs = [run_record("al-run", name="al-run"),
                [1, "alert", T0 + 1, {"title": "warmup over", "text": "lr at peak", "level": "INFO", "wait_duration": 60}],
                [2, "history", T0 + 2, {"step": 0, "data": {"loss": 1.0}}],
                [3, "alert", T0 + 3, {"title": "<img src=x onerror=window.__x=1>", "text": "loss is NaN",
                                      "level": "ERROR", "wait_duration": 60}]]
        h.upload(alice, "al", "al-run", recs, akey)
        sign_in(page, h.url, akey, f"/{alice}/al/runs/al-run")
        page.wait_for_selector("#alerts-section:not([hidden]) #alerts tr")
        rows = page.locator("#alerts tr")
        assert rows.count() == 2
        assert rows.nth(0).locator(".alert-level").inner_text() == "ERROR"
        assert rows.nth(0).locator(".alert-title").inner_text() == "<img src=x onerror=window.__x=1>"
        assert rows.nth(0).locator(".alert-text").inner_text() == "loss is NaN"
        assert rows.nth(1).locator(".alert-title").inner_text() == "warmup over"
        assert rows.nth(1).get_attribute("class") == "alert alert-info"
        shown_time = rows.nth(1).locator(".alert-time").inner_text()
        assert shown_time == page.evaluate(f"() => EV.fmtTime({T0 + 1})") and shown_time.startswith("2023-11-1")
        assert page.evaluate("() => window.__x") is None, "alert text is shown as text, never as HTML"
    finally:
        h.proc.stop()
        h.close()
