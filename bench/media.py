"""Benchmark of media logging: a 256x256 RGB image every step for N steps (default 1,000).

For each kind of image (`smooth`: gradients and a moving disc, which PNG compresses well; `noise`:
random pixels, which it cannot compress) it prints, for evlog (`run.log({"img": eventlog.Image(a)})`,
offline, no sinks) and for tensorboardX (`writer.add_image("img", a, step, dataformats="HWC")`) in
the same run: ms per call (mean and median), the time to finish/close, and the bytes on disk (the
run folder: log + media files; the event file). Also evlog logging the same image every step
(stored once). Every case runs in a fresh subprocess.

    python bench/media.py                 # N = 1000
    python bench/media.py -n 200 --json out.json

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
SIDE = 256


def image(kind: str, i: int):
    import numpy as np

    if kind == "noise":
        return np.random.RandomState(i).randint(0, 256, (SIDE, SIDE, 3), dtype=np.uint8)
    y, x = np.mgrid[0:SIDE, 0:SIDE].astype(np.float32)
    cx, cy = (i * 7) % SIDE, (i * 3) % SIDE
    disc = ((x - cx) ** 2 + (y - cy) ** 2 < 40 ** 2) * 120.0
    r = x + disc
    g = y + (i % 50)
    b = (x + y) / 2 + 40 * np.sin((x + i) / 16.0)
    return np.clip(np.stack([r, g, b], axis=-1), 0, 255).astype(np.uint8)


def folder_bytes(path: str) -> int:
    total = 0
    for root, _, files in os.walk(path):
        for f in files:
            total += os.path.getsize(os.path.join(root, f))
    return total


def worker(tool: str, kind: str, n: int, work: str) -> dict:
    """One case, in this (fresh) process."""
    images = [image(kind, i if tool != "evlog-same" else 0) for i in range(n)]
    times = []
    if tool.startswith("evlog"):
        os.environ.update(EVLOG_SINKS="none", EVLOG_SILENT="true", EVLOG_MODE="offline", EVLOG_DISABLE_CODE="true",
                          EVLOG_DISABLE_GIT="true")
        import eventlog

        run = eventlog.init(dir=work)
        Image, log = eventlog.Image, run.log
        for i in range(n):
            t0 = time.perf_counter()
            log({"img": Image(images[i])})
            times.append(time.perf_counter() - t0)
        t0 = time.perf_counter()
        run.finish()
        close = time.perf_counter() - t0
        size = folder_bytes(run.dir)
        media = len(os.listdir(os.path.join(run.dir, "media")))
    else:
        from tensorboardX import SummaryWriter

        w = SummaryWriter(os.path.join(work, "tb"))
        for i in range(n):
            t0 = time.perf_counter()
            w.add_image("img", images[i], i, dataformats="HWC")
            times.append(time.perf_counter() - t0)
        t0 = time.perf_counter()
        w.close()
        close = time.perf_counter() - t0
        size = folder_bytes(os.path.join(work, "tb"))
        media = None
    return {"tool": tool, "kind": kind, "n": n, "ms_mean": 1000 * statistics.mean(times),
            "ms_median": 1000 * statistics.median(times), "close_s": close, "bytes": size, "media_files": media}


def run_case(tool: str, kind: str, n: int) -> dict:
    work = tempfile.mkdtemp(prefix="evlog-bench-media-")
    try:
        out = subprocess.run([sys.executable, HERE, "--worker", tool, kind, str(n), work], capture_output=True,
                             text=True, check=True)
        return json.loads(out.stdout.strip().splitlines()[-1])
    finally:
        shutil.rmtree(work, ignore_errors=True)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("-n", type=int, default=1000, help="steps (one image each)")
    ap.add_argument("--json", help="also write the results here")
    ap.add_argument("--worker", nargs=4, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.worker:
        tool, kind, n, work = args.worker
        print(json.dumps(worker(tool, kind, int(n), work)))
        return 0
    cases = [("evlog", "smooth"), ("tensorboardX", "smooth"), ("evlog", "noise"), ("tensorboardX", "noise"),
             ("evlog-same", "smooth")]
    results = [run_case(t, k, args.n) for t, k in cases]
    print(f"{args.n} steps, one {SIDE}x{SIDE} RGB image per step")
    print(f"{'case':<26}{'ms/call mean':>14}{'median':>9}{'finish s':>10}{'MiB on disk':>13}{'KiB/image':>11}")
    for r in results:
        name = f"{r['tool']} ({r['kind']})" if r["tool"] != "evlog-same" else "evlog (same image)"
        print(f"{name:<26}{r['ms_mean']:>14.2f}{r['ms_median']:>9.2f}{r['close_s']:>10.2f}"
              f"{r['bytes'] / 2**20:>13.1f}{r['bytes'] / 1024 / r['n']:>11.1f}")
    by = {(r["tool"], r["kind"]): r for r in results}
    for kind in ("smooth", "noise"):
        e, t = by[("evlog", kind)], by[("tensorboardX", kind)]
        print(f"{kind}: evlog/tensorboardX time per call {e['ms_mean'] / t['ms_mean']:.2f}x, "
              f"bytes {e['bytes'] / t['bytes']:.2f}x")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(results, f, indent=2)
    return 0


if __name__ == "__main__":
    sys.exit(main())
