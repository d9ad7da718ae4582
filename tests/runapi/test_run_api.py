"""The run API in-process: init(), the Run, log() step/commit semantics, values, summary, config,
finish, reinit, disabled mode, threads (issue 3)."""
from __future__ import annotations

import argparse
import math
import re
import threading
import warnings
from pathlib import Path

import numpy as np
import pytest

from support.run import config_from_log, of_type, only_run_folder, records, summary_from_log

SEED_ARGS = (
    "project", "entity", "save_code", "group", "job_type", "name", "notes", "config", "tags", "dir",
    "sync_tensorboard", "resume", "reinit", "anonymous", "force", "magic", "id", "monitor_gym",
    "allow_val_change",
)


def history(recs):
    return [(r.body["step"], r.body["data"]) for r in of_type(recs, "history")]


# ------------------------------------------------------------------------------ init
def test_init_returns_run_sets_module_attributes_and_writes_the_run_record(ev):
    run = ev.init(project="proj", config={"lr": 0.1})
    assert isinstance(run, ev.Run)
    assert ev.run is run and ev.config is run.config and ev.summary is run.summary
    assert re.fullmatch(r"[a-z0-9]{8}", run.id)
    assert re.fullmatch(r"[a-z]+-[a-z]+-\d+", run.name)
    assert run.url is None and run.project == "proj" and run.job_type == "train"
    folder = Path(run.dir)
    assert folder.parent == Path.cwd() / "evlog" and re.fullmatch(rf"run-\d{{8}}_\d{{6}}-{run.id}", folder.name)
    assert (Path.cwd() / "evlog" / "latest-run").resolve() == folder.resolve()
    run.finish()
    recs = records(folder)
    assert recs[0].type == "run" and recs[0].seq == 0
    body = recs[0].body
    assert body["id"] == run.id and body["name"] == run.name and body["project"] == "proj"
    assert body["mode"] == "offline" and body["job_type"] == "train" and body["tags"] == []
    for key in ("argv", "path", "python", "host", "os", "pid", "cwd"):
        assert key in body["program"]
    assert isinstance(body["start_time"], float)
    assert recs[1].type == "config" and recs[1].body == {"update": {"lr": 0.1}}
    assert recs[-1].type == "exit" and recs[-1].body["exit_code"] == 0
    assert ev.run is None


def test_every_seed_argument_is_accepted_and_recorded(ev, tmp_path):
    base = tmp_path / "runs"
    run = ev.init(
        project="p1", entity="team-a", save_code=False, group="g", job_type="eval", name="my run",
        notes="line 1\nline 2", config={"a": 1}, tags=["x", "y"], dir=str(base), sync_tensorboard=True,
        resume="allow", reinit=True, anonymous="never", force=False, magic={"gym": False}, id="my-run.1",
        monitor_gym=True, allow_val_change=True, mode="offline",
    )
    run.finish()
    body = records(base / "evlog" / f"{Path(run.dir).name}")[0].body
    assert (body["project"], body["entity"], body["group"], body["job_type"]) == ("p1", "team-a", "g", "eval")
    assert (body["name"], body["notes"], body["tags"], body["id"]) == ("my run", "line 1\nline 2", ["x", "y"], "my-run.1")
    assert body["settings"] == {
        "sync_tensorboard": True, "resume": "allow", "reinit": True, "anonymous": "never", "force": False,
        "magic": {"gym": False}, "monitor_gym": True, "allow_val_change": True, "save_code": False,
        "mode": "offline",
    }
    assert Path(run.dir).parent == base / "evlog"


