"""Server ingestion benchmark: K runs synced concurrently into an evlog server.

Each of K client processes syncs one offline run folder (STEPS history records of 10 scalars)
into a server started with `--workers W`, on SQLite and on PostgreSQL (a throwaway cluster with
default, durable settings). Two clients:

- `frames` (default): ships the segment files' zstd frames as they are (spec/protocol.md 3.2), so
  the client costs next to nothing and the figure is the server's;
- `sink`: the real syncer and HTTP sink, exactly as `evlog sync` runs them (the client then reads,
  decodes and re-encodes every record, on the same 2 CPUs as the server).

Reported: records/s ingested (all records of all runs / wall time from the common start to the
last run done) and the p50/p99 latency of the records requests. The baseline, measured in the same
run, is the server's own per-record work (decompress, decode, validate, apply) on one core with no
HTTP and no database: the ratio shows how much of two cores the whole path turns into throughput.

    python bench/ingest.py                       # K = 1, 8, 32; workers 1, 2; SQLite and PostgreSQL
    python bench/ingest.py --runs 8 --backends postgresql --workers 2 --steps 20000
"""
from __future__ import annotations

import argparse
import multiprocessing as mp
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Dict, List, Optional, Tuple

from eventlog import LogWriter
from eventlog.server import accounts
from eventlog.server.db import make_engine
from eventlog.server.migrations import migrate
from eventlog.server.testing import PgCluster, ServerProcess, pg_bindir

T0 = 1_700_000_000.0
SCALARS = 10


# ------------------------------------------------------------------ run folders
def make_run(folder: Path, run_id: str, steps: int) -> int:
    """An offline run folder: run record, config, `steps` history records, exit. Returns records."""
    w = LogWriter(folder, run_id)  # default frame size: frames of about 1 MiB of records
    w.append("run", {"id": run_id, "name": run_id, "project": "bench", "entity": "bench", "group": "bench",
                     "job_type": "train", "notes": None, "tags": [], "mode": "offline", "start_time": T0,
                     "settings": {}, "program": {"argv": ["bench"]}, "git": None, "code": None}, when=T0)
    w.append("config", {"update": {"lr": 0.001, "batch": 64}}, when=T0)
    for i in range(steps):
        w.append("history", {"step": i, "data": {f"metric_{j}": (i * 7 + j) % 1000 / 7.0 for j in range(SCALARS)}},
                 when=T0 + i * 0.01)
    w.append("exit", {"exit_code": 0, "runtime": steps * 0.01, "interrupted": False, "error": None})
    w.close()
    return steps + 3


def _make_one(args: Tuple[str, str, int]) -> int:
    return make_run(Path(args[0]), args[1], args[2])


def ensure_runs(root: Path, count: int, steps: int) -> List[Path]:
    folders = [root / f"run-{i:03d}" for i in range(count)]
    todo = [(str(f), f"bench{i:03d}", steps) for i, f in enumerate(folders) if not (f / "log").exists()]
    if todo:
        print(f"writing {len(todo)} run folders of {steps} steps ...", file=sys.stderr)
        with mp.get_context("fork").Pool(min(len(todo), os.cpu_count() or 2)) as pool:
            pool.map(_make_one, todo)
    return folders


# ---------------------------------------------------------------------- clients
def frame_batches(folder: Path, batch_bytes: int) -> List[bytes]:
    """The run's record frames as they are in its segments, grouped into request bodies of about
    `batch_bytes` decompressed bytes (frames are never split, the header frames left out)."""
    import struct

    import zstandard

    from eventlog.logfile.segment import LOG_DIR, ZSTD_MAGIC, list_segments, zstd_frame_end

    bodies: List[bytes] = []
    cur: List[bytes] = []
    size = 0
    for _, name in list_segments(folder / LOG_DIR):
        data = (folder / LOG_DIR / name).read_bytes()
        pos = 0
        while pos < len(data):
            end = zstd_frame_end(data, pos)
            if struct.unpack_from("<I", data, pos)[0] == ZSTD_MAGIC:
                frame = data[pos:end]
                cur.append(frame)
                size += zstandard.frame_content_size(frame)
                if size >= batch_bytes:
                    bodies.append(b"".join(cur))
                    cur, size = [], 0
            pos = end
    if cur:
        bodies.append(b"".join(cur))
    return bodies


