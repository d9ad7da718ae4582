"""Benchmark of the mlflow sink: rows/s it mirrors into a real `mlflow server` (SQLite backend on
127.0.0.1), beside MLflow's own client logging the same rows directly (MlflowClient.log_batch in
chunks of 1,000 metrics, MLflow's limit per request), in the same run of the benchmark.

The sink is fed by the syncer as `evlog sync --sink mlflow` does (in-process, so that the import of
mlflow, a few seconds, is not counted on either side). A row is one history record of KEYS scalars.
Target: the sink within 1.5x of the direct client's time.

    python bench/mlflow_sink.py [--steps 20000] [--keys 8] [--repeat 2]
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))


def start_server(base: Path) -> tuple:
    """(process, URI) of a fresh mlflow server with its database and artifacts in `base`."""
    import requests

    from server.testing import _die_with_parent, free_port

    port = free_port()
    out = open(base / "server.log", "wb")
    proc = subprocess.Popen(
        [sys.executable, "-m", "mlflow", "server", "--host", "127.0.0.1", "--port", str(port), "--workers", "1",
         "--backend-store-uri", f"sqlite:///{base / 'mlflow.db'}", "--artifacts-destination", str(base / "art")],
        stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, cwd=base, preexec_fn=_die_with_parent)
    uri = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 180
    while True:
        if proc.poll() is not None:
            raise SystemExit("mlflow server exited:\n" + (base / "server.log").read_text()[-2000:])
        try:
            if requests.get(uri + "/health", timeout=2).status_code == 200:
                return proc, uri
        except requests.RequestException:
            pass
        if time.monotonic() > deadline:
            raise SystemExit("mlflow server did not start in 180 s")
        time.sleep(0.2)


def write_run(folder: Path, run_id: str, steps: int, keys: int, t0: float) -> None:
    from eventlog import LogWriter

    with LogWriter(folder, run_id) as w:
        w.append("run", {"id": run_id, "name": run_id, "project": "bench-sink", "settings": {}}, when=t0)
        w.append("config", {"update": {"lr": 0.1, "keys": keys}}, when=t0)
        for step in range(steps):
            w.append("history", {"step": step, "data": {f"m{k}": step * 0.001 + k for k in range(keys)}},
                     when=t0 + step * 0.01)
        w.append("exit", {"exit_code": 0, "runtime": 1.0, "interrupted": False, "error": None},
                 when=t0 + steps * 0.01)


def time_sink(folder: Path, uri: str) -> float:
    from eventlog.sinks.registry import load
    from eventlog.sinks.syncer import Syncer, run_info

    run_id, run, _ = run_info(folder)
    env = dict(os.environ, EVLOG_MLFLOW_TRACKING_URI=uri)
    started = time.perf_counter()
    (res,) = Syncer(folder, [load("mlflow")], live=False, run_id=run_id, run=run, env=env,
                    warn=lambda m: None).run_all()
    took = time.perf_counter() - started
    if res.error:
        raise SystemExit(f"the sink failed: {res.error}")
    return took


def time_direct(uri: str, name: str, steps: int, keys: int, t0: float) -> float:
    from mlflow.entities import Metric, Param
    from mlflow.tracking import MlflowClient

    client = MlflowClient(tracking_uri=uri)
    started = time.perf_counter()
    exp = client.get_experiment_by_name("bench-direct")
    exp_id = exp.experiment_id if exp else client.create_experiment("bench-direct")
    run = client.create_run(exp_id, run_name=name)
    rid = run.info.run_id
    client.log_batch(rid, params=[Param("lr", "0.1"), Param("keys", str(keys))])
    batch = []
    for step in range(steps):
        ts = int(round((t0 + step * 0.01) * 1000))
        for k in range(keys):
            batch.append(Metric(f"m{k}", step * 0.001 + k, ts, step))
        if len(batch) >= 1000 - keys:
            client.log_batch(rid, metrics=batch)
            batch = []
    if batch:
        client.log_batch(rid, metrics=batch)
    client.set_terminated(rid, "FINISHED")
    return time.perf_counter() - started


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--steps", type=int, default=20000, help="history rows per run")
    ap.add_argument("--keys", type=int, default=8, help="scalars per row")
    ap.add_argument("--repeat", type=int, default=2, help="runs of each side (best kept)")
    args = ap.parse_args()
    os.environ.setdefault("MLFLOW_SUPPRESS_PRINTING_URL_TO_STDOUT", "true")  # as the sink has it
    import mlflow  # noqa: F401 - imported once, outside the timings

    with tempfile.TemporaryDirectory(prefix="evlog-bench-mlflow-") as tmp:
        base = Path(tmp)
        proc, uri = start_server(base)
        try:
            t0 = time.time()
            sink, direct = [], []
            for i in range(args.repeat):  # alternating which side goes first
                folder = base / f"run-{i}"
                write_run(folder, f"benchsink{i}", args.steps, args.keys, t0)
                for side in (("direct", "sink") if i % 2 == 0 else ("sink", "direct")):
                    if side == "direct":
                        direct.append(time_direct(uri, f"direct-{i}", args.steps, args.keys, t0))
                    else:
                        sink.append(time_sink(folder, uri))
        finally:
            proc.terminate()
            proc.wait(30)
    s, d = min(sink), min(direct)
    points = args.steps * args.keys
    print(f"mlflow server {uri} (SQLite), {args.steps:,} rows x {args.keys} scalars = {points:,} metric points, "
          f"best of {args.repeat}")
    print()
    print("| measure | time | rows/s | metric points/s |")
    print("|---|---|---|---|")
    print(f"| mlflow sink (`evlog sync --sink mlflow`, in-process) | {s:.2f} s | {args.steps / s:,.0f} | {points / s:,.0f} |")
    print(f"| MlflowClient.log_batch directly | {d:.2f} s | {args.steps / d:,.0f} | {points / d:,.0f} |")
    print(f"| ratio sink / direct (time) | {s / d:.2f}x | target <= 1.5x | |")
    print()
    print(json.dumps({"steps": args.steps, "keys": args.keys, "sink_s": sink, "direct_s": direct, "ratio": s / d}))


if __name__ == "__main__":
    main()
