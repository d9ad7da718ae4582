"""sync_tensorboard=True (issue 8, part 2): what the program writes through tensorboardX (and the
tensorboard package's event file writer that torch.utils.tensorboard uses) becomes history at its
step, one row per step, histograms and images as media; the event files are followed
incrementally (a torn record waits) and kept in the run folder."""
from __future__ import annotations

import io
import os
import struct
import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image as PILImage

from support.run import of_type, records, wait_for

tensorboardX = pytest.importorskip("tensorboardX")


def history(folder):
    return [(r.body["step"], r.body["data"]) for r in of_type(records(folder), "history")]


def synced_copies(folder):
    root = Path(folder) / "tensorboard" / "sync"
    return sorted(str(p.relative_to(root)) for p in root.rglob("*") if p.is_file()) if root.is_dir() else []


# --------------------------------------------------------------- tensorboardX
def test_scalars_histograms_and_images_become_history_at_their_step(ev, tmp_path):
    run = ev.init(sync_tensorboard=True)
    w = tensorboardX.SummaryWriter(str(tmp_path / "runs" / "exp"))
    rs = np.random.RandomState(0)
    weights = {}
    pictures = {}
    for step in range(0, 30, 3):
        w.add_scalar("loss", 1.0 / (step + 1), step)
        w.add_scalar("acc", step / 100, step)
        if step % 9 == 0:
            weights[step] = rs.randn(200)
            w.add_histogram("weights", weights[step], step, bins=16)
            pictures[step] = rs.randint(0, 256, (3, 6, 10)).astype(np.uint8)
            w.add_image("sample", pictures[step], step)
    w.close()
    run.finish()
    rows = history(run.dir)
    assert [s for s, _ in rows] == list(range(0, 30, 3))  # one row per step, at the TensorBoard step
    for step, data in rows:
        assert data["loss"] == pytest.approx(1.0 / (step + 1), rel=1e-6)  # float32 in TensorBoard
        assert data["acc"] == pytest.approx(step / 100, rel=1e-6)
        assert ("weights" in data) == ("sample" in data) == (step % 9 == 0)
        if step % 9 == 0:
            h = data["weights"]
            assert h["_type"] == "histogram" and sum(h["counts"]) == 200
            assert h["bins"][0] == pytest.approx(weights[step].min()) and h["bins"][-1] >= weights[step].max() - 1e-9
            img = data["sample"]
            assert img["_type"] == "image" and (img["width"], img["height"]) == (10, 6)
            got = np.asarray(PILImage.open(Path(run.dir) / img["path"]))
            np.testing.assert_array_equal(got, pictures[step].transpose(1, 2, 0))
    # the event file is kept in the run folder, byte for byte
    (src,) = (tmp_path / "runs" / "exp").iterdir()
    assert synced_copies(run.dir) == [src.name]
    assert (Path(run.dir) / "tensorboard" / "sync" / src.name).read_bytes() == src.read_bytes()
    files = {e["path"]: e for r in of_type(records(run.dir), "files") for e in r.body["files"]}
    entry = files[f"tensorboard/sync/{src.name}"]
    assert (entry["kind"], entry["size"]) == ("other", src.stat().st_size)


def test_history_arrives_while_the_run_goes_on(ev, tmp_path):
    run = ev.init(sync_tensorboard=True)
    w = tensorboardX.SummaryWriter(str(tmp_path / "live"), flush_secs=1)
    for step in range(5):
        w.add_scalar("x", float(step), step)
    w.flush()
    w.add_scalar("x", 5.0, 5)
    w.flush()
    run.save()  # flush the log

    def seen():
        run.save()
        return [s for s, _ in history(run.dir)] == [0, 1, 2, 3, 4]

    assert wait_for(seen, timeout=20), history(run.dir)  # step 5 is held: the file may add to it
    w.close()
    run.finish()
    assert [s for s, _ in history(run.dir)] == [0, 1, 2, 3, 4, 5]


