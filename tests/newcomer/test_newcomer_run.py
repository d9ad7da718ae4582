"""Issue 16, sections 2 and 3: a run when the evlog server is unreachable (finish() does not hang,
says where the run is and how it gets synced, counts only what the server acknowledged, prints no
wrong URL), and the terminal output a wandb user expects (the banner inside init(), warnings once,
history sparklines and the project link at the end, nothing under EVLOG_SILENT). Real training
scripts in subprocesses, real server processes."""
from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from eventlog import LogReader
from eventlog.client import credentials
from eventlog.server.testing import free_port
from support.server import sqlite_harness, start_harness, wait_until  # (importing it also requires the server extra)

PY = sys.executable
# far above the few seconds finish() may wait for a dead server: were it waiting for this, the
# script would outlive its subprocess deadline (a guard against hanging, not a timing)
FINISH_TIMEOUT = "600"
DEADLINE = 300

TRAIN = r'''
import os, sys, time
import eventlog as wandb
print("before init", flush=True)
run = wandb.init(project="edge", name="nightly", config={"lr": 0.1})
print("after init", flush=True)
for i in range(int(os.environ.get("STEPS", "50"))):
    wandb.log({"loss": 1 / (i + 1), "acc": i / 100})
if os.environ.get("PAUSE"):
    open(os.environ["PAUSE"] + ".reached", "w").write(run.id)
    while not os.path.exists(os.environ["PAUSE"]):
        time.sleep(0.05)
if os.environ.get("STEP_BACK"):
    wandb.log({"late": 1.0}, step=1)
print("RUN", run.id, run.dir, run.url, flush=True)
run.finish()
print("finished", flush=True)
'''


def env_for(tmp_path: Path, url: str, key: str = None, **extra: str) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("EVLOG_", "WANDB_"))}
    env.update(HOME=str(tmp_path), EVLOG_CONFIG_DIR=str(tmp_path / "cfg"), EVLOG_BASE_URL=url, CI="",
               EVLOG_FINISH_TIMEOUT=FINISH_TIMEOUT, PYTHONUNBUFFERED="1", EVLOG_CONSOLE="off")
    if key:
        credentials.save(url, key, env=env)
    env.update(extra)
    return env


def start(tmp_path: Path, env: dict) -> subprocess.Popen:
    """The training script, its output into files: a syncer left in the background keeps the
    script's stdout and stderr open, so the script's end is its exit, not the end of a pipe."""
    (tmp_path / "train.py").write_text(TRAIN)
    with open(tmp_path / "out.txt", "w") as out, open(tmp_path / "err.txt", "w") as err:
        return subprocess.Popen([PY, "train.py"], stdout=out, stderr=err, env=env, cwd=str(tmp_path))


def ended(tmp_path: Path, proc: subprocess.Popen) -> subprocess.CompletedProcess:
    try:
        proc.wait(DEADLINE)
    finally:
        proc.kill()
    out = subprocess.CompletedProcess(proc.args, proc.returncode, (tmp_path / "out.txt").read_text(),
                                      (tmp_path / "err.txt").read_text())
    assert out.returncode == 0, out.stderr
    return out


def train(tmp_path: Path, env: dict) -> subprocess.CompletedProcess:
    return ended(tmp_path, start(tmp_path, env))


def run_line(out: subprocess.CompletedProcess):
    run_id, folder, url = re.search(r"^RUN (\S+) (\S+) (\S+)$", out.stdout, re.M).groups()
    return run_id, Path(folder), None if url == "None" else url


def syncer_pid(text: str) -> int:
    return int(re.search(r"in the background for a few minutes \(pid (\d+)\)", text).group(1))


def stop_syncer(pid: int) -> None:
    try:
        os.kill(pid, signal.SIGTERM)
    except ProcessLookupError:
        return
    wait_until(lambda: not Path(f"/proc/{pid}").exists() or b"Z" in _state(pid), 60, "the syncer to end")


def _state(pid: int) -> bytes:
    try:
        stat = Path(f"/proc/{pid}/stat").read_bytes()
        return stat[stat.rindex(b")") + 2:stat.rindex(b")") + 3]
    except OSError:
        return b"X"


@pytest.fixture(scope="module")
def srv(tmp_path_factory):
    with sqlite_harness(tmp_path_factory.mktemp("newcomer-run-srv")) as h:
        yield h


