"""Benchmark of the run API's hot path: `run.log(d, step=i)` with 10 float scalars, offline.

Prints, for evlog and for the peers that are installed (wandb offline, tensorboardX with
`add_scalar` x10 per step, trackio), the log calls per second, `import` time, `init()` and
`finish()` time and peak memory, beside the raw floor measured in the same run: packing the same
records with msgpack's Packer and compressing them into zstd frames in one thread, which is what
the log writer does at the least. A second floor encodes with msgspec, the encoder of evlog's hot
path (the same bytes, made faster), so what the encoder alone is worth shows beside the ratio.
Every figure comes from a fresh subprocess.

Then the bytes per step of the log at throttled rates (100,000, 1,000 and 10 steps/s) against
the floor's bytes for the same records, and with `--fsync` the cost of an EVLOG_FSYNC policy.

    python bench/log.py                      # N = 1,000,000 steps for evlog, 20,000 for the peers
    python bench/log.py -n 100000 --peer-n 5000 --no-peers --json out.json
    python bench/log.py -n 200000 --no-peers --fsync write --bytes-rates ''

Targets (issues 3 and 14): run.log() >= 0.6x the floor's calls/s; bytes per step <= 1.15x the
floor's at 100,000 and 1,000 steps/s; `import eventlog` < 80 ms; offline init() < 50 ms; finish()
< 200 ms when no network sink waits; peak memory flat in N. On a busy machine the wall-clock ratio
swings; the CPU-time ratio (all threads) is steadier.

This is not a test: nothing here fails on a number; it prints them.
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.abspath(__file__)
KEYS = [f"metric_{k}" for k in range(10)]
FRAME_BYTES = 256 * 1024  # the floor's frames, as issues 3 and 14 measured it (the writer's are 1 MiB now)


def rss_mib() -> float:
    """Resident set size of this process now, MiB (Linux /proc; 0 elsewhere)."""
    try:
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20
    except (OSError, ValueError, IndexError):
        return 0.0


def peak_rss_mib() -> float:
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


POOL = [{k: i * 0.001 + j for j, k in enumerate(KEYS)} for i in range(1024)]


def values(i: int) -> dict:
    """The 10-float dict of step i: from a pool of 1024 distinct dicts, so building it costs nothing."""
    return POOL[i & 1023]


# ------------------------------------------------------------------------- workers
class Floor:
    """The raw floor: pack each record, compress 256 KiB frames, write them; one thread, no lock.
    `encoder` "msgpack" (the floor the targets name: msgpack's Packer) or "msgspec" (the encoder
    evlog's hot path uses: the same bytes, made faster), to show what the encoder alone is worth."""

    def __init__(self, folder: str, encoder: str = "msgpack") -> None:
        import zstandard

        if encoder == "msgspec":
            import msgspec

            self.pack = msgspec.msgpack.Encoder().encode
        else:
            import msgpack

            self.pack = msgpack.Packer(use_bin_type=True, autoreset=True).pack
        self.cctx = zstandard.ZstdCompressor(level=3, write_checksum=True, write_content_size=True)
        self.f = open(os.path.join(folder, f"floor-{encoder}.zst"), "wb")

    def run(self, start: int, stop: int) -> float:
        """Seconds to write records start..stop-1 (the frame in progress is written at the end)."""
        pack, now, compress, write = self.pack, time.time, self.cctx.compress, self.f.write
        buf, size = [], 0
        t0 = time.perf_counter()
        for i in range(start, stop):
            rec = pack([i, "history", now(), {"step": i, "data": values(i)}])
            buf.append(rec)
            size += len(rec)
            if size >= FRAME_BYTES:
                write(compress(b"".join(buf)))
                buf, size = [], 0
        if buf:
            write(compress(b"".join(buf)))
        self.f.flush()
        return time.perf_counter() - t0

    def close(self) -> None:
        os.fsync(self.f.fileno())
        self.f.close()


def sample_loop(n: int, call) -> tuple:
    """Run `call(i)` for i < n; returns (calls/s, RSS samples at 10 points)."""
    samples = []
    every = max(1, n // 10)
    t0 = time.perf_counter()
    for i in range(n):
        call(i)
        if i % every == 0:
            samples.append(round(rss_mib(), 1))
    rate = n / (time.perf_counter() - t0)
    samples.append(round(rss_mib(), 1))
    return rate, samples


def worker_evlog(n: int, folder: str, floor_too: bool) -> dict:
    """init(), N x run.log(d, step=i), finish(). With the floor, the loop runs in 10 rounds, each
    followed by the floor writing the same number of records, so both see the same machine load."""
    t = time.perf_counter()
    import eventlog

    out = {"import_in_process_ms": (time.perf_counter() - t) * 1000}
    floor = Floor(folder) if floor_too else None
    floor2 = Floor(folder, "msgspec") if floor_too else None
    t = time.perf_counter()
    run = eventlog.init(dir=folder, project="bench", mode="offline")
    out["init_ms"] = (time.perf_counter() - t) * 1000
    log, flush = run.log, run.save
    rounds = 10 if n >= 10 else 1
    bounds = [n * r // rounds for r in range(rounds + 1)]
    log_s, floor_s, floor2_s, ratios, rss = 0.0, 0.0, 0.0, [], [round(rss_mib(), 1)]
    log_cpu, floor_cpu = 0.0, 0.0
    for r in range(rounds):
        c = time.process_time()  # every thread of the process: the writer thread's work counts too
        t = time.perf_counter()
        for i in range(bounds[r], bounds[r + 1]):
            log(values(i), step=i)
        flush()  # the records of this round are compressed and written before the clock stops
        dt = time.perf_counter() - t
        log_cpu += time.process_time() - c
        log_s += dt
        rss.append(round(rss_mib(), 1))
        if floor is not None:
            c = time.process_time()
            fs = floor.run(bounds[r], bounds[r + 1])
            floor_cpu += time.process_time() - c
            floor_s += fs
            ratios.append(fs / dt)
            floor2_s += floor2.run(bounds[r], bounds[r + 1])
    out["rate"], out["rss"] = n / log_s, rss
    t = time.perf_counter()
    run.finish()
    out["finish_ms"] = (time.perf_counter() - t) * 1000
    out["peak_rss_mib"] = peak_rss_mib()
    if floor is not None:
        floor.close()
        floor2.close()
        out["floor_rate"] = n / floor_s
        out["floor_msgspec_rate"] = n / floor2_s
        out["round_ratios"] = ratios
        out["cpu_ratio"] = floor_cpu / log_cpu if log_cpu else None
    # a second run in the same process: init() without the first-use imports
    t = time.perf_counter()
    run2 = eventlog.init(dir=folder, project="bench", mode="offline")
    out["init_warm_ms"] = (time.perf_counter() - t) * 1000
    run2.log(values(0))
    t = time.perf_counter()
    run2.finish()
    out["finish_warm_ms"] = (time.perf_counter() - t) * 1000
    return out


def worker_wandb(n: int, folder: str) -> dict:
    os.environ.update(WANDB_MODE="offline", WANDB_DIR=folder, WANDB_SILENT="true", WANDB_CONSOLE="off")
    t = time.perf_counter()
    import wandb

    out = {"import_in_process_ms": (time.perf_counter() - t) * 1000}
    t = time.perf_counter()
    run = wandb.init(project="bench", dir=folder)
    out["init_ms"] = (time.perf_counter() - t) * 1000
    log = run.log
    out["rate"], out["rss"] = sample_loop(n, lambda i: log(values(i), step=i))
    t = time.perf_counter()
    run.finish()
    out["finish_ms"] = (time.perf_counter() - t) * 1000
    out["peak_rss_mib"] = peak_rss_mib()
    return out


def worker_tensorboardx(n: int, folder: str) -> dict:
    t = time.perf_counter()
    from tensorboardX import SummaryWriter

    out = {"import_in_process_ms": (time.perf_counter() - t) * 1000}
    t = time.perf_counter()
    writer = SummaryWriter(logdir=os.path.join(folder, "tbx"))
    out["init_ms"] = (time.perf_counter() - t) * 1000

    def call(i):
        for k, v in values(i).items():
            writer.add_scalar(k, v, i)

    out["rate"], out["rss"] = sample_loop(n, call)
    t = time.perf_counter()
    writer.close()
    out["finish_ms"] = (time.perf_counter() - t) * 1000
    out["peak_rss_mib"] = peak_rss_mib()
    return out


def worker_trackio(n: int, folder: str) -> dict:
    os.environ.update(HF_HOME=os.path.join(folder, "hf"), TRACKIO_DIR=os.path.join(folder, "trackio"))
    t = time.perf_counter()
    import trackio

    out = {"import_in_process_ms": (time.perf_counter() - t) * 1000}
    t = time.perf_counter()
    trackio.init(project="bench")
    out["init_ms"] = (time.perf_counter() - t) * 1000
    out["rate"], out["rss"] = sample_loop(n, lambda i: trackio.log(values(i), step=i))
    t = time.perf_counter()
    trackio.finish()
    out["finish_ms"] = (time.perf_counter() - t) * 1000
    out["peak_rss_mib"] = peak_rss_mib()
    return out


def worker_bytes(rate: float, n: int, folder: str, random_values: bool) -> dict:
    """Bytes per step of the log at a throttled rate: `n` history records appended by the log writer
    (as run.log() appends them) at `rate` steps/s, against the floor packing the very same records
    into 256 KiB frames. Only history records, so the figure is the format's and the writer's."""
    import msgpack
    import zstandard

    from eventlog import LogWriter
    from eventlog.logfile.segment import LOG_DIR, list_segments

    if random_values:
        import random

        rng = random.Random(1)
        pool = [{k: rng.random() for k in KEYS} for _ in range(1024)]
    else:
        pool = POOL
    w = LogWriter(folder, "bytes")
    header = sum(os.path.getsize(os.path.join(folder, LOG_DIR, name)) for _, name in list_segments(
        os.path.join(folder, LOG_DIR)))
    times = []
    t0 = time.perf_counter()
    for i in range(n):
        t = time.time()
        w.append_record("history", {"step": i, "data": pool[i & 1023]}, t)
        times.append(t)
        ahead = t0 + (i + 1) / rate - time.perf_counter()
        if ahead > 0.0005:
            time.sleep(ahead)
    w.close()
    log_bytes = sum(os.path.getsize(os.path.join(folder, LOG_DIR, name)) for _, name in list_segments(
        os.path.join(folder, LOG_DIR))) - header
    pack = msgpack.Packer(use_bin_type=True, autoreset=True).pack
    cctx = zstandard.ZstdCompressor(level=3, write_checksum=True, write_content_size=True)
    floor, buf, size = 0, [], 0
    for i, t in enumerate(times):
        rec = pack([i, "history", t, {"step": i, "data": pool[i & 1023]}])
        buf.append(rec)
        size += len(rec)
        if size >= FRAME_BYTES:
            floor += len(cctx.compress(b"".join(buf)))
            buf, size = [], 0
    if buf:
        floor += len(cctx.compress(b"".join(buf)))
    return {"rate": rate, "steps": n, "evlog_bytes_per_step": log_bytes / n, "floor_bytes_per_step": floor / n,
            "seconds": time.perf_counter() - t0}


WORKERS = {"evlog": worker_evlog, "wandb": worker_wandb, "tensorboardx": worker_tensorboardx,
           "trackio": worker_trackio, "bytes": worker_bytes}
MODULES = {"evlog": "eventlog", "wandb": "wandb", "tensorboardx": "tensorboardX", "trackio": "trackio"}


# ---------------------------------------------------------------------- the driver
def bench_env(cache: str, sinks) -> dict:
    """A clean environment for the workers: bytecode cached (as after `pip install`) in `cache`,
    no EVLOG_/WANDB_ settings from the caller."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("EVLOG_", "WANDB_"))}
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    env["PYTHONPYCACHEPREFIX"] = cache
    env["EVLOG_SILENT"] = "true"
    if sinks is not None:
        env["EVLOG_SINKS"] = sinks
    return env


def import_ms(module: str, env: dict, repeat: int) -> float:
    """Median wall-clock of `python -c "import M"` minus `python -c pass`, in ms."""
    def once(code):
        t = time.perf_counter()
        subprocess.run([sys.executable, "-c", code], env=env, check=True, stdout=subprocess.DEVNULL,
                       stderr=subprocess.DEVNULL)
        return time.perf_counter() - t

    once(f"import {module}")  # warm the bytecode cache and the page cache
    base, imp = [], []
    for _ in range(repeat):
        base.append(once("pass"))
        imp.append(once(f"import {module}"))
    return max(0.0, statistics.median(imp) - statistics.median(base)) * 1000


def run_worker(kind: str, n: int, env: dict, floor_too: bool = False, timeout: float = 3600,
               extra: tuple = ()) -> dict:
    folder = tempfile.mkdtemp(prefix=f"evlog-bench-{kind}-")
    try:
        cmd = [sys.executable, HERE, "--worker", kind, "-n", str(n), "--folder", folder, *extra]
        if floor_too:
            cmd.append("--floor")
        proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=timeout)
        if proc.returncode != 0:
            return {"error": (proc.stderr.strip().splitlines() or ["failed"])[-1]}
        return json.loads(proc.stdout.strip().splitlines()[-1])
    except subprocess.TimeoutExpired:
        return {"error": "timed out"}
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def installed(module: str, env: dict) -> bool:
    code = f"import importlib.util, sys; sys.exit(importlib.util.find_spec({module!r}) is None)"
    return subprocess.run([sys.executable, "-c", code], env=env).returncode == 0


def fmt(v, unit="", digits=0):
    if v is None:
        return "-"
    if isinstance(v, str):
        return v
    return f"{v:,.{digits}f}{unit}"


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("-n", type=int, default=1_000_000, help="steps for evlog and the floor (default 1,000,000)")
    ap.add_argument("--peer-n", type=int, default=20_000, help="steps for each peer (default 20,000)")
    ap.add_argument("--import-repeat", type=int, default=9)
    ap.add_argument("--init-repeat", type=int, default=5, help="fresh processes timing init()/finish()")
    ap.add_argument("--no-peers", action="store_true")
    ap.add_argument("--json", help="also write the results to this file")
    ap.add_argument("--worker", choices=sorted(WORKERS), help=argparse.SUPPRESS)
    ap.add_argument("--folder", help=argparse.SUPPRESS)
    ap.add_argument("--fsync", help="EVLOG_FSYNC for the evlog runs (off, frame, write, seconds)")
    ap.add_argument("--bytes-rates", default="100000:200000,1000:5000,10:100",
                    help="RATE:STEPS,... for the bytes-per-step table ('' skips it)")
    ap.add_argument("--floor", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--rate", type=float, help=argparse.SUPPRESS)
    ap.add_argument("--random", action="store_true", help=argparse.SUPPRESS)
    a = ap.parse_args(argv)

    if a.worker:
        fn = WORKERS[a.worker]
        if a.worker == "bytes":
            res = worker_bytes(a.rate, a.n, a.folder, a.random)
        else:
            res = fn(a.n, a.folder, a.floor) if a.worker == "evlog" else fn(a.n, a.folder)
        print(json.dumps(res))
        return 0

    cache = tempfile.mkdtemp(prefix="evlog-bench-pycache-")
    env = bench_env(cache, sinks="none")
    env_sinks = bench_env(cache, sinks=None)
    if a.fsync:
        env["EVLOG_FSYNC"] = env_sinks["EVLOG_FSYNC"] = a.fsync
    results = {"n": a.n, "peer_n": a.peer_n, "fsync": a.fsync or "off", "python": sys.version.split()[0],
               "cpus": os.cpu_count(),
               "date": time.strftime("%Y-%m-%d %H:%M")}
    print(f"evlog bench/log.py: N={a.n:,} (peers {a.peer_n:,}), Python {results['python']}, "
          f"{results['cpus']} CPUs, {results['date']}", flush=True)

    run_worker("evlog", 10, env_sinks)  # compiles and caches the bytecode of everything init() imports
    main_res = run_worker("evlog", a.n, env, floor_too=True)
    if "error" in main_res:
        print("evlog worker failed:", main_res["error"])
        return 1
    floor_rate = main_res["floor_rate"]
    results["evlog"] = main_res
    results["floor_rate"] = floor_rate

    # init()/finish() in fresh processes (no syncer, and with the default sinks' syncer)
    for label, e in (("no sinks", env), ("default sinks", env_sinks)):
        runs = [run_worker("evlog", 1000, e) for _ in range(a.init_repeat)]
        runs = [r for r in runs if "error" not in r]
        if runs:
            results.setdefault("init", {})[label] = {
                k: statistics.median(r[k] for r in runs) for k in ("init_ms", "finish_ms", "init_warm_ms",
                                                                   "finish_warm_ms")}
    results["import_ms"] = {"evlog": import_ms("eventlog", env, a.import_repeat)}

    peers = [] if a.no_peers else [p for p in ("wandb", "tensorboardx", "trackio") if installed(MODULES[p], env)]
    for p in peers:
        print(f"  measuring {p} ...", flush=True)
        results[p] = run_worker(p, a.peer_n, env)
        results["import_ms"][p] = import_ms(MODULES[p], env, max(3, a.import_repeat // 3))

    # ------------------------------------------------------------------ the table
    ev = results["evlog"]
    init = results.get("init", {})
    cols = ["evlog", "floor"] + peers
    rows = []
    rows.append(["log calls/s (10 floats)", fmt(ev["rate"]), fmt(floor_rate)]
                + [fmt(results[p].get("rate")) if "error" not in results[p] else results[p]["error"][:30]
                   for p in peers])
    rows.append(["x floor", f"{ev['rate'] / floor_rate:.2f}", "1.00"]
                + [f"{results[p]['rate'] / floor_rate:.3f}" if "rate" in results[p] else "-" for p in peers])
    rows.append(["x floor, CPU time of all threads", f"{ev['cpu_ratio']:.2f}", "1.00", *[""] * len(peers)])
    fm = ev["floor_msgspec_rate"]
    rows.append(["x the floor with msgspec's encoder", f"{ev['rate'] / fm:.2f}", f"{floor_rate / fm:.2f}",
                 *[""] * len(peers)])
    rows.append(["evlog is N x faster", "", ""]
                + [f"{ev['rate'] / results[p]['rate']:.0f}" if "rate" in results[p] else "-" for p in peers])
    rows.append(["import (ms)", fmt(results["import_ms"]["evlog"], digits=1), ""]
                + [fmt(results["import_ms"].get(p), digits=0) for p in peers])
    ns, ds = init.get("no sinks", {}), init.get("default sinks", {})
    rows.append(["init(), first in process (ms)", fmt(ns.get("init_ms"), digits=1), ""]
                + [fmt(results[p].get("init_ms"), digits=0) for p in peers])
    rows.append(["init(), later (ms)", fmt(ns.get("init_warm_ms"), digits=1), "", *[""] * len(peers)])
    rows.append(["init() with the syncer (ms)", fmt(ds.get("init_ms"), digits=1), "", *[""] * len(peers)])
    rows.append(["finish() (ms)", fmt(ns.get("finish_ms"), digits=1), ""]
                + [fmt(results[p].get("finish_ms"), digits=0) for p in peers])
    rows.append(["finish() with the syncer (ms)", fmt(ds.get("finish_ms"), digits=1), "", *[""] * len(peers)])
    rows.append([f"finish() after {a.n:,} steps (ms)", fmt(ev["finish_ms"], digits=1), "", *[""] * len(peers)])
    rows.append(["RSS over the loop (MiB, first..last)", f"{ev['rss'][0]}..{ev['rss'][-1]}", ""]
                + [f"{results[p]['rss'][0]}..{results[p]['rss'][-1]}" if "rss" in results[p] else "-"
                   for p in peers])
    rows.append(["peak RSS (MiB)", fmt(ev["peak_rss_mib"], digits=0), ""]
                + [fmt(results[p].get("peak_rss_mib"), digits=0) for p in peers])
    widths = [max(len(str(r[i])) for r in rows + [["", *cols]]) for i in range(len(cols) + 1)]
    line = lambda cells: "| " + " | ".join(str(c).ljust(w) for c, w in zip(cells, widths)) + " |"  # noqa: E731
    print()
    print(line(["", *cols]))
    print("|" + "|".join("-" * (w + 2) for w in widths) + "|")
    for r in rows:
        print(line(r))
    print()
    rr = sorted(main_res["round_ratios"])
    print(f"evlog and the floor ran in 10 alternating rounds of {a.n // 10:,} steps; evlog/floor per round: "
          f"min {rr[0]:.2f}, median {statistics.median(rr):.2f}, max {rr[-1]:.2f}")
    print(f"peers ran {a.peer_n:,} steps (their rates do not depend on N); the import times are wall-clock "
          "`python -c 'import M'` minus `python -c pass`, bytecode cached")
    target = ev["rate"] / floor_rate >= 0.6
    print(f"targets: log >= 0.6x floor: {'met' if target else 'NOT met'}; import < 80 ms: "
          f"{'met' if results['import_ms']['evlog'] < 80 else 'NOT met'}; first init() < 50 ms: "
          f"{'met' if ns.get('init_ms', 1e9) < 50 else 'NOT met'}; finish() < 200 ms: "
          f"{'met' if ns.get('finish_ms', 1e9) < 200 else 'NOT met'}")
    if a.bytes_rates:
        print("\nbytes per step of the log (history records only) at throttled rates, against the floor's "
              "256 KiB frames of the same records:")
        print("| steps/s | steps | values | evlog B/step | floor B/step | evlog / floor |")
        print("|---|---|---|---|---|---|")
        for spec in a.bytes_rates.split(","):
            rate, steps = spec.split(":")
            for rnd in (False, True):
                res = run_worker("bytes", int(steps), env, extra=("--rate", rate) + (("--random",) if rnd else ()))
                results.setdefault("bytes", []).append(dict(res, random=rnd))
                if "error" in res:
                    print(f"| {rate} | {steps} | error: {res['error']} |")
                    continue
                e, f_ = res["evlog_bytes_per_step"], res["floor_bytes_per_step"]
                print(f"| {float(rate):,.0f} | {int(steps):,} | {'10 random floats' if rnd else 'bench values'} "
                      f"| {e:.1f} | {f_:.1f} | {e / f_:.3f} |", flush=True)
    if a.json:
        with open(a.json, "w") as f:
            json.dump(results, f, indent=2)
    shutil.rmtree(cache, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
