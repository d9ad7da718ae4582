"""log()'s check of a row of numbers (issue 14): after a row of numbers, sum() lets the next row
through in one loop of C and the writer's encoder refuses what sum() cannot tell apart. Whatever
a row holds, the run must store and refuse exactly what the value-by-value check stores and
refuses; only the moment of a refusal may differ, for a value sum() cannot tell from a number
(a Fraction, or an int beyond 64 bits beside a large negative one) in a row that waits for its
step: that row is dropped with a warning when it is written."""
from __future__ import annotations

import enum
import fractions
import math
import warnings

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import eventlog
from eventlog.errors import LogValueError
from eventlog.runapi import run as runmod
from support.run import of_type, records

np = pytest.importorskip("numpy")


class Sub(float):
    pass


class IntSub(int):
    pass


class Colour(enum.IntEnum):
    RED = 1


# every kind of value but those the module docstring names (tested on their own below)
VALUES = [0.5, -0.0, float("nan"), float("inf"), -float("inf"), 1e300, 3, -1, 0, 2 ** 63, 2 ** 64 - 1,
          -(2 ** 63), True, False, None, "text", Sub(1.5), IntSub(7), np.float64(0.25), np.float32(0.5),
          np.int64(9), np.bool_(True), [1.0, 2.0]]


def history(folder):
    return [(r.body["step"], _typed(r.body["data"])) for r in of_type(records(folder), "history")]


