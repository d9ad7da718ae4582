"""Issue 18 section 1: `evlog import tensorboard LOGDIR` and `evlog import mlflow --tracking-uri URI`.

TensorBoard logs are written by tensorboardX and torch.utils.tensorboard (and TF2-style tensor
summaries, as Keras writes them, through the tensorboard package's writer); MLflow runs are made with
MLflow's own client against a real `mlflow server` (SQLite backend) on 127.0.0.1. Imported runs are
read back with eventlog.LogReader and checked by `evlog verify`; a second import adds nothing."""
from __future__ import annotations

import os
import shutil
import signal
import struct
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import requests
from PIL import Image as PILImage

from support.engine import evlog_command
from eventlog.server.testing import _die_with_parent, free_port
from support.run import of_type, records, run_folders

tensorboardX = pytest.importorskip("tensorboardX")


def by_name(root: Path) -> dict:
    """name -> records of each run folder under <root>/evlog/."""
    out = {}
    for folder in run_folders(root):
        recs = records(folder)
        out[recs[0].body["name"]] = recs
    return out


def history(recs) -> list:
    return [(r.body["step"], r.body["data"]) for r in of_type(recs, "history")]


def evlog(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("EVLOG_", "WANDB_"))}
    return subprocess.run([*evlog_command(), *args], capture_output=True, text=True, cwd=str(cwd), env=env,
                          timeout=300)


# ================================================================ TensorBoard
def test_tensorboardx_scalars_histograms_images_at_their_steps_and_wall_times(tmp_path):
    from eventlog.interop.tb_import import import_tensorboard

    logdir = tmp_path / "logs"
    rs = np.random.RandomState(0)
    w = tensorboardX.SummaryWriter(str(logdir / "exp"))
    weights, pictures, stamps = {}, {}, {}
    for step in range(0, 20, 2):
        stamps[step] = time.time() + 1000 + step * 10  # wall times given to the writer, kept by the import
        w.add_scalar("loss", 1.0 / (step + 1), step, walltime=stamps[step])
        if step % 6 == 0:
            weights[step] = rs.randn(300)
            w.add_histogram("weights", weights[step], step, bins=20, walltime=stamps[step])
            pictures[step] = rs.randint(0, 256, (3, 5, 7)).astype(np.uint8)
            w.add_image("sample", pictures[step], step, walltime=stamps[step])
    w.add_text("note", "not imported", 0)
    w.close()

    report = import_tensorboard(logdir, str(tmp_path / "out"))
    (recs,) = by_name(tmp_path / "out").values()
    run = recs[0].body
    assert (run["name"], run["project"], run["source"]["kind"], run["source"]["path"]) == ("exp", "logs",
                                                                                          "tensorboard", "exp")
    rows = history(recs)
    assert [s for s, _ in rows] == list(range(0, 20, 2))
    for rec, (step, data) in zip(of_type(recs, "history"), rows):
        assert data["loss"] == pytest.approx(1.0 / (step + 1), rel=1e-6)
        assert rec.time == pytest.approx(stamps[step], abs=1e-3)
        assert ("weights" in data) == ("sample" in data) == (step % 6 == 0)
        if step % 6 == 0:
            h = data["weights"]
            assert h["_type"] == "histogram" and sum(h["counts"]) == 300
            assert h["bins"][0] == pytest.approx(weights[step].min())
            img = data["sample"]
            got = np.asarray(PILImage.open(recs_folder(tmp_path) / img["path"]))
            np.testing.assert_array_equal(got, pictures[step].transpose(1, 2, 0))
    # the image files are announced before the rows that use them
    files = of_type(recs, "files")
    first_image_row = next(r.seq for r in of_type(recs, "history") if "sample" in r.body["data"])
    assert files and files[0].seq < first_image_row
    assert len([e for r in files for e in r.body["files"]]) == len(pictures) == report.files
    exit_rec = recs[-1]
    assert exit_rec.type == "exit" and exit_rec.body["exit_code"] == 0
    # the run starts when its writer did (the file's first event), ends at its last event
    assert recs[0].body["start_time"] == pytest.approx(os.path.getmtime(next((logdir / "exp").iterdir())), abs=300)
    assert exit_rec.body["runtime"] == pytest.approx(stamps[18] - recs[0].body["start_time"], abs=1e-3)
    assert exit_rec.body["runtime"] > 1000
    assert (report.runs, report.rows) == (1, 10)
    assert any("text" in what for what, _ in report.skipped)  # said, not silently dropped


