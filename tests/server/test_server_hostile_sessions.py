"""Dashboard sessions and the authentication throttle (issue 15 item 6), on SQLite and PostgreSQL
with real server processes: cookies cannot be made from the database's contents, sign-out and
revoking a key end sessions on the server, and failed sign-ins and invalid API keys are throttled
per client address (429 + Retry-After) without locking out other addresses or known valid keys.

Each test speaks from addresses of its own in 127.0.0.0/8 (the client socket is bound to them),
so the per-address counters of one server process do not leak between tests.
"""
from __future__ import annotations

import hashlib
import hmac
import itertools
import re
import time
from typing import Any, Iterator, List, Optional

import pytest
import requests
from requests.adapters import HTTPAdapter
from sqlalchemy import select, update

from eventlog.server import accounts, schema
from eventlog.server.throttle import FAILURE_BURST, FAILURE_REFILL
from support.dashboard import metric_run
from support.server import Harness, new_db_url, start_harness, uniq

_hosts = itertools.count(2)


class _Bound(HTTPAdapter):
    """Connections from one local source address."""

    def __init__(self, ip: str) -> None:
        self.ip = ip
        super().__init__()

    def init_poolmanager(self, *args: Any, **kw: Any) -> None:
        kw["source_address"] = (self.ip, 0)
        super().init_poolmanager(*args, **kw)


class Client:
    """A browser-like client (cookies, the sign-in form) at its own client address."""

    def __init__(self, url: str, ip: Optional[str] = None) -> None:
        n = next(_hosts)
        self.ip = ip or f"127.77.{n // 250}.{n % 250 + 1}"
        self.url = url
        self.http = requests.Session()
        self.http.mount("http://", _Bound(self.ip))

    def get(self, path: str, key: Optional[str] = None, **kw: Any) -> requests.Response:
        headers = {"Authorization": f"Bearer {key}"} if key is not None else {}
        headers.update(kw.pop("headers", {}))
        return self.http.get(self.url + path, headers=headers, timeout=60, allow_redirects=False, **kw)

    def whoami(self, key: str, **headers: str) -> requests.Response:
        return self.get("/api/v1/auth/whoami", key, headers=headers)

    def sign_in(self, key: str, next_url: str = "/") -> requests.Response:
        form = self.get("/-/login", params={"next": next_url})
        token = re.search(r'name="csrf" value="([^"]+)"', form.text).group(1)
        return self.http.post(self.url + "/-/login", data={"csrf": token, "next": next_url, "api_key": key},
                              headers={"Origin": self.url}, allow_redirects=False, timeout=60)

    def sign_out(self, page: str = "/") -> requests.Response:
        csrf = re.search(r'<meta name="csrf-token" content="([^"]*)">', self.get(page).text).group(1)
        return self.http.post(self.url + "/-/logout", data={"csrf": csrf}, headers={"Origin": self.url},
                              allow_redirects=False, timeout=60)

    @property
    def cookie(self) -> Optional[str]:
        return self.http.cookies.get("evlog_session")

    def with_cookie(self, cookie: str) -> "Client":
        """Another client (another address) holding a copy of this cookie value."""
        other = Client(self.url)
        other.http.cookies.set("evlog_session", cookie)
        return other


@pytest.fixture(scope="module")
def hs(backend: str, request: Any, tmp_path_factory: Any) -> Iterator[Harness]:
    tmp = tmp_path_factory.mktemp(f"sessions-{backend}")
    h = start_harness(new_db_url(backend, request, tmp), tmp)
    yield h
    h.proc.stop()
    h.close()


def private_run(h: Harness) -> tuple:
    """(user, key, project) with one run in a private project."""
    user, key = h.user("owner")
    proj = uniq("secret")
    assert h.upload(user, proj, "r1", metric_run("r1", 3), key) > 0
    return user, key, proj


def signed_in(c: Client, user: str, proj: str) -> bool:
    """The client's cookie opens the private project page (and its JSON), as `user`."""
    page = c.get(f"/{user}/{proj}")
    api = c.get(f"/-/api/runs/{user}/{proj}/r1")
    assert (page.status_code == 200) == (api.status_code == 200), (page.status_code, api.status_code)
    if page.status_code == 200:
        assert f"signed in as <a href=\"/{user}\">{user}</a>" in page.text and api.json()["id"] == "r1"
    else:
        assert page.status_code == 404 and api.status_code == 404
    return page.status_code == 200