def _typed(value):
    """A value with its type, so 1, 1.0 and True differ and NaN equals NaN."""
    if isinstance(value, dict):
        return {k: _typed(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_typed(v) for v in value]
    if isinstance(value, float) and math.isnan(value):
        return ("float", "nan")
    return (type(value).__name__, value)


def play(calls, folder, metric=False):
    """Make a run in `folder` (with a metric definition: rows take the definitions' way), make the
    calls; (what each call raised, warnings, rows, summary)."""
    run = eventlog.init(dir=folder, project="p", mode="offline")
    if metric:
        run.define_metric("b", summary="max")
    outcomes, caught = [], []
    for data, step, commit in calls:
        with warnings.catch_warnings(record=True) as seen:
            warnings.simplefilter("always")
            try:
                run.log(dict(data), step=step, commit=commit)
                outcomes.append(None)
            except Exception as exc:  # noqa: BLE001 - compared between the two runs
                outcomes.append(type(exc).__name__)
        caught += [type(w.message).__name__ for w in seen]
    summary = {k: _typed(v) for k, v in run.summary.items()}
    run.finish()
    return outcomes, caught, history(run.folder), summary


calls_st = st.lists(
    st.tuples(
        st.dictionaries(st.sampled_from(["a", "b", "c"]), st.sampled_from(VALUES), max_size=3),
        st.one_of(st.none(), st.integers(0, 3)),
        st.sampled_from([None, None, True, False]),
    ),
    min_size=1, max_size=12,
)


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(calls=calls_st.map(lambda rest: [({"a": 1.0, "b": 2.0}, None, None)] + rest), metric=st.booleans())
def test_any_rows_are_stored_as_the_value_by_value_check_stores_them(ev, tmp_path_factory, monkeypatch, calls,
                                                                     metric):
    fast = play(calls, tmp_path_factory.mktemp("fast"), metric)
    with monkeypatch.context() as m:
        m.setattr(runmod, "_SUM_MAX", 0.0)  # no total is inside (-0, 0): every row checked value by value
        checked = play(calls, tmp_path_factory.mktemp("checked"), metric)
    assert fast == checked


def test_the_sum_check_is_taken_after_a_row_of_numbers(ev, tmp_path):
    run = eventlog.init(dir=tmp_path, project="p", mode="offline")
    run.log({"a": 1.0})
    assert run._numbers
    run.log({"a": None})  # not numbers: sum() raises, the value-by-value check takes it
    assert not run._numbers
    run.log({"a": 2.0, "n": 3})
    run.finish()
    assert history(run.folder) == [(0, {"a": ("float", 1.0)}), (1, {"a": ("NoneType", None)}),
                                   (2, {"a": ("float", 2.0), "n": ("int", 3)})]


def test_what_only_the_encoder_refuses_is_refused_by_the_call_that_logs_it(ev, tmp_path):
    run = eventlog.init(dir=tmp_path, project="p", mode="offline")
    run.log({"a": 1.0, "b": 1.0, "f": 1.0})  # keys seen before take the fast path
    with pytest.raises(LogValueError, match="'f'.*Fraction"):
        run.log({"a": 2.0, "f": fractions.Fraction(1, 3)})  # 0.0 + Fraction is a float
    with pytest.raises(LogValueError, match="64 bits"):
        run.log({"a": 2 ** 70, "b": -(2 ** 70)})  # sums to 0.0
    run.log({"a": Sub(2.5), "b": IntSub(4)})  # stored as the float and the int
    run.log({"a": Colour.RED})  # an IntEnum: its int
    run.finish()
    assert history(run.folder) == [(0, {"a": ("float", 1.0), "b": ("float", 1.0), "f": ("float", 1.0)}),
                                   (1, {"a": ("float", 2.5), "b": ("int", 4)}),
                                   (2, {"a": ("int", 1)})]
    assert type(run.summary["b"]) is int and run.summary["a"] == 1
    refused = [r.body for r in of_type(records(run.folder), "warning") if r.body["message"].startswith("log() refused")]
    assert [w["keys"] for w in refused] == [["a", "f"], ["a", "b"]]


def test_a_waiting_row_the_encoder_refuses_is_dropped_with_a_warning(ev, tmp_path):
    run = eventlog.init(dir=tmp_path, project="p", mode="offline")
    run.log({"a": 1.0, "b": 1.0, "f": 1.0}, step=0)  # keys seen before take the fast path
    run.log({"a": 2.0, "f": fractions.Fraction(1, 3)}, step=1)  # waits for step 1 to end
    with pytest.warns(eventlog.EvlogWarning, match="row of step 1 was not written"):
        run.log({"a": 3.0}, step=2)
    run.log({"a": Sub(4.5)}, step=3)
    run.log({"a": 2 ** 64, "b": -(2 ** 63)}, step=4)  # sums to 9.2e18
    with pytest.warns(eventlog.EvlogWarning, match="row of step 4 was not written"):
        run.log({"a": 5.0}, step=5)
    run.finish()
    assert history(run.folder) == [(0, {"a": ("float", 1.0), "b": ("float", 1.0), "f": ("float", 1.0)}),
                                   (2, {"a": ("float", 3.0)}), (3, {"a": ("float", 4.5)}),
                                   (5, {"a": ("float", 5.0)})]
    assert run.summary["a"] == 5.0


# ------------------------------------------------------------------------ the summary
# log() leaves the last row over the summary and folds it in only when the next row lacks one of
# its keys (or anything else needs the summary): run.summary must be, after every call, what a
# reader folds from the log (spec/format.md 3), whatever rows, steps and explicit changes come.
ops_st = st.lists(st.one_of(
    st.tuples(st.just("log"),
              st.dictionaries(st.sampled_from(["a", "b", "c"]), st.sampled_from([0.5, 1.5, 2, True, None, "s"]),
                              max_size=3),
              st.sampled_from([None, "next", "next", "same", "back"]), st.sampled_from([None, None, True, False])),
    st.tuples(st.just("set"), st.sampled_from(["a", "b", "z"]), st.sampled_from([9.0, "x"])),
    st.tuples(st.just("del"), st.sampled_from(["a", "b", "z"])),
    st.tuples(st.just("metric"), st.sampled_from(["a", "b"]), st.sampled_from(["max", "min", "last", "none"])),
    st.just(("check",)),  # a read folds the last row in: between reads the rows pile up unfolded
), min_size=1, max_size=25)


def folded_summary(run) -> dict:
    from eventlog.records.fold import RunFold

    run._writer.flush()
    fold = RunFold()
    for r in records(run.folder):
        fold.feed(r.seq, r.type, r.body)
    return fold.summary


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(ops=ops_st)
def test_the_summary_is_the_fold_of_the_log_after_every_call(ev, tmp_path_factory, ops):
    run = eventlog.init(dir=tmp_path_factory.mktemp("s"), project="p", mode="offline")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for op in ops:
            if op[0] == "log":
                step = {None: None, "next": run.step + 1, "same": run.step, "back": run.step - 1}[op[2]]
                run.log(dict(op[1]), step=step if step is None or step >= 0 else 0, commit=op[3])
            elif op[0] == "set":
                run.summary[op[1]] = op[2]
            elif op[0] == "metric":
                run.define_metric(op[1], summary=op[2], overwrite=True)
            elif op[0] == "del":
                run.summary._remove([op[1]])  # `del` would read the summary first
            else:
                assert {k: _typed(v) for k, v in run.summary.items()} == \
                       {k: _typed(v) for k, v in folded_summary(run).items()}
        assert {k: _typed(v) for k, v in run.summary.items()} == \
               {k: _typed(v) for k, v in folded_summary(run).items()}
    run.finish()
    assert run.summary.as_dict() == folded_summary(run)


def test_rows_of_other_keys_each_keep_their_values_in_the_summary(ev, tmp_path):
    run = eventlog.init(dir=tmp_path, project="p", mode="offline")
    run.log({"a": 0.5}, step=0)
    run.log({"b": 1.5}, step=1)
    run.log({"c": 2.5}, step=2)  # commits the row of step 1, which has other keys than the row before
    assert run.summary.as_dict() == folded_summary(run) == {"a": 0.5, "b": 1.5}
    run.log({"a": 2.5, "b": 3.5}, step=3)
    run.log({"a": 4.5, "b": 5.5}, step=4)
    run.log({"a": 6.5, "b": 7.5}, step=5)  # the row of step 3 is dropped as the tail: its keys are here
    assert run.summary.as_dict() == folded_summary(run) == {"a": 4.5, "b": 5.5, "c": 2.5}
    run.log({"d": 1.0})  # a new key: the pending row commits, then this one
    run.log({"a": 8.5})
    assert run.summary.as_dict() == folded_summary(run) == {"a": 8.5, "b": 7.5, "c": 2.5, "d": 1.0}
    run.finish()


def test_a_refused_row_is_not_the_row_the_next_one_is_compared_with(ev, tmp_path):
    run = eventlog.init(dir=tmp_path, project="p", mode="offline")
    run.log({"a": 1.0, "b": 1.0})
    run.log({"a": 2.0})
    with pytest.raises(LogValueError):
        run.log({"b": fractions.Fraction(1, 2)})  # refused by the encoder, after sum() let it through
    run.log({"b": 3.0})  # the keys of the refused row, not of the row before it
    assert run.summary.as_dict() == folded_summary(run) == {"a": 2.0, "b": 3.0}
    run.finish()