def recs_folder(tmp_path: Path) -> Path:
    (folder,) = run_folders(tmp_path / "out")
    return folder


def test_torch_writer_nested_runs_and_several_files_in_one_folder(tmp_path):
    torch_tb = pytest.importorskip("torch.utils.tensorboard")
    from eventlog.interop.tb_import import import_tensorboard

    logdir = tmp_path / "tb"
    for sub in ("a/train", "a/eval", "b"):
        w = torch_tb.SummaryWriter(str(logdir / sub))
        for step in range(3):
            w.add_scalar("loss", float(step) + len(sub), step)
        w.add_histogram("h", np.arange(10.0), 0)
        w.close()
    # a second writer in a/train (a resumed training): more steps, step 2 written again
    time.sleep(1.1)  # its file name holds a later second
    w = torch_tb.SummaryWriter(str(logdir / "a" / "train"))
    for step in range(2, 5):
        w.add_scalar("loss", 100.0 + step, step)
    w.close()
    w = torch_tb.SummaryWriter(str(logdir / "a" / "train"), filename_suffix=".x")
    w.close()  # an event file with no summary at all
    # hparams as torch writes them: a run folder of their own with the config
    w = torch_tb.SummaryWriter(str(logdir / "b"))
    w.add_hparams({"lr": 0.01, "opt": "adam", "layers": 4}, {"hp/acc": 0.75}, run_name="hp")
    w.close()

    report = import_tensorboard(logdir, str(tmp_path / "out"), project="proj")
    runs = by_name(tmp_path / "out")
    assert sorted(runs) == ["a/eval", "a/train", "b", "b/hp"]
    assert {n: r[0].body["group"] for n, r in runs.items()} == {"a/eval": "a", "a/train": "a", "b": None,
                                                                "b/hp": "b"}
    assert all(r[0].body["project"] == "proj" for r in runs.values())
    train = history(runs["a/train"])
    assert [(s, d["loss"]) for s, d in train] == [(0, 7.0), (1, 8.0), (2, 102.0), (3, 103.0), (4, 104.0)]
    assert train[0][1]["h"]["_type"] == "histogram" and sum(train[0][1]["h"]["counts"]) == 10
    assert [(s, d["loss"]) for s, d in history(runs["b"])] == [(0, 1.0), (1, 2.0), (2, 3.0)]
    (cfg,) = of_type(runs["b/hp"], "config")
    assert cfg.body["update"] == {"lr": 0.01, "opt": "adam", "layers": 4}
    assert history(runs["b/hp"])[0][1]["hp/acc"] == pytest.approx(0.75)
    assert len(runs["a/train"][0].body["source"]["files"]) == 3
    assert report.runs == 4
    assert any("a/train" == what and "last one written" in why for what, why in report.warnings)
    out = subprocess.run([*evlog_command(), "verify", str(tmp_path / "out" / "evlog")], capture_output=True,
                         text=True)
    assert out.returncode == 0 and "4 runs verified: 4 clean" in out.stdout, out.stdout


def tfrecord(data: bytes) -> bytes:
    from eventlog.interop.tfevents import masked_crc

    header = struct.pack("<Q", len(data))
    return header + struct.pack("<I", masked_crc(header)) + data + struct.pack("<I", masked_crc(data))


