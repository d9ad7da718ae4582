"""Values as wandb takes them (issue 13, section 3): lists, tuples, numpy arrays and torch tensors in
log(); media in Table cells; config with non-str keys, argparse dashes, callables, dataclasses and
other objects. Read back from the run's records (spec/format.md 3 "Values", 7); the sinks, the
server, the export and the dashboard are checked with the real parts in the second half."""
from __future__ import annotations

import dataclasses
import datetime
import hashlib
import json
import math
import os
import subprocess
import sys
import warnings
from pathlib import Path

import numpy as np
import pytest

from support.run import config_from_log, of_type, records, summary_from_log


def history(folder):
    return [(r.body["step"], r.body["data"]) for r in of_type(records(folder), "history")]


def media_files(folder):
    d = Path(folder) / "media"
    return sorted(p.name for p in d.iterdir()) if d.is_dir() else []


# ----------------------------------------------------------------------------- log(): lists
def test_lists_tuples_and_nested_lists_are_stored_as_arrays(ev):
    run = ev.init()
    data = {"acc": [0.5, 0.75, float("nan")], "mixed": [1, "two", True, None], "pair": (3, 4),
            "grid": [[1, 2], [3], []], "rows": [{"a": 1}, {"a": 2.5}], "nested": {"l": [1.5, -2]},
            "empty": [], "loss": 0.25}
    run.log(data)
    run.log({"acc": [1.0]})
    run.finish()
    (s0, d0), (s1, d1) = history(run.dir)
    assert (s0, s1) == (0, 1)
    assert d0["acc"][:2] == [0.5, 0.75] and math.isnan(d0["acc"][2])
    assert {k: v for k, v in d0.items() if k != "acc"} == {
        "mixed": [1, "two", True, None], "pair": [3, 4], "grid": [[1, 2], [3], []],
        "rows": [{"a": 1}, {"a": 2.5}], "nested": {"l": [1.5, -2]}, "empty": [], "loss": 0.25}
    assert type(d0["pair"]) is list and type(d0["mixed"][2]) is bool
    assert d1 == {"acc": [1.0]}
    assert run.summary["acc"] == [1.0] and summary_from_log(records(run.dir))["pair"] == [3, 4]


def test_numpy_arrays_and_torch_tensors_as_wandb_logs_them(ev):
    torch = pytest.importorskip("torch")
    run = ev.init()
    big = np.random.RandomState(1).randn(1000) * 3 + 1
    run.log({
        "np_one": np.array([2.5]), "np_small": np.arange(5), "np_2d": np.array([[1, 2, 3], [4, 5, 6]]),
        "np_32": np.linspace(0, 1, 32), "np_33": np.arange(33), "np_big": big, "np_bool": np.array([True, False]),
        "t_small": torch.tensor([1.0, 2.0]), "t_grad": torch.ones(3, requires_grad=True) * 2,
        "t_big": torch.arange(100, dtype=torch.bfloat16), "t_one": torch.tensor([[7]]),
        "in_list": [np.arange(2), torch.tensor(3)],
    })
    run.finish()
    ((_, d),) = history(run.dir)
    assert d["np_one"] == 2.5 and type(d["np_one"]) is float
    assert d["np_small"] == [0, 1, 2, 3, 4] and all(type(x) is int for x in d["np_small"])
    assert d["np_2d"] == [[1, 2, 3], [4, 5, 6]]
    assert d["np_32"] == np.linspace(0, 1, 32).tolist()  # 32 values: still a list
    assert d["np_bool"] == [True, False]
    assert d["t_small"] == [1.0, 2.0] and d["t_grad"] == [2.0, 2.0, 2.0] and d["t_one"] == 7
    assert d["in_list"] == [[0, 1], 3]
    # more than 32 values: a histogram of 32 bins, as wandb's maybe_compress_history
    counts, edges = np.histogram(big, bins=32)
    assert d["np_big"] == {"_type": "histogram", "bins": edges.tolist(), "counts": counts.tolist()}
    h33 = d["np_33"]
    assert h33["_type"] == "histogram" and len(h33["counts"]) == 32 and sum(h33["counts"]) == 33
    assert h33["bins"][0] == 0 and h33["bins"][-1] == 32
    tb = d["t_big"]
    assert tb["_type"] == "histogram" and sum(tb["counts"]) == 100 and tb["bins"][-1] == 99
    assert run.summary["np_big"]["counts"] == counts.tolist()


