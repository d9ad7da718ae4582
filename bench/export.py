"""Export speed: a run's history as CSV and JSON Lines, beside a raw baseline in the same run.

    python bench/export.py [-n 200000] [--dir DIR]

Writes one run folder of N history records of 10 float metrics (LogWriter), then times:
- `evlog export` to CSV and to JSON Lines (eventlog/rundir/export.py over the run folder's reader: the
  CSV reads the log twice, once for its header);
- the baseline: the same log decompressed and unpacked with plain zstandard + msgpack, written
  with the stdlib `csv` module in one pass (it knows the columns: no header pass, no damage
  handling, no flattening), and `json.dumps` per row for JSON Lines.
Prints records/s and the ratio against the baseline, plus bytes written.
"""
from __future__ import annotations

import argparse
import csv
import io
import json
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

KEYS = [f"metric_{k}" for k in range(10)]


def make_run(folder: Path, n: int) -> None:
    from eventlog import LogWriter

    w = LogWriter(folder, "benchexport")
    for i in range(n):
        w.append("history", {"step": i, "data": {k: i * 0.001 + j for j, k in enumerate(KEYS)}})
    w.close()


class Sink(io.TextIOBase):
    """Counts what is written (the export's output is not kept)."""

    def __init__(self) -> None:
        self.n = 0

    def write(self, s: str) -> int:
        self.n += len(s)
        return len(s)


def evlog_export(folder: Path, fmt: str) -> int:
    from eventlog.rundir import export

    out = Sink()
    out.writelines(export.lines(fmt, export.folder_rows(folder)))
    return out.n


def raw_records(folder: Path):
    import msgpack
    import zstandard

    for seg in sorted((folder / "log").glob("seg-*.zst")):
        data = zstandard.ZstdDecompressor().decompressobj(read_across_frames=True).decompress(seg.read_bytes())
        unpacker = msgpack.Unpacker(raw=False, max_buffer_size=max(len(data), 1))
        unpacker.feed(data)
        for item in unpacker:
            if type(item) is list and len(item) == 4 and item[1] == "history":
                yield item[3]


def baseline(folder: Path, fmt: str) -> int:
    out = Sink()
    if fmt == "csv":
        w = csv.writer(out)
        w.writerow(["_step"] + KEYS)
        for body in raw_records(folder):
            d = body["data"]
            w.writerow([body["step"]] + [d.get(k, "") for k in KEYS])
    else:
        for body in raw_records(folder):
            out.write(json.dumps({"_step": body["step"], **body["data"]}) + "\n")
    return out.n


def best_of(fn, *args, rounds: int = 3):
    best, size = float("inf"), 0
    for _ in range(rounds):
        t = time.perf_counter()
        size = fn(*args)
        best = min(best, time.perf_counter() - t)
    return best, size


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("-n", type=int, default=200_000)
    ap.add_argument("--dir", default=None)
    args = ap.parse_args()
    base = Path(tempfile.mkdtemp(prefix="evlog-bench-export-", dir=args.dir))
    try:
        folder = base / "run"
        make_run(folder, args.n)
        print(f"evlog bench/export.py: N={args.n:,} history records of 10 floats, Python {sys.version.split()[0]}, "
              f"{os.cpu_count()} CPUs, best of 3")
        print()
        print("| format | evlog export rec/s | baseline rec/s | x baseline | evlog bytes | baseline bytes |")
        print("|---|---|---|---|---|---|")
        for fmt in ("csv", "jsonl"):
            et, en = best_of(evlog_export, folder, fmt)
            bt, bn = best_of(baseline, folder, fmt)
            print(f"| {fmt} | {args.n / et:,.0f} | {args.n / bt:,.0f} | {bt / et:.2f} | {en:,} | {bn:,} |")
        print()
        print("baseline: plain zstandard + msgpack reading, stdlib csv.writer / json.dumps, known columns, one pass")
    finally:
        shutil.rmtree(base, ignore_errors=True)


if __name__ == "__main__":
    main()