def test_torn_and_damaged_event_files_are_read_up_to_the_damage(tmp_path):
    from eventlog.interop.tb_import import import_tensorboard

    logdir = tmp_path / "logs"
    for sub in ("torn", "damaged"):
        w = tensorboardX.SummaryWriter(str(logdir / sub))
        for step in range(6):
            w.add_scalar("x", float(step), step)
        w.close()
    (torn,) = (logdir / "torn").iterdir()
    data = torn.read_bytes()
    torn.write_bytes(data[:-7])  # SIGKILL mid-write: the last record is cut
    (damaged,) = (logdir / "damaged").iterdir()
    raw = bytearray(damaged.read_bytes())
    # flip a byte in the data of the 4th record (the first is the file_version event)
    offsets, pos = [], 0
    while pos < len(raw):
        offsets.append(pos)
        pos += 12 + struct.unpack_from("<Q", raw, pos)[0] + 4
    raw[offsets[4] + 14] ^= 0xFF
    damaged.write_bytes(bytes(raw))

    report = import_tensorboard(logdir, str(tmp_path / "out"))
    runs = by_name(tmp_path / "out")
    assert [s for s, _ in history(runs["torn"])] == [0, 1, 2, 3, 4]       # all but the cut one
    assert [s for s, _ in history(runs["damaged"])] == [0, 1, 2]          # up to the damage
    warned = dict(report.warnings)
    assert "torn record" in warned["torn"] and "checksum" in warned["damaged"]
    assert all(r[-1].type == "exit" for r in runs.values())


def test_an_event_file_larger_than_a_read_chunk_is_read_whole(tmp_path, monkeypatch):
    from eventlog.interop import tfevents
    from eventlog.interop.tb_import import import_tensorboard

    monkeypatch.setattr(tfevents, "READ_CHUNK", 1000)  # records cross chunk ends all along the file
    w = tensorboardX.SummaryWriter(str(tmp_path / "logs" / "big"))
    for step in range(500):
        w.add_scalar("x", float(step), step)
    w.close()
    (f,) = (tmp_path / "logs" / "big").iterdir()
    assert f.stat().st_size > 15 * 1000
    report = import_tensorboard(tmp_path / "logs", str(tmp_path / "out"))
    assert [s for s, _ in history(by_name(tmp_path / "out")["big"])] == list(range(500))
    assert report.warnings == []


def test_tf2_tensor_summaries_as_keras_writes_them(tmp_path):
    """Keras (TF2) writes scalars and histograms as tensors with plugin metadata on a tag's first event."""
    from tensorboard.compat.proto import event_pb2, summary_pb2, tensor_pb2, tensor_shape_pb2
    from tensorboard.summary.writer.event_file_writer import EventFileWriter

    from eventlog.interop.tb_import import import_tensorboard

    def meta(plugin):
        return summary_pb2.SummaryMetadata(plugin_data=summary_pb2.SummaryMetadata.PluginData(plugin_name=plugin))

    for sub in ("train", "validation"):
        w = EventFileWriter(str(tmp_path / "logs" / sub))
        for epoch in range(3):
            scalar = tensor_pb2.TensorProto(dtype=1, float_val=[epoch + (0.5 if sub == "train" else 0.25)])
            rows = [[0.0, 1.0, 2.0 + epoch], [1.0, 3.0, 5.0]]
            hist = tensor_pb2.TensorProto(
                dtype=2, tensor_content=struct.pack("<6d", *[x for r in rows for x in r]),
                tensor_shape=tensor_shape_pb2.TensorShapeProto(dim=[tensor_shape_pb2.TensorShapeProto.Dim(size=2),
                                                                    tensor_shape_pb2.TensorShapeProto.Dim(size=3)]))
            first = epoch == 0
            values = [summary_pb2.Summary.Value(tag="epoch_loss", tensor=scalar,
                                                metadata=meta("scalars") if first else None),
                      summary_pb2.Summary.Value(tag="kernel", tensor=hist,
                                                metadata=meta("histograms") if first else None)]
            w.add_event(event_pb2.Event(step=epoch, wall_time=1_600_000_000.0 + epoch,
                                        summary=summary_pb2.Summary(value=values)))
        w.close()
    import_tensorboard(tmp_path / "logs", str(tmp_path / "out"))
    runs = by_name(tmp_path / "out")
    assert sorted(runs) == ["train", "validation"]
    assert [(s, d["epoch_loss"]) for s, d in history(runs["validation"])] == [(0, 0.25), (1, 1.25), (2, 2.25)]
    assert history(runs["train"])[2][1]["kernel"] == {"_type": "histogram", "bins": [0.0, 1.0, 3.0], "counts": [4, 5]}
    assert [r.time for r in of_type(runs["train"], "history")] == [1_600_000_000.0, 1_600_000_001.0, 1_600_000_002.0]


