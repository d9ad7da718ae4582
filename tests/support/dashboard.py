"""Helpers of the dashboard tests (no tests here): runs with metrics and saved files, a cookie session
over HTTP (Web), and signing in and screenshots in headless Chromium (Debian's `chromium`, driven by
Playwright: the `browser` and `page` fixtures are in tests/conftest.py, `web` and `site` in
tests/dashboard/conftest.py). Screenshots go to tests/artifacts/ (git-ignored).
"""
from __future__ import annotations

import os
import re
import shutil
from pathlib import Path
from typing import Any, Dict, List, Optional

import requests

from support.server import T0, Harness, history, run_record

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


# ------------------------------------------------------------------ browser
def sign_in(page: Any, url: str, key: str, next_url: str = "/") -> None:
    page.goto(f"{url}/-/login?next={next_url}")
    page.fill("#api_key", key)
    page.click("#login-submit")
    page.wait_for_load_state()


def shot(page: Any, name: str) -> Path:
    path = ARTIFACTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    return path
