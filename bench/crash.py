"""Side-by-side SIGKILL test: how many completed log() calls evlog and wandb (offline) lose.

A worker process logs 10 random floats per step at a fixed rate; about `--seconds` after init()
returned it is killed with SIGKILL, either the Python process alone or its whole process group (an
OOM kill takes the helpers too). Steps lost = completed `log()` calls (counted in a shared memory
page the worker updates after each call returns) minus the steps found on disk afterwards. wandb
is measured only when it is installed (`pip install wandb`).

    python bench/crash.py                               # rates 10 .. 100,000 steps/s, 3 repetitions
    python bench/crash.py --rates 1000,2500 --reps 5 --tools evlog --json out.json
    python bench/crash.py --tools evlog --fsync write     # what the fsync policy costs in losses

This is not a test: nothing here fails on a number; it prints the table.
"""
from __future__ import annotations

import argparse
import json
import mmap
import os
import random
import shutil
import signal
import statistics
import struct
import subprocess
import sys
import tempfile
import time

HERE = os.path.abspath(__file__)
RATES = (10, 100, 1000, 2500, 10_000, 100_000)
KILLS = ("process", "group")
POOL = 4096


# ------------------------------------------------------------------------- the worker
def _pool() -> list:
    rng = random.Random(1)
    return [{f"m{k}": rng.random() for k in range(10)} for _ in range(POOL)]


def worker(tool: str, rate: float, folder: str, counter: str) -> None:
    """init(), then log() forever at `rate` steps/s; counter page: [steps done, ready flag]."""
    fd = os.open(counter, os.O_RDWR)
    page = mmap.mmap(fd, 16)
    pool = _pool()
    if tool == "evlog":
        import eventlog as lib

        run = lib.init(dir=folder, project="crash", mode="offline")
    else:
        os.environ.update(WANDB_MODE="offline", WANDB_DIR=folder, WANDB_SILENT="true", WANDB_CONSOLE="off")
        import wandb as lib

        run = lib.init(project="crash", dir=folder)
    log, pack_into, perf = run.log, struct.pack_into, time.perf_counter
    pack_into("<q", page, 8, 1)
    t0 = perf()
    i = 0
    while True:
        log(pool[i & (POOL - 1)])
        i += 1
        pack_into("<q", page, 0, i)  # after log() returned: this call is complete
        ahead = t0 + i / rate - perf()
        if ahead > 0.0005:
            time.sleep(ahead)


# ----------------------------------------------------------------- counting what is on disk
def steps_on_disk_evlog(folder: str) -> int:
    from eventlog import LogReader

    runs = [os.path.join(folder, "evlog", d) for d in os.listdir(os.path.join(folder, "evlog")) if d.startswith("run-")]
    return sum(1 for r in runs for rec in LogReader(r).records() if rec.type == "history")


def wandb_records(path: str) -> list:
    """The payloads of a wandb transaction log (`.wandb`: LevelDB's log format, 32 KiB blocks of
    7-byte-headed chunks, after a 7-byte ":W&B" header), up to the first torn or bad chunk."""
    import zlib

    with open(path, "rb") as f:
        data = f.read()
    if data[:4] != b":W&B":
        return []
    out, parts, pos, n = [], [], 7, len(data)
    while True:
        left = 32768 - pos % 32768
        if left < 7:
            pos += left
        if pos + 7 > n:
            return out
        crc, length, kind = struct.unpack_from("<IHB", data, pos)
        chunk = data[pos + 7:pos + 7 + length]
        if len(chunk) < length or zlib.crc32(chunk, zlib.crc32(bytes([kind]))) != crc:
            return out
        pos += 7 + length
        if kind == 1:  # full
            out.append(chunk)
        elif kind == 2:  # first
            parts = [chunk]
        elif kind == 3:  # middle
            parts.append(chunk)
        elif kind == 4:  # last
            out.append(b"".join(parts + [chunk]))
            parts = []
        else:
            return out


def steps_on_disk_wandb(folder: str) -> int:
    from wandb.proto import wandb_internal_pb2

    n = 0
    for root, _dirs, files in os.walk(folder):
        for name in files:
            if name.endswith(".wandb"):
                for payload in wandb_records(os.path.join(root, name)):
                    rec = wandb_internal_pb2.Record()
                    try:
                        rec.ParseFromString(payload)
                    except Exception:  # noqa: BLE001
                        break
                    n += rec.WhichOneof("record_type") == "history"
    return n


def _children(pid: int) -> list:
    """Every descendant pid of `pid` (Linux /proc), so helpers outliving a process kill are awaited."""
    out, todo = [], [pid]
    while todo:
        p = todo.pop()
        try:
            for task in os.listdir(f"/proc/{p}/task"):
                with open(f"/proc/{p}/task/{task}/children") as f:
                    kids = [int(x) for x in f.read().split()]
                out += kids
                todo += kids
        except OSError:
            pass
    return out


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().split(") ")[-1][:1] != "Z"
    except OSError:
        return False