BAD_LOGS = [
    ("mix", lambda ev: [1.0, ev.Image(np.zeros((4, 4), np.uint8))], ["'mix'", "mixes Image, float"]),
    ("deep_media", lambda ev: [[ev.Image(np.zeros((4, 4), np.uint8))]], ["'deep_media[0][0]'", "media (Image)"]),
    ("media_in_dicts", lambda ev: [{"im": ev.Image(np.zeros((4, 4), np.uint8))}], ["'media_in_dicts[0].im'", "media"]),
    ("obj", lambda ev: [1, object()], ["'obj[1]'", "object"]),
    ("nan_hist", lambda ev: np.array([1.0, np.nan] * 20), ["'nan_hist'", "40 values", "histogram", "20 of them"]),
    ("str_hist", lambda ev: np.array(["a"] * 40), ["'str_hist'", "40 values", "dtype <U1"]),
    ("cplx", lambda ev: np.array([1j, 2j]), ["'cplx[0]'", "complex"]),
    ("huge", lambda ev: [1, 2**70], ["'huge[1]'", "64 bits"]),
    ("reserved", lambda ev: [{"_type": "image"}], ["'reserved[0]'", "_type"]),
]


@pytest.mark.parametrize("key, make, words", BAD_LOGS, ids=[b[0] for b in BAD_LOGS])
def test_a_list_or_array_that_cannot_be_stored_is_refused_naming_the_key_and_nothing_is_written(ev, key, make, words):
    run = ev.init()
    run.log({"before": 1})
    with pytest.raises(ev.LogValueError) as info:
        run.log({"ok": ev.Image(np.full((4, 4), 9, np.uint8)), key: make(ev), "loss": 1.0})
    for w in words:
        assert w in str(info.value), (w, str(info.value))
    run.log({"after": [2]})
    run.finish()
    recs = records(run.dir)
    assert history(run.dir) == [(0, {"before": 1}), (1, {"after": [2]})]
    assert media_files(run.dir) == [] and of_type(recs, "files") == []  # not even the good image
    assert words[0] in of_type(recs, "warning")[0].body["message"]


def test_lists_nested_too_deep_are_refused(ev):
    run = ev.init()
    deep: list = [1]
    for _ in range(40):
        deep = [deep]
    with pytest.raises(ev.LogValueError, match="nested deeper than 32"):
        run.log({"deep": deep})
    run.finish()
    assert history(run.dir) == []


def test_plain_values_keep_the_fast_path(ev, monkeypatch):
    from eventlog.runapi import run as runapi

    calls = []
    real = runapi.normalize_log_data
    monkeypatch.setattr(runapi, "normalize_log_data", lambda *a, **k: calls.append(1) or real(*a, **k))
    run = ev.init()
    run.log({"f": 0.5, "s": "x", "b": True, "n": None, "i": 3})
    assert calls == []  # plain values: stored as they are, never walked
    run.log({"l": [1, 2]})
    assert calls == [1]
    run.finish()
    assert history(run.dir) == [(0, {"f": 0.5, "s": "x", "b": True, "n": None, "i": 3}), (1, {"l": [1, 2]})]


# ------------------------------------------------------------------------ Table cells
def test_table_cells_hold_media_stored_as_log_stores_them(ev):
    run = ev.init()
    rs = np.random.RandomState(0)
    pix = rs.randint(0, 256, (6, 8, 3), dtype=np.uint8)
    table = ev.Table(columns=["id", "image", "hist", "clip", "vec"])
    table.add_data(0, ev.Image(pix, caption="first"), ev.Histogram([1.0, 2.0, 2.5], num_bins=2),
                   ev.Video(rs.rand(2, 3, 4, 4), fps=2), [0.5, 1.5])
    table.add_data(1, ev.Image(pix), None, None, np.arange(3))
    run.log({"preds": table})
    run.log({"same": ev.Image(pix, caption="first")})  # the same image logged alone: the same file
    run.finish()
    recs = records(run.dir)
    (_, d0), (_, d1) = history(run.dir)
    tmap = d0["preds"]
    assert tmap["_type"] == "table" and tmap["columns"] == ["id", "image", "hist", "clip", "vec"] and tmap["nrows"] == 2
    content = json.loads((Path(run.dir) / tmap["path"]).read_bytes())
    img_cell, hist_cell, clip_cell = content["data"][0][1:4]
    assert img_cell == d1["same"]  # the cell is the media map, exactly as log() writes it
    assert img_cell["path"] == f"media/{hashlib.sha256((Path(run.dir) / img_cell['path']).read_bytes()).hexdigest()}.png"
    assert content["data"][1][1]["sha256"] == img_cell["sha256"] and "caption" not in content["data"][1][1]
    assert hist_cell == {"_type": "histogram", "bins": [1.0, 1.75, 2.5], "counts": [1, 2]}
    assert clip_cell["_type"] == "video" and clip_cell["format"] == "gif" and clip_cell["frames"] == 2
    assert content["data"][0][4] == [0.5, 1.5] and content["data"][1][4] == [0, 1, 2]
    # every file is announced by a files record before the history record that references the table
    first_history = next(r.seq for r in recs if r.type == "history")
    announced = {e["path"]: r.seq for r in of_type(recs, "files") for e in r.body["files"]}
    for path in (tmap["path"], img_cell["path"], clip_cell["path"]):
        assert announced[path] < first_history and (Path(run.dir) / path).is_file()
    assert sorted(media_files(run.dir)) == sorted(p.split("/")[1] for p in announced)
    assert len(announced) == 3  # the image once, however often it was used