def _frames_client(folder: str, env: Dict[str, str], start: "mp.synchronize.Event", out: "mp.Queue") -> None:
    import requests

    bodies = frame_batches(Path(folder), int(env["BATCH_BYTES"]))
    run_id = Path(folder).name.replace("run-", "bench")
    url = f"{env['EVLOG_BASE_URL']}/api/v1/runs/bench/bench/{run_id}/records"
    session = requests.Session()
    session.headers.update({"Authorization": f"Bearer {env['EVLOG_API_KEY']}",
                            "Content-Type": "application/vnd.evlog.frames+zstd"})
    latencies: List[float] = []
    next_seq, error = 0, None
    start.wait()
    began = time.monotonic()
    for body in bodies:
        t = time.monotonic()
        r = session.post(url, data=body, timeout=300)
        if r.status_code != 200:
            error = f"{r.status_code} {r.text[:200]}"
            break
        latencies.append(time.monotonic() - t)
        next_seq = r.json()["next_seq"]
    out.put({"records": next_seq, "error": error, "seconds": time.monotonic() - began, "latencies": latencies})


def _sink_client(folder: str, env: Dict[str, str], start: "mp.synchronize.Event", out: "mp.Queue") -> None:
    from eventlog.sinks.http import HttpSink
    from eventlog.sinks.syncer import Syncer, run_info

    shutil.rmtree(Path(folder) / "sinks", ignore_errors=True)
    run_id, run, _ = run_info(Path(folder))
    syncer = Syncer(Path(folder), [HttpSink], live=False, run_id=run_id, run=run, env=env,
                    warn=lambda m: print(f"client: {m}", file=sys.stderr))
    start.wait()
    began = time.monotonic()
    results = syncer.run_all()
    took = time.monotonic() - began
    sink = syncer.runners[0].sink
    out.put({"records": results[0].delivered, "error": results[0].error, "seconds": took,
             "latencies": list(getattr(sink, "latencies", []))})