def test_a_second_import_adds_nothing_even_from_a_moved_logdir(tmp_path):
    from eventlog.interop.tb_import import import_tensorboard

    for name in ("one", "two"):
        w = tensorboardX.SummaryWriter(str(tmp_path / "logs" / name))
        w.add_scalar("x", 1.0, 0)
        w.close()
    out = str(tmp_path / "out")
    first = import_tensorboard(tmp_path / "logs", out)
    before = run_folders(tmp_path / "out")
    again = import_tensorboard(tmp_path / "logs", out)
    shutil.move(str(tmp_path / "logs"), str(tmp_path / "moved"))
    moved = import_tensorboard(tmp_path / "moved", out)
    assert (first.runs, again.runs, moved.runs) == (2, 0, 0)
    assert run_folders(tmp_path / "out") == before
    assert len(again.skipped) == len(moved.skipped) == 2
    assert all("imported before" in why for _, why in again.skipped + moved.skipped)
    # another log dir with the same layout (its own writers) is another source
    w = tensorboardX.SummaryWriter(str(tmp_path / "other" / "one"))
    w.add_scalar("x", 2.0, 0)
    w.close()
    assert import_tensorboard(tmp_path / "other", out).runs == 1
    assert len(run_folders(tmp_path / "out")) == 3


def test_sync_tensorboard_copies_inside_the_logdir_are_not_imported_twice(tmp_path, monkeypatch):
    """An evlog run folder under LOGDIR (sync_tensorboard keeps copies of the event files) is not a
    TensorBoard run of its own."""
    from eventlog.interop.tb_import import find_runs

    w = tensorboardX.SummaryWriter(str(tmp_path / "logs" / "exp"))
    w.add_scalar("x", 1.0, 0)
    w.close()
    (src,) = (tmp_path / "logs" / "exp").iterdir()
    copy = tmp_path / "logs" / "evlog" / "run-20240101_000000-abc" / "tensorboard" / "sync" / src.name
    copy.parent.mkdir(parents=True)
    (tmp_path / "logs" / "evlog" / "run-20240101_000000-abc" / "log").mkdir()
    shutil.copy(src, copy)
    assert find_runs(tmp_path / "logs") == [tmp_path / "logs" / "exp"]


# ===================================================================== MLflow
mlflow = pytest.importorskip("mlflow")


@pytest.fixture(scope="module")
def mlflow_server(tmp_path_factory):
    """A real `mlflow server` on 127.0.0.1 with a SQLite backend; its URI."""
    base = tmp_path_factory.mktemp("mlflow")
    port = free_port()
    log = open(base / "server.log", "wb")
    proc = subprocess.Popen(
        [sys.executable, "-m", "mlflow", "server", "--host", "127.0.0.1", "--port", str(port), "--workers", "1",
         "--backend-store-uri", f"sqlite:///{base / 'mlflow.db'}", "--artifacts-destination", str(base / "artifacts")],
        stdout=log, stderr=subprocess.STDOUT, start_new_session=True, preexec_fn=_die_with_parent, cwd=str(base))
    uri = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120
        while True:
            try:
                if requests.get(uri + "/health", timeout=2).ok:
                    break
            except requests.RequestException:
                pass
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("mlflow server did not start:\n" + (base / "server.log").read_text()[-3000:])
            time.sleep(0.3)
        yield uri
    finally:
        try:
            os.killpg(proc.pid, signal.SIGTERM)
        except ProcessLookupError:
            pass
        try:
            proc.wait(20)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(10)
        log.close()