def test_a_bad_media_cell_refuses_the_table_and_writes_nothing(ev):
    run = ev.init()
    good = ev.Image(np.zeros((4, 4), np.uint8))
    for cells, words in (
        ([good, ev.Image(np.zeros((2, 2, 2, 2)))], ["'t[0][b]'", "not an image"]),
        ([good, ev.Table(columns=["x"], data=[[1]])], ["'t[0][b]'", "a Table cell holding a Table"]),
        ([good, {"x": 1}], ["'t'", "column 'b'", "a dict cell"]),
    ):
        with pytest.raises(ev.MediaError) as info:
            run.log({"t": ev.Table(columns=["a", "b"], data=[cells])})
        for w in words:
            assert w in str(info.value), (w, str(info.value))
    run.finish()
    assert history(run.dir) == [] and media_files(run.dir) == []
    assert of_type(records(run.dir), "files") == []


# ------------------------------------------------------------------------------ config
def test_hugging_face_model_config_with_int_keys_goes_into_the_config(ev):
    transformers = pytest.importorskip("transformers")
    cfg = transformers.BertConfig(num_labels=3, id2label={0: "cat", 1: "dog", 2: "owl"},
                                  label2id={"cat": 0, "dog": 1, "owl": 2}, hidden_size=32)
    run = ev.init(config={"lr": 1e-3})
    run.config.update(cfg.to_dict(), allow_val_change=True)  # as transformers' WandbCallback does
    run.config.update(cfg.to_dict())  # the same again: nothing changes, nothing refused
    assert run.config["id2label"] == {"0": "cat", "1": "dog", "2": "owl"}
    assert run.config["label2id"] == {"cat": 0, "dog": 1, "owl": 2} and run.config["hidden_size"] == 32
    run.finish()
    stored = config_from_log(records(run.dir))
    assert stored["id2label"] == {"0": "cat", "1": "dog", "2": "owl"} and stored["lr"] == 1e-3
    assert len(of_type(records(run.dir), "config")) == 2  # init's, and the first update


def test_non_str_keys_are_stored_as_their_json_text(ev):
    nested = {1: "a", 1.5: "b", False: "c", None: "d", "s": {0: {True: 1}}, -2: "e", 1e20: "f"}
    run = ev.init(config={7: "top", "nested": nested, "np": {np.int64(3): "g"}})
    expected = {"7": "top", "nested": {"1": "a", "1.5": "b", "false": "c", "null": "d", "s": {"0": {"true": 1}},
                                       "-2": "e", "1e+20": "f"}, "np": {"3": "g"}}
    assert run.config.as_dict() == expected
    assert json.loads(json.dumps(nested)) == expected["nested"]  # the JSON text json.dumps writes
    run.finish()
    assert config_from_log(records(run.dir)) == expected


@pytest.mark.parametrize("update, words", [
    ({"a": 1, "n": {(1, 2): "x"}}, ["'n'", "(1, 2)", "tuple", "str, int, float, bool or None"]),
    ({"a": 1, "n": {1: "x", "1": "y"}}, ["'n'", "both stored as '1'"]),
    ({"a": 1, "--lr": 0.1, "lr": 0.2}, ["'--lr'", "'lr'", "both stored as 'lr'"]),
    ({"a": 1, "--": 3}, ["'--'", "empty once its dashes are stripped"]),
    ({"a": 1, object(): 3}, ["object", "config keys are str"]),
])
def test_config_keys_that_cannot_be_stored_are_refused_and_nothing_is_written(ev, update, words):
    run = ev.init(config={"keep": 1})
    with pytest.raises(ev.ConfigError) as info:
        run.config.update(update)
    for w in words:
        assert w in str(info.value), (w, str(info.value))
    assert run.config.as_dict() == {"keep": 1}
    run.finish()
    assert [r.body for r in of_type(records(run.dir), "config")] == [{"update": {"keep": 1}}]


