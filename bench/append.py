"""Append throughput, size and memory of LogWriter against a raw msgpack+zstd loop (the floor).

    python bench/append.py [-n 1000000] [--frame-bytes 1048576] [--seed 0] [--dir DIR]

Both loops append the same N history records (`{"step": i, "data": {"m0".."m9": random floats}}`,
same seeded values) and include building the record in the timed loop. The raw loop packs the
same `[seq, "history", time.time(), body]` envelope with one msgpack.Packer, joins records into
frames of the same size bound and compresses each with one ZstdCompressor(level=3, checksum on),
writing to one file; it is what the writer cannot beat, minus thread hand-off, locking,
segments and crash tolerance.

Timing passes run without tracemalloc (it slows allocation several-fold); memory passes run the
same loops again under tracemalloc, reporting the peak and the traced memory in use at N/2 and
at N (equal-ish numbers mean memory does not grow with N). zstd's own C buffers are not traced
by tracemalloc; the process's ru_maxrss is printed at the end for the whole picture.
"""
from __future__ import annotations

import argparse
import os
import random
import resource
import shutil
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path
from typing import Callable, Dict, List, Optional

import msgpack
import zstandard

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # run from a checkout, too

from eventlog import LogWriter  # noqa: E402
from eventlog.logfile.writer import DEFAULT_FRAME_BYTES, DEFAULT_LEVEL  # noqa: E402

KEYS = [f"m{k}" for k in range(10)]


def make_bodies(seed: int) -> Callable[[int], dict]:
    rnd = random.Random(seed).random

    def body(i: int) -> dict:
        return {"step": i, "data": {k: rnd() for k in KEYS}}

    return body


class Probe:
    """Memory checkpoints at N/2 and N (only when tracing)."""

    def __init__(self, n: int, tracing: bool) -> None:
        self.half = n // 2 if tracing else -1
        self.tracing = tracing
        self.at_half = 0
        self.at_end = 0

    def end(self) -> None:
        if self.tracing:
            self.at_end = tracemalloc.get_traced_memory()[0]


def run_raw(path: Path, n: int, seed: int, frame_bytes: int, probe: Probe) -> int:
    body = make_bodies(seed)
    packer = msgpack.Packer(use_bin_type=True, autoreset=True)
    cctx = zstandard.ZstdCompressor(level=DEFAULT_LEVEL, write_checksum=True, write_content_size=True)
    pack, compress, now = packer.pack, cctx.compress, time.time
    buf: List[bytes] = []
    blen = 0
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    try:
        for i in range(n):
            p = pack([i, "history", now(), body(i)])
            buf.append(p)
            blen += len(p)
            if blen >= frame_bytes:
                os.write(fd, compress(b"".join(buf)))
                buf, blen = [], 0
            if i == probe.half:
                probe.at_half = tracemalloc.get_traced_memory()[0]
        if buf:
            os.write(fd, compress(b"".join(buf)))
        probe.end()
        os.fsync(fd)
    finally:
        os.close(fd)
    return path.stat().st_size


def run_writer(folder: Path, n: int, seed: int, frame_bytes: int, probe: Probe) -> int:
    body = make_bodies(seed)
    w = LogWriter(folder, "benchrun", frame_bytes=frame_bytes)
    append = w.append
    try:
        for i in range(n):
            append("history", body(i))
            if i == probe.half:
                probe.at_half = tracemalloc.get_traced_memory()[0]
        probe.end()
    finally:
        w.close()
    return sum(p.stat().st_size for p in (folder / "log").glob("seg-*.zst"))