@pytest.fixture
def client(mlflow_server):
    from mlflow.tracking import MlflowClient

    return MlflowClient(tracking_uri=mlflow_server)


def make_experiment(client, name: str, tmp_path: Path) -> dict:
    """Runs of every kind in a new experiment: name -> MLflow run id."""
    from mlflow.entities import Metric

    eid = client.create_experiment(name)
    t0 = 1_650_000_000_000  # ms
    ids = {}
    parent = client.create_run(eid, run_name="sweep", start_time=t0)
    ids["sweep"] = parent.info.run_id
    client.set_terminated(ids["sweep"], "FINISHED", end_time=t0 + 90_000)
    tags = {"mlflow.note.content": "first try", "team": "vision", "baseline": "",
            "mlflow.parentRunId": ids["sweep"], "mlflow.source.git.commit": "0123abcd" * 5,
            "mlflow.source.name": "train.py", "description": "x" * 100}
    r = client.create_run(eid, run_name="trial-1", start_time=t0 + 1000, tags=tags)
    rid = ids["trial-1"] = r.info.run_id
    for k, v in {"lr": 0.001, "layers": 3, "opt": "adam", "amsgrad": True, "dropout": None, "sizes": [1, 2]}.items():
        client.log_param(rid, k, v)
    # 2500 values of loss (more than one log_batch of 1000), acc at every 10th step
    metrics = [Metric("loss", 1.0 / (s + 1), t0 + 2000 + s * 10, s) for s in range(2500)]
    metrics += [Metric("acc", s / 2500, t0 + 2000 + s * 10 + 5, s) for s in range(0, 2500, 10)]
    for i in range(0, len(metrics), 1000):
        client.log_batch(rid, metrics=metrics[i:i + 1000])
    (tmp_path / "model").mkdir(exist_ok=True)
    (tmp_path / "model" / "weights.bin").write_bytes(b"\0" * 1234)
    (tmp_path / "notes.txt").write_text("hello")
    client.log_artifacts(rid, str(tmp_path / "model"), "model")
    client.log_artifact(rid, str(tmp_path / "notes.txt"))
    client.set_terminated(rid, "FAILED", end_time=t0 + 60_000)
    r = client.create_run(eid, run_name="trial-2", start_time=t0 + 2000, tags={"mlflow.parentRunId": ids["sweep"]})
    ids["trial-2"] = r.info.run_id
    client.log_metric(ids["trial-2"], "loss", 0.5, timestamp=t0 + 3000, step=0)
    client.set_terminated(ids["trial-2"], "KILLED", end_time=t0 + 4000)
    r = client.create_run(eid, run_name="live", start_time=t0 + 3000)
    ids["live"] = r.info.run_id  # still RUNNING
    return ids