def session_rows(h: Harness) -> List[Any]:
    with h.engine.connect() as conn:
        return list(conn.execute(select(schema.sessions)))


def spend(c: Client, n: int = FAILURE_BURST) -> List[int]:
    """Statuses of `n` requests with invalid keys from the client's address."""
    return [c.whoami(f"{i:040x}").status_code for i in range(n)]


def assert_throttled(r: requests.Response, most: float = FAILURE_REFILL + 1) -> int:
    """The answer is 429 rate_limited with a whole-seconds Retry-After (when one failure is earned
    back: at most `most`); returns it."""
    assert r.status_code == 429, r.text
    wait = r.headers["Retry-After"]
    assert wait.isdigit() and 1 <= int(wait) <= most
    if r.headers["content-type"].startswith("application/json"):
        assert r.json()["reason"] == "rate_limited" and r.json()["retry_after"] == int(wait)
    return int(wait)


# ------------------------------------------------------------------ sessions
def test_a_cookie_cannot_be_made_from_the_database(hs):
    user, key, proj = private_run(hs)
    c = Client(hs.url)
    assert c.sign_in(key, f"/{user}/{proj}").status_code == 303 and signed_in(c, user, proj)
    cookie = c.cookie
    csrf = re.search(r'<meta name="csrf-token" content="([^"]*)">', c.get(f"/{user}/{proj}").text).group(1)
    with hs.engine.connect() as conn:  # everything an attacker reading the database sees
        keys = [tuple(r) for r in conn.execute(select(schema.api_keys))]
        sessions = [tuple(r) for r in conn.execute(select(schema.sessions))]
    stored = {str(v) for row in keys + sessions for v in row}
    assert cookie not in stored and csrf not in stored
    assert not any(cookie in v or csrf in v for v in stored)
    # the cookie of the previous design: key row id, user id, expiry, HMAC with the key's stored hash
    with hs.engine.connect() as conn:
        kid, uid, khash = conn.execute(
            select(schema.api_keys.c.id, schema.api_keys.c.user_id, schema.api_keys.c.key_hash)
            .where(schema.api_keys.c.key_hash == hashlib.sha256(key.encode()).hexdigest())).one()
    payload = f"{kid}.{uid}.{int(time.time()) + 3600}"
    old_style = f"{payload}.{hmac.new(khash.encode(), f'session:{payload}'.encode(), hashlib.sha256).hexdigest()}"
    # a stored session hash used as a cookie, and other made-up values
    for forged in [old_style, khash, *(str(r.token_hash) for r in session_rows(hs)), cookie[:-1], cookie + "x"]:
        assert not signed_in(c.with_cookie(forged), user, proj), forged
    assert signed_in(c.with_cookie(cookie), user, proj)


def test_sign_out_ends_the_session_on_the_server_and_a_copied_cookie_stops_working(hs):
    user, key, proj = private_run(hs)
    a, b = Client(hs.url), Client(hs.url)
    assert a.sign_in(key).status_code == 303 and b.sign_in(key).status_code == 303
    copy = a.with_cookie(a.cookie)
    assert signed_in(copy, user, proj) and signed_in(b, user, proj)
    before = len(session_rows(hs))
    out = a.sign_out(f"/{user}/{proj}")
    assert out.status_code == 303 and 'evlog_session=""' in out.headers["set-cookie"]
    assert not signed_in(copy, user, proj) and not signed_in(a.with_cookie(copy.cookie), user, proj)
    assert len(session_rows(hs)) == before - 1
    # the state-changing endpoints refuse the ended session too (as signed out: 401)
    r = copy.http.patch(f"{hs.url}/api/v1/runs/{user}/{proj}/r1", json={"name": "after sign-out"},
                        headers={"Origin": hs.url}, timeout=60)
    assert r.status_code == 401 and hs.run(user, proj, "r1", key).json()["name"] != "after sign-out"
    assert signed_in(b, user, proj)  # the key's other sign-in goes on
    # a sign-out without the page's token ends nothing
    assert b.http.post(hs.url + "/-/logout", data={"csrf": "guess"}, timeout=60).status_code == 403
    assert signed_in(b, user, proj)


