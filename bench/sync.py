"""Benchmark of the syncer and `evlog sync`.

1. Latency from `log()` to delivery in a sink (p50, p99) while a program logs 1,000 steps/s with
   default settings (the live syncer started by `init()`, or by the engine when the run API is
   absent). Target: p99 under 1.5 s.
2. Replay throughput of `evlog sync --sink tensorboard` (records/s), beside tensorboardX writing the
   same scalars directly (SummaryWriter.add_scalar, then close) in the same run. Target: at least
   as fast as the direct writes.

    python bench/sync.py [--seconds 10] [--steps 20000] [--keys 8]
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

LATENCY_SINK = textwrap.dedent('''
    import os, time
    from eventlog.sinks import Sink

    class LatencySink(Sink):
        """Writes `seq latency` for every history record as it is delivered."""
        name = "latency"

        def open(self, ctx):
            self.f = open(ctx.state_dir / "latency.txt", "a")

        def write(self, records):
            now = time.time()
            self.f.write("".join(f"{r.seq} {now - r.time:.6f}\\n" for r in records if r.type == "history"))
            return None

        def flush(self):
            self.f.flush()
            return None

        def close(self, state):
            self.f.close()
''')

PROGRAM = textwrap.dedent('''
    import os, sys, time
    seconds, rate = float(sys.argv[1]), int(sys.argv[2])
    import eventlog
    if hasattr(eventlog, "init"):
        run = eventlog.init(project="bench", dir=".", mode="offline", config={"rate": rate})
        log, finish, folder = eventlog.log, run.finish, None
    else:  # before the run API: the engine the way init() drives it
        from eventlog import LogWriter
        from eventlog.runapi.syncproc import start_syncer, wait_syncer
        folder = "evlog/run-bench"
        w = LogWriter(folder, "benchrun")
        w.append("run", {"id": "benchrun", "name": "bench", "mode": "offline", "settings": {}})
        w.flush()
        h = start_syncer(folder, parent_pid=os.getpid())
        step = [0]
        def log(data):
            w.append("history", {"step": step[0], "data": data}); step[0] += 1
        def finish():
            w.append("exit", {"exit_code": 0, "runtime": seconds}); w.close(); wait_syncer(h, 60)
    n = int(seconds * rate)
    t0 = time.perf_counter()
    for i in range(n):
        target = t0 + i / rate
        d = target - time.perf_counter()
        if d > 0:
            time.sleep(d)
        log({"loss": 1.0 / (i + 1), "acc": i / n})
    took = time.perf_counter() - t0
    finish()
    print(f"logged {n} steps in {took:.2f} s ({n / took:.0f} steps/s)", flush=True)
''')


def pct(values, q):  # noqa: ANN001, ANN201
    values = sorted(values)
    return values[min(len(values) - 1, int(q / 100 * len(values)))]


def latency(work: Path, seconds: float, rate: int) -> dict:
    plugins = work / "plugins"
    plugins.mkdir()
    (plugins / "benchsinks.py").write_text(LATENCY_SINK)
    (work / "program.py").write_text(PROGRAM)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("EVLOG_", "WANDB_"))}
    env.update(PYTHONPATH=str(plugins), EVLOG_SINKS="benchsinks:LatencySink,tensorboard", EVLOG_SILENT="true")
    run_dir = work / "live"
    run_dir.mkdir()
    out = subprocess.run([sys.executable, str(work / "program.py"), str(seconds), str(rate)], cwd=run_dir,
                         env=env, capture_output=True, text=True, timeout=seconds * 10 + 120)
    if out.returncode != 0:
        raise SystemExit(f"program failed: {out.stderr}")
    files = list(run_dir.glob("evlog/run-*/sinks/latency/latency.txt"))
    lat = [float(line.split()[1]) for line in files[0].read_text().splitlines()]
    return {"note": out.stdout.strip(), "n": len(lat), "p50": pct(lat, 50), "p99": pct(lat, 99), "max": max(lat)}


def make_log(folder: Path, steps: int, keys: int) -> int:
    from eventlog import LogWriter

    with LogWriter(folder, "replay01") as w:
        w.append("run", {"id": "replay01", "name": "replay", "mode": "offline", "settings": {}})
        w.append("config", {"update": {"lr": 0.01}})
        for step in range(steps):
            w.append("history", {"step": step, "data": {f"metric_{k}": (step * 0.001 + k) for k in range(keys)}})
        w.append("exit", {"exit_code": 0, "runtime": 1.0})
        return w.next_seq


def replay(work: Path, steps: int, keys: int) -> dict:
    folder = work / "replay"
    records = make_log(folder, steps, keys)
    exe = Path(sys.executable).parent / "evlog"
    cmd = [str(exe)] if exe.exists() else [sys.executable, "-c", "import sys; from eventlog.cli import main; sys.exit(main())"]
    t = time.perf_counter()
    r = subprocess.run(cmd + ["sync", str(folder), "--sink", "tensorboard"], capture_output=True, text=True)
    ours = time.perf_counter() - t
    if r.returncode != 0:
        raise SystemExit(f"evlog sync failed: {r.stderr}")

    # baseline: tensorboardX writing the same scalars directly, in this process
    from tensorboardX import SummaryWriter

    data = [{f"metric_{k}": (step * 0.001 + k) for k in range(keys)} for step in range(steps)]
    base_dir = work / "direct"
    t = time.perf_counter()
    w = SummaryWriter(str(base_dir))
    for step, values in enumerate(data):
        for k, v in values.items():
            w.add_scalar(k, v, step)
    w.close()
    direct = time.perf_counter() - t
    return {"records": records, "ours_s": ours, "direct_s": direct, "ours_rps": records / ours,
            "direct_rps": records / direct}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seconds", type=float, default=10.0, help="logging time of the latency run")
    ap.add_argument("--rate", type=int, default=1000, help="steps per second of the latency run")
    ap.add_argument("--steps", type=int, default=20000, help="history records of the replay run")
    ap.add_argument("--keys", type=int, default=8, help="scalars per step of the replay run")
    args = ap.parse_args()
    work = Path(tempfile.mkdtemp(prefix="evlog-bench-sync-"))
    try:
        lat = latency(work, args.seconds, args.rate)
        rep = replay(work, args.steps, args.keys)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    print(f"latency run: {lat['note']}")
    print()
    print("| measure | evlog | baseline / target | ratio |")
    print("|---|---|---|---|")
    print(f"| log() -> sink latency p50 | {lat['p50'] * 1000:.0f} ms | | |")
    print(f"| log() -> sink latency p99 | {lat['p99'] * 1000:.0f} ms | target < 1500 ms | "
          f"{lat['p99'] / 1.5:.2f} of target |")
    print(f"| log() -> sink latency max | {lat['max'] * 1000:.0f} ms | | |")
    print(f"| replay `evlog sync --sink tensorboard` ({rep['records']:,} records, {args.keys} scalars/step) | "
          f"{rep['ours_rps']:,.0f} records/s ({rep['ours_s']:.2f} s, whole command) | tensorboardX direct "
          f"{rep['direct_rps']:,.0f} records/s ({rep['direct_s']:.2f} s) | "
          f"{rep['ours_rps'] / rep['direct_rps']:.2f}x |")
    print()
    print(json.dumps({"latency": lat, "replay": rep}))


if __name__ == "__main__":
    main()
