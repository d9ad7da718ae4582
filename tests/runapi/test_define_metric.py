"""define_metric (issue 13): `metric` records, the summary operations (min/max/mean/best/first/
last/none) in the Run, after resume, in the stdout sink and on a real server after sync, globs and
step_sync as transformers and Lightning use them, typed errors, and the run page charting a metric
against its step metric in headless Chromium."""
from __future__ import annotations

import math

import msgpack
import pytest

from eventlog.metricdefs import MetricFold
from eventlog.runapi.resume import from_log, from_server
from support.dashboard import sign_in
from support.run import of_type, records
from support.server import T0, run_record, start_harness, uniq
from support.client import evlog_sync, sync_env

LOSSES = [3.0, 1.0, 2.0, float("nan"), 0.5, 4.0]
ACCS = [0.1, 0.6, 0.4, 0.9, 0.2, 0.3]
WANT = {
    "loss": {"min": 0.5, "max": 4.0},
    "acc": {"best": 0.9, "first": 0.1, "last": 0.3},
    "lr": {"mean": pytest.approx(sum(range(6)) / 6)},
    "epoch": 5,
}


def define_and_log(run) -> None:
    """Definitions of every summary kind, then six steps of values."""
    run.define_metric("loss", summary="min")
    run.define_metric("loss", summary="max")  # merged with the first: both kept, as wandb
    run.define_metric("acc", summary="best,first,last", goal="maximize")
    run.define_metric("lr", summary="mean")
    run.define_metric("secret", summary="none")
    for i in range(6):
        run.log({"loss": LOSSES[i], "acc": ACCS[i], "lr": float(i), "secret": i, "epoch": i, "note": "text"})


def summary_part(summary: dict) -> dict:
    return {k: summary[k] for k in WANT if k in summary}


# ------------------------------------------------------------------------------ the Run
def test_summary_operations_in_the_run_and_the_metric_records(ev):
    run = ev.init(project="p")
    define_and_log(run)
    assert summary_part(dict(run.summary)) == WANT
    assert "secret" not in run.summary, 'summary="none" leaves the key out'
    assert run.summary["note"] == "text", "keys without a definition keep their last value"
    run.finish()
    recs = records(run.dir)
    metrics = [r.body for r in of_type(recs, "metric")]
    assert [m["name"] for m in metrics] == ["loss", "loss", "acc", "lr", "secret"]
    assert metrics[1] == {"name": "loss", "step_metric": None, "step_sync": None, "hidden": None,
                          "summary": ["min", "max"], "goal": None}
    assert metrics[2]["goal"] == "maximize" and metrics[2]["summary"] == ["best", "first", "last"]
    # the history rows hold what was logged, NaN included; the definitions act on the summary only
    rows = [r.body["data"] for r in of_type(recs, "history")]
    assert [r["secret"] for r in rows] == list(range(6)) and math.isnan(rows[3]["loss"])
    final = of_type(recs, "summary")[-1].body["update"]
    assert summary_part(final) == WANT and "secret" not in final
    st = from_log(run.dir)  # the reader's fold gives the same summary
    assert summary_part(st.summary) == WANT and "secret" not in st.summary


def test_the_folds_agree_without_the_final_summary_record(ev):
    """A crashed run has no final summary record: readers compute the summary from the definitions."""
    run = ev.init(project="p")
    define_and_log(run)
    run.finish()
    recs = [r for r in records(run.dir) if r.type not in ("summary", "exit")]
    fold, summary = MetricFold(), {}
    for r in recs:
        if r.type == "metric":
            fold.define(r.body)
        elif r.type == "history":
            fold.apply(summary, dict(r.body["data"]))
    assert summary_part(summary) == WANT and "secret" not in summary
    # the stdout sink's final lines use the same fold
    from eventlog.sinks import stdout as stdout_sink
    from eventlog.sinks.stdout import StdoutSink

    sink = StdoutSink.__new__(StdoutSink)
    sink.summary, sink.metrics, sink.steps, sink.session = {}, MetricFold(), 0, 0
    sink.history = stdout_sink.History()
    sink.run_id = sink.run_name = "x"
    for r in recs:
        sink._track(r)
    assert summary_part(sink.summary) == WANT and "secret" not in sink.summary