# ----------------------------------------------------------------------------- a dead server
def test_dead_server_finish_returns_says_the_run_is_kept_and_no_wrong_url(tmp_path, srv):
    dead = f"http://127.0.0.1:{free_port()}"  # nothing listens there
    out = train(tmp_path, env_for(tmp_path, dead, EVLOG_API_KEY="k" * 40))
    text = out.stdout + out.stderr
    run_id, folder, url = run_line(out)
    records = sum(1 for _ in LogReader(folder).records())
    assert "finished" in out.stdout.splitlines()  # finish() returned, though the timeout is 600 s
    assert url is None and "/edge/runs/" not in text and "View run at" not in text  # no URL without entity
    said = re.search(r"^evlog: cannot reach .*$", out.stderr, re.M).group(0)
    assert dead in said and f"the run is kept locally in {folder}" in said
    assert f"(0 of {records} records delivered)" in said  # the server acknowledged nothing
    assert f"upload the run later with: evlog sync {folder}" in said
    assert "records delivered" not in text.replace(said, "")  # no other count claims delivery
    pid = syncer_pid(said)
    stop_syncer(pid)  # (the test does not wait for its retries to run out)

    # later, with a server: `evlog sync` uploads everything and prints the right URL
    user, key = srv.user("dead")
    env = env_for(tmp_path, srv.url, key)
    sync = subprocess.run([PY, "-m", "eventlog.cli.main", "sync", str(folder)], capture_output=True, text=True,
                          env=env, timeout=DEADLINE)
    assert sync.returncode == 0, sync.stderr
    assert f"View run at {srv.url}/{user}/edge/runs/{run_id}" in sync.stdout
    got = srv.run(user, "edge", run_id, key).json()
    assert got["state"] == "finished" and got["history_rows"] == 50 and got["next_seq"] == records


def test_server_dying_mid_run_finish_returns_and_the_syncer_delivers_once_it_is_back(tmp_path):
    h = start_harness(f"sqlite:///{tmp_path / 'server.db'}", tmp_path)
    try:
        user, key = h.user("mid")
        env = env_for(tmp_path, h.url, key, PAUSE=str(tmp_path / "go"), STEPS="40")
        proc = start(tmp_path, env)
        try:
            reached = tmp_path / "go.reached"
            wait_until(lambda: reached.exists() and reached.read_text(), 120, "the script's midpoint")
            mid = reached.read_text()
            wait_until(lambda: h.run(user, "edge", mid, key).status_code == 200
                       and h.run(user, "edge", mid, key).json()["history_rows"] == 40, 120, "the steps delivered")
            h.proc.stop()  # the server goes away while the run runs
            (tmp_path / "go").touch()
        finally:
            out = ended(tmp_path, proc)
        stdout, stderr = out.stdout, out.stderr
        run_id, folder, url = run_line(out)
        assert run_id == mid
        assert url == f"{h.url}/{user}/edge/runs/{run_id}"  # known at init: the right one, entity and all
        assert f"evlog: View run at {url}" in stdout.splitlines()
        said = re.search(r"^evlog: cannot reach .*$", stderr, re.M).group(0)
        assert f"the run is kept locally in {folder}" in said
        done, total = map(int, re.search(r"\((\d+) of (\d+) records delivered\)", said).groups())
        assert total == sum(1 for _ in LogReader(folder).records()) and done < total
        pid = syncer_pid(said)
        h.proc.start()  # back on the same port: the syncer, still retrying, delivers the rest
        wait_until(lambda: h.run(user, "edge", run_id, key).status_code == 200
                   and h.run(user, "edge", run_id, key).json()["state"] == "finished", 180, "the run delivered")
        assert h.run(user, "edge", run_id, key).json()["history_rows"] == 40
        wait_until(lambda: _state(pid) in (b"Z", b"X"), 120, "the syncer to end once delivered")
    finally:
        h.proc.stop()
        h.close()


# ----------------------------------------------------------------------------- the terminal
def test_banner_inside_init_warning_once_sparklines_and_links(tmp_path, srv):
    user, key = srv.user("term")
    out = train(tmp_path, env_for(tmp_path, srv.url, key, STEP_BACK="1", STEPS="100"))
    lines = out.stdout.splitlines()
    run_id, folder, url = run_line(out)
    # the banner comes from init(), between the program's prints before and after it, once
    before, after = lines.index("before init"), lines.index("after init")
    banner = lines[before + 1:after]
    assert banner[0] == f"evlog: Tracking run nightly (id {run_id})"
    assert f"evlog: View run at {srv.url}/{user}/edge/runs/{run_id}" in banner
    assert (out.stdout + out.stderr).count("Tracking run") == 1
    # the step warning: the Python warning the program sees, and not a second copy from the sink
    text = out.stdout + out.stderr
    assert text.count("log(step=1) refused") == 1 and "StepWarning" in out.stderr
    # at the end: sparklines of the history (loss falls, acc rises), summary, run and project links
    start = lines.index("evlog: Run history:")
    spark = {ln.split()[1]: ln.split()[2] for ln in lines[start + 1:start + 3]}
    assert set(spark) == {"acc", "loss"} and all(len(s) == 20 for s in spark.values())
    assert spark["loss"][0] == "█" and spark["loss"][-1] == "▁"
    assert spark["acc"][0] == "▁" and spark["acc"][-1] == "█" and list(spark["acc"]) == sorted(spark["acc"])
    assert lines.index("evlog: Run summary:") > start
    assert lines[-3:] == [f"evlog: View run at {srv.url}/{user}/edge/runs/{run_id}",
                          f"evlog: View project at {srv.url}/{user}/edge", "finished"]


