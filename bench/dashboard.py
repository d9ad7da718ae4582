"""Dashboard benchmark: time to first chart for a run of 1,000,000 steps of 10 metrics.

Uploads the run (10,000 records per request, as the HTTP sink batches them) into an `evlog server`
on SQLite (and PostgreSQL with --backends), then measures:

- `first chart`: in headless Chromium (signed in, already warm), from navigation start of the run
  page to every chart drawn and painted (page HTML, scripts, the series request, ten uPlot charts,
  the next frame). The first load meets a cold server; later loads get the server's cached answer;
- `series`: the dashboard's chart request, `GET /-/api/runs/E/P/R/series?samples=N` (every metric,
  downsampled on the server keeping each bucket's min and max; read from the per-chunk summaries
  written at ingestion), uncached -- server response time seen by a Python client;
- the baseline, measured in the same run: the protocol's own downsampling,
  `GET /api/v1/runs/E/P/R/history?samples=2000` (spec/protocol.md 4.3), which decodes every record.

    python bench/dashboard.py                       # 1,000,000 steps x 10 metrics, SQLite
    python bench/dashboard.py --steps 200000 --backends sqlite postgresql --repeat 5

Target (issue 7): first chart under 1 s on the 2-core machine. Needs the server extra, Playwright
(pip install -e '.[test]') and Debian's chromium. This is not a test: it prints the figures.
"""
from __future__ import annotations

import argparse
import math
import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Dict, List, Optional

import requests

from eventlog.server import accounts
from eventlog.server.db import make_engine
from eventlog.server.migrations import migrate
from eventlog.server.testing import PgCluster, ServerProcess, pg_bindir
from eventlog.server.wire import encode_body

T0 = 1_700_000_000.0
METRICS = 10
BATCH = 10_000
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-quic",
                 "--no-first-run", "--disable-component-update", "--disable-sync", "--disable-dev-shm-usage"]


def records(start: int, stop: int, steps: int) -> List[list]:
    """Records [start, stop) of the run: seq 0 is the run record, then one history row per step,
    then the exit record. Metrics are noisy curves of different shapes."""
    out = []
    for seq in range(start, stop):
        if seq == 0:
            out.append([0, "run", T0, {"id": "big", "name": "one million steps", "project": None, "entity": None,
                                       "group": None, "job_type": "train", "notes": None, "tags": ["bench"],
                                       "mode": "online", "start_time": T0, "settings": {}, "program": {},
                                       "git": None, "code": None}])
        elif seq <= steps:
            i = seq - 1
            noise = ((i * 2654435761) % 1000) / 1000.0
            data = {f"metric_{j}": math.exp(-i / (50_000 * (j + 1))) + 0.05 * noise * (j + 1) + 0.01 * j
                    for j in range(METRICS)}
            out.append([seq, "history", T0 + i * 0.001, {"step": i, "data": data}])
        else:
            out.append([seq, "exit", T0 + steps * 0.001, {"exit_code": 0, "runtime": steps * 0.001,
                                                         "interrupted": False, "error": None}])
    return out


def upload(url: str, entity: str, key: str, steps: int) -> float:
    total = steps + 2
    http = requests.Session()
    t = time.perf_counter()
    for start in range(0, total, BATCH):
        body = encode_body(records(start, min(start + BATCH, total), steps))
        r = http.post(f"{url}/api/v1/runs/{entity}/bench/big/records", data=body, timeout=600,
                      headers={"Authorization": f"Bearer {key}", "Content-Type": "application/vnd.evlog.frames+zstd"})
        r.raise_for_status()
        if start // BATCH % 10 == 0:
            print(f"  uploaded {start + BATCH:,} / {total:,} records", file=sys.stderr)
    return time.perf_counter() - t


def timed_get(http: requests.Session, url: str, key: str) -> tuple:
    t = time.perf_counter()
    r = http.get(url, headers={"Authorization": f"Bearer {key}"}, timeout=600)
    r.raise_for_status()
    return time.perf_counter() - t, r


def browser_times(url: str, key: str, run_path: str, repeat: int, block_media: bool = False) -> List[Dict[str, float]]:
    from playwright.sync_api import sync_playwright

    exe = shutil.which("chromium") or "/usr/bin/chromium"
    out = []
    profile = tempfile.mkdtemp(prefix="evlog-bench-chromium-")
    with sync_playwright() as pw:
        ctx = pw.chromium.launch_persistent_context(profile, executable_path=exe, headless=True, args=CHROMIUM_ARGS,
                                                    viewport={"width": 1400, "height": 1000})
        page = ctx.new_page()
        if block_media:  # the run page's media index request left out
            page.route("**/-/api/runs/*/*/*/media*", lambda route: route.abort())
        page.goto(f"{url}/-/login")
        page.fill("#api_key", key)
        page.click("#login-submit")
        page.wait_for_load_state()
        page.goto(f"{url}/bench/bench")  # the browser warm (its first page load is slower), the server not
        page.wait_for_selector("#runs-table tbody tr")
        for _ in range(repeat):
            page.goto(url + run_path)
            page.wait_for_selector("#charts[data-ready='1']", timeout=120_000)
            charts = page.locator(".chart").count()
            ready = float(page.get_attribute("#charts", "data-ready-at"))
            load = page.evaluate("performance.getEntriesByType('navigation')[0].responseEnd")
            series, series_end = page.evaluate(
                "(() => { const e = performance.getEntriesByType('resource').find(e => e.name.includes('/series'));"
                " return e ? [e.duration, e.responseEnd] : [NaN, NaN]; })()")
            points = page.locator(".chart").evaluate_all("els => els.map(e => +e.dataset.points)")
            charts_at = float(page.get_attribute("#charts", "data-charts-at"))
            out.append({"first_chart": ready / 1000, "html": load / 1000, "series": series / 1000,
                        "draw": (charts_at - max(series_end, float(page.get_attribute("#charts", "data-script-at"))))
                        / 1000, "charts": charts,
                        "points": min(points) if points else 0})
        shot = Path(__file__).resolve().parent.parent / "tests" / "artifacts"
        shot.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(shot / "bench-run-1m.png"), full_page=True)
        ctx.close()
    shutil.rmtree(profile, ignore_errors=True)
    return out