def test_a_writer_in_the_run_folder_itself(ev):
    """wandb users write into run.dir: followed too, and the copies are not followed again."""
    run = ev.init(sync_tensorboard=True)
    w = tensorboardX.SummaryWriter(run.dir)
    for step in range(3):
        w.add_scalar("x", float(step), step)
    w.close()
    run.finish()
    assert history(run.dir) == [(0, {"x": 0.0}), (1, {"x": 1.0}), (2, {"x": 2.0})]
    (copy,) = synced_copies(run.dir)
    assert "/" not in copy


def test_two_writers_merge_by_step_and_a_late_flushing_one_is_not_lost(ev, tmp_path):
    run = ev.init(sync_tensorboard=True)
    train = tensorboardX.SummaryWriter(str(tmp_path / "runs" / "train"))
    evalw = tensorboardX.SummaryWriter(str(tmp_path / "runs" / "eval"))  # flushes only at close
    for step in range(12):
        train.add_scalar("loss", float(step), step)
        if step % 4 == 0:
            evalw.add_scalar("loss", 100.0 + step, step)
    train.close()
    time.sleep(1.2)  # the sync thread reads the train file meanwhile: eval's steps must wait for eval
    evalw.close()
    run.finish()
    rows = history(run.dir)
    assert [s for s, _ in rows] == list(range(12))
    for step, data in rows:
        expect = {"loss": float(step)}
        if step % 4 == 0:
            expect["eval/loss"] = 100.0 + step
        assert data == expect
    assert of_type(records(run.dir), "warning") == []
    assert sorted(synced_copies(run.dir))[0].startswith("eval/")


def test_a_silent_writer_holds_steps_back_only_up_to_a_bound(ev, tmp_path, monkeypatch):
    from eventlog.integrations import tensorboard as tbsync

    monkeypatch.setattr(tbsync, "MAX_HELD_STEPS", 3)
    run = ev.init(sync_tensorboard=True)
    silent = tensorboardX.SummaryWriter(str(tmp_path / "silent"))  # open, nothing written yet: holds every step
    w = tensorboardX.SummaryWriter(str(tmp_path / "busy"), flush_secs=1)
    for step in range(10):
        w.add_scalar("x", float(step), step)
    w.flush()

    def steps():
        run.save()
        return [s for s, _ in history(run.dir)]

    assert wait_for(lambda: steps() == list(range(7)), timeout=20), steps()  # all but the last 3
    silent.close()
    w.close()
    run.finish()
    assert [s for s, _ in history(run.dir)] == list(range(10))


def test_a_writer_made_before_init_and_the_tensorboard_package_writer(ev, tmp_path):
    """torch.utils.tensorboard writes through tensorboard's EventFileWriter: patched like tensorboardX's."""
    from tensorboard.compat.proto import event_pb2, summary_pb2
    from tensorboard.summary.writer.event_file_writer import EventFileWriter

    early = tensorboardX.SummaryWriter(str(tmp_path / "early"))
    run = ev.init(sync_tensorboard=True)
    early.add_scalar("early", 1.5, 0)
    early.close()
    w = EventFileWriter(str(tmp_path / "torchlike"))
    for step in range(1, 4):
        v = summary_pb2.Summary.Value(tag="t", simple_value=step * 2.0)
        w.add_event(event_pb2.Event(step=step, wall_time=time.time(), summary=summary_pb2.Summary(value=[v])))
    w.close()
    run.finish()
    assert history(run.dir) == [(0, {"early": 1.5}), (1, {"torchlike/t": 2.0}), (2, {"torchlike/t": 4.0}),
                                (3, {"torchlike/t": 6.0})]


def test_steps_the_run_has_passed_are_logged_at_the_current_step_not_lost(ev, tmp_path):
    run = ev.init(sync_tensorboard=True)
    run.log({"mine": 1.0}, step=10)
    run.log({"mine": 2.0}, step=11, commit=False)
    w = tensorboardX.SummaryWriter(str(tmp_path / "behind"))
    for step in range(3):
        w.add_scalar("tb", float(step), step)
        w.add_scalar("mine", -1.0, step)
    w.close()
    run.finish()
    recs = records(run.dir)
    rows = history(run.dir)
    assert rows[0] == (10, {"mine": 1.0})
    tb_values = [d["tb"] for _, d in rows if "tb" in d]
    assert tb_values == [0.0, 1.0, 2.0]  # none lost, in order
    assert [s for s, _ in rows] == sorted(s for s, _ in rows) and all(s >= 11 for s, _ in rows[1:])
    assert rows[1] == (11, {"mine": 2.0})  # the program's own value is not overwritten
    (warning,) = of_type(recs, "warning")
    assert "step 0" in warning.body["message"] and "current step" in warning.body["message"]