def test_silent_prints_nothing_of_evlog(tmp_path, srv):
    _, key = srv.user("quiet")
    out = train(tmp_path, env_for(tmp_path, srv.url, key, EVLOG_SILENT="true", STEPS="20"))
    assert [ln for ln in out.stdout.splitlines() if ln.startswith("evlog")] == []
    assert "evlog:" not in out.stderr and "▁" not in out.stdout
    assert out.stdout.splitlines()[:2] == ["before init", "after init"]


def test_offline_banner_and_end_block_keep_the_sync_hint(tmp_path):
    env = env_for(tmp_path, f"http://127.0.0.1:{free_port()}", EVLOG_MODE="offline", STEPS="5")
    out = train(tmp_path, env)
    run_id, folder, url = run_line(out)
    lines = out.stdout.splitlines()
    banner = lines[lines.index("before init") + 1:lines.index("after init")]
    assert banner[-1] == f"evlog: Offline: the run is stored locally; sync it later with: evlog sync {folder}"
    assert lines[-2:] == [f"evlog: Sync it with: evlog sync {folder}", "finished"]
    assert "View project" not in out.stdout and "cannot reach" not in out.stderr


def test_sync_progress_counts_only_what_the_server_acknowledged(tmp_path):
    """`evlog sync`'s progress line (on a terminal) against a dead server: 0 records, although the
    HTTP sink has taken every record into its batch."""
    import threading

    from eventlog.cli.sync import _Progress
    from eventlog.sinks.registry import load
    from eventlog.sinks.syncer import Syncer, run_info

    env = env_for(tmp_path, f"http://127.0.0.1:{free_port()}", EVLOG_MODE="offline", STEPS="30",
                  EVLOG_SILENT="true")
    _, folder, _ = run_line(train(tmp_path, env))
    run_id, run, _ = run_info(folder)
    warned = []
    sync_env = dict(env, EVLOG_API_KEY="k" * 40, EVLOG_HTTP_RETRY_SECONDS="2")
    syncer = Syncer(folder, [load("http")], live=False, run_id=run_id, run=run, env=sync_env, warn=warned.append)
    progress = _Progress(syncer, folder.name)
    results = []
    worker = threading.Thread(target=lambda: results.extend(syncer.run_all()))
    worker.start()
    try:
        wait_until(lambda: any("cannot reach" in w for w in warned), 60, "the sink to meet the dead server")
        wait_until(lambda: syncer.runners[0].result.delivered > 0, 60, "the sink to take the records")
        assert f"syncing {folder.name}: 0 records," in progress._line()
    finally:
        worker.join(120)
    assert results and results[0].error and "cannot reach" in results[0].error


def test_stdout_sink_prints_a_warning_the_program_did_not_see_once_and_skips_one_it_saw(tmp_path):
    from eventlog import LogWriter
    from eventlog.sinks.registry import load
    from eventlog.sinks.syncer import Syncer

    class Capture:
        def __init__(self) -> None:
            self.text = ""

        def lines(self, lines) -> None:  # noqa: ANN001
            self.text += "".join(ln + "\n" for ln in lines)

    folder = tmp_path / "run"
    with LogWriter(folder, "warn1") as w:
        w.append("run", {"id": "warn1", "name": "w", "project": "p", "mode": "offline", "settings": {}})
        w.append("warning", {"message": "sync_tensorboard: late data", "keys": ["x"]})
        w.append("warning", {"message": "log(step=1) refused", "keys": ["x"], "shown": True})
        w.append("exit", {"exit_code": 0, "runtime": 1.0, "interrupted": False, "error": None})
    term = Capture()
    Syncer(folder, [load("stdout")], live=False, run_id="warn1", run={"id": "warn1", "mode": "offline"},
           terminal=term).run_all()
    assert term.text.count("WARNING sync_tensorboard: late data") == 1
    assert "log(step=1) refused" not in term.text
    assert "Tracking run" in term.text  # no init() printed it here: the sink does


def test_sparklines_of_a_long_run_are_bounded_and_keep_its_shape():
    from eventlog.sinks.sparkline import KEEP, History

    h = History()
    for i in range(100_000):
        h.add("loss", 1 / (i + 1))
        h.add("wave", i % 1000)     # a saw tooth: no trend over the run
        h.add("flag", True)         # bools and strings are not charted
        h.add("name", "x")
    assert len(h.keys["loss"]) <= KEEP and set(h.keys) == {"loss", "wave"}
    line = h.line("loss")
    assert len(line) == 20 and line[0] == "█" and list(line) == sorted(line, reverse=True)
    assert h.line("flag") is None
    h.add("const", 3.0)
    h.add("const", 3.0)
    assert h.line("const") == "▁▁"