def sync_concurrently(folders: List[Path], url: str, key: str, batch: int, client: str,
                      cpu_pids: Tuple[int, ...] = ()) -> Dict[str, float]:
    ctx = mp.get_context("fork")
    start, out = ctx.Event(), ctx.Queue()
    cfg = tempfile.mkdtemp(prefix="evlog-bench-cfg-")
    env = {"EVLOG_BASE_URL": url, "EVLOG_API_KEY": key, "EVLOG_HTTP_BATCH_RECORDS": str(batch),
           "BATCH_BYTES": str(batch * 215), "EVLOG_CONFIG_DIR": cfg}
    target = _frames_client if client == "frames" else _sink_client
    procs = [ctx.Process(target=target, args=(str(f), env, start, out)) for f in folders]
    for p in procs:
        p.start()
    time.sleep(1.0 + 0.05 * len(procs))  # let every client import and prepare before the common start
    cpu0 = [tree_cpu(p) for p in cpu_pids]
    clients0 = children_cpu()
    began = time.monotonic()
    start.set()
    reports = [out.get() for _ in procs]
    wall = time.monotonic() - began
    cpu1 = [tree_cpu(p) for p in cpu_pids]
    for p in procs:
        p.join()
    shutil.rmtree(cfg, ignore_errors=True)
    client_cpu = children_cpu() - clients0
    errors = [r["error"] for r in reports if r["error"]]
    if errors:
        raise RuntimeError(f"{len(errors)} clients failed: {errors[0]}")
    lat = sorted(x for r in reports for x in r["latencies"])
    records = sum(r["records"] for r in reports)
    used = [b - a for a, b in zip(cpu0, cpu1)]
    return {"records": records, "seconds": wall, "rate": records / wall, "requests": len(lat),
            "server_us": 1e6 * used[0] / records if used else 0.0,
            "db_us": 1e6 * used[1] / records if len(used) > 1 else 0.0,
            "client_us": 1e6 * client_cpu / records,
            "p50_ms": 1000 * lat[len(lat) // 2] if lat else 0.0,
            "p99_ms": 1000 * lat[min(len(lat) - 1, int(len(lat) * 0.99))] if lat else 0.0}


# ------------------------------------------------------------------ CPU accounting
def tree_cpu(pid: int) -> float:
    """CPU seconds (user + system) used so far by a process and its live descendants (Linux /proc)."""
    tick = os.sysconf("SC_CLK_TCK")
    total, todo, seen = 0.0, [pid], set()
    while todo:
        p = todo.pop()
        if p in seen:
            continue
        seen.add(p)
        try:
            fields = Path(f"/proc/{p}/stat").read_text().rsplit(")", 1)[1].split()
            total += (int(fields[11]) + int(fields[12])) / tick
            for task in Path(f"/proc/{p}/task").iterdir():
                todo.extend(int(c) for c in (task / "children").read_text().split())
        except (OSError, ValueError, IndexError):
            continue
    return total


def children_cpu() -> float:
    import resource

    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


# ----------------------------------------------------------------------- baseline
def server_cpu_floor(folder: Path, batch: int) -> float:
    """Records/s of the server's per-record work on one core: decode and apply, no HTTP, no database."""
    from eventlog.server.runstate import RunState
    from eventlog.server.wire import decode_body

    bodies = frame_batches(folder, batch * 215)
    began = time.monotonic()
    state = RunState()
    n = 0
    for body in bodies:
        decoded = decode_body(body, max_decompressed=1 << 30)
        if state.pk is None:
            state.start(decoded.records[0], decoded.records[0][3]["id"], False)
            state.pk = 1
        n += state.apply(decoded.records, 0)
        decoded.raw(0, len(decoded.records))
    return n / (time.monotonic() - began)


# --------------------------------------------------------------------------- main
def main(argv: Optional[List[str]] = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", default="1,8,32", help="values of K (comma-separated)")
    ap.add_argument("--workers", default="1,2", help="server worker counts (comma-separated)")
    ap.add_argument("--backends", default="sqlite,postgresql")
    ap.add_argument("--steps", type=int, default=100_000, help="history steps per run")
    ap.add_argument("--batch", type=int, default=10_000, help="records per request (about)")
    ap.add_argument("--client", choices=["frames", "sink"], default="frames")
    ap.add_argument("--cache", default=None, help="folder to keep generated run folders in between runs")
    args = ap.parse_args(argv)
    ks = [int(x) for x in args.runs.split(",")]
    workers = [int(x) for x in args.workers.split(",")]
    backends = [b.strip() for b in args.backends.split(",")]
    tmp = Path(tempfile.mkdtemp(prefix="evlog-bench-"))
    cache = Path(args.cache) if args.cache else tmp / "runs"
    cluster: Optional[PgCluster] = None
    rows: List[Tuple] = []
    try:
        folders = ensure_runs(cache / f"steps{args.steps}", max(ks), args.steps)
        if "postgresql" in backends:
            if pg_bindir() is None:
                print("PostgreSQL is not installed (scripts/setup-postgres.sh): skipping it", file=sys.stderr)
                backends.remove("postgresql")
            else:
                cluster = PgCluster(durable=True, settings={"max_wal_size": "4GB"}).start()
        n_db = 0
        for backend in backends:
            def new_db() -> str:
                nonlocal n_db
                n_db += 1
                if backend == "sqlite":
                    return f"sqlite:///{tmp / f'bench{n_db}.db'}"
                return cluster.create_database(f"bench{n_db}")  # type: ignore[union-attr]

            baseline = server_cpu_floor(folders[0], args.batch)
            for w in workers:
                for k in ks:
                    db = new_db()
                    engine = make_engine(db, pool_size=1)
                    migrate(engine)
                    key = accounts.add_user(engine, "bench")
                    accounts.set_visibility(engine, "bench/bench", "private")
                    engine.dispose()
                    srv = ServerProcess(db, workers=w, log_path=tmp / "server.log").start()
                    try:
                        print(f"{backend} workers={w} K={k} ...", file=sys.stderr)
                        pids = (srv.proc.pid,) + ((cluster.postmaster_pid(),) if backend == "postgresql" else ())
                        res = sync_concurrently(folders[:k], srv.url, key, args.batch, args.client, pids)
                    finally:
                        srv.stop()
                    cpu_us = res["server_us"] + res["db_us"] + res["client_us"]
                    rows.append((backend, w, k, res["records"], res["seconds"], res["rate"], res["p50_ms"],
                                 res["p99_ms"], res["requests"], res["server_us"], res["db_us"], res["client_us"],
                                 2e6 / cpu_us, res["rate"] / baseline, baseline))
    finally:
        if cluster is not None:
            cluster.stop()
        shutil.rmtree(tmp, ignore_errors=True)  # databases, logs (and the run folders unless --cache)
    print(f"\nevlog server ingestion: {args.steps} steps x {SCALARS} scalars per run, about {args.batch} records "
          f"per request, client {args.client}, {os.cpu_count()} CPUs")
    print("CPU columns: CPU time per record of the server (all workers), the database server (PostgreSQL's "
          "processes; SQLite runs inside the server) and the clients; 'CPU-bound' = 2 CPUs / their sum, the "
          "rate on an otherwise idle machine. The load average during the run shows how idle it was.")
    print("| backend | workers | K | records | seconds | records/s | p50 ms | p99 ms | requests | server us/rec "
          "| db us/rec | client us/rec | CPU-bound records/s | vs 1-core floor |")
    print("|---|---|---|---|---|---|---|---|---|---|---|---|---|---|")
    for b, w, k, n, s, rate, p50, p99, req, su, du, cu, bound, ratio, base in rows:
        print(f"| {b} | {w} | {k} | {n:,} | {s:.1f} | {rate:,.0f} | {p50:.0f} | {p99:.0f} | {req} | {su:.1f} | "
              f"{du:.1f} | {cu:.1f} | {bound:,.0f} | {ratio:.2f} of {base:,.0f}/s |")
    print(f"load average at the end: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