@pytest.mark.parametrize("kwargs, error, words", [
    ({"project": 3}, "ArgumentTypeError", ["project"]),
    ({"project": "a/b"}, "UsageError", ["project"]),
    ({"entity": ""}, "UsageError", ["entity"]),
    ({"tags": "solo"}, "ArgumentTypeError", ["tags", "['solo']"]),
    ({"tags": ["ok", 5]}, "ArgumentTypeError", ["tags"]),
    ({"mode": "cloud"}, "UsageError", ["mode", "offline"]),
    ({"anonymous": "maybe"}, "UsageError", ["anonymous", "allow"]),
    ({"resume": 3}, "ArgumentTypeError", ["resume"]),
    ({"resume": "no way!"}, "UsageError", ["resume"]),
    ({"reinit": "yes"}, "ArgumentTypeError", ["reinit", "True"]),
    ({"save_code": 1}, "ArgumentTypeError", ["save_code"]),
    ({"sync_tensorboard": "true"}, "ArgumentTypeError", ["sync_tensorboard"]),
    ({"monitor_gym": None, "force": 0}, "ArgumentTypeError", ["force"]),
    ({"allow_val_change": "y"}, "ArgumentTypeError", ["allow_val_change"]),
    ({"magic": 3.5}, "ArgumentTypeError", ["magic"]),
    ({"magic": "{not json"}, "UsageError", ["magic", "JSON"]),
    ({"id": "has space"}, "UsageError", ["id", "' '"]),
    ({"id": 12345678}, "ArgumentTypeError", ["id"]),
    ({"name": 5}, "ArgumentTypeError", ["name"]),
    ({"notes": ["x"]}, "ArgumentTypeError", ["notes"]),
    ({"job_type": ""}, "UsageError", ["job_type"]),
    ({"config": 42}, "ArgumentTypeError", ["config"]),
    ({"config": "missing.yaml"}, "UsageError", ["config", "missing.yaml"]),
    ({"config": {"": 1}}, "ConfigError", ["config key"]),
    ({"config": {"f": 2**70}}, "ConfigValueError", ["'f'", "64 bits"]),
    ({"dir": 7}, "ArgumentTypeError", ["dir"]),
    ({"projcet": "x"}, "ArgumentTypeError", ["projcet", "project"]),
])
def test_wrong_arguments_raise_typed_errors_naming_the_argument(ev, kwargs, error, words):
    with pytest.raises(ev.Error) as info:
        ev.init(**kwargs)
    assert type(info.value).__name__ == error
    for w in words:
        assert w in str(info.value)
    assert not (Path.cwd() / "evlog").exists(), "a refused init() creates nothing"
    assert ev.run is None


def test_dir_that_is_a_file_is_refused(ev, tmp_path):
    f = tmp_path / "afile"
    f.write_text("x")
    with pytest.raises(ev.UsageError, match="dir"):
        ev.init(dir=str(f))


def test_error_classes_form_one_hierarchy(ev):
    for name in ("ArgumentTypeError", "UsageError", "ConfigError", "ConfigValueError", "LogValueError",
                 "NoRunError", "RunFinishedError", "ForkedWriterError"):
        assert issubclass(getattr(ev, name), ev.Error)
    assert issubclass(ev.LogValueError, TypeError) and issubclass(ev.ConfigError, ValueError)
    assert issubclass(ev.StepWarning, UserWarning)


def test_module_functions_without_a_run_say_to_call_init(ev):
    for call in (lambda: ev.log({"a": 1}), lambda: ev.save("x"), lambda: ev.finish(),
                 lambda: ev.config.update({"a": 1}), lambda: ev.config["a"], lambda: ev.summary.update({})):
        with pytest.raises(ev.NoRunError, match=r"init\(\)"):
            call()
    assert ev.run is None
    assert "init()" in repr(ev.config)


def test_config_imported_before_init_follows_the_run(ev):
    from eventlog import config as early_config

    run = ev.init()
    early_config.update({"k": 1})
    early_config.j = 2
    assert run.config["k"] == 1 and run.config.j == 2
    run.finish()
    assert config_from_log(records(run.dir)) == {"k": 1, "j": 2}


# ------------------------------------------------------------------- step and commit
def test_log_without_step_makes_one_step_per_call(ev):
    run = ev.init()
    for i in range(5):
        ev.log({"i": i})
    assert run.step == 5
    run.finish()
    assert history(records(run.dir)) == [(i, {"i": i}) for i in range(5)]


def test_commit_false_accumulates_into_the_current_step(ev):
    run = ev.init()
    run.log({"a": 1}, commit=False)
    run.log({"b": 2}, commit=False)
    assert run.step == 0
    run.log({"c": 3})
    run.log({"a": 10}, commit=False)
    run.log({"a": 11})  # the later value of a key wins within a step
    run.finish()
    assert history(records(run.dir)) == [(0, {"a": 1, "b": 2, "c": 3}), (1, {"a": 11})]


def test_explicit_step_is_committed_by_a_later_step_or_finish(ev):
    run = ev.init()
    run.log({"a": 1}, step=3)
    run.log({"b": 2}, step=3)
    folder = run.dir
    run._writer.flush()
    assert history(records(folder)) == [], "step 3 stays open until a later step"
    run.log({"a": 5}, step=7)
    run.log({"c": 1}, step=9, commit=True)  # commit=True closes step 9 at once
    assert run.step == 10
    run.log({"d": 1}, step=10)
    run.finish()
    assert history(records(folder)) == [(3, {"a": 1, "b": 2}), (7, {"a": 5}), (9, {"c": 1}), (10, {"d": 1})]


