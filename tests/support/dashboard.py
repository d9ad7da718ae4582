"""Fixtures of the dashboard tests (no tests here): a server with a few users and runs, a cookie
session over HTTP, and headless Chromium (Debian's `chromium`) driven by Playwright.

Browser tests are skipped when Playwright or Chromium is missing, unless CI is set: then they fail.
Screenshots go to tests/artifacts/ (git-ignored).
"""
from __future__ import annotations

import os
import re
import shutil
import tempfile
from pathlib import Path
from typing import Any, Dict, Iterator, List, Optional

import pytest
import requests

from support.server import T0, Harness, ci, history, run_record, start_harness, uniq

ARTIFACTS = Path(__file__).resolve().parent.parent / "artifacts"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-quic",
                 "--no-first-run", "--disable-component-update", "--disable-sync", "--disable-dev-shm-usage"]
CODE_A = "import torch\n\nlr = 0.01\nfor epoch in range(3):\n    train(lr)\n"
CODE_B = "import torch\n\nlr = 0.02\nfor epoch in range(3):\n    train(lr)\n"


def chromium_path() -> Optional[str]:
    for name in ("chromium", "chromium-browser"):
        found = shutil.which(name)
        if found:
            return found
    return "/usr/bin/chromium" if os.path.exists("/usr/bin/chromium") else None


def metric_run(run_id: str, steps: int, *, exit_code: Optional[int] = 0, metrics: Optional[Dict[str, Any]] = None,
               **fields: Any) -> List[list]:
    """A run record, a config record, `steps` history rows of loss/acc, an exit record (unless None)."""
    config = fields.pop("config", None) or {"lr": 0.01, "batch": 32}
    recs = [run_record(run_id, **fields), [1, "config", T0 + 1, {"update": config}]]
    for i in range(steps):
        data = {"loss": 1.0 / (i + 1), "acc": i / max(steps, 1)}
        if metrics:
            data.update({k: f(i) for k, f in metrics.items()})
        recs.append(history(len(recs), i, data))
    if exit_code is not None:
        recs.append([len(recs), "exit", T0 + len(recs), {"exit_code": exit_code, "runtime": 42.0,
                                                          "interrupted": False, "error": None}])
    return recs


def put_file(h: Harness, entity: str, project: str, run_id: str, path: str, content: bytes, kind: str,
             key: str) -> None:
    r = h.http.put(f"{h.url}/api/v1/runs/{entity}/{project}/{run_id}/files/{path}", data=content,
                   headers=h.headers(key), params={"kind": kind}, timeout=60)
    assert r.status_code == 201, r.text


class Web:
    """A browser-like HTTP client of the dashboard: sign-in form, cookie session, CSRF token."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.http = requests.Session()

    def get(self, path: str, **kw: Any) -> requests.Response:
        return self.http.get(self.url + path, timeout=60, allow_redirects=False, **kw)

    def sign_in(self, key: str, next_url: str = "/") -> requests.Response:
        form = self.get("/-/login", params={"next": next_url})
        token = re.search(r'name="csrf" value="([^"]+)"', form.text).group(1)
        return self.http.post(self.url + "/-/login", data={"csrf": token, "next": next_url, "api_key": key},
                              headers={"Origin": self.url}, allow_redirects=False, timeout=60)

    def csrf(self, page: str) -> str:
        return re.search(r'<meta name="csrf-token" content="([^"]*)">', self.get(page).text).group(1)


@pytest.fixture()
def web(srv: Harness) -> Iterator[Web]:
    w = Web(srv.url)
    yield w
    w.http.close()


# ------------------------------------------------------------------ browser
@pytest.fixture(scope="module")
def site(tmp_path_factory: Any) -> Iterator[Dict[str, Any]]:
    """A SQLite server with: alice (member of her projects), bob (outsider), alice's private project
    with two finished runs (different saved code), and her open project with one run."""
    tmp = tmp_path_factory.mktemp("dash")
    h = start_harness(f"sqlite:///{tmp / 'dash.db'}", tmp)
    alice, akey = h.user("alice")
    bob, bkey = h.user("bob")
    proj = uniq("vision")
    for rid, steps, code, group, tags in (("run-a", 120, CODE_A, "sweep-1", ["baseline"]),
                                         ("run-b", 80, CODE_B, "sweep-1", ["lr"])):
        recs = metric_run(rid, steps, name=f"{rid}-name", group=group, tags=tags, notes=f"notes of {rid}",
                          config={"lr": 0.01 if rid == "run-a" else 0.02, "batch": 32})
        h.upload(alice, proj, rid, recs, akey)
        put_file(h, alice, proj, rid, "code/train.py", code.encode(), "code", akey)
        put_file(h, alice, proj, rid, "diff.patch", b"--- a/train.py\n+++ b/train.py\n-lr = 0.1\n+lr = 0.01\n",
                 "diff", akey)
    open_proj = uniq("public")
    h.upload(alice, open_proj, "pub-1", metric_run("pub-1", 30, name="public-run"), akey)
    put_file(h, alice, open_proj, "pub-1", "code/train.py", CODE_A.encode(), "code", akey)
    h.visibility(alice, open_proj, "open")
    ARTIFACTS.mkdir(exist_ok=True)
    yield {"h": h, "alice": alice, "akey": akey, "bob": bob, "bkey": bkey, "proj": proj, "open": open_proj}
    h.proc.stop()
    h.close()


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        if ci():
            pytest.fail("CI is set but Playwright is missing: pip install -e '.[test]'")
        pytest.skip("the browser tests need Playwright (pip install -e '.[test]')")
    exe = chromium_path()
    if exe is None:
        if ci():
            pytest.fail("CI is set but Chromium is missing: apt-get install chromium")
        pytest.skip("the browser tests need Chromium (apt-get install chromium)")
    profile = tempfile.mkdtemp(prefix="evlog-chromium-")
    pw = sync_playwright().start()
    ctx = pw.chromium.launch_persistent_context(profile, executable_path=exe, headless=True, args=CHROMIUM_ARGS,
                                                viewport={"width": 1400, "height": 1000},
                                                bypass_csp=True)  # lets wait_for_function evaluate its string
    ctx.set_default_timeout(30_000)
    yield ctx
    ctx.close()
    pw.stop()
    shutil.rmtree(profile, ignore_errors=True)


@pytest.fixture()
def page(browser: Any) -> Iterator[Any]:
    """A fresh tab with no session; page errors are collected in `page.errors` (checked after)."""
    browser.clear_cookies()
    p = browser.new_page()
    p.errors = []
    p.on("pageerror", lambda exc: p.errors.append(str(exc)))
    yield p
    errors = list(p.errors)
    p.close()
    assert errors == [], f"JavaScript errors on the page: {errors}"


def sign_in(page: Any, url: str, key: str, next_url: str = "/") -> None:
    page.goto(f"{url}/-/login?next={next_url}")
    page.fill("#api_key", key)
    page.click("#login-submit")
    page.wait_for_load_state()


def shot(page: Any, name: str) -> Path:
    path = ARTIFACTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    return path