def test_mlflow_runs_params_full_metric_histories_tags_status_artifacts(client, mlflow_server, tmp_path):
    from eventlog.interop.mlflow_import import import_mlflow

    ids = make_experiment(client, "exp-full", tmp_path)
    report = import_mlflow(mlflow_server, str(tmp_path / "out"), experiment="exp-full")
    runs = by_name(tmp_path / "out")
    assert sorted(runs) == ["sweep", "trial-1", "trial-2"]  # the live run waits until it has ended
    assert any(ids["live"] in what and "RUNNING" in why for what, why in report.skipped)
    recs = runs["trial-1"]
    run = recs[0].body
    assert run["id"] == "mlf-" + ids["trial-1"]
    assert (run["project"], run["notes"], run["group"]) == ("exp-full", "first try", "sweep")
    assert run["tags"] == ["baseline", "team:vision"]
    assert run["start_time"] == 1_650_000_001.0 and recs[0].time == 1_650_000_001.0
    assert run["git"]["commit"] == "0123abcd" * 5 and run["program"]["path"] == "train.py"
    assert run["source"]["run_id"] == ids["trial-1"] and run["source"]["tags"]["mlflow.runName"] == "trial-1"
    (cfg,) = of_type(recs, "config")
    assert cfg.body["update"] == {"lr": 0.001, "layers": 3, "opt": "adam", "amsgrad": True, "dropout": None,
                                  "sizes": "[1, 2]", "mlflow.tags": {"description": "x" * 100}}
    hist = of_type(recs, "history")
    assert [r.body["step"] for r in hist] == list(range(2500))  # the full history, not the last value
    for r in hist[::97]:
        s = r.body["step"]
        expect = {"loss": 1.0 / (s + 1)}
        if s % 10 == 0:
            expect["acc"] = s / 2500
        assert r.body["data"] == expect
        assert r.time == pytest.approx((1_650_000_002_000 + s * 10 + (5 if s % 10 == 0 else 0)) / 1000, abs=1e-6)
    summary = of_type(recs, "summary")[-1].body["update"]
    assert summary["loss"] == 1.0 / 2500
    assert summary["mlflow.artifacts"] == [{"path": "model/weights.bin", "size": 1234},
                                           {"path": "notes.txt", "size": 5}]
    exit_rec = recs[-1].body
    assert (exit_rec["exit_code"], exit_rec["interrupted"]) == (1, False)
    assert exit_rec["runtime"] == pytest.approx(59.0)
    killed = runs["trial-2"][-1].body
    assert (killed["exit_code"], killed["interrupted"]) == (130, True)
    assert runs["sweep"][-1].body["exit_code"] == 0 and history(runs["sweep"]) == []
    assert (report.runs, report.rows) == (3, 2501)


def test_mlflow_import_is_idempotent_and_takes_new_runs_later(client, mlflow_server, tmp_path):
    from eventlog.interop.mlflow_import import import_mlflow

    ids = make_experiment(client, "exp-again", tmp_path)
    out = str(tmp_path / "out")
    first = import_mlflow(mlflow_server, out, experiment="exp-again")
    before = run_folders(tmp_path / "out")
    again = import_mlflow(mlflow_server, out, experiment="exp-again")
    assert (first.runs, again.runs, again.rows) == (3, 0, 0)
    assert run_folders(tmp_path / "out") == before
    assert sum("imported before" in why for _, why in again.skipped) == 3
    client.set_terminated(ids["live"], "FINISHED")  # the live run ended: the next import takes it
    later = import_mlflow(mlflow_server, out, experiment="exp-again")
    assert later.runs == 1 and len(run_folders(tmp_path / "out")) == 4
    # without --experiment: every experiment's runs, each under its experiment's name, these skipped
    everything = import_mlflow(mlflow_server, out)
    projects = {records(f)[0].body["project"] for f in run_folders(tmp_path / "out")}
    assert everything.runs > 0 and "exp-again" in projects and len(projects) > 1
    assert sum("imported before" in why for _, why in everything.skipped) == 4


def test_mlflow_unknown_experiment_names_the_ones_there(client, mlflow_server, tmp_path):
    from eventlog.errors import ImportSourceError
    from eventlog.interop.mlflow_import import import_mlflow

    client.create_experiment("exp-known")
    with pytest.raises(ImportSourceError, match=r"--experiment 'nope'.*exp-known"):
        import_mlflow(mlflow_server, str(tmp_path / "out"), experiment="nope")
    assert not (tmp_path / "out" / "evlog").exists() or run_folders(tmp_path / "out") == []