def test_argparse_dashes_are_stripped_as_wandb_strips_them(ev):
    run = ev.init(config={"--lr": 0.1, "-v": True})
    run.config["--batch-size"] = 32
    run.config.update({"name-": "x", "nested": {"--inner": 1}})
    assert run.config.as_dict() == {"lr": 0.1, "v": True, "batch-size": 32, "name": "x", "nested": {"--inner": 1}}
    assert run.config.lr == 0.1 and run.config["batch-size"] == 32
    run.config.update({"--lr": 0.1})  # the same key, the same value: fine
    with pytest.raises(ev.ConfigError, match="'lr'"):
        run.config.update({"--lr": 0.5})
    run.finish()
    assert config_from_log(records(run.dir)) == run.config.as_dict()


@dataclasses.dataclass
class Optim:
    name: str = "adam"
    betas: tuple = (0.9, 0.99)
    schedule: object = None


class Opaque:
    def __str__(self) -> str:
        return "Opaque(7)"


def relu(x):
    return x


def test_callables_dataclasses_and_objects_are_converted_with_one_warning_each(ev):
    run = ev.init()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        run.config.update({
            "act": relu, "cls": Opaque, "builtin": len, "lam": lambda x: x,
            "opt": Optim(schedule=relu), "obj": Opaque(), "when": datetime.date(2026, 1, 2), "raw": b"abc",
            "plain": 1, "path": Path("a/b"),
        })
    got = run.config.as_dict()
    assert got == {
        "act": f"{__name__}.relu", "cls": f"{__name__}.Opaque", "builtin": "builtins.len",
        "lam": f"{__name__}.test_callables_dataclasses_and_objects_are_converted_with_one_warning_each.<locals>.<lambda>",
        "opt": {"name": "adam", "betas": [0.9, 0.99], "schedule": f"{__name__}.relu"},
        "obj": "Opaque(7)", "when": "2026-01-02", "raw": "abc", "plain": 1, "path": "a/b",
    }
    ours = [w for w in caught if issubclass(w.category, ev.EvlogWarning)]
    assert all(w.category is ev.ConfigValueWarning for w in ours)
    named = sorted(str(w.message).split("'")[1] for w in ours)  # "config key 'act': ..."
    assert named == sorted(["act", "cls", "builtin", "lam", "opt", "opt.schedule", "obj", "when", "raw"])
    assert "qualified name" in next(str(w.message) for w in ours if "'act'" in str(w.message))
    assert "str()" in next(str(w.message) for w in ours if "'obj'" in str(w.message))
    run.finish()
    assert config_from_log(records(run.dir)) == got


class BrokenStr:
    def __str__(self) -> str:
        raise RuntimeError("no text")


@pytest.mark.parametrize("value, words", [
    (2**70, ["'bad'", "64 bits"]),
    (b"\xff\xfe", ["'bad'", "not UTF-8"]),
    (BrokenStr(), ["'bad'", "BrokenStr", "str() fails", "no text"]),
    ({"inner": [1, 2**65]}, ["'bad.inner[1]'", "64 bits"]),
])
def test_config_values_that_cannot_be_stored_are_refused_naming_the_key_and_nothing_is_written(ev, value, words):
    run = ev.init(config={"keep": 1})
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        with pytest.raises(ev.ConfigValueError) as info:
            run.config.update({"fine": relu, "bad": value, "also": 2})
    for w in words:
        assert w in str(info.value), (w, str(info.value))
    assert not [w for w in caught if w.category is ev.ConfigValueWarning], "a refused update warns of nothing"
    assert run.config.as_dict() == {"keep": 1}
    run.finish()
    assert [r.body for r in of_type(records(run.dir), "config")] == [{"update": {"keep": 1}}]


def test_media_is_not_a_config_value(ev):
    run = ev.init()
    with pytest.raises(ev.ConfigValueError, match=r"'img': media \(Image\) cannot be a config value"):
        run.config["img"] = ev.Image(np.zeros((2, 2), np.uint8))
    run.finish()
    assert of_type(records(run.dir), "config") == []