def test_revoking_the_key_ends_its_sessions_at_once(hs):
    user, key, proj = private_run(hs)
    second = accounts.add_key(hs.engine, user)
    a, b = Client(hs.url), Client(hs.url)
    assert a.sign_in(key).status_code == 303 and b.sign_in(second).status_code == 303
    assert signed_in(a, user, proj) and signed_in(b, user, proj)
    assert accounts.revoke_keys(hs.engine, user, key) == 1  # what `evlog server users revoke --key` does
    assert not signed_in(a, user, proj) and signed_in(b, user, proj)
    assert accounts.revoke_keys(hs.engine, user) == 1
    assert not signed_in(b, user, proj)
    with hs.engine.connect() as conn:  # the rows went with their keys
        left = conn.execute(select(schema.sessions.c.token_hash).join(
            schema.api_keys, schema.api_keys.c.id == schema.sessions.c.api_key_id, isouter=True)
            .where(schema.api_keys.c.id.is_(None))).all()
    assert left == []


def test_an_expired_session_is_refused_and_cleared_by_later_sign_ins(hs):
    user, key, proj = private_run(hs)
    c = Client(hs.url)
    assert c.sign_in(key).status_code == 303 and signed_in(c, user, proj)
    digest = hashlib.sha256(c.cookie.encode()).hexdigest()
    with hs.engine.begin() as conn:
        conn.execute(update(schema.sessions).where(schema.sessions.c.token_hash == digest)
                     .values(expires_at=time.time() - 1))
    assert not signed_in(c, user, proj)
    assert Client(hs.url).sign_in(key).status_code == 303
    assert digest not in {r.token_hash for r in session_rows(hs)}


def test_sign_in_sets_a_thirty_day_httponly_cookie_and_keeps_a_bounded_number_per_key(hs):
    from eventlog.server.web.session import MAX_PER_KEY

    user, key, proj = private_run(hs)
    first = Client(hs.url)
    r = first.sign_in(key)
    cookie = r.headers["set-cookie"]
    assert "HttpOnly" in cookie and "Max-Age=2592000" in cookie and re.fullmatch(r"[A-Za-z0-9_-]{43}", first.cookie)
    cookies = {first.cookie}
    for _ in range(MAX_PER_KEY):
        c = Client(hs.url)
        assert c.sign_in(key).status_code == 303
        cookies.add(c.cookie)
    assert len(cookies) == MAX_PER_KEY + 1  # every sign-in is a new random id
    with hs.engine.connect() as conn:
        kid = conn.execute(select(schema.api_keys.c.id).where(
            schema.api_keys.c.key_hash == hashlib.sha256(key.encode()).hexdigest())).scalar_one()
        n = len(conn.execute(select(schema.sessions.c.token_hash).where(schema.sessions.c.api_key_id == kid)).all())
    assert n == MAX_PER_KEY
    assert not signed_in(first, user, proj)  # the oldest one ended
    assert signed_in(c, user, proj)


def test_migration_9_adds_the_sessions_table_to_an_older_database(backend, request, tmp_path):
    from sqlalchemy import inspect

    from eventlog.server import migrations
    from eventlog.server.db import make_engine
    from eventlog.server.web.session import open_session, read_session

    engine = make_engine(new_db_url(backend, request, tmp_path), pool_size=1)
    try:
        assert migrations.migrate(engine, upto=8) == 8
        assert not inspect(engine).has_table("sessions")
        key = accounts.add_user(engine, uniq("old"))
        assert migrations.migrate(engine) == migrations.LATEST >= 9
        token, principal = open_session(engine, key)
        with engine.connect() as conn:
            assert read_session(conn, token).principal.user_id == principal.user_id
    finally:
        engine.dispose()


