"""eventlog.Api, the read client, against a real server process holding runs written by the run
API (offline) and delivered by `evlog sync`: credentials, runs() filters and order, one run's
metadata, sampled and paged history, files, edits, and the refusals as typed errors."""
from __future__ import annotations

import hashlib
import math
import os
import subprocess
import sys
import textwrap
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Dict, Iterator, List

import pytest

from support.server import Harness, start_harness  # noqa: E402  (skips without the server extra)

import eventlog  # noqa: E402
from eventlog.client import credentials  # noqa: E402
from eventlog.client.filters import compile_filters  # noqa: E402
from eventlog.errors import (  # noqa: E402
    FilterError,
    NoSuchEntityError,
    NoSuchFileError,
    NoSuchProjectError,
    NoSuchRunError,
    NotLoggedInError,
    ProjectPermissionError,
    ReadOnlyError,
    ServerUnreachableError,
    UsageError,
)
from eventlog.server.testing import SERVER_BOOT, free_port  # noqa: E402

STEPS = 2500
MODEL = hashlib.sha256(b"seed").digest() * 10_000  # 320,000 bytes
NOTES_TXT = "line one\nline two ✓\n"

# One process writes every run with the run API (offline, no syncer); the test syncs them in order.
MAKE_RUNS = textwrap.dedent('''
    import math, os, sys, time
    import eventlog
    root, entity, files, steps, bob = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4]), sys.argv[5]

    def make(project, id, steps, exit_code=0, sleep=0.0, best=None, ent=None, **kw):
        run = eventlog.init(mode="offline", dir=root, project=project, entity=ent or entity, id=id,
                            reinit=True, save_code=False, **kw)
        for i in range(steps):
            row = {"loss": 1.0 / (i + 1), "acc": i / steps}
            if i % 100 == 0:
                row["val_acc"] = i / steps + 0.01
            if i == 3:
                row["weird"] = float("nan")
            run.log(row)
        if best is not None:
            run.summary["best_acc"] = best
        if id == "alpha":
            run.save(os.path.join(files, "model.bin"), base_path=files, policy="now")
            run.save(os.path.join(files, "sub", "notes.txt"), base_path=files, policy="now")
        time.sleep(sleep)
        run.finish(exit_code=exit_code)
        print(run.dir)

    make("zoo", "alpha", steps, best=0.97, name="alpha-run", notes="first run", group="g1",
         job_type="train", tags=["baseline", "cnn"],
         config={"lr": 0.1, "opt": {"name": "adam", "beta": 0.9}, "layers": 4})
    make("zoo", "beta", 10, best=0.95, name="beta-run", group="g1", job_type="eval", tags=["cnn"],
         config={"lr": 0.01, "opt": {"name": "sgd"}, "layers": 2})
    make("zoo", "gamma", 5, exit_code=1, sleep=0.6, best=0.5, name="gamma-run", group="g2", tags=["rnn"],
         config={"lr": 0.001, "layers": 8})
    make("zoo", "delta", 3, name="delta-run", config={"lr": 0.1, "layers": 2})
    make("edits", "epsilon", 3, name="eps", notes="before", tags=["a"], config={"lr": 1})
    make("secret", "hidden", 3, ent=bob, name="hidden-run")
    make("shared", "open1", 3, ent=bob, name="open-run", tags=["pub"])
''')


@dataclass
class World:
    h: Harness
    alice: str
    akey: str
    bob: str
    bkey: str
    files: Path


def _env(tmp: Path, **extra: str) -> Dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("EVLOG_", "WANDB_"))}
    env.update(EVLOG_CONFIG_DIR=str(tmp / "cfg"), HOME=str(tmp), CI="", EVLOG_SILENT="true", **extra)
    return env