def bench(backend: str, steps: int, repeat: int, tmp: Path, cluster: Optional[PgCluster],
          baseline: bool, block_media: bool = False) -> Dict[str, object]:
    db = f"sqlite:///{tmp / 'bench.db'}" if backend == "sqlite" else cluster.create_database(f"evlog_bench_{os.getpid()}")
    engine = make_engine(db, pool_size=1)
    migrate(engine)
    key = accounts.add_user(engine, "bench")
    engine.dispose()
    proc = ServerProcess(db, log_path=tmp / f"server-{backend}.log").start()
    try:
        print(f"{backend}: uploading {steps:,} steps x {METRICS} metrics ...", file=sys.stderr)
        up = upload(proc.url, "bench", key, steps)
        http = requests.Session()
        run = "/api/v1/runs/bench/bench/big"
        # the browser first, so its first load meets a cold server (the server caches series answers)
        print(f"{backend}: browser ...", file=sys.stderr)
        br = browser_times(proc.url, key, "/bench/bench/runs/big", repeat, block_media)
        series_times = []
        for i in range(repeat):  # a different `samples` each time: never a cached answer
            dt, r = timed_get(http, f"{proc.url}/-/api/runs/bench/bench/big/series?samples={1999 - i}", key)
            series_times.append(dt)
        d = r.json()
        base = None
        if baseline:
            print(f"{backend}: baseline (history?samples=2000, every record decoded) ...", file=sys.stderr)
            base, _ = timed_get(http, f"{proc.url}{run}/history?samples=2000", key)
        warm = br[1:] or br
        return {"backend": backend, "upload": up, "series_first": series_times[0],
                "series_median": statistics.median(series_times), "series_bytes": len(r.content),
                "metrics": len(d["series"]), "chart_cold": br[0]["first_chart"],
                "chart_warm": statistics.median(b["first_chart"] for b in warm),
                "browser_series_cold": br[0]["series"], "browser_html": statistics.median(b["html"] for b in br),
                "draw": statistics.median(b["draw"] for b in br), "charts": br[0]["charts"],
                "chart_points": br[0]["points"], "baseline": base}
    finally:
        proc.stop()


def main(argv: Optional[List[str]] = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--steps", type=int, default=1_000_000)
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--backends", nargs="+", default=["sqlite"], choices=["sqlite", "postgresql"])
    ap.add_argument("--no-baseline", action="store_true", help="skip the (slow) history?samples baseline")
    ap.add_argument("--block-media", action="store_true",
                    help="keep the run page from asking for its media index (to time the charts' path alone)")
    args = ap.parse_args(argv)
    tmp = Path(tempfile.mkdtemp(prefix="evlog-bench-dash-"))
    cluster = None
    rows = []
    try:
        if "postgresql" in args.backends:
            if pg_bindir() is None:
                print("PostgreSQL is not installed: skipping it", file=sys.stderr)
                args.backends.remove("postgresql")
            else:
                cluster = PgCluster(durable=True).start()
        for b in args.backends:
            rows.append(bench(b, args.steps, args.repeat, tmp, cluster, not args.no_baseline, args.block_media))
    finally:
        if cluster:
            cluster.stop()
        shutil.rmtree(tmp, ignore_errors=True)
    print(f"\nevlog dashboard: time to first chart, one run of {args.steps:,} steps x {METRICS} metrics; seconds "
          f"({args.repeat} page loads in headless Chromium, signed in; the first meets a cold server)")
    print("| backend | upload | first chart: cold server | first chart: median of the rest | series request in the "
          "browser (cold) | parse + draw 10 charts (median) | series request, uncached: first / median | points per chart | "
          "baseline: history?samples=2000 | baseline / series |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        base = r["baseline"]
        print(f"| {r['backend']} | {r['upload']:.1f} | {r['chart_cold']:.3f} | {r['chart_warm']:.3f} | "
              f"{r['browser_series_cold']:.3f} | {r['draw']:.3f} | {r['series_first']:.3f} / {r['series_median']:.3f} | "
              f"{r['chart_points']} | "
              + (f"{base:.2f} | {base / r['series_median']:.0f}x |" if base else "- | - |"))
    print("target: first chart < 1 s. load average at the end: "
          + " ".join(f"{x:.2f}" for x in os.getloadavg()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