# ------------------------------------------------ the consumers: sinks, server, export, dashboard
RUN_SCRIPT = """
import numpy as np
import eventlog
run = eventlog.init(project="vals", id="lists-run")
pix = np.zeros((6, 8, 3), np.uint8); pix[:, :, 1] = 200
for i in range(3):
    run.log({"loss": 1.0 / (i + 1), "acc": [0.5 + i, float("nan"), None], "grid": [[i, 2], [3]],
             "emb": np.arange(4) + i, "weights": np.arange(100.0) * (i + 1), "e": {"v": (i, "x")}})
t = eventlog.Table(columns=["id", "image", "vec"])
t.add_data(0, eventlog.Image(pix, caption="green"), [1, 2])
run.log({"preds": t})
run.summary["best"] = [1, 2, 3]
run.finish()
"""


def run_script(tmp, env_extra):
    env = {k: v for k, v in os.environ.items() if not k.startswith(("EVLOG_", "WANDB_"))}
    env.update(EVLOG_MODE="offline", EVLOG_DISABLE_GIT="true", EVLOG_CONFIG_DIR=str(tmp / "cfg"), HOME=str(tmp),
               EVLOG_CONSOLE="off", EVLOG_SYSTEM_INTERVAL="0", **env_extra)
    script = tmp / "train.py"
    script.write_text(RUN_SCRIPT)
    out = subprocess.run([sys.executable, str(script)], cwd=tmp, env=env, capture_output=True, text=True, timeout=180)
    assert out.returncode == 0, out.stderr
    (folder,) = [p for p in (tmp / "evlog").iterdir() if p.name.startswith("run-")]
    return folder, out


def test_the_stdout_sink_shows_a_list_as_json_text(tmp_path):
    folder, out = run_script(tmp_path, {"EVLOG_SINKS": "stdout"})  # the stdout sink runs in the run's syncer
    text = out.stdout + out.stderr
    lines = [ln for ln in text.splitlines() if ln.startswith("evlog:")]
    row = next(ln for ln in lines if ln.split()[1:2] == ["acc"])
    assert row.split(None, 2)[2] == '[2.5, NaN, null]'
    assert next(ln for ln in lines if ln.split()[1:2] == ["best"]).split(None, 2)[2] == "[1, 2, 3]"
    assert next(ln for ln in lines if ln.split()[1:2] == ["weights"]).split(None, 2)[2] == "<histogram, 32 bins>"


def test_the_tensorboard_mirror_skips_lists_and_shows_media_cells_as_their_file(tmp_path):
    pytest.importorskip("tensorboardX")
    pytest.importorskip("tensorboard")
    from support.sinks import evlog, subprocess_env

    folder, _ = run_script(tmp_path, {"EVLOG_SINKS": "none", "EVLOG_SILENT": "true"})
    r = evlog("sync", str(folder), "--sink", "tensorboard", env=subprocess_env())
    assert r.returncode == 0, r.stderr
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    ea = EventAccumulator(str(folder / "tensorboard"), size_guidance={"scalars": 0, "tensors": 0, "histograms": 0})
    ea.Reload()
    tags = ea.Tags()
    assert tags["scalars"] == ["loss"]  # lists are skipped: no scalar, no tag per item
    assert tags["histograms"] == ["weights"] and len(ea.Histograms("weights")) == 3
    (tag,) = [t for t in tags["tensors"] if t.startswith("preds")]  # the text plugin's tag
    (table,) = ea.Tensors(tag)
    text = table.tensor_proto.string_val[0].decode()
    ((_, data),) = [(s, d) for s, d in history(folder) if "preds" in d]
    cells = json.loads((folder / data["preds"]["path"]).read_bytes())["data"][0]
    assert cells[1]["path"] in text and "sha256" not in text and "[1, 2]" in text


@pytest.fixture(scope="module")
def values_site(tmp_path_factory):
    """A SQLite server holding the run of RUN_SCRIPT, synced by `evlog sync`."""
    from support.server import start_harness
    from support.client import evlog_sync, sync_env

    tmp = tmp_path_factory.mktemp("values-site")
    h = start_harness(f"sqlite:///{tmp / 'values.db'}", tmp)
    user, key = h.user("vals")
    folder, _ = run_script(tmp, {"EVLOG_SINKS": "none", "EVLOG_SILENT": "true"})
    out = evlog_sync(str(folder), env=sync_env(tmp, h.url, key))
    assert out.returncode == 0, out.stderr
    yield {"h": h, "user": user, "key": key, "folder": folder}
    h.proc.stop()
    h.close()