# ------------------------------------------------------------------ throttling
def test_invalid_api_keys_are_throttled_per_address_with_retry_after(hs):
    user, key, proj = private_run(hs)
    attacker, neighbour = Client(hs.url), Client(hs.url)
    assert attacker.whoami(key).status_code == 200  # a key this server has seen authenticate
    assert spend(attacker) == [401] * FAILURE_BURST
    wait = assert_throttled(attacker.whoami("e" * 40))
    # every endpoint that takes a key, and whatever the invalid key looks like
    assert_throttled(attacker.get(f"/api/v1/runs/{user}/{proj}/r1", "f" * 40))
    assert_throttled(attacker.get("/api/v1/auth/whoami", headers={"Authorization": "Basic xyz"}))
    assert_throttled(attacker.get(f"/{user}/{proj}", "f" * 40))  # a dashboard page, with the header
    # an X-Forwarded-For header from an address that is not a trusted proxy changes nothing
    assert_throttled(attacker.whoami("e" * 40, **{"X-Forwarded-For": "198.51.100.9"}))
    # a key that authenticated before still works from there; other addresses are not locked out
    assert attacker.whoami(key).status_code == 200
    assert attacker.get(f"/api/v1/runs/{user}/{proj}/r1", key).json()["id"] == "r1"
    assert neighbour.whoami("e" * 40).status_code == 401 and neighbour.whoami(key).status_code == 200
    # a valid key this server has not seen yet waits like any other key (it is not even looked up)
    fresh_user, fresh = hs.user("fresh")
    assert_throttled(attacker.whoami(fresh))
    assert neighbour.whoami(fresh).json()["user"] == fresh_user
    # requests without a key are not throttled
    assert attacker.get("/api/v1/health").status_code == 200
    # one failure comes back after Retry-After seconds
    time.sleep(wait + 0.2)
    assert attacker.whoami("e" * 40).status_code == 401
    assert_throttled(attacker.whoami("e" * 40))


def test_a_known_key_passes_a_throttled_address_only_while_it_is_valid(hs):
    user, key, _ = private_run(hs)
    c = Client(hs.url)
    assert c.whoami(key).status_code == 200
    spend(c)
    assert c.whoami(key).status_code == 200
    accounts.revoke_keys(hs.engine, user, key)
    time.sleep(5.5)  # servers may remember a key's owner for 5 s (spec/protocol.md 1)
    spend(c)  # the budget is spent again (those seconds gave some back)
    r = c.whoami(key)  # still known: looked up, and found revoked
    assert r.status_code == 401 and r.json()["reason"] == "invalid_key"
    assert_throttled(c.whoami(key), 2 * FAILURE_REFILL + 1)  # known no more: it waits like any other key


def test_failed_sign_ins_are_throttled_per_address_and_share_the_budget_of_api_keys(hs):
    user, key, proj = private_run(hs)
    known_user, known = hs.user("known")
    assert Client(hs.url).whoami(known).status_code == 200
    attacker, neighbour = Client(hs.url), Client(hs.url)
    half = FAILURE_BURST // 2
    assert spend(attacker, half) == [401] * half
    statuses = [attacker.sign_in(f"{i:040x}").status_code for i in range(FAILURE_BURST - half)]
    assert statuses == [401] * (FAILURE_BURST - half)
    r = attacker.sign_in("e" * 40)
    wait = assert_throttled(r)
    assert "Too many failed sign-ins" in r.text and 'id="api_key"' in r.text and attacker.cookie is None
    # a right key this server has not seen yet is not tried from there until the wait is over
    fresh_user, fresh = hs.user("fresh")
    assert_throttled(attacker.sign_in(fresh))
    assert attacker.cookie is None
    assert_throttled(attacker.whoami("e" * 40))
    # another address signs in; keys seen before sign in from the throttled address
    assert neighbour.sign_in(key, f"/{user}/{proj}").status_code == 303 and signed_in(neighbour, user, proj)
    assert neighbour.sign_in(fresh).status_code == 303 and f'href="/{fresh_user}"' in neighbour.get("/").text
    assert attacker.sign_in(fresh).status_code == 303
    assert attacker.sign_in(known).status_code == 303
    assert f'href="/{known_user}"' in attacker.get("/").text
    time.sleep(wait + 0.2)
    other = Client(hs.url, attacker.ip)
    assert other.sign_in("e" * 40).status_code == 401
    assert_throttled(other.sign_in("e" * 40))