def _sync(folder: str, url: str, key: str, tmp: Path) -> None:
    env = _env(tmp / f"sync-{Path(folder).name}", EVLOG_BASE_URL=url, EVLOG_API_KEY=key)
    out = subprocess.run([sys.executable, "-c", SERVER_BOOT, "sync", folder], capture_output=True, text=True,
                         env=env, timeout=300)
    assert out.returncode == 0, out.stdout + out.stderr


@pytest.fixture(scope="module")
def world(tmp_path_factory) -> Iterator[World]:
    tmp = tmp_path_factory.mktemp("readapi")
    h = start_harness(f"sqlite:///{tmp / 'server.db'}", tmp)
    alice, akey = h.user("alice")
    bob, bkey = h.user("bob")
    files = tmp / "files"
    (files / "sub").mkdir(parents=True)
    (files / "model.bin").write_bytes(MODEL)
    (files / "sub" / "notes.txt").write_text(NOTES_TXT, encoding="utf-8")
    script = tmp / "make_runs.py"
    script.write_text(MAKE_RUNS, encoding="utf-8")
    env = _env(tmp, EVLOG_SINKS="none", EVLOG_SYSTEM_INTERVAL="0.1", EVLOG_CONSOLE="off")
    out = subprocess.run([sys.executable, str(script), str(tmp / "runs"), alice, str(files), str(STEPS), bob],
                         capture_output=True, text=True, env=env, cwd=tmp, timeout=300)
    assert out.returncode == 0, out.stdout + out.stderr
    folders = out.stdout.split()
    assert len(folders) == 7, out.stdout
    for folder in folders:  # one at a time: created_at follows this order
        _sync(folder, h.url, bkey if folder.endswith(("hidden", "open1")) else akey, tmp)
    h.visibility(bob, "shared", "open")
    yield World(h, alice, akey, bob, bkey, files)
    h.proc.stop()
    h.close()


@pytest.fixture(autouse=True)
def no_credentials(monkeypatch, tmp_path) -> None:
    """No EVLOG_*/WANDB_* variables and an empty config dir: each test says where its key comes from."""
    for k in list(os.environ):
        if k.startswith(("EVLOG_", "WANDB_")):
            monkeypatch.delenv(k)
    monkeypatch.setenv("EVLOG_CONFIG_DIR", str(tmp_path / "cfg"))


def api_of(w: World, key: str = None, **overrides: str) -> eventlog.Api:
    return eventlog.Api(overrides={"base_url": w.h.url, **overrides}, api_key=key if key is not None else w.akey)


def ids(runs) -> List[str]:
    return [r.id for r in runs]


# ------------------------------------------------------------------ credentials
def test_server_and_key_come_from_arguments_then_environment_then_the_stored_login(world, monkeypatch, tmp_path):
    assert api_of(world).viewer.username == world.alice
    assert api_of(world).default_entity == world.alice
    assert api_of(world, entity="someone").default_entity == "someone"

    monkeypatch.setenv("WANDB_BASE_URL", world.h.url)
    monkeypatch.setenv("WANDB_API_KEY", world.bkey)
    assert eventlog.Api().viewer.username == world.bob  # the WANDB_* aliases
    monkeypatch.setenv("EVLOG_API_KEY", world.akey)
    assert eventlog.Api().viewer.username == world.alice  # EVLOG_* wins over WANDB_*
    assert eventlog.Api(api_key=world.bkey).viewer.username == world.bob  # the argument wins over both
    for k in ("WANDB_BASE_URL", "WANDB_API_KEY", "EVLOG_API_KEY"):
        monkeypatch.delenv(k)

    credentials.save(world.h.url, world.bkey, user=world.bob)  # what `evlog login` stores
    api = eventlog.Api()
    assert api.base_url == world.h.url and api.viewer.username == world.bob
    assert [r.id for r in api.runs("shared")] == ["open1"]  # "project" alone: the key's user is the entity


def test_without_a_key_there_is_no_viewer_and_the_error_says_how_to_log_in(world):
    api = eventlog.Api(overrides={"base_url": world.h.url})
    assert api.api_key is None and api.default_entity is None
    with pytest.raises(NotLoggedInError, match="evlog login"):
        api.viewer
    with pytest.raises(UsageError, match="no entity"):
        api.runs("zoo")