def once(kind: str, base: Path, n: int, seed: int, frame_bytes: int, tracing: bool) -> Dict[str, float]:
    """One pass of one loop in a fresh folder: wall time, CPU time (all threads), size, memory."""
    target = base / kind
    shutil.rmtree(target, ignore_errors=True)
    target.mkdir(parents=True)
    probe = Probe(n, tracing)
    if tracing:
        tracemalloc.start()
    try:
        t0, c0 = time.perf_counter(), time.process_time()
        if kind == "raw":
            size = run_raw(target / "raw.zst", n, seed, frame_bytes, probe)
        else:
            size = run_writer(target / "run", n, seed, frame_bytes, probe)
        elapsed, cpu = time.perf_counter() - t0, time.process_time() - c0
        peak = tracemalloc.get_traced_memory()[1] if tracing else 0
    finally:
        if tracing:
            tracemalloc.stop()
        shutil.rmtree(target, ignore_errors=True)
    return {"rps": n / elapsed, "secs": elapsed, "cpu_us": cpu / n * 1e6, "bpr": size / n,
            "peak": peak, "half": probe.at_half, "end": probe.at_end}


def measure(base: Path, n: int, seed: int, frame_bytes: int, repeat: int) -> Dict[str, Dict[str, float]]:
    """Best of `repeat` alternating timing passes per loop, then one traced pass per loop."""
    best: Dict[str, Dict[str, float]] = {}
    for _ in range(repeat):
        for kind in ("raw", "writer"):
            r = once(kind, base, n, seed, frame_bytes, tracing=False)
            if kind not in best or r["rps"] > best[kind]["rps"]:
                best[kind] = r
    for kind in ("raw", "writer"):
        mem = once(kind, base, n, seed, frame_bytes, tracing=True)
        best[kind].update(peak=mem["peak"], half=mem["half"], end=mem["end"])
    return best


def main(argv: Optional[List[str]] = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("-n", type=int, default=1_000_000, help="records to append (default 1,000,000)")
    ap.add_argument("--frame-bytes", type=int, default=DEFAULT_FRAME_BYTES,
                    help=f"frame size bound for both loops (default {DEFAULT_FRAME_BYTES})")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--repeat", type=int, default=3,
                    help="timing passes per loop, alternating; the best is reported (default 3)")
    ap.add_argument("--dir", help="where to write (default: a temporary folder, removed afterwards)")
    args = ap.parse_args(argv)
    if args.n < 2:
        ap.error("-n must be at least 2")
    if args.repeat < 1:
        ap.error("--repeat must be at least 1")

    base = Path(args.dir) if args.dir else Path(tempfile.mkdtemp(prefix="evlog-bench-"))
    load = " ".join(f"{x:.2f}" for x in os.getloadavg())
    rss0 = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    try:
        results = measure(base, args.n, args.seed, args.frame_bytes, args.repeat)
        raw, writer = results["raw"], results["writer"]
    finally:
        if not args.dir:
            shutil.rmtree(base, ignore_errors=True)
    rss1 = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss

    mib = 1024 * 1024
    print(f"append benchmark: N={args.n:,} history records of 10 floats, frame bound "
          f"{args.frame_bytes:,} B, zstd level {DEFAULT_LEVEL}, Python {sys.version.split()[0]}, "
          f"{os.cpu_count()} CPUs, best of {args.repeat} timing passes; load average before: "
          f"{load}")
    print()
    head = f"{'loop':<10}{'records/s':>12}{'seconds':>9}{'CPU us/rec':>11}{'bytes/rec':>11}" \
           f"{'peak MiB':>10}{'MiB @N/2':>10}{'MiB @N':>9}"
    print(head)
    print("-" * len(head))
    for name, r in (("raw", raw), ("LogWriter", writer)):
        print(f"{name:<10}{r['rps']:>12,.0f}{r['secs']:>9.2f}{r['cpu_us']:>11.2f}{r['bpr']:>11.2f}"
              f"{r['peak'] / mib:>10.2f}"
              f"{r['half'] / mib:>10.2f}{r['end'] / mib:>9.2f}")
    print()
    speed = writer["rps"] / raw["rps"]
    size = writer["bpr"] / raw["bpr"]
    print(f"writer/raw records/s: {speed:.2f}x   (target >= 0.70x: {'met' if speed >= 0.7 else 'MISSED'})")
    print(f"writer/raw bytes/rec: {size:.3f}x  (target <= 1.10x: {'met' if size <= 1.10 else 'MISSED'})")
    print(f"process ru_maxrss: {rss0 / 1024:.1f} MiB before, {rss1 / 1024:.1f} MiB after (Linux KiB units)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
