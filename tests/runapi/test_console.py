"""Console capture (eventlog/capture/console.py): what a program prints reaches its terminal unchanged and
the run's log as `output` records, with the same text in the same order; a traceback, a progress
bar and a last line without a newline included; off with EVLOG_CONSOLE=off; a SIGKILLed program
keeps what was printed up to about a second before; forked children, threads and warnings raised
inside log() neither break nor deadlock it."""
from __future__ import annotations

import io
import os
import shutil
import signal
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from eventlog.capture import console
from eventlog.logfile.reader import LogReader

from support.run import of_type, only_run_folder, records, run_script, scrubbed_env, wait_for


def printed(recs, stream: str) -> str:
    return "".join(r.body["text"] for r in of_type(recs, "output") if r.body["stream"] == stream)


def write(path: Path, text: str) -> Path:
    path.write_text(textwrap.dedent(text).lstrip())
    return path


PROGRAM = """
    import sys, warnings
    import eventlog as wandb
    run = wandb.init(project="console")
    print("epoch 1")
    print("to stderr", file=sys.stderr)
    for i in range(3):
        sys.stdout.write(f"\\rprogress {i}/3")
    print()
    print("<script>alert(1)</script>", "é", sep=" | ")
    wandb.log({"loss": 1.0}, step=5)
    wandb.log({"loss": 2.0}, step=1)  # a StepWarning, printed on stderr inside log()
    sys.stdout.write("last line without a newline")
    raise ValueError("boom")
"""


def test_the_terminal_and_the_log_get_the_same_text(tmp_path):
    proc = subprocess.run([sys.executable, str(write(tmp_path / "train.py", PROGRAM))], cwd=tmp_path,
                          env=scrubbed_env(tmp_path), capture_output=True, timeout=60)
    proc.stdout, proc.stderr = proc.stdout.decode(), proc.stderr.decode()  # no newline translation: \r stays
    assert proc.returncode == 1
    out = "epoch 1\n\rprogress 0/3\rprogress 1/3\rprogress 2/3\n<script>alert(1)</script> | é\nlast line without a newline"
    assert proc.stdout == out  # the terminal saw exactly what the program wrote
    recs = records(only_run_folder(tmp_path))
    assert printed(recs, "stdout") == out
    err = printed(recs, "stderr")
    assert err.startswith("to stderr\n") and "StepWarning: log(step=1) refused" in err
    assert "Traceback (most recent call last)" in err and err.rstrip().endswith("ValueError: boom")
    assert proc.stderr.endswith(err[err.index("Traceback"):])  # the traceback went to both
    outputs = of_type(recs, "output")
    assert outputs[-1].seq < of_type(recs, "exit")[0].seq  # the last line is in before the exit record
    stdout_records = [r.body["text"] for r in outputs if r.body["stream"] == "stdout"]
    assert all(t.endswith("\n") for t in stdout_records[:-1]), stdout_records


@pytest.mark.parametrize("var", ["EVLOG_CONSOLE", "WANDB_CONSOLE"])
def test_console_off_captures_nothing(tmp_path, var):
    proc = run_script(write(tmp_path / "train.py", PROGRAM), tmp_path, scrubbed_env(tmp_path, **{var: "off"}))
    assert proc.returncode == 1 and proc.stdout.startswith("epoch 1\n")
    assert of_type(records(only_run_folder(tmp_path)), "output") == []


def test_a_bad_console_mode_is_refused_naming_the_variable(ev, monkeypatch):
    monkeypatch.setenv("EVLOG_CONSOLE", "loud")
    with pytest.raises(ev.UsageError, match="EVLOG_CONSOLE='loud'.*auto.*off"):
        ev.init()