def test_behind_a_proxy_on_this_host_each_forwarded_client_has_its_own_budget(hs):
    """uvicorn trusts X-Forwarded-For from FORWARDED_ALLOW_IPS (default 127.0.0.1): a reverse proxy
    there passes on each client's address, and one client's failures do not throttle another."""
    proxy = Client(hs.url, "127.0.0.1")
    first, second = "203.0.113.7", "203.0.113.8"
    assert [proxy.whoami(f"{i:040x}", **{"X-Forwarded-For": first}).status_code
            for i in range(FAILURE_BURST)] == [401] * FAILURE_BURST
    assert_throttled(proxy.whoami("e" * 40, **{"X-Forwarded-For": first}))
    assert proxy.whoami("e" * 40, **{"X-Forwarded-For": second}).status_code == 401
    # IPv6 clients are counted per /64
    a, b, far = "2001:db8:1:2::1", "2001:db8:1:2:ffff::9", "2001:db8:1:3::1"
    assert [proxy.whoami(f"{i:040x}", **{"X-Forwarded-For": a}).status_code
            for i in range(FAILURE_BURST)] == [401] * FAILURE_BURST
    assert_throttled(proxy.whoami("e" * 40, **{"X-Forwarded-For": b}))
    assert proxy.whoami("e" * 40, **{"X-Forwarded-For": far}).status_code == 401


# ------------------------------------------------------------------ in Chromium
@pytest.fixture()
def lone(tmp_path: Any) -> Iterator[Harness]:
    """A server of its own: the browser speaks from 127.0.0.1, whose budget this test spends."""
    h = start_harness(f"sqlite:///{tmp_path / 'lone.db'}", tmp_path)
    yield h
    h.proc.stop()
    h.close()


def test_in_chromium_sign_in_is_throttled_and_sign_out_ends_a_copied_cookie(lone, page):
    user, key, proj = private_run(lone)  # the upload makes the key known to the server
    assert spend(Client(lone.url, "127.0.0.1")) == [401] * FAILURE_BURST
    page.goto(f"{lone.url}/-/login?next=/{user}/{proj}")
    page.fill("#api_key", "e" * 40)
    with page.expect_navigation() as nav:
        page.click("#login-submit")
    assert nav.value.status == 429 and nav.value.headers["retry-after"].isdigit()
    assert "Too many failed sign-ins" in page.inner_text("body")
    page.fill("#api_key", key)
    page.click("#login-submit")
    page.wait_for_selector(".who")
    assert page.inner_text(".who") == f"signed in as {user}" and page.url.endswith(f"/{user}/{proj}")
    cookie = next(c for c in page.context.cookies() if c["name"] == "evlog_session")
    assert cookie["httpOnly"] and cookie["sameSite"] == "Lax"
    copy = Client(lone.url)
    copy.http.cookies.set("evlog_session", cookie["value"])
    assert signed_in(copy, user, proj)
    page.click("#signout")
    page.wait_for_selector("#signin-link")
    assert not [c for c in page.context.cookies() if c["name"] == "evlog_session"]
    assert not signed_in(copy, user, proj)
    page.goto(f"{lone.url}/{user}/{proj}")
    assert "signed in as" not in page.inner_text("body")


def test_the_throttle_counts_a_burst_then_one_failure_per_refill_and_stays_bounded():
    from types import SimpleNamespace

    from eventlog.server import throttle

    now = [1000.0]
    t = throttle.Throttle(burst=3, refill=2.0, clock=lambda: now[0])
    for _ in range(3):
        assert t.wait("a") == 0.0
        t.failed("a")
    assert t.wait("a") == 2.0 and t.wait("b") == 0.0
    now[0] += 1.5
    assert t.wait("a") == 0.5
    now[0] += 0.5
    assert t.wait("a") == 0.0
    t.failed("a")
    assert t.wait("a") == 2.0
    now[0] += 60
    assert t.wait("a") == 0.0  # fully refilled: as good as new
    t.failed("a")
    assert t.wait("a") == 0.0
    for i in range(throttle.MAX_TRACKED + 10):  # many addresses: memory stays bounded
        t.failed(f"x{i}")
    assert len(t._tat) <= throttle.MAX_TRACKED

    def addr(host):
        return throttle.client_address(SimpleNamespace(client=SimpleNamespace(host=host) if host else None))

    assert addr("192.0.2.7") == "192.0.2.7" and addr("::ffff:192.0.2.7") == "192.0.2.7"
    assert addr("2001:db8::1") == addr("2001:db8::ffff:1") == "2001:db8::/64" != addr("2001:db8:0:1::1")
    assert addr(None) == "unknown"
    assert throttle.rate_limited(0.2).headers() == {"Retry-After": "1"}
    assert throttle.rate_limited(3.01).extra["retry_after"] == 4
