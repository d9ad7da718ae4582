"""The syncer in-process: replaying run folders into sinks, cursors, acknowledgements, failures,
damage, and the built-in sinks' output (jsonl, tensorboard, stdout)."""
from __future__ import annotations

import json
import os
import threading
import time
from typing import List, Optional

import pytest

from eventlog import LogWriter, Record
from eventlog.logfile.inspect import record_dict
from eventlog.sinks import CRASHED, DETACHED, FAILED, FINISHED, Sink
from eventlog.sinks.base import Terminal
from eventlog.sinks.registry import load
from eventlog.sinks.state import run_facts
from eventlog.sinks.syncer import Syncer, run_info

from support.sinks import (  # noqa: I001
    assert_tb_equals_log,
    cursor_file,
    jsonl_lines,
    jsonl_seqs,
    log_records,
    make_run,
    replay,
    tb_scalars,
    write_records,
)


class Capture(Terminal):
    def __init__(self) -> None:
        super().__init__(-1)
        self.blocks: List[str] = []

    def lines(self, lines) -> None:  # noqa: ANN001
        self.blocks.append("".join(line + "\n" for line in lines))

    @property
    def text(self) -> str:
        return "".join(self.blocks)


class ListSink(Sink):
    name = "listsink"
    got: List[Record] = []
    closed: List[str] = []

    def write(self, records):  # noqa: ANN001
        ListSink.got.extend(records)

    def close(self, state):  # noqa: ANN001
        ListSink.closed.append(state)


@pytest.fixture(autouse=True)
def _reset_listsink():
    ListSink.got, ListSink.closed = [], []


def test_jsonl_replay_equals_log_and_second_sync_delivers_nothing(tmp_path):
    run = make_run(tmp_path / "run", steps=2500)
    (res,) = replay(run, ["jsonl"])
    records = log_records(run)
    assert res.delivered == len(records) and res.closed == FINISHED and not res.error
    got = jsonl_lines(run)
    assert [g["seq"] for g in got] == [r.seq for r in records]
    assert got == [json.loads(json.dumps(record_dict(r), default=repr)) for r in records]
    cf = cursor_file(run, "jsonl")
    assert cf["cursor"]["seq"] == len(records) and cf["closed"] == FINISHED and cf["delivered"] == len(records)
    assert cf["last"] == {"seq": len(records) - 1, "type": "exit", "exit_code": 0}
    (again,) = replay(run, ["jsonl"])
    assert again.delivered == 0 and again.nothing_new
    assert jsonl_seqs(run) == [r.seq for r in records]


def test_continues_where_each_sink_stopped(tmp_path):
    folder = tmp_path / "run"
    with LogWriter(folder, "contrun1") as w:
        w.append("run", {"id": "contrun1"})
        write_records(w, 0, 50)
    (res,) = replay(folder, ["jsonl"])
    assert res.delivered == 51 and res.closed == CRASHED  # no exit, no writer
    with LogWriter(folder, "contrun1") as w:  # a resumed session
        w.append("resume", {"session": 1})
        write_records(w, 50, 80)
        w.append("exit", {"exit_code": 2, "runtime": 1.0})
    (res,) = replay(folder, ["jsonl"])
    assert res.delivered == 32 and res.closed == FAILED
    assert jsonl_seqs(folder) == [r.seq for r in log_records(folder)]