def test_globs_and_step_sync_as_transformers_defines_them(ev):
    run = ev.init(project="p")
    run.define_metric("train/global_step")
    star = run.define_metric("*", step_metric="train/global_step", step_sync=True)
    run.define_metric("eval/acc", summary="max")  # an exact definition wins over the glob
    assert (star.name, star.step_metric, star.step_sync) == ("*", "train/global_step", True)
    run.log({"train/global_step": 10, "train/loss": 1.0})
    run.log({"train/loss": 0.8})                      # no step metric: gets 10
    run.log({"train/global_step": 20})
    run.log({"eval/acc": 0.5, "_runtime": 3.0})       # exact definition without step metric; "_" keys: no glob
    run.log({"train/loss": 0.6, "train/global_step": 25})  # given: kept as given
    run.log({"other": 1})
    run.finish()
    rows = [r.body["data"] for r in of_type(records(run.dir), "history")]
    assert rows == [
        {"train/global_step": 10, "train/loss": 1.0},
        {"train/loss": 0.8, "train/global_step": 10},
        {"train/global_step": 20},
        {"eval/acc": 0.5, "_runtime": 3.0},
        {"train/loss": 0.6, "train/global_step": 25},
        {"other": 1, "train/global_step": 25},
    ]
    assert run.summary["eval/acc"] == {"max": 0.5} and run.summary["train/loss"] == 0.6


def test_definitions_for_charts_only_keep_last_values_and_sync_the_step_metric(ev):
    run = ev.init(project="p")
    run.define_metric("trainer/global_step")
    run.define_metric("*", step_metric="trainer/global_step", step_sync=True)
    run.log({"trainer/global_step": 3, "loss": 2.0})
    run.log({"loss": 1.5, "note": "x"})
    run.log({"trainer/global_step": 4})
    run.log({"loss": 1.0})
    assert dict(run.summary) == {"trainer/global_step": 4, "loss": 1.0, "note": "x"}
    run.finish()
    rows = [r.body["data"] for r in of_type(records(run.dir), "history")]
    assert [r.get("trainer/global_step") for r in rows] == [3, 3, 4, 4]
    assert from_log(run.dir).metrics.step_last == {"trainer/global_step": 4}


def test_a_step_metric_gets_a_definition_and_lightning_style_step_metric_objects_work(ev):
    run = ev.init(project="p")
    step = run.define_metric("trainer/global_step", hidden=True)
    m = run.define_metric("val/*", step_metric=step)  # a Metric object names its metric
    assert m.step_metric == "trainer/global_step" and m.step_sync is True, "step_sync defaults to True"
    run.define_metric("epoch_loss", step_metric="epoch")  # "epoch" had no definition: one is written first
    run.finish()
    names = [r.body["name"] for r in of_type(records(run.dir), "metric")]
    assert names == ["trainer/global_step", "val/*", "epoch", "epoch_loss"]


def test_overwrite_replaces_a_definition_instead_of_merging(ev):
    run = ev.init(project="p")
    run.define_metric("loss", summary="min", step_metric="s")
    m = run.define_metric("loss", summary="max", overwrite=True)
    assert m.summary == ("max",) and m.step_metric is None and m.step_sync is None
    run.log({"loss": 2.0})
    run.log({"loss": 1.0})
    assert run.summary["loss"] == {"max": 2.0}