def test_steps_mixed_with_and_without_step(ev):
    run = ev.init()
    run.log({"a": 1})            # step 0
    run.log({"a": 2}, step=5)    # open step 5
    run.log({"a": 3})            # merges into 5 and commits it
    run.log({"a": 4})            # step 6
    run.finish()
    assert history(records(run.dir)) == [(0, {"a": 1}), (5, {"a": 3}), (6, {"a": 4})]


def test_lower_step_is_refused_with_a_warning_and_not_written(ev):
    run = ev.init()
    run.log({"a": 1}, step=10)
    run.log({"a": 2}, step=11)
    with pytest.warns(ev.StepWarning) as caught:
        run.log({"late": 9}, step=4)
    msg = str(caught[0].message)
    assert "step 4" in msg and "11" in msg and "late" in msg
    assert run.step == 11
    run.log({"a": 3}, step=12)
    run.finish()
    recs = records(run.dir)
    assert history(recs) == [(10, {"a": 1}), (11, {"a": 2}), (12, {"a": 3})]
    assert all("late" not in r.body.get("data", {}) for r in recs)
    warn = of_type(recs, "warning")
    assert len(warn) == 1 and warn[0].body["keys"] == ["late"] and "step 4" in warn[0].body["message"]
    assert "late" not in run.summary


def test_step_and_commit_arguments_are_validated(ev):
    run = ev.init()
    with pytest.raises(ev.ArgumentTypeError, match="step"):
        run.log({"a": 1}, step=1.5)
    with pytest.raises(ev.ArgumentTypeError, match="step"):
        run.log({"a": 1}, step=True)
    with pytest.raises(ev.UsageError, match="step"):
        run.log({"a": 1}, step=-1)
    with pytest.raises(ev.ArgumentTypeError, match="commit"):
        run.log({"a": 1}, commit="yes")
    with pytest.raises(ev.ArgumentTypeError, match="dict"):
        run.log([1, 2])
    run.log({"a": 1}, step=np.int64(4))
    run.finish()
    assert history(records(run.dir)) == [(4, {"a": 1})]


# ----------------------------------------------------------------------------- values
def test_supported_values_are_stored(ev):
    run = ev.init()
    data = {
        "b": True, "i": -3, "big": 2**63, "f": 0.25, "nan": float("nan"), "inf": float("inf"),
        "ninf": float("-inf"), "s": "text", "none": None,
        "np_f32": np.float32(1.5), "np_i": np.int64(7), "np_b": np.bool_(False), "np_0d": np.array(2.5),
        "nested": {"x": 1.0, "deeper": {"y": np.float64(2.0)}},
    }
    run.log(data)
    run.finish()
    (step, got), = history(records(run.dir))
    assert math.isnan(got.pop("nan"))
    assert got == {
        "b": True, "i": -3, "big": 2**63, "f": 0.25, "inf": float("inf"), "ninf": float("-inf"), "s": "text",
        "none": None, "np_f32": 1.5, "np_i": 7, "np_b": False, "np_0d": 2.5,
        "nested": {"x": 1.0, "deeper": {"y": 2.0}},
    }
    assert type(got["np_i"]) is int and type(got["np_b"]) is bool


def test_torch_scalar_tensors_when_torch_is_installed(ev):
    torch = pytest.importorskip("torch")
    run = ev.init()
    run.log({"t": torch.tensor(1.5), "one": torch.ones(1)})
    with pytest.raises(ev.LogValueError, match="complex"):
        run.log({"v": torch.ones(3, dtype=torch.complex64)})
    run.finish()
    assert history(records(run.dir)) == [(0, {"t": 1.5, "one": 1.0})]


class Opaque:
    pass


