"""`evlog import` speed: history rows per second for each source, beside the source's own reader
scanning the same data in the same run (the floor: what reading alone costs).

    python bench/import.py [--rows N] [--repeat R] [--only wandb,...]

wandb: a run of N steps (6 metrics each) written by the real wandb package in offline mode; its
reader is the scan wandb's datastore.py did (wandb <= 0.17; 0.18+ moved it into the Go wandb-core,
which has no reading API): every chunk's CRC checked and every record parsed with wandb's own
protobuf `Record`. evlog's rows are `import_wandb` end to end: read, convert, write a clean run
folder. Sources are the SOURCES table; each entry returns rows (label, history rows, seconds).
"""
from __future__ import annotations

import argparse
import os
import shutil
import struct
import subprocess
import sys
import tempfile
import textwrap
import time
import zlib
from pathlib import Path
from typing import Callable, Dict, List, Tuple

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

Row = Tuple[str, int, float]

WANDB_RUN = textwrap.dedent('''
    import sys, wandb
    n = int(sys.argv[1])
    run = wandb.init(project="bench", config={"lr": 0.1})
    for i in range(n):
        run.log({"loss": 1.0 / (i + 1), "acc": i / n, "lr": 0.1, "grad": i * 0.5, "t/a": float(i), "t/b": -i}, step=i)
    run.finish()
''')


def best(fn: Callable[[], int], repeat: int) -> Tuple[int, float]:
    """(what fn returns, its fastest wall time of `repeat` runs)."""
    out, fastest = 0, float("inf")
    for _ in range(repeat):
        t0 = time.perf_counter()
        out = fn()
        fastest = min(fastest, time.perf_counter() - t0)
    return out, fastest


# ---------------------------------------------------------------- wandb
def _wandb_scan(path: Path) -> int:
    """The history records of a .wandb file, counted the way wandb's datastore scanned: chunk by
    chunk, CRC checked, each record parsed into wandb's protobuf Record."""
    from wandb.proto.wandb_internal_pb2 import Record

    crc_of = {t: zlib.crc32(bytes([t])) for t in (1, 2, 3, 4)}
    rows = 0
    with open(path, "rb") as f:
        f.read(7)
        pos, parts = 7, b""
        while True:
            room = 32768 - pos % 32768
            if room < 7:
                f.read(room)
                pos += room
            head = f.read(7)
            if len(head) < 7:
                break
            crc, n, kind = struct.unpack("<IHB", head)
            data = f.read(n)
            pos += 7 + n
            if zlib.crc32(data, crc_of[kind]) != crc:
                raise ValueError("checksum mismatch")
            parts = data if kind in (1, 2) else parts + data
            if kind in (1, 4):
                rec = Record()
                rec.ParseFromString(parts)
                rows += rec.WhichOneof("record_type") == "history"
    return rows


def bench_wandb(n: int, repeat: int, tmp: Path) -> List[Row]:
    from eventlog.interop.wandb_import import import_wandb
    from eventlog.interop.wandb_log import TransactionLog

    src = tmp / "wandb-src"
    src.mkdir()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("WANDB_", "EVLOG_"))}
    env.update(WANDB_MODE="offline", WANDB_DIR=str(src), WANDB_SILENT="true", HOME=str(src))
    subprocess.run([sys.executable, "-c", WANDB_RUN, str(n)], cwd=src, env=env, check=True, timeout=3600)
    [folder] = list((src / "wandb").glob("offline-run-*"))
    wfile = next(folder.glob("*.wandb"))

    def evlog_read() -> int:
        return sum(r.WhichOneof("record_type") == "history" for r in TransactionLog(str(wfile)).records())

    def evlog_import() -> int:
        out = tmp / "wandb-out"
        shutil.rmtree(out, ignore_errors=True)
        return import_wandb([str(folder)], str(out)).rows

    rows_scan, t_scan = best(lambda: _wandb_scan(wfile), repeat)
    rows_read, t_read = best(evlog_read, repeat)
    rows_imp, t_imp = best(evlog_import, repeat)
    assert rows_scan == rows_read == rows_imp == n, (rows_scan, rows_read, rows_imp, n)
    mib = wfile.stat().st_size / 2**20
    return [(f"wandb: wandb's record scan ({mib:.1f} MiB .wandb)", rows_scan, t_scan),
            ("wandb: evlog's reader (wandb_log.TransactionLog)", rows_read, t_read),
            ("wandb: evlog import wandb (read + write the run)", rows_imp, t_imp)]


SOURCES: Dict[str, Callable[[int, int, Path], List[Row]]] = {"wandb": bench_wandb}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--rows", type=int, default=20_000, help="history rows per source run (default 20000)")
    ap.add_argument("--repeat", type=int, default=3, help="runs of each measurement; the fastest counts")
    ap.add_argument("--only", default=None, help="comma-separated sources (default: all of " + ", ".join(SOURCES) + ")")
    args = ap.parse_args()
    names = args.only.split(",") if args.only else list(SOURCES)
    print(f"{'what':58} {'rows':>8} {'seconds':>8} {'rows/s':>10} {'vs reader':>9}")
    for name in names:
        with tempfile.TemporaryDirectory(prefix=f"bench-import-{name}-") as tmp:
            rows = SOURCES[name](args.rows, args.repeat, Path(tmp))
        base = rows[0][1] / rows[0][2]
        for label, n, secs in rows:
            rate = n / secs
            print(f"{label:58} {n:8d} {secs:8.3f} {rate:10.0f} {rate / base:8.2f}x")


if __name__ == "__main__":
    main()