# ------------------------------------------------------------------ runs(): order, laziness, filters
def test_runs_are_newest_first_indexable_sliceable_and_ordered_by_any_field(world):
    api = api_of(world)
    runs = api.runs(f"{world.alice}/zoo")
    assert len(runs) == 4 and runs.length == 4
    assert ids(runs) == ["delta", "gamma", "beta", "alpha"]
    assert runs[0].id == "delta" and runs[-1].id == "alpha" and ids(runs[1:3]) == ["gamma", "beta"]
    assert ids(api.runs(f"{world.alice}/zoo", order="+created_at")) == ["alpha", "beta", "gamma", "delta"]
    # ties keep the created order; a run lacking the field comes last either way
    assert ids(api.runs(f"{world.alice}/zoo", order="config.lr")) == ["gamma", "beta", "alpha", "delta"]
    assert ids(api.runs(f"{world.alice}/zoo", order="-config.lr.value")) == ["alpha", "delta", "beta", "gamma"]
    assert ids(api.runs(f"{world.alice}/zoo", order="-summary_metrics.best_acc")) == ["alpha", "beta", "gamma", "delta"]
    assert ids(api.runs(f"{world.alice}/zoo", order="display_name")) == ["alpha", "beta", "delta", "gamma"]


def test_runs_are_read_on_first_use_and_bad_filters_fail_at_once():
    api = eventlog.Api(overrides={"base_url": f"http://127.0.0.1:{free_port()}", "entity": "e"})
    runs = api.runs("e/p", filters={"state": "finished"})  # nothing listens there: not read yet
    with pytest.raises(ServerUnreachableError, match="the runs of e/p"):
        len(runs)
    with pytest.raises(FilterError, match=r"\$where"):
        api.runs("e/p", filters={"$where": "this.a > 1"})
    with pytest.raises(FilterError, match=r"\$elemMatch.*on 'tags'"):
        api.runs("e/p", filters={"tags": {"$elemMatch": {"$eq": "a"}}})
    with pytest.raises(FilterError, match="'colour'"):
        api.runs("e/p", filters={"colour": "red"})
    with pytest.raises(FilterError, match=r"\$in takes a list"):
        api.runs("e/p", filters={"state": {"$in": "finished"}})
    with pytest.raises(FilterError, match="not a valid regular expression"):
        api.runs("e/p", filters={"display_name": {"$regex": "("}})
    with pytest.raises(FilterError, match="'shoe_size'"):
        api.runs("e/p", order="-shoe_size")


@pytest.mark.parametrize("filters, expected", [
    ({"state": "finished"}, {"alpha", "beta", "delta"}),
    ({"state": "failed"}, {"gamma"}),
    ({"config.lr": 0.1}, {"alpha", "delta"}),
    ({"config.lr.value": 0.01}, {"beta"}),  # wandb's spelling
    ({"config.opt.name": "adam"}, {"alpha"}),
    ({"config.layers": {"$gte": 4}}, {"alpha", "gamma"}),
    ({"summary_metrics.best_acc": {"$gt": 0.9}}, {"alpha", "beta"}),
    ({"summary_metrics.best_acc": {"$exists": False}}, {"delta"}),
    ({"summary_metrics.loss": {"$lt": 0.01}}, {"alpha"}),
    ({"tags": "cnn"}, {"alpha", "beta"}),
    ({"tags": {"$in": ["rnn", "baseline"]}}, {"alpha", "gamma"}),
    ({"tags": {"$nin": ["cnn"]}}, {"gamma", "delta"}),
    ({"group": "g1"}, {"alpha", "beta"}),
    ({"group": "g1", "job_type": "eval"}, {"beta"}),
    ({"display_name": "gamma-run"}, {"gamma"}),
    ({"display_name": {"$regex": "^(al|be)"}}, {"alpha", "beta"}),
    ({"display_name": {"$regex": "ALPHA", "$options": "i"}}, {"alpha"}),
    ({"name": "delta"}, {"delta"}),  # wandb's `name` in a filter is the run id
    ({"state": {"$ne": "finished"}}, {"gamma"}),
    ({"$or": [{"config.lr": 0.001}, {"tags": "baseline"}]}, {"alpha", "gamma"}),
    ({"$and": [{"group": "g1"}, {"config.layers": {"$lt": 3}}]}, {"beta"}),
    ({"config.layers": {"$not": {"$gt": 2}}}, {"beta", "delta"}),
    ({"created_at": {"$gt": "2000-01-01T00:00:00"}}, {"alpha", "beta", "gamma", "delta"}),
    ({"created_at": {"$gt": "2999-01-01"}}, set()),
    ({"state": "bogus"}, set()),
])
def test_runs_filters(world, filters, expected):
    assert set(ids(api_of(world).runs(f"{world.alice}/zoo", filters=filters))) == expected