@pytest.mark.parametrize("kwargs, error, words", [
    ({"name": ""}, "UsageError", "name"),
    ({"name": 3}, "ArgumentTypeError", "name="),
    ({"name": "a*b"}, "UsageError", "glob"),
    ({"name": "x", "summary": "median"}, "UsageError", "'median'"),
    ({"name": "x", "summary": ["min"]}, "ArgumentTypeError", "summary="),
    ({"name": "x", "summary": "best"}, "UsageError", "goal"),
    ({"name": "x", "goal": "up"}, "UsageError", "goal="),
    ({"name": "x", "step_sync": "yes"}, "ArgumentTypeError", "step_sync="),
    ({"name": "x", "hidden": 1}, "ArgumentTypeError", "hidden="),
    ({"name": "x", "step_metric": "a*"}, "UsageError", "step_metric="),
])
def test_bad_arguments_raise_typed_errors_naming_the_argument_and_write_nothing(ev, kwargs, error, words):
    run = ev.init(project="p")
    with pytest.raises(getattr(ev, error)) as info:
        run.define_metric(**kwargs)
    assert words in str(info.value)
    run.finish()
    assert of_type(records(run.dir), "metric") == []


def test_module_level_define_metric_acts_on_the_current_run(ev):
    with pytest.raises(ev.NoRunError, match="define_metric"):
        ev.define_metric("loss", summary="min")
    run = ev.init(project="p")
    ev.define_metric("loss", summary="min")
    ev.log({"loss": 2.0})
    ev.log({"loss": 3.0})
    assert run.summary["loss"] == {"min": 2.0}


# ------------------------------------------------------------------------------ resume
def test_resume_restores_definitions_summary_state_and_step_sync(ev):
    run = ev.init(project="p", id="dmres001")
    run.define_metric("step_x")
    run.define_metric("loss", summary="min,mean", step_metric="step_x")
    run.log({"step_x": 7, "loss": 2.0})
    run.log({"loss": 4.0})
    run.finish()
    again = ev.init(project="p", id="dmres001", resume="allow")
    assert again.resumed and again.summary["loss"] == {"min": 2.0, "mean": 3.0}
    again.log({"loss": 6.0})  # step_sync continues with step_x = 7; the mean counts all three values
    assert again.summary["loss"] == {"min": 2.0, "mean": 4.0}
    again.finish()
    rows = [r.body["data"] for r in of_type(records(again.dir), "history")]
    assert rows[-1] == {"loss": 6.0, "step_x": 7}


def test_a_run_resumed_from_the_server_state_keeps_its_means(ev):
    run = ev.init(project="p")
    run.define_metric("loss", summary="mean")
    for v in (1.0, 2.0, 6.0):
        run.log({"loss": v})
    fold = run._mfold
    st = from_server({"id": "x", "summary": dict(run.summary), "metrics": fold.state(), "next_seq": 9})
    assert st.metrics.active and st.metrics.means == {"loss": [9.0, 3]}
    st.metrics.apply(st.summary, {"loss": 11.0})
    assert st.summary["loss"] == {"mean": 5.0}


# ------------------------------------------------------------------------------ the server
def test_the_server_folds_the_summary_and_keeps_the_definitions(srv, ev):
    user, key = srv.user()
    rid = uniq("dm")
    run = ev.init(project="p", id=rid)
    define_and_log(run)
    run.define_metric("*", step_metric="epoch")
    run.finish()
    recs = [[r.seq, r.type, r.time, r.body] for r in records(run.dir)]
    # without the final summary record (a run that crashed): the server computes the summary itself
    partial = [r for r in recs if r[1] not in ("summary", "exit")]
    assert srv.upload(user, "dm", rid, partial, key) == len(partial)
    got = srv.run(user, "dm", rid, key).json()
    assert summary_part(got["summary"]) == WANT and "secret" not in got["summary"]
    assert [d["name"] for d in got["metrics"]] == ["loss", "acc", "lr", "secret", "epoch", "*"]
    assert got["metrics"][0]["summary"] == ["min", "max"] and got["metrics"][-1]["step_metric"] == "epoch"
    state = msgpack.unpackb(srv.get(f"/api/v1/runs/{user}/dm/{rid}/state", key).content, raw=False)
    assert state["metrics"]["means"] == {"lr": [15.0, 6]}
    assert MetricFold.restore(state["metrics"]).resolve("anything")["step_metric"] == "epoch"


