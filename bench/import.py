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


# ---------------------------------------------------------- TensorBoard
def bench_tensorboard(n: int, repeat: int, tmp: Path) -> List[Row]:
    """N steps of 6 scalars written by tensorboardX; TensorBoard's own EventAccumulator loads every
    scalar of the same file (size_guidance 0: keep all) beside evlog's reader and the import."""
    import tensorboardX
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    from eventlog.interop.tb_import import import_tensorboard
    from eventlog.interop.tfevents import EventFile

    logdir = tmp / "tb-src"
    w = tensorboardX.SummaryWriter(str(logdir / "run"), max_queue=1000, flush_secs=3600)
    for i in range(n):
        for k, v in (("loss", 1.0 / (i + 1)), ("acc", i / n), ("lr", 0.1), ("grad", i * 0.5), ("t/a", float(i)),
                     ("t/b", -i)):
            w.add_scalar(k, v, i)
    w.close()
    (efile,) = (logdir / "run").iterdir()

    def accumulator() -> int:
        acc = EventAccumulator(str(logdir / "run"), size_guidance={"scalars": 0})
        acc.Reload()
        return len({e.step for tag in acc.Tags()["scalars"] for e in acc.Scalars(tag)})

    def evlog_read() -> int:
        return len({ev.step for ev in EventFile(efile).events() if ev.WhichOneof("what") == "summary"})

    def evlog_import() -> int:
        out = tmp / "tb-out"
        shutil.rmtree(out, ignore_errors=True)
        return import_tensorboard(logdir, str(out)).rows

    rows_acc, t_acc = best(accumulator, repeat)
    rows_read, t_read = best(evlog_read, repeat)
    rows_imp, t_imp = best(evlog_import, repeat)
    assert rows_acc == rows_read == rows_imp == n, (rows_acc, rows_read, rows_imp, n)
    mib = efile.stat().st_size / 2**20
    return [(f"tensorboard: EventAccumulator.Reload ({mib:.1f} MiB)", rows_acc, t_acc),
            ("tensorboard: evlog's reader (tfevents.EventFile)", rows_read, t_read),
            ("tensorboard: evlog import tensorboard (read + write)", rows_imp, t_imp)]


# ---------------------------------------------------------------- MLflow
def _mlflow_server(tmp: Path):
    """A local `mlflow server` (SQLite backend) on a free port: (process, URI)."""
    import requests

    from eventlog.server.testing import _die_with_parent, free_port

    port = free_port()
    log = open(tmp / "mlflow-server.log", "wb")
    proc = subprocess.Popen(
        [sys.executable, "-m", "mlflow", "server", "--host", "127.0.0.1", "--port", str(port), "--workers", "1",
         "--backend-store-uri", f"sqlite:///{tmp / 'mlflow.db'}", "--artifacts-destination", str(tmp / "art")],
        stdout=log, stderr=subprocess.STDOUT, start_new_session=True, preexec_fn=_die_with_parent)
    uri = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 120
    while True:
        try:
            if requests.get(uri + "/health", timeout=2).ok:
                return proc, uri
        except requests.RequestException:
            pass
        if proc.poll() is not None or time.monotonic() > deadline:
            raise RuntimeError("mlflow server did not start: see " + str(tmp / "mlflow-server.log"))
        time.sleep(0.3)


def bench_mlflow(n: int, repeat: int, tmp: Path) -> List[Row]:
    """A run of N steps of 6 metrics logged with log_batch into a local `mlflow server`; MLflow's own
    client reading it (get_run, then get_metric_history of each metric: what any full read needs)
    beside `import_mlflow` of the same run."""
    import signal

    from mlflow.entities import Metric
    from mlflow.tracking import MlflowClient

    from eventlog.interop.mlflow_import import import_mlflow

    proc, uri = _mlflow_server(tmp)
    try:
        client = MlflowClient(tracking_uri=uri)
        eid = client.create_experiment("bench")
        rid = client.create_run(eid, run_name="bench").info.run_id
        t0 = int(time.time() * 1000)
        batch: list = []
        for i in range(n):
            for k, v in (("loss", 1.0 / (i + 1)), ("acc", i / n), ("lr", 0.1), ("grad", i * 0.5), ("t/a", float(i)),
                         ("t/b", -i)):
                batch.append(Metric(k, v, t0 + i, i))
            if len(batch) >= 996 or i == n - 1:
                client.log_batch(rid, metrics=batch)
                batch = []
        client.set_terminated(rid, "FINISHED")

        def client_read() -> int:
            run = client.get_run(rid)
            return len({m.step for k in run.data.metrics for m in client.get_metric_history(rid, k)})

        def evlog_import() -> int:
            out = tmp / "mlflow-out"
            shutil.rmtree(out, ignore_errors=True)
            return import_mlflow(uri, str(out), experiment="bench").rows

        rows_read, t_read = best(client_read, repeat)
        rows_imp, t_imp = best(evlog_import, repeat)
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(30)
    assert rows_read == rows_imp == n, (rows_read, rows_imp, n)
    return [("mlflow: MlflowClient get_run + get_metric_history", rows_read, t_read),
            ("mlflow: evlog import mlflow (read + write the run)", rows_imp, t_imp)]


SOURCES: Dict[str, Callable[[int, int, Path], List[Row]]] = {"wandb": bench_wandb, "tensorboard": bench_tensorboard,
                                                             "mlflow": bench_mlflow}


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