def test_a_killed_program_keeps_what_it_printed_up_to_a_second_before(tmp_path):
    script = write(tmp_path / "train.py", """
        import sys, time
        import eventlog as wandb
        wandb.init(project="console")
        i = 0
        while True:
            print(f"line {i}", flush=True)
            i += 1
            time.sleep(0.01)
    """)
    proc = subprocess.Popen([sys.executable, str(script)], cwd=tmp_path, env=scrubbed_env(tmp_path),
                            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    seen = []
    while len(seen) < 150:  # about 1.5 s of output
        seen.append(proc.stdout.readline())
    time.sleep(2.5)  # capture appends every 0.2 s, the writer writes every 1 s: all of it is on disk by now
    proc.send_signal(signal.SIGKILL)
    rest, _ = proc.communicate(timeout=30)
    terminal = "".join(seen) + rest
    reader = LogReader(only_run_folder(tmp_path))
    recs = list(reader.records())
    logged = printed(recs, "stdout")
    assert terminal.startswith(logged)  # nothing the terminal did not see, nothing out of order
    assert logged.startswith("".join(seen))  # and everything printed 2.5 s before the kill
    assert of_type(recs, "exit") == []


def test_capture_in_process_threads_fork_and_restore(ev, monkeypatch):
    monkeypatch.setenv("EVLOG_CONSOLE", "auto")
    real = io.StringIO()
    monkeypatch.setattr(sys, "stdout", real)
    run = ev.init()
    assert sys.stdout is not real and repr(sys.stdout).startswith("<evlog capture")
    assert sys.stdout.getvalue() == ""  # anything else goes to the real stream

    def worker(n):
        for i in range(200):
            print(f"thread {n} line {i}")

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    if hasattr(os, "fork"):
        pid = os.fork()
        if pid == 0:  # the child prints through the inherited wrapper: terminal only, no crash
            try:
                print("from the child")
                sys.stdout.flush()
            finally:
                os._exit(0)
        os.waitpid(pid, 0)
    run.log({"x": 1.0}, step=3)
    with pytest.warns(ev.StepWarning):
        run.log({"x": 1.0}, step=1)
    run.finish()
    assert sys.stdout is real  # restored
    print("after finish")
    recs = records(run.dir)
    logged = printed(recs, "stdout")
    assert logged == real.getvalue().replace("from the child\n", "").replace("after finish\n", "")
    assert sorted(logged.splitlines()) == sorted(f"thread {n} line {i}" for n in range(4) for i in range(200))


def test_a_wrapper_replaced_by_someone_else_is_left_in_place(ev, monkeypatch):
    monkeypatch.setenv("EVLOG_CONSOLE", "auto")
    monkeypatch.setattr(sys, "stdout", io.StringIO())
    run = ev.init()
    ours = sys.stdout
    theirs = io.StringIO()
    sys.stdout = theirs
    run.finish()
    assert sys.stdout is theirs and not ours.active


@settings(max_examples=200, deadline=None)
@given(st.lists(st.one_of(st.text(alphabet="ab\n\r é", max_size=12), st.just("TICK")), max_size=30))
def test_the_log_gets_every_write_in_order_and_whole_lines(writes):
    sent = []
    tee = console.StreamTee(io.StringIO(), "stdout", lambda name, text: sent.append(text))
    texts = []
    for w in writes:
        if w == "TICK":  # the capture thread's turn: whole lines go, a young partial line stays
            tee.tick(time.monotonic())
            held = "".join(texts)[len("".join(sent)):]
            assert "\n" not in held
        else:
            tee.write(w)
            texts.append(w)
    assert "".join(texts).startswith("".join(sent))
    assert all(s.endswith("\n") for s in sent)
    tee.tick(time.monotonic() + console.MAX_AGE)  # an old partial line goes too
    assert "".join(sent) == "".join(texts)
    assert tee.getvalue() == "".join(texts)  # the real stream, through the wrapper


def test_no_output_or_sample_lands_after_the_exit_record_of_an_interrupted_session(tmp_path):
    """A thread prints all the time and samples are taken every 10 ms while SIGINT ends the session:
    the capture and sampler threads append under the run's lock, so the exit record stays last."""
    script = write(tmp_path / "train.py", """
        import sys, threading, time
        import eventlog as wandb
        run = wandb.init(project="console")

        def chatter():
            i = 0
            while True:
                print(f"chatter {i}")
                i += 1
                time.sleep(0.0005)

        threading.Thread(target=chatter, daemon=True).start()
        print("ready", file=sys.stderr, flush=True)
        try:
            while True:
                wandb.log({"x": 1.0})
        except KeyboardInterrupt:
            time.sleep(0.5)  # the threads go on printing and sampling after the exit record
    """)
    for _ in range(3):
        for old in (tmp_path / "evlog").glob("run-*"):
            shutil.rmtree(old)
        proc = subprocess.Popen([sys.executable, str(script)], cwd=tmp_path,
                                env=scrubbed_env(tmp_path, EVLOG_SYSTEM_INTERVAL="0.01"),
                                stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        try:
            assert proc.stderr.readline().strip() == "ready"
            time.sleep(0.3)
            proc.send_signal(signal.SIGINT)
            proc.communicate(timeout=30)
        finally:
            proc.kill()
        recs = records(only_run_folder(tmp_path))
        assert recs[-1].type == "exit" and recs[-1].body["interrupted"] is True, [r.type for r in recs[-5:]]
        assert of_type(recs, "output") and of_type(recs, "system")
