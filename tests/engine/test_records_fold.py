"""The fold of records into run state (eventlog/records, spec/format.md 3): on random record
sequences it equals a straightforward reading of the spec, and every reader that folds a run (the
resume's from_log, the server's run state, `evlog runs ls`'s run_facts, the syncer's run_info, the
stdout sink's summary) sees the same run."""
from __future__ import annotations

import tempfile
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from eventlog.logfile.segment import Record
from eventlog.logfile.writer import LogWriter
from eventlog.metricdefs import MetricFold
from eventlog.records import RECORD_TYPES, RunFold, apply_update, exit_state, later_step, run_identity, str_keys
from eventlog.runapi.resume import from_log
from eventlog.server.runstate import RunState as ServerRunState
from eventlog.sinks.state import run_facts
from eventlog.sinks.stdout import StdoutSink
from eventlog.sinks.sparkline import History
from eventlog.sinks.syncer import run_info

RUN_ID = "fold0001"
KEYS = ("a", "b", "t/a", "t/b", "_runtime")
key = st.sampled_from(KEYS)
value = st.one_of(st.integers(-5, 5), st.floats(-10, 10, allow_nan=False), st.booleans(), st.text("xyz", max_size=3),
                  st.none())
text = st.text("abc -", min_size=1, max_size=6)
tags = st.lists(st.text("abc", min_size=1, max_size=3), max_size=3)


def _upd(draw_from=value):
    return st.fixed_dictionaries({"update": st.dictionaries(key, draw_from, max_size=3)},
                                 optional={"remove": st.lists(key, max_size=2)})


config_rec = st.tuples(st.just("config"), _upd())
summary_rec = st.tuples(st.just("summary"), _upd())
history_rec = st.tuples(st.just("history"), st.fixed_dictionaries(
    {"step": st.integers(0, 40), "data": st.dictionaries(key, value, max_size=4)}))
meta_rec = st.tuples(st.just("meta"), st.fixed_dictionaries({}, optional={"name": text, "notes": text, "tags": tags}))
exit_rec = st.tuples(st.just("exit"), st.fixed_dictionaries(
    {"exit_code": st.integers(-2, 2), "runtime": st.floats(0, 100), "interrupted": st.booleans(), "error": st.none()}))
resume_rec = st.tuples(st.just("resume"), st.just({}))  # session and last_step filled in as a writer does
other_rec = st.sampled_from([("warning", {"message": "m", "keys": ["a"]}),
                             ("output", {"stream": "stdout", "text": "x"}),
                             ("system", {"metrics": {"cpu": 1.0}}), ("files", {"files": []}), ("no_such_type", {})])
metric_rec = st.tuples(st.just("metric"), st.fixed_dictionaries({
    "name": st.sampled_from(KEYS + ("t/*", "*")),
    "step_metric": st.none(), "step_sync": st.none(), "hidden": st.none(),
    "summary": st.one_of(st.none(), st.lists(st.sampled_from(["min", "max", "mean", "last", "first", "none", "copy"]),
                                             unique=True, max_size=3)),
    "goal": st.none()}))
run_body = st.fixed_dictionaries({"id": st.just(RUN_ID), "name": text, "notes": st.one_of(st.none(), text),
                                  "tags": tags, "project": st.just("p"), "entity": st.none(), "group": st.none(),
                                  "job_type": st.just("train"), "mode": st.just("offline"),
                                  "start_time": st.just(1.0e9), "settings": st.just({})})


def runs(*kinds):
    """A run's records as a writer of version 1 writes them: its `run` record, then any of `kinds`;
    a resume record numbers its session and carries the highest step before it."""
    def build(args):
        first, rest = args
        out, session, last = [("run", first)], 0, None
        for t, b in rest:
            if t == "resume":
                session += 1
                b = {"session": session, "pid": 1, "host": "h", "start_time": 2.0e9, "last_step": last,
                     "mode": "offline", "source": "log"}
            elif t == "history":
                last = later_step(last, b["step"])
            out.append((t, b))
        return out
    return st.tuples(run_body, st.lists(st.one_of(*kinds), max_size=25)).map(build)