def one(tool: str, rate: float, kill: str, seconds: float, env: dict) -> dict:
    """One kill: returns completed calls, steps on disk, steps lost and the rate reached."""
    folder = tempfile.mkdtemp(prefix=f"evlog-crash-{tool}-")
    counter = os.path.join(folder, "counter")
    with open(counter, "wb") as f:
        f.write(b"\0" * 16)
    fd = os.open(counter, os.O_RDWR)
    page = mmap.mmap(fd, 16)
    proc = subprocess.Popen([sys.executable, HERE, "--worker", tool, "--rate", str(rate), "--folder", folder,
                             "--counter", counter], env=env, start_new_session=True,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 120
        while struct.unpack_from("<q", page, 8)[0] != 1:
            if proc.poll() is not None or time.monotonic() > deadline:
                return {"error": f"worker did not start (exit {proc.returncode})"}
            time.sleep(0.005)
        t_ready, n_ready = time.monotonic(), struct.unpack_from("<q", page, 0)[0]
        time.sleep(seconds * random.uniform(0.9, 1.1))
        helpers = _children(proc.pid)
        t_kill = time.monotonic()
        if kill == "group":
            os.killpg(proc.pid, signal.SIGKILL)
        else:
            proc.send_signal(signal.SIGKILL)
        proc.wait()
        done = struct.unpack_from("<q", page, 0)[0]
        # helpers left alive (wandb's service process, evlog's syncer) finish what they hold first
        end = time.monotonic() + 60
        while any(_alive(p) for p in helpers) and time.monotonic() < end:
            time.sleep(0.05)
        for p in helpers:
            if _alive(p):
                os.kill(p, signal.SIGKILL)
        on_disk = steps_on_disk_evlog(folder) if tool == "evlog" else steps_on_disk_wandb(folder)
        return {"completed": done, "on_disk": on_disk, "lost": max(0, done - on_disk),
                "rate": (done - n_ready) / (t_kill - t_ready)}
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        page.close()
        os.close(fd)
        shutil.rmtree(folder, ignore_errors=True)


def installed(module: str, env: dict) -> bool:
    code = f"import importlib.util, sys; sys.exit(importlib.util.find_spec({module!r}) is None)"
    return subprocess.run([sys.executable, "-c", code], env=env).returncode == 0


def summary(values: list) -> str:
    if not values:
        return "-"
    return f"{statistics.median(values):g} ({min(values)}..{max(values)})"


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--rates", default=",".join(map(str, RATES)), help="steps/s, comma-separated")
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--seconds", type=float, default=3.0, help="time from init() to the kill")
    ap.add_argument("--tools", default="evlog,wandb")
    ap.add_argument("--kills", default=",".join(KILLS))
    ap.add_argument("--fsync", help="EVLOG_FSYNC for the evlog runs (off, frame, write, seconds)")
    ap.add_argument("--json", help="also write the results to this file")
    ap.add_argument("--worker", help=argparse.SUPPRESS)
    ap.add_argument("--rate", type=float, help=argparse.SUPPRESS)
    ap.add_argument("--folder", help=argparse.SUPPRESS)
    ap.add_argument("--counter", help=argparse.SUPPRESS)
    a = ap.parse_args(argv)
    if a.worker:
        worker(a.worker, a.rate, a.folder, a.counter)
        return 0

    env = {k: v for k, v in os.environ.items() if not k.startswith(("EVLOG_", "WANDB_"))}
    env["EVLOG_SILENT"] = "true"
    if a.fsync:
        env["EVLOG_FSYNC"] = a.fsync
    tools = [t for t in a.tools.split(",") if t == "evlog" or installed(t, env)]
    rates = [float(r) for r in a.rates.split(",")]
    kills = a.kills.split(",")
    print(f"evlog bench/crash.py: {', '.join(tools)}; SIGKILL ~{a.seconds:g} s after init, {a.reps} repetitions, "
          f"{os.cpu_count()} CPUs, {time.strftime('%Y-%m-%d %H:%M')}", flush=True)
    results = []
    for rate in rates:
        for kill in kills:
            for tool in tools:
                for _ in range(a.reps):
                    r = one(tool, rate, kill, a.seconds, env)
                    r.update(tool=tool, rate_wanted=rate, kill=kill)
                    results.append(r)
                    print("  ", json.dumps(r), flush=True)

    def cell(tool, rate, kill, key):
        rs = [r for r in results if r["tool"] == tool and r["rate_wanted"] == rate and r["kill"] == kill]
        if any("error" in r for r in rs):
            return "error"
        vals = [r[key] for r in rs]
        return summary(vals) if key == "lost" else f"{statistics.median(vals):,.0f}"

    head = ["steps/s", "kill"] + [f"{t} lost" for t in tools] + [f"{t} steps/s reached" for t in tools]
    rows = [[f"{rate:,.0f}", kill] + [cell(t, rate, kill, "lost") for t in tools]
            + [cell(t, rate, kill, "rate") for t in tools] for rate in rates for kill in kills]
    widths = [max(len(str(r[i])) for r in rows + [head]) for i in range(len(head))]
    line = lambda cells: "| " + " | ".join(str(c).ljust(w) for c, w in zip(cells, widths)) + " |"  # noqa: E731
    print()
    print(line(head))
    print("|" + "|".join("-" * (w + 2) for w in widths) + "|")
    for r in rows:
        print(line(r))
    print("\nlost: median (min..max) of completed log() calls not on disk after the kill")
    if a.json:
        with open(a.json, "w") as f:
            json.dump(results, f, indent=2)
    return 0


if __name__ == "__main__":
    sys.exit(main())