def test_param_values_come_back_as_what_was_logged():
    from eventlog.interop.mlflow_import import param_value

    assert [param_value(t) for t in ("3", "-7", "0.001", "1e-05", "True", "False", "None", "inf", "nan")][:8] == \
        [3, -7, 0.001, 1e-05, True, False, None, float("inf")]
    # text that str() of a number would not give stays text
    assert [param_value(t) for t in ("007", "1.50", "[1, 2]", "adam", "1_000")] == ["007", "1.50", "[1, 2]",
                                                                                     "adam", "1_000"]


# ================================================================ the command
def test_evlog_import_tensorboard_command_prints_the_summary_and_skips_the_second_time(tmp_path):
    w = tensorboardX.SummaryWriter(str(tmp_path / "logs" / "run1"))
    for step in range(4):
        w.add_scalar("x", float(step), step)
    w.add_text("t", "words", 0)
    w.close()
    first = evlog("import", "tensorboard", str(tmp_path / "logs"), "--dir", str(tmp_path / "out"), cwd=tmp_path)
    assert first.returncode == 0, first.stderr
    assert "imported 1 run, 4 history rows, 0 files" in first.stdout
    assert "1 text value: not imported" in first.stdout
    assert "evlog sync" in first.stdout
    again = evlog("import", "tensorboard", str(tmp_path / "logs"), "--dir", str(tmp_path / "out"), cwd=tmp_path)
    assert "imported 0 runs" in again.stdout and "imported before as" in again.stdout
    (folder,) = run_folders(tmp_path / "out")
    assert [s for s, _ in history(records(folder))] == [0, 1, 2, 3]
    assert "importing TensorBoard runs" not in first.stderr  # a small import gets no bar
    # a long import shows its progress bar (on stderr: the summary on stdout stays clean)
    w = tensorboardX.SummaryWriter(str(tmp_path / "big" / "run"), max_queue=1000)
    for step in range(6000):
        for k in ("a", "b", "c", "d", "e", "f"):
            w.add_scalar(k, float(step), step)
    w.close()
    big = evlog("import", "tensorboard", str(tmp_path / "big"), "--dir", str(tmp_path / "out"), cwd=tmp_path)
    assert big.returncode == 0, big.stderr
    assert "importing TensorBoard runs" in big.stderr and "imported 1 run, 6000 history rows" in big.stdout
    missing = evlog("import", "tensorboard", str(tmp_path / "nowhere"), cwd=tmp_path)
    assert missing.returncode == 2 and "is not a folder" in missing.stderr and "Traceback" not in missing.stderr


def test_evlog_import_mlflow_command(client, mlflow_server, tmp_path):
    make_experiment(client, "exp-cli", tmp_path)
    out = evlog("import", "mlflow", "--tracking-uri", mlflow_server, "--experiment", "exp-cli", "--dir",
                str(tmp_path / "out"), cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    assert "imported 3 runs, 2501 history rows, 0 files" in out.stdout
    assert "it is RUNNING: import it again once it has ended" in out.stdout
    assert sorted(by_name(tmp_path / "out")) == ["sweep", "trial-1", "trial-2"]
    verify = evlog("verify", str(tmp_path / "out" / "evlog"), cwd=tmp_path)
    assert verify.returncode == 0 and "3 runs verified: 3 clean" in verify.stdout
    no_uri = evlog("import", "mlflow", cwd=tmp_path)
    assert no_uri.returncode == 2 and "--tracking-uri" in no_uri.stderr
    unknown = evlog("import", "mlflow", "--tracking-uri", mlflow_server, "--experiment", "nope", cwd=tmp_path)
    assert unknown.returncode == 2 and "--experiment 'nope'" in unknown.stderr and "exp-cli" in unknown.stderr
    # no server there: said at once (MLflow's client alone retries for minutes), no traceback
    down = evlog("import", "mlflow", "--tracking-uri", f"http://127.0.0.1:{free_port()}", cwd=tmp_path)
    assert down.returncode == 2 and "no answer from there" in down.stderr and "Traceback" not in down.stderr