@pytest.mark.parametrize("bad, words", [
    ({"ok": 1, "obj": Opaque()}, ["'obj'", "Opaque"]),
    ({"ok": 1, "arr": np.array(["a"] * 40)}, ["'arr'", "40 values", "<U1"]),
    ({"ok": 1, "lst": [1, object()]}, ["'lst[1]'", "object"]),
    ({"ok": 1, "huge": 2**70}, ["'huge'", "64 bits"]),
    ({"ok": 1, "c": 1j}, ["'c'", "complex"]),
    ({"ok": 1, "n": {"inner": object()}}, ["n.inner", "object"]),
    ({"ok": 1, 5: 2}, ["5", "int", "non-empty str"]),
    ({"ok": 1, "": 2}, ["empty"]),
    ({"ok": 1, "n": {"": 2}}, ["empty"]),
])
def test_bad_value_raises_naming_key_and_type_and_the_call_writes_no_data(ev, bad, words):
    run = ev.init()
    run.log({"before": 1})
    with pytest.raises(ev.LogValueError) as info:
        run.log(bad)
    assert isinstance(info.value, TypeError)
    for w in words:
        assert w in str(info.value)
    run.log({"after": 2})  # the run goes on
    assert run.step == 2
    run.finish()
    recs = records(run.dir)
    assert history(recs) == [(0, {"before": 1}), (1, {"after": 2})]
    assert run.summary.keys() == ["before", "after"]


def test_bad_value_in_an_accumulating_call_leaves_the_pending_step_alone(ev):
    run = ev.init()
    run.log({"a": 1}, commit=False)
    with pytest.raises(ev.LogValueError):
        run.log({"b": 2, "bad": object()}, commit=False)
    run.log({"c": 3})
    run.finish()
    assert history(records(run.dir)) == [(0, {"a": 1, "c": 3})]


def test_logged_dict_is_copied(ev):
    run = ev.init()
    d = {"a": 1}
    run.log(d, step=0)
    d["a"] = 99
    d["b"] = 2
    run.finish()
    assert history(records(run.dir)) == [(0, {"a": 1})]


# ---------------------------------------------------------------------------- summary
def test_summary_is_last_logged_value_unless_set_explicitly(ev):
    run = ev.init()
    for i in range(3):
        run.log({"loss": 1.0 / (i + 1), "acc": i})
    run.summary["best_acc"] = 2
    run.summary.update({"loss": -1.0})  # explicit override of a logged key
    run.summary.note = "text"
    assert run.summary["acc"] == 2 and run.summary.loss == -1.0 and run.summary["note"] == "text"
    run.log({"acc": 7})
    del run.summary["note"]
    run.summary["best"] = {"epoch": {"n": 1}}
    run.summary["best"]["epoch"]["n"] = 3  # copies: changing them in place does not change the summary
    run.summary.best["epoch"].clear()
    assert run.summary.best == {"epoch": {"n": 1}}
    del run.summary.best
    with pytest.raises(AttributeError, match="summary has no key 'best'"):
        run.summary.best
    expected = {"loss": -1.0, "acc": 7, "best_acc": 2}
    assert run.summary.as_dict() == expected
    run.finish()
    recs = records(run.dir)
    assert summary_from_log(recs) == expected
    explicit = of_type(recs, "summary")
    assert explicit[0].body == {"update": {"best_acc": 2}}
    assert explicit[-1].body["update"] == expected, "finish writes the whole summary"
    assert {"update": {}, "remove": ["note"]} in [r.body for r in explicit]
    assert {"update": {"best": {"epoch": {"n": 1}}}} in [r.body for r in explicit]


def test_summary_rejects_bad_values(ev):
    run = ev.init()
    with pytest.raises(ev.LogValueError, match="x"):
        run.summary["x"] = object()
    assert "x" not in run.summary


# ----------------------------------------------------------------------------- config
def test_config_access_update_setdefaults_as_dict(ev):
    run = ev.init(config=argparse.Namespace(lr=0.1, layers=[64, 32], name="net"))
    c = run.config
    assert c["lr"] == 0.1 and c.lr == 0.1 and c.layers == [64, 32] and "name" in c
    c.update({"batch": 32})
    c["epochs"] = 3
    c.dropout = 0.5
    c.setdefaults({"batch": 999, "momentum": 0.9})
    assert c.as_dict() == {"lr": 0.1, "layers": [64, 32], "name": "net", "batch": 32, "epochs": 3,
                           "dropout": 0.5, "momentum": 0.9}
    got = c.as_dict()
    got["lr"] = 5
    c.layers.append(1)  # copies: changing them in place does not change the config
    assert c.lr == 0.1 and c.layers == [64, 32]
    run.finish()
    assert config_from_log(records(run.dir)) == c.as_dict()


def test_config_from_yaml_file(ev, tmp_path):
    y = tmp_path / "cfg.yaml"
    y.write_text("lr: 0.01\nopt:\n  desc: optimizer\n  value: adam\nwandb_version: 1\n")
    run = ev.init(config=str(y))
    assert run.config.as_dict() == {"lr": 0.01, "opt": "adam"}
    run.config.update(str(y))  # same values: fine
    run.finish()