def test_tf2_style_tensor_summaries(ev, tmp_path):
    """Scalars and histograms written as tensors with plugin metadata (TF2 / new-style writers); the
    metadata comes only with a tag's first event."""
    from tensorboard.compat.proto import event_pb2, summary_pb2, tensor_pb2, tensor_shape_pb2
    from tensorboard.summary.writer.event_file_writer import EventFileWriter

    def meta(plugin):
        return summary_pb2.SummaryMetadata(plugin_data=summary_pb2.SummaryMetadata.PluginData(plugin_name=plugin))

    run = ev.init(sync_tensorboard=True)
    w = EventFileWriter(str(tmp_path / "tf2"))
    for step in range(3):
        scalar = tensor_pb2.TensorProto(dtype=1, float_val=[step + 0.5])
        rows = [[0.0, 1.0, 2.0 + step], [1.0, 3.0, 5.0]]
        hist = tensor_pb2.TensorProto(
            dtype=2, tensor_content=struct.pack("<6d", *[x for r in rows for x in r]),
            tensor_shape=tensor_shape_pb2.TensorShapeProto(dim=[tensor_shape_pb2.TensorShapeProto.Dim(size=2),
                                                                tensor_shape_pb2.TensorShapeProto.Dim(size=3)]))
        values = [summary_pb2.Summary.Value(tag="s", tensor=scalar, metadata=meta("scalars") if step == 0 else None),
                  summary_pb2.Summary.Value(tag="h", tensor=hist, metadata=meta("histograms") if step == 0 else None)]
        w.add_event(event_pb2.Event(step=step, summary=summary_pb2.Summary(value=values)))
    w.close()
    run.finish()
    rows = history(run.dir)
    assert [(s, d["s"]) for s, d in rows] == [(0, 0.5), (1, 1.5), (2, 2.5)]
    assert rows[2][1]["h"] == {"_type": "histogram", "bins": [0.0, 1.0, 3.0], "counts": [4, 5]}


# ------------------------------------------------------------- the tailing
def tfrecord(data: bytes) -> bytes:
    from eventlog.integrations.tensorboard import masked_crc

    header = struct.pack("<Q", len(data))
    return header + struct.pack("<I", masked_crc(header)) + data + struct.pack("<I", masked_crc(data))


class CountingOpen:
    """Counts the bytes read from one file through builtins.open."""

    def __init__(self, path, monkeypatch):
        import builtins

        self.path, self.read_bytes, real = str(path), 0, builtins.open
        counter = self

        def fake(file, mode="r", *a, **k):
            f = real(file, mode, *a, **k)
            if str(file) == counter.path and "b" in mode and "r" in mode:
                orig = f.read

                def read(n=-1):
                    data = orig(n)
                    counter.read_bytes += len(data)
                    return data

                f.read = read
            return f

        monkeypatch.setattr(builtins, "open", fake)


def test_tail_reads_only_new_bytes_and_a_torn_record_waits(tmp_path, monkeypatch):
    from eventlog.integrations.tensorboard import TFRecordTail

    path = tmp_path / "events.out.tfevents.1.host"
    copied = bytearray()
    tail = TFRecordTail(str(path), copied.extend)
    recs = [tfrecord(bytes([i]) * (50 + i)) for i in range(6)]
    path.write_bytes(recs[0] + recs[1] + recs[2][:7])  # the third is torn inside its header
    counting = CountingOpen(path, monkeypatch)
    assert tail.read() == [b"\x00" * 50, b"\x01" * 51]
    with open(path, "ab") as f:
        f.write(recs[2][7:-3])                          # now torn inside its checksum
    assert tail.read() == []
    with open(path, "ab") as f:
        f.write(recs[2][-3:] + recs[3] + recs[4])
    assert tail.read() == [b"\x02" * 52, b"\x03" * 53, b"\x04" * 54]
    assert tail.read() == []
    with open(path, "ab") as f:
        f.write(recs[5])
    assert tail.read() == [b"\x05" * 55]
    whole = b"".join(recs)
    assert bytes(copied) == whole and tail.offset == len(whole)
    # every byte was read once, apart from the torn record's bytes, read again until it was whole
    assert counting.read_bytes == len(whole) + 7 + (len(recs[2]) - 3)