def test_an_offline_run_synced_by_the_http_sink_has_the_same_summary_on_the_server(srv, ev, tmp_path):
    user, key = srv.user()
    run = ev.init(project="dmsync")
    define_and_log(run)
    local = dict(run.summary)
    run.finish()
    out = evlog_sync(run.dir, env=sync_env(tmp_path, srv.url, key))
    assert out.returncode == 0, out.stdout + out.stderr
    got = srv.run(user, "dmsync", run.id, key).json()
    assert got["summary"] == local
    assert summary_part(got["summary"]) == WANT and len(got["metrics"]) == 4


# ------------------------------------------------------------------------------ the dashboard
@pytest.fixture(scope="module")
def stepsite(tmp_path_factory):
    """A server with one run whose metrics are defined as transformers does, uploaded as records."""
    tmp = tmp_path_factory.mktemp("dm-dash")
    h = start_harness(f"sqlite:///{tmp / 'dash.db'}", tmp)
    alice, akey = h.user("alice")
    recs = [run_record("hf-run", name="hf-run")]

    def add(type_, body):
        recs.append([len(recs), type_, T0 + len(recs), body])

    blank = {"step_metric": None, "step_sync": None, "hidden": None, "summary": None, "goal": None}
    add("metric", dict(blank, name="train/global_step"))
    add("metric", dict(blank, name="*", step_metric="train/global_step", step_sync=True))
    add("metric", dict(blank, name="debug/grad", hidden=True))
    add("metric", dict(blank, name="plain"))  # its own definition, no step metric: charted by step
    for i in range(30):  # global_step = 8 * step, as a trainer with gradient accumulation logs it
        add("history", {"step": i, "data": {"train/loss": 1.0 / (i + 1), "train/global_step": 8 * i,
                                            "debug/grad": 0.5}})
    add("history", {"step": 30, "data": {"plain": 1.0}})
    add("history", {"step": 31, "data": {"plain": 2.0}})
    h.upload(alice, "hf", "hf-run", recs, akey)
    yield {"h": h, "alice": alice, "akey": akey}
    h.proc.stop()
    h.close()


def test_the_run_page_charts_a_metric_against_its_step_metric(stepsite, page):
    h, alice = stepsite["h"], stepsite["alice"]
    sign_in(page, h.url, stepsite["akey"], f"/{alice}/hf/runs/hf-run")
    page.wait_for_selector("#charts[data-ready='1']")
    shown = sorted(page.locator("#charts .chart").evaluate_all("els => els.map(e => e.dataset.metric)"))
    assert shown == ["plain", "train/global_step", "train/loss"], "a hidden metric is not charted"
    loss = page.locator('#charts .chart[data-metric="train/loss"]')
    assert loss.get_attribute("data-xlabel") == "train/global_step"
    assert page.evaluate("() => EV.runCharts.get('train/loss').plot.axes[0].label") == "train/global_step", \
        "the x axis (drawn by uPlot) is labelled with the step metric"
    xs = page.evaluate("() => EV.runCharts.get('train/loss').lines[0].xs")
    assert xs == [8 * i for i in range(30)], "x is the step metric's value, not the step"
    assert page.get_attribute('#charts .chart[data-metric="plain"]', "data-xlabel") == "step"
    assert page.evaluate("() => EV.runCharts.get('plain').lines[0].xs") == [30, 31]
    # the server's JSON the page reads
    run = h.get(f"/api/v1/runs/{alice}/hf/hf-run", stepsite["akey"]).json()
    assert [d["name"] for d in run["metrics"]] == ["train/global_step", "*", "debug/grad", "plain"]
    assert run["metrics"][1]["step_metric"] == "train/global_step" and run["metrics"][2]["hidden"] is True