def test_exact_state_group_job_type_and_one_tag_are_filtered_by_the_server():
    params, pred = compile_filters({"state": "finished", "group": {"$eq": "g1"}, "config.lr": 0.1,
                                    "$and": [{"tags": "cnn"}, {"job_type": "eval"}]})
    assert params == {"state": "finished", "group": "g1", "tag": "cnn", "job_type": "eval"}
    run = {"state": "finished", "group": "g1", "tags": ["cnn"], "job_type": "eval", "config": {"lr": 0.1}}
    assert pred(run) and not pred({**run, "config": {"lr": 0.2}})  # the rest stays with the client
    assert compile_filters({"state": "bogus", "tags": {"$in": ["a"]}})[0] == {}


# ------------------------------------------------------------------ one run
def test_a_run_has_wandbs_fields(world):
    api = api_of(world)
    run = api.run(f"{world.alice}/zoo/alpha")
    assert (run.id, run.name, run.display_name, run.state) == ("alpha", "alpha-run", "alpha-run", "finished")
    assert run.config == {"lr": 0.1, "opt": {"name": "adam", "beta": 0.9}, "layers": 4}
    assert run.summary["best_acc"] == 0.97 and run.summary["loss"] == 1.0 / STEPS
    assert run.summary_metrics["acc"] == (STEPS - 1) / STEPS and math.isnan(run.summary["weird"])
    assert run.tags == ["baseline", "cnn"] and run.notes == "first run"
    assert (run.group, run.job_type, run.entity, run.project) == ("g1", "train", world.alice, "zoo")
    assert run.path == [world.alice, "zoo", "alpha"] and run.lastHistoryStep == STEPS - 1
    assert run.url == f"{world.h.url}/{world.alice}/zoo/runs/alpha"
    assert datetime.fromisoformat(run.created_at).year >= 2024
    assert api.run(f"{world.alice}/zoo/runs/alpha").id == "alpha"
    assert api.run(run.url).id == "alpha"
    assert api_of(world, entity=world.alice).run("zoo/gamma").state == "failed"


def test_history_is_a_sample_as_a_dataframe_with_step_and_the_keys(world):
    pd = pytest.importorskip("pandas")
    run = api_of(world).run(f"{world.alice}/zoo/alpha")
    df = run.history()
    assert isinstance(df, pd.DataFrame)
    assert list(df.columns[:1]) == ["_step"] and {"loss", "acc", "val_acc"} <= set(df.columns)
    assert len(df) <= 500 and df["_step"].iloc[0] == 0 and df["_step"].iloc[-1] == STEPS - 1
    assert df["_step"].is_monotonic_increasing
    for step, loss in zip(df["_step"], df["loss"]):
        assert loss == 1.0 / (step + 1)
    small = run.history(samples=50, keys=["loss"])
    assert list(small.columns) == ["_step", "loss"] and len(small) <= 50
    assert small["_step"].iloc[-1] == STEPS - 1 and small["loss"].min() == 1.0 / STEPS
    both = run.history(keys=["loss", "val_acc"])
    assert list(both["_step"]) == list(range(0, STEPS, 100))  # only rows holding every key
    assert list(both["val_acc"]) == [s / STEPS + 0.01 for s in range(0, STEPS, 100)]
    empty = run.history(keys=["never_logged"])
    assert list(empty.columns) == ["_step", "never_logged"] and len(empty) == 0


