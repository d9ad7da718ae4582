"""The run page's Logs (server/web/static/output.js) in Chromium: the run's console output as a
terminal shows it (stdout and stderr lines in order, stderr marked, a progress bar's "\\r" redraws
leaving its last state, markup printed by the program shown as text), the last 10,000 lines of a
long output, and a live run's new output appearing without a reload."""
from __future__ import annotations

import pytest

from support.dashboard import shot, sign_in
from support.server import T0, history, run_record, start_harness


def out(seq: int, stream: str, text: str) -> list:
    return [seq, "output", T0 + seq, {"stream": stream, "text": text}]


def numbered(start: int, items: list) -> list:
    """[stream, text] pairs as output records from seq `start` on."""
    return [out(start + i, stream, text) for i, (stream, text) in enumerate(items)]


PRINTED = [
    ("stdout", "starting training\n"),
    ("stderr", "warning: low memory\n"),
    ("stdout", "epoch 1/3 [##        ]\r"),
    ("stdout", "epoch 2/3 [######    ]\r"),
    ("stdout", "epoch 3/3 [##########]\n"),
    ("stdout", "<script>alert(1)</script>\n"),
    ("stdout", "loss=0.5"),  # a partial line: stderr prints in between, then the line ends
    ("stderr", "Traceback (most recent call last):\n  File \"train.py\", line 3\n"),
    ("stdout", " acc=0.9\n"),
    ("stdout", "crlf line\r\n\nafter a blank line\n"),
    ("stdout", "bye"),
]
SHOWN = ["starting training", "warning: low memory", "epoch 3/3 [##########]", "<script>alert(1)</script>",
         "loss=0.5 acc=0.9", "Traceback (most recent call last):", '  File "train.py", line 3', "crlf line", "",
         "after a blank line", "bye"]
STDERR = ["warning: low memory", "Traceback (most recent call last):", '  File "train.py", line 3']


@pytest.fixture(scope="module")
def logs_site(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("logs-site")
    h = start_harness(f"sqlite:///{tmp / 'logs.db'}", tmp)
    user, key = h.user("alice")
    yield {"h": h, "user": user, "key": key}
    h.proc.stop()
    h.close()


def logs_text(page) -> list:
    return page.locator("#logs").evaluate("e => e.textContent").split("\n")[:-1]


def open_logs(page, site, run_id: str) -> None:
    page.dialogs = []
    page.on("dialog", lambda d: (page.dialogs.append(d.message), d.dismiss()))
    sign_in(page, site["h"].url, site["key"], f"/{site['user']}/logs/runs/{run_id}")
    page.wait_for_selector("#logs[data-ready='1']")


def test_the_run_page_shows_the_output_as_a_terminal_would(logs_site, page):
    h, user, key = logs_site["h"], logs_site["user"], logs_site["key"]
    recs = [run_record("term1")] + [history(1 + i, i) for i in range(3)]
    recs += numbered(len(recs), PRINTED)
    recs.append([len(recs), "exit", T0 + len(recs), {"exit_code": 0, "runtime": 3.0, "interrupted": False,
                                                      "error": None}])
    h.upload(user, "logs", "term1", recs, key, batch=5)  # the progress bar's redraws span two chunks
    open_logs(page, logs_site, "term1")
    assert page.locator("#logs-section").is_visible()
    assert page.locator("#logs-section h2").inner_text() == "Logs"
    assert logs_text(page) == SHOWN
    stderr = page.locator("#logs .log-stderr")
    assert stderr.evaluate_all("els => els.map(e => e.textContent)") == [line + "\n" for line in STDERR]
    red, green, blue = stderr.first.evaluate(
        "e => getComputedStyle(e).color.match(/\\d+/g).slice(0, 3).map(Number)")
    assert red > 200 and green < 160 and blue < 160
    plain = page.locator("#logs .log-line:not(.log-stderr)").first
    assert plain.evaluate("e => getComputedStyle(e).color") != stderr.first.evaluate("e => getComputedStyle(e).color")
    # the program's markup is text: no element made of it, nothing run
    assert page.locator("#logs script").count() == 0 and page.locator("#logs *:not(span)").count() == 0
    assert page.dialogs == []
    style = page.locator("#logs").evaluate("e => { const s = getComputedStyle(e); return [s.whiteSpace, s.overflowY,"
                                           " s.maxHeight, s.fontFamily]; }")
    assert style[:3] == ["pre-wrap", "auto", "480px"] and "mono" in style[3].lower()
    assert page.locator("#logs-note").is_hidden()
    page.locator("#logs-section").scroll_into_view_if_needed()
    shot(page, "run-logs")


def test_a_long_output_shows_its_last_10000_lines(logs_site, page):
    h, user, key = logs_site["h"], logs_site["user"], logs_site["key"]
    text = "".join(f"line {i}\n" for i in range(10_050))
    recs = [run_record("long1"), out(1, "stdout", text[:40_000]), out(2, "stdout", text[40_000:])]
    h.upload(user, "logs", "long1", recs, key)
    open_logs(page, logs_site, "long1")
    shown = logs_text(page)
    assert len(shown) == 10_000 and shown[0] == "line 50" and shown[-1] == "line 10049"
    assert page.locator("#logs-note").inner_text() == "showing the last 10,000 of 10,050 lines"
    # the box opens scrolled to the end, like a terminal
    assert page.locator("#logs").evaluate("e => e.scrollHeight - e.scrollTop - e.clientHeight < 8")


def test_a_live_run_s_new_output_appears_without_a_reload(logs_site, page):
    h, user, key = logs_site["h"], logs_site["user"], logs_site["key"]
    first = [("stdout", f"step {i}\n") for i in range(60)] + [("stdout", "download  40%\r")]
    recs = [run_record("live1")] + numbered(1, first)
    h.upload(user, "logs", "live1", recs, key)  # running: no exit record
    open_logs(page, logs_site, "live1")
    assert logs_text(page)[-1] == "download  40%"
    box = page.locator("#logs")
    assert box.evaluate("e => e.scrollHeight > e.clientHeight && e.scrollHeight - e.scrollTop - e.clientHeight < 8")
    page.evaluate("window.__evlogSamePage = true")

    more = [("stdout", "download 100%\n"), ("stderr", "late warning\n"), ("stdout", "<b>done</b>\n")]
    h.upload(user, "logs", "live1", numbered(len(recs), more), key)
    page.wait_for_function("document.getElementById('logs').textContent.endsWith('<b>done</b>\\n')", timeout=10_000)
    assert page.evaluate("window.__evlogSamePage === true")  # no reload
    assert logs_text(page)[-4:] == ["step 59", "download 100%", "late warning", "<b>done</b>"]
    assert page.locator("#logs .log-stderr").evaluate_all("els => els.map(e => e.textContent)") == ["late warning\n"]
    assert page.locator("#logs b").count() == 0
    # the reader was at the bottom: it still is
    assert box.evaluate("e => e.scrollHeight - e.scrollTop - e.clientHeight < 8")

    # scrolled up to read: new output does not pull the box down
    box.evaluate("e => { e.scrollTop = 0; }")
    n = len(recs) + len(more)
    h.upload(user, "logs", "live1", [out(n, "stdout", "one more\n")], key)
    page.wait_for_function("document.getElementById('logs').textContent.endsWith('one more\\n')", timeout=10_000)
    assert box.evaluate("e => e.scrollTop") == 0