def test_partial_acknowledgement_redelivers_the_rest(tmp_path):
    class Half(Sink):
        name = "half"
        got: List[int] = []

        def write(self, records):  # noqa: ANN001
            take = records[: max(1, len(records) // 2)]
            Half.got.extend(r.seq for r in take)
            return take[-1].seq + 1

    run = make_run(tmp_path / "run", steps=300)
    (res,) = replay(run, [Half], max_batch=64)
    n = len(log_records(run))
    assert Half.got == list(range(n)) and res.delivered == n


def test_failing_sink_is_retried_then_reported_without_stopping_others(tmp_path):
    class Flaky(Sink):
        name = "flaky"
        calls = 0

        def write(self, records):  # noqa: ANN001
            Flaky.calls += 1
            if Flaky.calls <= 2:
                raise ConnectionError("try again")

    class Broken(Sink):
        name = "broken"

        def write(self, records):  # noqa: ANN001
            raise ConnectionError("receiver unreachable")

    run = make_run(tmp_path / "run", steps=20)
    warnings: List[str] = []
    res = {r.name: r for r in replay(run, [Flaky, Broken, ListSink], warn=warnings.append)}
    n = len(log_records(run))
    assert res["flaky"].delivered == n and not res["flaky"].error
    assert res["broken"].error and "receiver unreachable" in res["broken"].error
    assert res["listsink"].delivered == n and [r.seq for r in ListSink.got] == list(range(n))
    cf = cursor_file(run, "broken")
    assert "receiver unreachable" in cf["error"] and cf["cursor"]["seq"] == 0
    assert any("broken" in w for w in warnings)
    # a later sync retries the broken sink from where it stopped
    (again,) = replay(run, [ListSink])
    assert again.nothing_new


def test_damaged_log_delivers_every_readable_record_and_reports(tmp_path):
    run = make_run(tmp_path / "run", steps=3000, frame_bytes=4096)
    before = log_records(run)
    seg = sorted((run / "log").glob("seg-*.zst"))[0]
    data = bytearray(seg.read_bytes())
    middle = len(data) // 2
    data[middle:middle + 16] = b"\xff" * 16
    seg.write_bytes(bytes(data))
    readable = log_records(run)
    assert 0 < len(readable) < len(before)
    run_id, run_body, _ = run_info(run)
    syncer = Syncer(run, [load("jsonl")], live=False, run_id=run_id, run=run_body, warn=lambda m: None)
    (res,) = syncer.run_all()
    assert jsonl_seqs(run) == [r.seq for r in readable]
    assert len(syncer.damage) >= 1 and syncer.damage[0].file.endswith(seg.name)


def test_reset_redelivers_from_the_start_without_duplicates(tmp_path):
    run = make_run(tmp_path / "run", steps=40)
    replay(run, ["jsonl", "tensorboard"])
    first_tb = tb_scalars(run)
    res = replay(run, ["jsonl", "tensorboard"], reset=True)
    n = len(log_records(run))
    assert [r.delivered for r in res] == [n, n]
    assert jsonl_seqs(run) == list(range(n))
    assert tb_scalars(run) == first_tb
    assert len(list((run / "tensorboard").iterdir())) == 1


def test_slow_sink_does_not_hold_up_the_others(tmp_path):
    gate = threading.Event()

    class Stuck(Sink):
        name = "stuck"

        def write(self, records):  # noqa: ANN001
            gate.wait(60)

    run = make_run(tmp_path / "run", steps=200)
    run_id, body, _ = run_info(run)
    syncer = Syncer(run, [Stuck, ListSink], live=False, run_id=run_id, run=body, warn=lambda m: None)
    syncer.start()
    try:
        by_name = {r.name: r for r in syncer.runners}
        by_name["listsink"].join(60)
        assert not by_name["listsink"].is_alive()
        assert len(ListSink.got) == len(log_records(run)) and ListSink.closed == [FINISHED]
        assert by_name["stuck"].is_alive()
    finally:
        gate.set()
        syncer.join(60)


# --------------------------------------------------------------- tensorboard
def test_tensorboard_scalars_equal_the_log(tmp_path):
    run = make_run(tmp_path / "run", steps=1500, config={"lr": 0.1, "model": {"depth": 4}})
    (res,) = replay(run, ["tensorboard"])
    assert res.closed == FINISHED
    assert_tb_equals_log(run)
    tags = set(tb_scalars(run))
    assert tags == {"loss", "acc", "nested/lr", "flag"}  # strings and _keys left out
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    ea = EventAccumulator(str(run / "tensorboard"), size_guidance={"tensors": 0})
    ea.Reload()
    (text,) = ea.Tensors("config/text_summary")
    config = text.tensor_proto.string_val[0].decode()
    assert '"lr": 0.1' in config and '"depth": 4' in config


def test_tensorboard_cuts_events_written_after_the_last_checkpoint(tmp_path):
    """A syncer killed between writing events and saving its cursor: the sink, opened again with
    the saved state, cuts the file back; the records delivered again appear once."""
    from eventlog.sinks.base import SinkContext
    from eventlog import Cursor

    run = make_run(tmp_path / "run", steps=100)
    records = log_records(run)
    cls = load("tensorboard")

    def ctx(state, seq):  # noqa: ANN001
        return SinkContext(name="tensorboard", folder=run, run_id="x", run={}, cursor=Cursor(seq),
                           state=state, live=False, warn=lambda m: None)

    sink = cls()
    sink.open(ctx(None, 0))
    sink.write(records[:40])
    state = sink.flush()  # checkpoint at seq 40
    sink.write(records[40:70])
    sink.flush()  # written and flushed, but the cursor was never saved: killed here
    sink2 = cls()
    sink2.open(ctx(json.loads(json.dumps(state)), 40))
    sink2.write(records[40:])
    sink2.flush()
    sink2.close(FINISHED)
    assert_tb_equals_log(run)


def test_tensorboard_missing_library_is_a_clear_error(tmp_path, monkeypatch):
    import builtins

    real_import = builtins.__import__

    def no_tbx(name, *a, **k):  # noqa: ANN001
        if name.startswith("tensorboardX"):
            raise ImportError("No module named 'tensorboardX'")
        return real_import(name, *a, **k)

    monkeypatch.setattr(builtins, "__import__", no_tbx)
    run = make_run(tmp_path / "run", steps=5)
    (res,) = replay(run, ["tensorboard"])
    assert res.error and "pip install 'evlog[tensorboard]'" in res.error


# ------------------------------------------------------------------- stdout
def test_stdout_start_and_finish_blocks(tmp_path):
    run = make_run(tmp_path / "run", steps=30)
    term = Capture()
    replay(run, ["stdout"], terminal=term)
    text = term.text
    assert len(term.blocks) == 2  # the banner and the final block, each one write
    assert "evlog: Tracking run brave-otter-7 (id sinkrun1)" in text
    assert f"evlog: Run folder: {run}" in text
    assert f"evlog sync {run}" in text
    assert "Run summary:" in text
    lines = text.splitlines()
    row = {ln.split()[1]: ln.split()[2] for ln in lines if ln.startswith("evlog:   ") and len(ln.split()) == 3}
    assert row["loss"] == f"{1 / 30:.5g}" and row["best"] == "0.5" and row["nested/lr"] == f"{0.1 * 0.99 ** 29:.5g}"
    assert "_private" not in text
    assert "finished in 1.2 s: 30 steps logged" in text or "finished in 1.3 s: 30 steps logged" in text


def test_stdout_online_url_and_crash(tmp_path, monkeypatch):
    monkeypatch.setenv("EVLOG_BASE_URL", "http://127.0.0.1:8080")
    run = make_run(tmp_path / "run", steps=3, exit_code=None, mode="online")
    term = Capture()
    replay(run, ["stdout"], terminal=term)
    # no entity in the run record (the server was unreachable at init): no URL rather than a wrong one
    assert "View run at" not in term.text and "/proj/runs/sinkrun1" not in term.text
    assert "The server could not be reached: the run is stored locally" in term.text
    assert "crashed: the training process ended without finishing the run; 3 steps logged" in term.text


def test_stdout_does_not_print_a_block_twice_after_restart(tmp_path):
    run = make_run(tmp_path / "run", steps=10)
    term = Capture()
    replay(run, ["stdout"], terminal=term)
    # the cursor is lost (syncer killed before it saved it): the blocks are not printed again
    os.unlink(run / "sinks" / "stdout.cursor.json")
    term2 = Capture()
    replay(run, ["stdout"], terminal=term2)
    assert term2.blocks == []


def test_run_facts_states(tmp_path):
    fin = run_facts(make_run(tmp_path / "a", steps=7))
    assert (fin.state, fin.steps, fin.run_id, fin.name) == ("finished", 7, "sinkrun1", "brave-otter-7")
    assert run_facts(make_run(tmp_path / "b", steps=2, exit_code=3)).state == "failed"
    assert run_facts(make_run(tmp_path / "c", steps=2, exit_code=None)).state == "crashed"
    with LogWriter(tmp_path / "d", "running1") as w:
        w.append("run", {"id": "running1"})
        w.flush()
        assert run_facts(tmp_path / "d").state == "running"


def test_live_failures_before_the_end_do_not_use_up_the_retries_after_it(tmp_path):
    """A sink failing while the run is live keeps being retried; once the run has ended it gets
    `retries` more tries, however often it failed before."""
    class DownThenUp(Sink):
        name = "downthenup"
        calls = 0
        after_end = 0
        ended = False
        got: List[int] = []

        def write(self, records):  # noqa: ANN001
            DownThenUp.calls += 1
            if not DownThenUp.ended:
                raise ConnectionError("server down")
            DownThenUp.after_end += 1
            if DownThenUp.after_end <= 2:
                raise ConnectionError("still down")
            DownThenUp.got.extend(r.seq for r in records)

    folder = tmp_path / "run"
    w = LogWriter(folder, "downrun1")
    w.append("run", {"id": "downrun1"})
    write_records(w, 0, 10)
    w.flush()
    syncer = Syncer(folder, [DownThenUp], live=True, run_id="downrun1", run={}, warn=lambda m: None,
                    retries=3, backoff=(0.01,))
    syncer.start()
    try:
        wait = time.monotonic() + 60
        while DownThenUp.calls < 8 and time.monotonic() < wait:
            time.sleep(0.01)
        assert DownThenUp.calls >= 8
        w.close()  # the training process ends without an exit record
        DownThenUp.ended = True
        syncer.parent_gone.set()
        syncer.stop_event.set()
        syncer.watcher.wake()
        assert syncer.join(60)
    finally:
        w.close()
        syncer.stop_event.set()
        syncer.join(60)
        syncer.close()
    (res,) = [r.result for r in syncer.runners]
    assert not res.error and res.closed == CRASHED
    assert DownThenUp.got == list(range(11))