def test_history_without_pandas_is_a_list_of_dicts_and_nan_reads_back_as_a_float(world):
    run = api_of(world).run(f"{world.alice}/zoo/alpha")
    rows = run.history(keys=["weird"], pandas=False)
    assert len(rows) == 1 and rows[0]["_step"] == 3 and set(rows[0]) == {"_step", "weird"}
    assert isinstance(rows[0]["weird"], float) and math.isnan(rows[0]["weird"])
    by_val = run.history(keys=["loss"], x_axis="val_acc", pandas=False)
    assert [r["_step"] for r in by_val] == list(range(0, STEPS, 100))
    assert all(set(r) == {"_step", "val_acc", "loss"} for r in by_val)
    with pytest.raises(UsageError, match="samples"):
        run.history(samples=0)
    with pytest.raises(TypeError, match="keys"):
        run.history(keys="loss")


def test_the_system_stream_is_one_row_per_sample(world):
    rows = api_of(world).run(f"{world.alice}/zoo/gamma").history(stream="system", pandas=False)
    assert len(rows) >= 2, rows  # gamma ran 0.6 s with a sample every 0.1 s
    times = [r["_runtime"] for r in rows]
    assert times == sorted(times) and all("disk" in r and 0 <= r["disk"] <= 100 for r in rows)


def test_scan_history_reads_every_row_across_pages(world):
    run = api_of(world).run(f"{world.alice}/zoo/alpha")
    rows = list(run.scan_history(page_size=300))
    assert [r["_step"] for r in rows] == list(range(STEPS))
    assert all(r["loss"] == 1.0 / (r["_step"] + 1) and r["acc"] == r["_step"] / STEPS for r in rows)
    val = list(run.scan_history(keys=["val_acc"], page_size=7))
    assert val == [{"_step": s, "val_acc": s / STEPS + 0.01} for s in range(0, STEPS, 100)]
    window = list(run.scan_history(keys=["loss"], page_size=64, min_step=1000, max_step=1200))
    assert [r["_step"] for r in window] == list(range(1000, 1200)) and set(window[0]) == {"_step", "loss"}
    with pytest.raises(UsageError, match="page_size"):
        run.scan_history(page_size=0)


def test_histories_of_several_runs_carry_the_run_id(world):
    pd = pytest.importorskip("pandas")
    df = api_of(world).runs(f"{world.alice}/zoo", filters={"group": "g1"}).histories(keys=["loss"], format="pandas")
    assert isinstance(df, pd.DataFrame) and list(df.columns) == ["run_id", "_step", "loss"]
    assert set(df["run_id"]) == {"alpha", "beta"} and len(df[df["run_id"] == "beta"]) == 10