def test_tail_stops_at_a_damaged_record(tmp_path):
    from eventlog.integrations.tensorboard import TFRecordTail

    path = tmp_path / "events.out.tfevents.2.host"
    good, bad = tfrecord(b"ok"), bytearray(tfrecord(b"flipped"))
    bad[14] ^= 0xFF
    path.write_bytes(good + bytes(bad) + tfrecord(b"after"))
    tail = TFRecordTail(str(path))
    assert tail.read() == [b"ok"]
    assert "checksum" in tail.broken
    assert tail.read() == []


def test_damaged_event_file_is_left_with_a_warning_and_the_run_goes_on(ev, tmp_path, capfd):
    run = ev.init(sync_tensorboard=True)
    w = tensorboardX.SummaryWriter(str(tmp_path / "dmg"))
    w.add_scalar("a", 1.0, 0)
    w.add_scalar("a", 2.0, 1)
    w.close()
    (f,) = (tmp_path / "dmg").iterdir()
    with open(f, "ab") as fh:
        fh.write(b"\xff" * 40)
    run.finish()
    recs = records(run.dir)
    assert history(run.dir) == [(0, {"a": 1.0}), (1, {"a": 2.0})]  # what came before the damage
    assert recs[-1].type == "exit" and recs[-1].body["exit_code"] == 0
    assert "bad record header" in capfd.readouterr().err


def test_watch_takes_new_event_files_under_a_folder_not_old_ones(ev, tmp_path):
    from eventlog.integrations import tensorboard as tbsync

    old = tmp_path / "logs" / "old"
    w = tensorboardX.SummaryWriter(str(old))
    w.add_scalar("stale", 1.0, 0)
    w.close()
    past = time.time() - 3600
    for p in old.iterdir():
        os.utime(p, (past, past))
    run = ev.init(sync_tensorboard=True)
    # a file written by another program (not through a patched writer in this process)
    from tensorboardX.event_file_writer import EventsWriter
    from tensorboardX.proto import event_pb2, summary_pb2

    new = tmp_path / "logs" / "other"
    new.mkdir(parents=True)
    tbsync.watch(tmp_path / "logs")
    ew = EventsWriter(str(new / "events"))
    ew.write_event(event_pb2.Event(step=3, summary=summary_pb2.Summary(
        value=[summary_pb2.Summary.Value(tag="q", simple_value=7.0)])))
    ew.close()
    run.finish()
    assert history(run.dir) == [(3, {"other/q": 7.0})]


def test_without_sync_tensorboard_nothing_is_taken(ev, tmp_path):
    run = ev.init()
    w = tensorboardX.SummaryWriter(str(tmp_path / "off"))
    w.add_scalar("x", 1.0, 0)
    w.close()
    run.finish()
    assert history(run.dir) == [] and synced_copies(run.dir) == []


def test_image_events_and_videos_from_add_video(ev, tmp_path):
    pytest.importorskip("moviepy")
    run = ev.init(sync_tensorboard=True)
    w = tensorboardX.SummaryWriter(str(tmp_path / "vid"))
    clip = np.random.RandomState(1).rand(1, 5, 3, 8, 12)  # N×T×C×H×W
    w.add_video("clip", clip, 0, fps=5)
    w.close()
    run.finish()
    ((step, data),) = history(run.dir)
    v = data["clip"]
    assert (v["_type"], v["format"], v["frames"], v["width"], v["height"]) == ("video", "gif", 5, 12, 8)
    with PILImage.open(io.BytesIO((Path(run.dir) / v["path"]).read_bytes())) as gif:
        assert gif.n_frames == 5
