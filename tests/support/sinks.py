"""Helpers of the sink and syncer tests: run folders written with LogWriter, what the built-in
sinks wrote (jsonl lines, cursor files, TensorBoard scalars), syncer processes, the `evlog` command,
and third-party test sinks."""
from __future__ import annotations

import json
import math
import os
import signal
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional

from eventlog import LogReader, LogWriter
from eventlog.sinks.base import flatten, numeric, read_json
from eventlog.sinks.registry import load
from eventlog.sinks.syncer import Syncer, run_info

PY = sys.executable
RUN_ID = "sinkrun1"


def history_value(step: int) -> Dict[str, Any]:
    return {"loss": 1.0 / (step + 1), "acc": step / 1000.0, "nested": {"lr": 0.1 * 0.99 ** step},
            "flag": step % 2 == 0, "note": f"s{step}", "_private": step}


def write_records(w: LogWriter, start: int, stop: int) -> None:
    for step in range(start, stop):
        w.append("history", {"step": step, "data": history_value(step)})


def make_run(folder: Path, steps: int = 100, *, exit_code: Optional[int] = 0, run_id: str = RUN_ID,
             mode: str = "offline", settings: Optional[dict] = None, config: Optional[dict] = None,
             **writer_kw: Any) -> Path:
    """A finished (or, with exit_code=None, crashed) run written with LogWriter."""
    with LogWriter(folder, run_id, **writer_kw) as w:
        w.append("run", {"id": run_id, "name": "brave-otter-7", "project": "proj", "entity": None,
                         "mode": mode, "settings": settings or {}})
        w.append("config", {"update": config if config is not None else {"lr": 0.1, "layers": 3}})
        write_records(w, 0, steps)
        w.append("summary", {"update": {"best": 0.5}})
        if exit_code is not None:
            w.append("exit", {"exit_code": exit_code, "runtime": 1.25, "interrupted": False, "error": None})
    return Path(folder)


def log_records(folder: Path) -> list:
    return list(LogReader(folder).records())


def jsonl_seqs(folder: Path, name: str = "jsonl") -> List[int]:
    path = Path(folder) / "sinks" / name / "records.jsonl"
    if not path.exists():
        return []
    return [json.loads(line)["seq"] for line in path.read_text().splitlines()]


def jsonl_lines(folder: Path) -> List[dict]:
    path = Path(folder) / "sinks" / "jsonl" / "records.jsonl"
    return [json.loads(line) for line in path.read_text().splitlines()]


def cursor_file(folder: Path, name: str) -> Optional[dict]:
    return read_json(Path(folder) / "sinks" / f"{name}.cursor.json")


def tb_scalars(folder: Path) -> Dict[str, List[tuple]]:
    """tag -> [(step, value)] as TensorBoard's own reader sees the run's tensorboard/ folder."""
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    ea = EventAccumulator(str(Path(folder) / "tensorboard"), size_guidance={"scalars": 0, "tensors": 0})
    ea.Reload()
    return {tag: [(e.step, e.value) for e in ea.Scalars(tag)] for tag in ea.Tags()["scalars"]}


def expected_scalars(folder: Path) -> Dict[str, List[tuple]]:
    """What the tensorboard sink must have written for a log: float32 values of numeric keys."""
    import numpy as np

    out: Dict[str, List[tuple]] = {}
    for rec in log_records(folder):
        if rec.type != "history":
            continue
        for k, v in flatten(rec.body["data"]).items():
            if k.startswith("_"):
                continue
            f = numeric(v)
            if f is not None:
                out.setdefault(k, []).append((rec.body["step"], float(np.float32(f))))
    return out


def assert_tb_equals_log(folder: Path) -> None:
    got = tb_scalars(folder)
    want = expected_scalars(folder)
    assert sorted(got) == sorted(want)
    for tag, points in want.items():
        g = got[tag]
        assert [s for s, _ in g] == [s for s, _ in points], tag
        for (s, a), (_, b) in zip(g, points):
            assert a == b or (math.isnan(a) and math.isnan(b)), (tag, s, a, b)


def wait_until(cond: Callable[[], Any], timeout: float = 30.0, what: str = "condition") -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = cond()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.02)


def pid_alive(pid: int) -> bool:
    """True while a process exists and is not a zombie."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            stat = f.read()
    except OSError:
        return False
    return stat[stat.rindex(b")") + 2:stat.rindex(b")") + 3] not in (b"Z", b"X")


def syncer_pids(folder: Path) -> List[int]:
    """Live syncer processes (python -m eventlog.sinks.syncer) of a run folder, from /proc."""
    folder = str(Path(folder).resolve())
    out = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/cmdline", "rb") as f:
                args = f.read().split(b"\0")
        except OSError:
            continue
        if b"eventlog.sinks.syncer" in args and folder.encode() in args and pid_alive(int(entry)):
            out.append(int(entry))
    return out


def lock_pid(folder: Path) -> Optional[int]:
    try:
        text = (Path(folder) / "sinks" / "SYNCER.lock").read_text().split()
    except OSError:
        return None
    return int(text[1]) if len(text) > 1 and text[0] == "pid" else None


def kill_quietly(pid: int) -> None:
    try:
        os.kill(pid, signal.SIGKILL)
    except ProcessLookupError:
        pass


NO_CREDENTIALS = os.path.join(tempfile.gettempdir(), "evlog-sink-tests-no-credentials")  # never created


def subprocess_env(extra: Optional[dict] = None, pythonpath: Optional[Path] = None) -> dict:
    """The environment without EVLOG_*/WANDB_* settings, and with no server credentials (so the http
    sink stays off whatever the machine's user has logged in to)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("EVLOG_", "WANDB_"))}
    env["EVLOG_CONFIG_DIR"] = NO_CREDENTIALS
    if pythonpath is not None:
        env["PYTHONPATH"] = os.pathsep.join([str(pythonpath)] + ([env["PYTHONPATH"]] if env.get("PYTHONPATH") else []))
    env.update(extra or {})
    return env


def start_syncer_proc(folder: Path, parent_pid: Optional[int], env: dict, **kw: Any) -> subprocess.Popen:
    cmd = [PY, "-m", "eventlog.sinks.syncer", str(Path(folder).resolve())]
    if parent_pid is not None:
        cmd += ["--parent-pid", str(parent_pid)]
    return subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=kw.pop("stdout", subprocess.PIPE),
                            stderr=kw.pop("stderr", subprocess.PIPE), env=env, **kw)