# ------------------------------------------------------------------ files
def test_files_download_the_bytes_that_were_saved(world, tmp_path):
    run = api_of(world).run(f"{world.alice}/zoo/alpha")
    files = {f.name: f for f in run.files()}
    assert {"model.bin", "sub/notes.txt"} <= set(files)
    model = files["model.bin"]
    assert model.size == len(MODEL) and model.path == "files/model.bin"
    assert model.sha256 == hashlib.sha256(MODEL).hexdigest()
    with model.download(root=str(tmp_path)) as fh:
        assert Path(fh.name) == tmp_path / "model.bin"
    assert (tmp_path / "model.bin").read_bytes() == MODEL
    with run.file("sub/notes.txt").download(root=str(tmp_path)) as fh:
        assert fh.read() == NOTES_TXT
    with pytest.raises(UsageError, match="replace=True"):
        model.download(root=str(tmp_path))
    (tmp_path / "model.bin").write_bytes(b"changed")
    model.download(root=str(tmp_path), exist_ok=True).close()
    assert (tmp_path / "model.bin").read_bytes() == b"changed"
    model.download(root=str(tmp_path), replace=True).close()
    assert (tmp_path / "model.bin").read_bytes() == MODEL
    assert [f.name for f in run.files(names=["model.bin"])] == ["model.bin"]
    import requests

    got = requests.get(model.url, headers={"Authorization": f"Bearer {world.akey}"}, timeout=60)
    assert got.content == MODEL
    with pytest.raises(NoSuchFileError, match="'nope.txt'"):
        run.file("nope.txt")


# ------------------------------------------------------------------ edits
def test_update_saves_name_notes_and_tags_and_refuses_config_and_summary(world):
    api = api_of(world)
    run = api.run(f"{world.alice}/edits/epsilon")
    run.name = "renamed"
    run.notes = "after"
    run.tags.append("b")
    run.update()
    again = api.run(f"{world.alice}/edits/epsilon")
    assert (again.name, again.notes, again.tags) == ("renamed", "after", ["a", "b"])
    assert run.name == "renamed" and run.tags == ["a", "b"]

    again.name = "not saved"
    again.config["lr"] = 2
    with pytest.raises(ReadOnlyError, match="config"):
        again.update()
    assert api.run(f"{world.alice}/edits/epsilon").name == "renamed"  # nothing of the call was saved
    third = api.run(f"{world.alice}/edits/epsilon")
    with pytest.raises(ReadOnlyError, match="summary"):
        third.summary.update({"extra": 1})
    readable = api.run(f"{world.bob}/shared/open1")  # alice may read bob's open project, not edit its runs
    readable.notes = "vandal"
    with pytest.raises(ProjectPermissionError, match=rf"may not edit {world.bob}/shared/open1"):
        readable.update()
    assert api.run(f"{world.bob}/shared/open1").notes is None


# ------------------------------------------------------------------ refusals
def test_refusals_are_typed_errors_naming_the_path(world):
    api = api_of(world)
    with pytest.raises(ProjectPermissionError, match=rf"may not read {world.bob}/secret"):
        api.runs(f"{world.bob}/secret")[0]
    with pytest.raises(ProjectPermissionError, match=rf"{world.bob}/secret"):
        api.run(f"{world.bob}/secret/hidden")
    assert api_of(world, key=world.bkey).run(f"{world.bob}/secret/hidden").name == "hidden-run"
    with pytest.raises(NoSuchEntityError, match="'nobody-here'"):
        api.runs("nobody-here/zoo").length
    with pytest.raises(NoSuchProjectError, match=rf"{world.alice}/nothing"):
        len(api.runs(f"{world.alice}/nothing"))
    with pytest.raises(NoSuchRunError, match="'ghost'"):
        api.run(f"{world.alice}/zoo/ghost")
    with pytest.raises(NotLoggedInError, match="not valid"):
        api_of(world, key="not-a-key").run(f"{world.alice}/zoo/alpha")
    with pytest.raises(UsageError, match="entity/project/run_id"):
        api.run("a/b/c/d/e")


def test_without_a_key_open_projects_read_and_private_ones_ask_for_a_login(world):
    anon = eventlog.Api(overrides={"base_url": world.h.url})
    assert ids(anon.runs(f"{world.bob}/shared")) == ["open1"]
    assert anon.run(f"{world.bob}/shared/open1").tags == ["pub"]
    assert [p.name for p in anon.projects(world.bob)] == ["shared"]
    with pytest.raises(NotLoggedInError, match=rf"{world.bob}/secret.*evlog login"):
        anon.run(f"{world.bob}/secret/hidden")
    assert {p.name for p in api_of(world, key=world.bkey).projects(world.bob)} == {"secret", "shared"}