def test_config_overwrite_with_a_different_value_raises(ev):
    run = ev.init(config={"lr": 0.1, "bs": 32})
    with pytest.raises(ev.ConfigError) as info:
        run.config.update({"new": 1, "lr": 0.2})
    msg = str(info.value)
    assert "'lr'" in msg and "0.1 -> 0.2" in msg and "allow_val_change=True" in msg
    with pytest.raises(ev.ConfigError):
        run.config["bs"] = 64
    with pytest.raises(ev.ConfigError):
        run.config.bs = 64
    run.config.update({"lr": 0.1, "bs": 32})  # the same values are fine
    assert "new" not in run.config, "a refused update changes nothing"
    run.config.update({"lr": 0.3}, allow_val_change=True)
    assert run.config.lr == 0.3
    run.finish()
    recs = records(run.dir)
    assert [r.body for r in of_type(recs, "config")] == [{"update": {"lr": 0.1, "bs": 32}}, {"update": {"lr": 0.3}}]


def test_allow_val_change_at_init_allows_changes(ev):
    run = ev.init(config={"lr": 0.1}, allow_val_change=True)
    run.config.lr = 0.5
    run.finish()
    assert config_from_log(records(run.dir)) == {"lr": 0.5}


def test_config_nan_equals_nan_and_bool_is_not_int(ev):
    run = ev.init(config={"x": float("nan"), "flag": True})
    run.config.update({"x": float("nan")})
    with pytest.raises(ev.ConfigError):
        run.config.update({"flag": 1})


# ----------------------------------------------------------------- names, meta, save
def test_rename_notes_tags_write_meta_records(ev):
    run = ev.init(name="first")
    run.name = run.id
    assert run.save() is True
    run.notes = "changed"
    run.tags = ["a", "b", "a"]
    assert run.tags == ("a", "b")
    with pytest.raises(ev.ArgumentTypeError):
        run.name = 3
    run.finish()
    metas = [r.body for r in of_type(records(run.dir), "meta")]
    assert metas == [{"name": run.id}, {"notes": "changed"}, {"tags": ["a", "b"]}]
    assert run.name == run.id


def test_save_copies_files_and_writes_a_files_record(ev, tmp_path):
    src = Path.cwd() / "ckpt"
    src.mkdir()
    (src / "a.pt").write_bytes(b"weights-a")
    (src / "b.pt").write_bytes(b"weights-b")
    (src / "c.txt").write_text("no")
    run = ev.init()
    saved = ev.save("ckpt/*.pt")
    assert saved == ["files/a.pt", "files/b.pt"]
    assert (Path(run.dir) / "files" / "a.pt").read_bytes() == b"weights-a"
    (src / "a.pt").write_bytes(b"weights-a2")  # "live": copied again at finish
    run.finish()
    import hashlib

    entries = [e for r in of_type(records(run.dir), "files") for e in r.body["files"]]
    assert [(e["path"], e["kind"], e["size"]) for e in entries] == [
        ("files/a.pt", "other", 9), ("files/b.pt", "other", 9), ("files/a.pt", "other", 10)]
    assert entries[-1]["sha256"] == hashlib.sha256(b"weights-a2").hexdigest()
    assert (Path(run.dir) / "files" / "a.pt").read_bytes() == b"weights-a2"


# ----------------------------------------------------------------------------- finish
def test_finish_is_idempotent_and_log_after_finish_raises(ev):
    run = ev.init()
    run.log({"a": 1})
    run.finish()
    run.finish()
    ev.finish()  # no run any more: nothing to do
    with pytest.raises(ev.RunFinishedError, match="finished"):
        run.log({"a": 2})
    with pytest.raises(ev.RunFinishedError):
        run.config["x"] = 1
    with pytest.raises(ev.NoRunError, match=r"init\(\)"):
        ev.log({"a": 2})
    recs = records(run.dir)
    exits = of_type(recs, "exit")
    assert len(exits) == 1 and recs[-1].type == "exit"
    body = exits[0].body
    assert body["exit_code"] == 0 and body["interrupted"] is False and body["error"] is None
    assert isinstance(body["runtime"], float) and body["runtime"] >= 0


def test_finish_with_exit_code(ev):
    run = ev.init()
    run.finish(exit_code=3)
    assert of_type(records(run.dir), "exit")[0].body["exit_code"] == 3