def reference(records):
    """spec/format.md 3 read literally, for runs without metric definitions."""
    config, summary, ident, last, rows, ended, sessions = {}, {}, {}, None, 0, None, 0
    for t, b in records:
        if t == "run":
            ident = {k: b.get(k) for k in ("id", "name", "notes", "tags")}
        elif t in ("config", "summary"):
            target = config if t == "config" else summary
            target.update(b.get("update") or {})
            for k in b.get("remove") or []:
                target.pop(k, None)
        elif t == "history":
            rows += 1
            last = b["step"] if last is None else max(last, b["step"])
            summary.update(b["data"])
        elif t == "meta":
            ident.update({k: v for k, v in b.items() if k in ("name", "notes", "tags")})
        elif t == "exit":
            ended = b
        elif t == "resume":
            ended, sessions = None, sessions + 1
    state = None if ended is None else ("finished" if ended["exit_code"] == 0 else "failed")
    return {"config": config, "summary": summary, "ident": ident, "last_step": last, "rows": rows,
            "state": state, "session": sessions}


def folded(records) -> RunFold:
    fold = RunFold()
    for seq, (t, b) in enumerate(records):
        fold.feed(seq, t, b)
    return fold


@settings(max_examples=300, deadline=None)
@given(runs(config_rec, summary_rec, history_rec, meta_rec, exit_rec, resume_rec, other_rec))
def test_the_fold_is_the_spec_read_literally(records):
    fold = folded(records)
    want = reference(records)
    assert fold.config == want["config"] and fold.summary == want["summary"]
    assert {k: fold.run[k] for k in want["ident"]} == want["ident"]
    assert (fold.last_step, fold.rows, fold.session) == (want["last_step"], want["rows"], want["session"])
    assert (exit_state(fold.ended) if fold.ended is not None else None) == want["state"]
    assert (fold.records, fold.next_seq) == (len(records), len(records))


def _server_view(records):
    state = ServerRunState()
    envelopes = [[seq, t, 1.0e9 + seq, b] for seq, (t, b) in enumerate(records)]
    state.start(envelopes[0], RUN_ID, False)
    assert state.apply(envelopes, 0) == len(records)
    return state


def _stdout_summary(records):
    sink = StdoutSink.__new__(StdoutSink)
    sink.summary, sink.steps, sink.session, sink.history = {}, 0, 0, History()
    sink.metrics = MetricFold()
    sink.run_id = sink.run_name = "x"
    for seq, (t, b) in enumerate(records):
        sink._track(Record(seq, t, 1.0e9 + seq, b))
    return sink.summary


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(runs(config_rec, summary_rec, history_rec, meta_rec, exit_rec, resume_rec, other_rec, metric_rec))
def test_server_resume_runs_ls_and_sinks_see_the_same_run(records):
    server = _server_view(records)
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) / "run"
        with LogWriter(folder, RUN_ID) as w:
            for t, b in records:
                w.append(t, b)
        resumed = from_log(folder)
        facts = run_facts(folder)
        rid, body, readable = run_info(folder)
    f = server.fields
    assert resumed.config == server.config and resumed.summary == server.summary
    assert resumed.last_step == f["last_step"] and resumed.session == f["sessions"] - 1
    assert (resumed.run["name"], resumed.run["notes"], resumed.run["tags"]) == (f["name"], f["notes"], f["tags"])
    assert resumed.metrics.state() == server.metrics.state()
    state = exit_state(resumed.ended) if resumed.ended is not None else "running"
    assert state == f["state"]
    assert (facts.run_id, facts.name, facts.steps, facts.next_seq) == (RUN_ID, f["name"], f["history_rows"],
                                                                       len(records))
    assert facts.state == ("crashed" if state == "running" else state)  # no writer holds the log now
    assert (rid, body, readable) == (RUN_ID, records[0][1], True)
    assert _stdout_summary(records) == {str(k): v for k, v in server.summary.items() if not str(k).startswith("_")}


def test_apply_update_merges_then_removes_and_ignores_what_is_not_a_map_or_list():
    target = {"a": 1, "b": 2}
    apply_update(target, {"update": {"c": 3, "a": 0}, "remove": ["b", "c", ["unhashable"]]})
    assert target == {"a": 0}
    apply_update(target, {"update": [("a", 9)], "remove": "a"})  # neither a map nor a list: nothing
    assert target == {"a": 0}
    assert str_keys({"update": {1: "x", "_p": 2}, "remove": (3,)}, drop_private=True) == {
        "update": {"1": "x"}, "remove": ["3"]}


def test_run_identity_and_the_record_types():
    assert run_identity("run", {"id": "r"}) == {"id": "r"}
    assert run_identity("resume", {"run": {"id": "r"}, "session": 1}) == {"id": "r"}
    assert run_identity("resume", {"session": 1}) is None and run_identity("history", {}) is None
    assert len(set(RECORD_TYPES)) == 18 and RECORD_TYPES[0] == "run"
