"""Unit tests of the sink interface: registry, selection, cursor files, atomic writes (the helpers
the sink and syncer tests share are in tests/support/sinks.py)."""
from __future__ import annotations

import math
import sys

import pytest

from eventlog.sinks import Sink
from eventlog.sinks.base import atomic_write_json, env_flag, flatten, numeric, read_json
from eventlog.sinks.registry import BUILTIN, available, load
from eventlog.sinks.registry import select as _select
from eventlog.sinks.base import SinkError
from support.sinks import NO_CREDENTIALS, write_test_sinks


@pytest.fixture
def test_sinks(tmp_path, monkeypatch):
    """The third-party test sinks importable here (sys.path) and in subprocesses (returned dir)."""
    d = write_test_sinks(tmp_path / "plugins")
    monkeypatch.syspath_prepend(str(d))
    yield d
    sys.modules.pop("evtestsinks", None)


# -------------------------------------------------------------------- tests
def test_builtin_sinks_load_by_name():
    for name in ("stdout", "tensorboard", "jsonl"):
        cls = load(name)
        assert issubclass(cls, Sink) and cls.name == name
    assert set(BUILTIN) <= set(available())


def test_unknown_sink_names_the_installed_ones():
    with pytest.raises(SinkError) as e:
        load("nosuchsink")
    assert "nosuchsink" in str(e.value) and "tensorboard" in str(e.value)


def test_dotted_path_and_entry_point_sinks(test_sinks):
    assert load("evtestsinks:SlowSink").name == "slowsink"
    # registered through the fake distribution's entry points
    assert available()["seqsink"] == "evtestsinks:SeqSink"
    assert load("seqsink").name == "seqsink"
    with pytest.raises(SinkError):
        load("json:dumps")  # not a Sink subclass


def test_selection_rules():
    run = {"id": "x", "settings": {}}
    names = lambda classes: [c.name for c in classes]  # noqa: E731
    nocred = {"EVLOG_CONFIG_DIR": NO_CREDENTIALS}

    def select(run, env, **kw):  # noqa: ANN001, ANN202 - no server credentials: the http sink is off
        return _select(run, {**nocred, **env}, **kw)

    assert names(select(run, {}, live=True)) == ["stdout"]
    assert names(select(run, {"EVLOG_SILENT": "true"}, live=True)) == []
    assert names(select(run, {"WANDB_SILENT": "true"}, live=True)) == []
    assert names(select(run, {"EVLOG_SILENT": "false", "WANDB_SILENT": "true"}, live=True)) == ["stdout"]
    assert names(select(run, {"EVLOG_TENSORBOARD": "1"}, live=True)) == ["stdout", "tensorboard"]
    assert names(select({"settings": {"tensorboard": True}}, {}, live=True)) == ["stdout", "tensorboard"]
    assert names(select(run, {"EVLOG_SINKS": "jsonl,tensorboard"}, live=True)) == ["jsonl", "tensorboard"]
    assert names(select(run, {"EVLOG_SINKS": "none"}, live=True)) == []
    # evlog sync: no live-only sinks unless asked; sinks used before are continued
    assert names(select(run, {}, live=False)) == []
    assert names(select(run, {}, live=False, previous=("jsonl", "stdout"))) == ["jsonl"]
    assert names(select(run, {}, live=False, requested=["stdout"])) == ["stdout"]


def test_atomic_write_json_replaces_whole_file(tmp_path):
    p = tmp_path / "c.json"
    atomic_write_json(p, {"a": 1})
    atomic_write_json(p, {"a": 2, "nan": float("nan")})
    data = read_json(p)
    assert data["a"] == 2 and math.isnan(data["nan"])
    assert [x.name for x in tmp_path.iterdir()] == ["c.json"]


def test_env_flag_and_value_helpers():
    assert env_flag({"EVLOG_X": "yes"}, "EVLOG_X")
    assert not env_flag({"EVLOG_X": "0", "WANDB_X": "1"}, "EVLOG_X", "WANDB_X")
    assert env_flag({"WANDB_X": "true"}, "EVLOG_X", "WANDB_X")
    assert flatten({"a": {"b": {"c": 1}}, "d": 2}) == {"a/b/c": 1, "d": 2}
    assert numeric(True) == 1.0 and numeric("x") is None and numeric(3) == 3.0