def evlog(*args: str, env: Optional[dict] = None, cwd: Optional[Path] = None, timeout: float = 120) -> subprocess.CompletedProcess:
    """The real `evlog` command in a subprocess."""
    exe = Path(sys.executable).parent / "evlog"
    cmd = [str(exe)] if exe.exists() else [PY, "-c", "import sys; from eventlog.cli import main; sys.exit(main())"]
    return subprocess.run([*cmd, *args], capture_output=True, text=True,
                          env=env if env is not None else subprocess_env(), cwd=cwd, timeout=timeout)


TEST_SINKS_MODULE = textwrap.dedent('''
    """Third-party sinks for the tests, imported by the syncer subprocess through PYTHONPATH."""
    import json, os, time
    from eventlog.sinks import Sink

    class SeqSink(Sink):
        """Idempotent on seq at the receiver, like a server: appends each new record's seq and type to
        a file (fsynced), skips seqs it already has; counts raw deliveries in another file."""
        name = "seqsink"

        @classmethod
        def enabled(cls, run, env):
            return env.get("TEST_SEQSINK") == "1"

        def open(self, ctx):
            self.ctx = ctx
            self.path = ctx.state_dir / "seen.txt"
            self.raw = open(ctx.state_dir / "raw.txt", "a")
            self.have = -1
            if self.path.exists():
                data = self.path.read_bytes()
                whole = data[:data.rfind(b"\\n") + 1]  # a line cut by a kill is not received
                if len(whole) != len(data):
                    with open(self.path, "r+b") as f:
                        f.truncate(len(whole))
                lines = whole.decode().splitlines()
                if lines:
                    self.have = int(lines[-1].split()[0])
            self.out = open(self.path, "a")
            self.delay = float(ctx.env.get("TEST_SEQSINK_DELAY", "0"))

        def write(self, records):
            if self.delay:
                time.sleep(self.delay)
            self.raw.write("".join(f"{r.seq}\\n" for r in records))
            self.raw.flush()
            for r in records:
                if r.seq > self.have:
                    self.out.write(f"{r.seq} {r.type} {json.dumps(r.body, sort_keys=True, default=repr)}\\n")
                    self.have = r.seq
            self.out.flush()
            os.fsync(self.out.fileno())
            return None

        def close(self, state):
            self.out.close()
            self.raw.close()
            (self.ctx.state_dir / "closed.txt").write_text(state)

    class SlowSink(Sink):
        """Takes TEST_SLOW_DELAY seconds per batch."""
        name = "slowsink"

        def open(self, ctx):
            self.ctx = ctx
            self.n = 0

        def write(self, records):
            time.sleep(float(self.ctx.env.get("TEST_SLOW_DELAY", "0.5")))
            self.n += len(records)
            return None

        def flush(self):
            return {"n": self.n}

    class BrokenSink(Sink):
        """Every write fails."""
        name = "broken"

        def write(self, records):
            raise ConnectionError("receiver unreachable")
''')


def write_test_sinks(directory: Path) -> Path:
    """Write the `evtestsinks` module (and a fake distribution registering SeqSink under the
    `eventlog.sinks` entry-point group) into `directory`; put `directory` on PYTHONPATH to use it."""
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "evtestsinks.py").write_text(TEST_SINKS_MODULE)
    dist = directory / "evtestsinks-0.1.dist-info"
    dist.mkdir(exist_ok=True)
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: evtestsinks\nVersion: 0.1\n")
    (dist / "entry_points.txt").write_text("[eventlog.sinks]\nseqsink = evtestsinks:SeqSink\n")
    return directory


def seqsink_seen(folder: Path) -> List[tuple]:
    path = Path(folder) / "sinks" / "seqsink" / "seen.txt"
    out = []
    for line in path.read_text().splitlines():
        seq, typ, body = line.split(" ", 2)
        out.append((int(seq), typ, json.loads(body)))
    return out


def replay(folder: Path, sinks, **kw) -> list:  # noqa: ANN001
    """Replay a run folder into `sinks` (names or classes) in-process, as `evlog sync` does."""
    run_id, run, _ = run_info(folder)
    classes = [load(s) if isinstance(s, str) else s for s in sinks]
    kw.setdefault("warn", lambda m: None)
    return Syncer(Path(folder), classes, live=False, run_id=run_id, run=run, **kw).run_all()