def test_with_block_finishes_and_records_an_exception(ev):
    with ev.init() as run:
        run.log({"a": 1})
    assert run.finished
    assert of_type(records(run.dir), "exit")[0].body["exit_code"] == 0

    with pytest.raises(KeyError):
        with ev.init() as run2:
            run2.log({"b": 1})
            raise KeyError("missing thing")
    exit_body = of_type(records(run2.dir), "exit")[0].body
    assert exit_body["exit_code"] == 1
    assert exit_body["error"] == {"type": "KeyError", "message": "'missing thing'"}
    assert history(records(run2.dir)) == [(0, {"b": 1})]


# ----------------------------------------------------------------------------- reinit
def test_second_init_returns_the_active_run_with_a_warning(ev):
    run = ev.init()
    with pytest.warns(ev.ReinitWarning, match="reinit=True"):
        again = ev.init(project="other")
    assert again is run and ev.run is run
    assert not run.finished


def test_reinit_finishes_the_active_run_and_starts_a_new_one(ev):
    first = ev.init()
    first.log({"m": 1})
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        second = ev.init(reinit=True)
    assert second is not first and first.finished and ev.run is second
    assert of_type(records(first.dir), "exit")[0].body["exit_code"] == 0
    second.finish()


# --------------------------------------------------------------------------- disabled
def test_disabled_mode_writes_nothing_and_every_call_works(ev, tmp_path):
    before = sorted(p for p in tmp_path.rglob("*"))
    run = ev.init(mode="disabled", config={"a": 1}, project="p")
    assert run.disabled and ev.run is run
    assert Path(run.dir).is_dir() and not any(Path(run.dir).iterdir())  # an empty scratch folder, as wandb gives
    assert not str(run.dir).startswith(str(tmp_path))
    run.log({"x": 1})
    run.log({"x": 2}, step=5)
    ev.log({"y": 1})
    run.config.update({"b": 2})
    run.summary["best"] = 1
    run.name = "renamed"
    run.tags = ["t"]
    assert run.save() is True
    ev.save("*.txt")
    with pytest.raises(ev.ConfigError):
        run.config.a = 5
    with pytest.raises(ev.LogValueError):
        run.log({"bad": object()})
    with run:
        pass
    run.finish()
    assert run.summary.as_dict() == {"x": 2, "y": 1, "best": 1}
    assert run.config.as_dict() == {"a": 1, "b": 2}
    assert sorted(p for p in tmp_path.rglob("*")) == before, "disabled mode writes no file"
    assert ev.run is None


def test_disabled_by_environment(ev, monkeypatch):
    monkeypatch.setenv("WANDB_MODE", "disabled")
    run = ev.init()
    run.log({"a": 1})
    run.finish()
    assert run.disabled and not (Path.cwd() / "evlog").exists()


# ----------------------------------------------------------------------------- modes
def test_online_without_credentials_logs_offline(ev):
    run = ev.init(mode="online")
    assert run.mode == "offline" and run.url is None
    run.finish()
    body = records(run.dir)[0].body
    assert body["mode"] == "offline" and body["settings"]["mode"] == "online"


def test_dryrun_is_offline(ev):
    run = ev.init(mode="dryrun")
    run.finish()
    assert records(run.dir)[0].body["mode"] == "offline"


# ---------------------------------------------------------------------------- threads
def test_log_is_thread_safe(ev):
    import sys

    old = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)  # switch threads as often as possible: races show up
    try:
        _thread_safety(ev)
    finally:
        sys.setswitchinterval(old)


def _thread_safety(ev):
    run = ev.init()
    n_threads, per = 8, 400
    barrier = threading.Barrier(n_threads)
    errors = []

    def worker(t):
        try:
            barrier.wait()
            for i in range(per):
                run.log({"t": t, "i": i, "v": float(i)})
                if i % 50 == 0:
                    run.summary[f"s{t}"] = i
        except Exception as exc:  # noqa: BLE001
            errors.append(exc)

    threads = [threading.Thread(target=worker, args=(t,)) for t in range(n_threads)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    run.finish()
    assert not errors
    hist = history(records(run.dir))
    assert [s for s, _ in hist] == list(range(n_threads * per))
    seen = {(d["t"], d["i"]) for _, d in hist}
    assert len(seen) == n_threads * per
    for t in range(n_threads):  # each thread's own calls stay in order
        mine = [d["i"] for _, d in hist if d["t"] == t]
        assert mine == list(range(per))
