"""Fixtures of the dashboard tests: a cookie session over HTTP on the module's server, and a SQLite
server holding a few users, projects and runs."""
from __future__ import annotations

from typing import TYPE_CHECKING, Any, Dict, Iterator

import pytest

if TYPE_CHECKING:
    from support.dashboard import Web
    from support.server import Harness


@pytest.fixture()
def web(srv: Harness) -> Iterator[Web]:
    from support.dashboard import Web

    w = Web(srv.url)
    yield w
    w.http.close()


@pytest.fixture(scope="module")
def site(tmp_path_factory: Any) -> Iterator[Dict[str, Any]]:
    """A SQLite server with: alice (member of her projects), bob (outsider), alice's private project
    with two finished runs (different saved code), and her open project with one run."""
    from support.dashboard import ARTIFACTS, CODE_A, CODE_B, metric_run, put_file
    from support.server import start_harness, uniq

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
