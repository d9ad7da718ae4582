"""Fixtures shared by several folders of the suite: a clean eventlog module, PostgreSQL and evlog
servers on each backend, and headless Chromium. Helpers are imported from tests/support/ (this
file's folder is on sys.path: pytest's default prepend import mode); the server and browser
fixtures import them when first used, so the suite collects without the `server` extra."""
from __future__ import annotations

import os
import random
import shutil
import tempfile
from typing import TYPE_CHECKING, Any, Iterator

import pytest

import eventlog
from eventlog import runapi

if TYPE_CHECKING:
    from eventlog.server.testing import PgCluster
    from support.server import Harness


@pytest.fixture
def rng() -> random.Random:
    return random.Random(20261128)


@pytest.fixture
def ev(tmp_path, monkeypatch):
    """The eventlog module in a clean state: no EVLOG_*/WANDB_* variables, cwd a fresh folder, no
    syncer, no code, git or console capture and no system metrics (tested in subprocesses and their own tests); any run left active is
    finished afterwards."""
    for k in list(os.environ):
        if k.startswith(("EVLOG_", "WANDB_")):
            monkeypatch.delenv(k)
    monkeypatch.setenv("EVLOG_SINKS", "none")
    monkeypatch.setenv("EVLOG_SILENT", "true")
    monkeypatch.setenv("EVLOG_DISABLE_CODE", "true")
    monkeypatch.setenv("EVLOG_DISABLE_GIT", "true")
    monkeypatch.setenv("EVLOG_CONSOLE", "off")
    monkeypatch.setenv("EVLOG_SYSTEM_INTERVAL", "0")
    monkeypatch.setenv("EVLOG_CONFIG_DIR", str(tmp_path / ".evlog-config"))
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)
    monkeypatch.setattr("eventlog.runapi.state._ever_started", False)
    yield eventlog
    run = runapi.current_run()
    if run is not None and not run.finished:
        run.finish()
    runapi._set_current(None)


# ------------------------------------------------------------------ servers
@pytest.fixture(scope="session")
def pg_cluster() -> Iterator[PgCluster]:
    """A throwaway PostgreSQL cluster; skipped without the binaries unless CI is set (then it fails)."""
    from eventlog.server.testing import PgCluster, pg_bindir
    from support.server import ci

    bindir = pg_bindir()
    if bindir is None:
        if ci():
            pytest.fail("CI is set but the PostgreSQL server binaries are missing: run scripts/setup-postgres.sh")
        pytest.skip("PostgreSQL is not installed (scripts/setup-postgres.sh installs it; with CI set this fails)")
    cluster = PgCluster(bindir).start()
    yield cluster
    cluster.stop()


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def backend(request: Any) -> str:
    return request.param


@pytest.fixture(scope="module")
def srv(backend: str, request: Any, tmp_path_factory: Any) -> Iterator[Harness]:
    """A server (anonymous accounts allowed) shared by the tests of a module, on each backend."""
    from support.server import new_db_url, start_harness

    tmp = tmp_path_factory.mktemp(f"srv-{backend}")
    h = start_harness(new_db_url(backend, request, tmp), tmp, allow_anonymous=True)
    yield h
    h.proc.stop()
    h.close()


# ------------------------------------------------------------------ browser
@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    """Headless Chromium driven by Playwright; skipped without either unless CI is set (then it fails)."""
    from support.dashboard import CHROMIUM_ARGS, chromium_path
    from support.server import ci

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