def test_the_server_ingests_lists_and_serves_them_in_history_summary_series_and_export(values_site):
    h, user, key, folder = values_site["h"], values_site["user"], values_site["key"], values_site["folder"]
    local = history(folder)
    rows = h.rows(user, "vals", "lists-run", key)
    assert [r["step"] for r in rows] == [s for s, _ in local] == [0, 1, 2, 3]
    assert rows[2]["data"]["acc"] == [2.5, "NaN", None] and rows[2]["data"]["grid"] == [[2, 2], [3]]
    assert rows[1]["data"]["emb"] == [1, 2, 3, 4] and rows[0]["data"]["e"] == {"v": [0, "x"]}
    assert rows[0]["data"]["weights"]["_type"] == "histogram"
    run = h.run(user, "vals", "lists-run", key).json()
    summary = run["summary"] if "summary" in run else run["run"]["summary"]
    assert summary["best"] == [1, 2, 3] and summary["acc"] == [2.5, "NaN", None]
    series = h.get(f"/-/api/runs/{user}/vals/lists-run/series", key).json()["series"]
    assert sorted(series) == ["loss"]  # only numbers are charted
    assert series["loss"][0] == [0, 1, 2]
    import csv

    csv_text = h.get(f"/api/v1/runs/{user}/vals/lists-run/export", key, format="csv").text
    cols, row0 = list(csv.reader(csv_text.splitlines()))[:2]
    got = dict(zip(cols, row0))
    assert got["acc"] == '[0.5,"NaN",null]' and got["grid"] == "[[0,2],[3]]" and got["e/v"] == '[0,"x"]'
    jl = [json.loads(x) for x in h.get(f"/api/v1/runs/{user}/vals/lists-run/export", key, format="jsonl").text.splitlines()]
    assert jl[1]["emb"] == [1, 2, 3, 4] and jl[0]["acc"] == [0.5, "NaN", None]
    # the table's image cell was uploaded with the run: the server serves its file
    ((_, data),) = [(s, d) for s, d in local if "preds" in d]
    cell = json.loads((folder / data["preds"]["path"]).read_bytes())["data"][0][1]
    got = h.get(f"/-/files/{user}/vals/lists-run/{cell['path']}", key)
    assert got.status_code == 200 and got.headers["content-type"] == "image/png"
    assert got.content == (folder / cell["path"]).read_bytes()


def test_the_run_page_shows_lists_in_the_summary_and_image_cells_as_thumbnails(values_site, page):
    from support.dashboard import shot, sign_in

    h, user = values_site["h"], values_site["user"]
    sign_in(page, h.url, values_site["key"], f"/{user}/vals/runs/lists-run")
    page.wait_for_selector("#media[data-ready='1']")
    def summary_cell(key):  # a list is shown as its JSON text
        return json.loads(page.locator("#summary-table tr", has=page.locator(f"th:text-is('{key}')")).locator("td").inner_text())

    assert summary_cell("best") == [1, 2, 3]
    assert summary_cell("acc") == [2.5, "NaN", None]
    assert summary_cell("grid") == [[2, 2], [3]]
    page.wait_for_selector('.media-panel[data-key="preds"] .media-table[data-rows="1"]')
    panel = page.locator('.media-panel[data-key="preds"]')
    thumb = panel.locator("tbody td img.media-thumb")
    assert thumb.count() == 1
    page.wait_for_function("(() => { const im = document.querySelector('.media-panel[data-key=\"preds\"] td img');"
                           " return im && im.complete && im.naturalWidth === 8; })()")
    assert thumb.get_attribute("alt") == "green"
    color = thumb.evaluate("im => { const c = document.createElement('canvas'); c.width = im.naturalWidth;"
                           " c.height = im.naturalHeight; const x = c.getContext('2d'); x.drawImage(im, 0, 0);"
                           " return Array.from(x.getImageData(0, 0, 1, 1).data.slice(0, 3)); }")
    assert color == [0, 200, 0]
    cells = panel.locator("tbody tr").first.locator("td")
    assert cells.nth(0).inner_text() == "0" and json.loads(cells.nth(2).inner_text()) == [1, 2]
    panel.scroll_into_view_if_needed()
    shot(page, "run-values-table-thumbnail")