# ------------------------------------------------------------------ artifacts
def test_artifact_asks_the_artifact_reader_of_the_same_server(world, monkeypatch):
    import inspect

    from eventlog import artifacts
    from eventlog.errors import ArtifactNotFoundError

    if not hasattr(artifacts, "fetch"):
        pytest.skip("eventlog.artifacts has no fetch() yet (artifacts are another part of issue 13)")
    monkeypatch.setenv("EVLOG_BASE_URL", world.h.url)
    monkeypatch.setenv("EVLOG_API_KEY", world.akey)
    with pytest.raises(ArtifactNotFoundError, match="no-such-artifact"):
        eventlog.Api().artifact(f"{world.alice}/zoo/no-such-artifact:latest")
    with pytest.raises(ArtifactNotFoundError, match=rf"{world.alice}/zoo/other:v0"):
        eventlog.Api(overrides={"project": "zoo"}).artifact("other:v0")  # the defaults fill in the path
    elsewhere = eventlog.Api(overrides={"base_url": world.h.url}, api_key=world.bkey)
    if {"base_url", "api_key"} <= set(inspect.signature(artifacts.fetch).parameters):
        with pytest.raises(ArtifactNotFoundError):
            elsewhere.artifact(f"{world.bob}/shared/nothing:latest")
    else:
        with pytest.raises(UsageError, match="logged-in server"):
            elsewhere.artifact(f"{world.bob}/shared/nothing:latest")


def test_the_server_keeps_only_rows_holding_every_key_with_all_keys(world):
    path = f"/api/v1/runs/{world.alice}/zoo/alpha/history"
    got = world.h.get(path, world.akey, keys="loss,val_acc", all_keys="1", limit="10").json()
    assert [r["step"] for r in got["rows"]] == list(range(0, 1000, 100)) and got["next"] is not None
    assert all(set(r["data"]) == {"loss", "val_acc"} for r in got["rows"])
    rest = world.h.get(path, world.akey, keys="loss,val_acc", all_keys="true", after=str(got["next"])).json()
    assert [r["step"] for r in rest["rows"]] == list(range(1000, STEPS, 100)) and rest["next"] is None
    sampled = world.h.get(path, world.akey, keys="val_acc,weird", all_keys="1", samples="5").json()["rows"]
    assert sampled == []  # no row holds both
    assert len(world.h.get(path, world.akey, keys="val_acc,weird", all_keys="0").json()["rows"]) == 26
    bad = world.h.get(path, world.akey, keys="loss", all_keys="maybe")
    assert bad.status_code == 400 and bad.json()["reason"] == "bad_request" and "all_keys" in bad.json()["error"]


# ------------------------------------------------------------------ retries
# a stub server: the real one does not answer 503 or 429 on demand
def test_503_and_429_are_retried_other_refusals_are_final():
    import json
    import threading
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    seen: List[str] = []

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802
            seen.append(self.path)
            busy = self.path.startswith("/api/v1/auth/whoami") and len(seen) <= 2
            status, body = ((503 if len(seen) == 1 else 429), {"error": "busy", "reason": "unavailable"}) if busy \
                else (200, {"user": "u", "entity": "u", "teams": []}) if "whoami" in self.path \
                else (404, {"error": "no such endpoint", "reason": "not_found"})
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            if busy:
                self.send_header("Retry-After", "0")
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, *args) -> None:
            pass

    stub = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=stub.serve_forever, daemon=True).start()
    try:
        api = eventlog.Api(overrides={"base_url": f"http://127.0.0.1:{stub.server_address[1]}"}, api_key="k")
        assert api.viewer.username == "u" and len(seen) == 3  # 503, 429, then the answer
        with pytest.raises(eventlog.errors.NotFoundError, match="older evlog server"):
            api.run("e/p/r")
        assert len(seen) == 4  # a 404 is not retried
    finally:
        stub.shutdown()
        stub.server_close()
