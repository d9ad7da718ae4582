"""Media values in log() (issue 8, part 1): eventlog.Image, Histogram and Video become maps in the
history record, their files go into the run folder by content hash before the record, bad media is
refused naming the key with nothing written, and the TensorBoard mirror writes image, histogram
and video summaries (read back with TensorBoard's EventAccumulator)."""
from __future__ import annotations

import hashlib
import io
import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image as PILImage

from support.run import of_type, records


def media_files(folder: Path):
    d = Path(folder) / "media"
    return sorted(p.name for p in d.iterdir()) if d.is_dir() else []


def history_data(folder):
    return [r.body["data"] for r in of_type(records(folder), "history")]


def rgb(seed=0, h=24, w=32):
    return np.random.RandomState(seed).randint(0, 256, (h, w, 3), dtype=np.uint8)


def png_pixels(path: Path) -> np.ndarray:
    with PILImage.open(path) as im:
        return np.asarray(im)


# ------------------------------------------------------------------ images
def test_image_array_is_a_png_named_by_hash_announced_before_the_history_record(ev):
    run = ev.init()
    arr = rgb()
    run.log({"img": ev.Image(arr, caption="a cat"), "loss": 0.5})
    run.finish()
    recs = records(run.dir)
    files = of_type(recs, "files")
    hist = of_type(recs, "history")
    (m,) = [h.body["data"]["img"] for h in hist]
    assert m["_type"] == "image" and m["format"] == "png" and m["caption"] == "a cat"
    assert (m["width"], m["height"]) == (32, 24)
    path = Path(run.dir) / m["path"]
    content = path.read_bytes()
    assert m["path"] == f"media/{m['sha256']}.png" and hashlib.sha256(content).hexdigest() == m["sha256"]
    assert m["size"] == len(content)
    np.testing.assert_array_equal(png_pixels(path), arr)
    (entry,) = files[0].body["files"]
    assert entry == {"path": m["path"], "sha256": m["sha256"], "size": len(content), "kind": "media"}
    assert files[0].seq < hist[0].seq
    assert not [p for p in (Path(run.dir) / "media").iterdir() if p.name.startswith(".")]  # no temp file left


def test_the_same_image_logged_twice_is_stored_once(ev):
    run = ev.init()
    arr = rgb(1)
    for _ in range(3):
        run.log({"img": ev.Image(arr)})
    run.log({"img": ev.Image(rgb(2))})
    run.finish()
    recs = records(run.dir)
    paths = [d["img"]["path"] for d in history_data(run.dir)]
    assert paths[0] == paths[1] == paths[2] != paths[3]
    assert len(media_files(run.dir)) == 2
    announced = [e["path"] for r in of_type(recs, "files") for e in r.body["files"]]
    assert sorted(announced) == sorted({paths[0], paths[3]})


@pytest.mark.parametrize("make, expect", [
    (lambda: np.full((4, 5), 0.5), np.full((4, 5), 128, np.uint8)),                         # float [0, 1], grey
    (lambda: np.full((3, 4, 5), 1.0), np.full((4, 5, 3), 255, np.uint8)),                   # C×H×W
    (lambda: np.full((4, 5, 1), 200, np.int64), np.full((4, 5), 200, np.uint8)),            # ints 0..255
    (lambda: np.full((4, 5), 17.4), np.full((4, 5), 17, np.uint8)),                         # floats in [0, 255]
    (lambda: np.ones((4, 5), bool), np.full((4, 5), 255, np.uint8)),                        # bool
    (lambda: PILImage.new("RGB", (5, 4), (1, 2, 3)), np.tile(np.array([1, 2, 3], np.uint8), (4, 5, 1))),
])
def test_image_inputs(ev, make, expect):
    run = ev.init()
    run.log({"img": ev.Image(make())})
    run.finish()
    (d,) = history_data(run.dir)
    np.testing.assert_array_equal(png_pixels(Path(run.dir) / d["img"]["path"]), expect)


def test_image_files_are_kept_as_they_are(ev, tmp_path):
    jpg = tmp_path / "photo.jpeg"
    PILImage.fromarray(rgb(3)).save(jpg, format="JPEG")
    bmp = tmp_path / "pic.bmp"
    PILImage.fromarray(rgb(4)).save(bmp, format="BMP")
    run = ev.init()
    run.log({"jpg": ev.Image(str(jpg)), "bmp": ev.Image(bmp)})
    run.finish()
    (d,) = history_data(run.dir)
    assert d["jpg"]["format"] == "jpg" and d["jpg"]["sha256"] == hashlib.sha256(jpg.read_bytes()).hexdigest()
    assert (Path(run.dir) / d["jpg"]["path"]).read_bytes() == jpg.read_bytes()
    assert d["bmp"]["format"] == "png"  # browsers do not all show BMP: converted
    np.testing.assert_array_equal(png_pixels(Path(run.dir) / d["bmp"]["path"]), rgb(4))


@pytest.mark.parametrize("value, words", [
    (lambda p: ev_mod().Image(np.zeros((2, 3, 5, 5))), ["'bad'", "shape (2, 3, 5, 5)", "H×W"]),
    (lambda p: ev_mod().Image(np.zeros((4, 4, 2))), ["'bad'", "shape (4, 4, 2)"]),
    (lambda p: ev_mod().Image(np.full((4, 4), 300)), ["'bad'", "0..255", "300"]),
    (lambda p: ev_mod().Image(np.full((4, 4), -0.5)), ["'bad'", "[0, 1]"]),
    (lambda p: ev_mod().Image(np.array([[np.nan, 0.0]])), ["'bad'", "NaN"]),
    (lambda p: ev_mod().Image(np.zeros((0, 4, 3))), ["'bad'", "empty"]),
    (lambda p: ev_mod().Image(str(p / "missing.png")), ["'bad'", "no such file", "missing.png"]),
    (lambda p: ev_mod().Image(str(p / "not-an-image.png")), ["'bad'", "not a readable image"]),
    (lambda p: ev_mod().Image(str(p / "truncated.png")), ["'bad'", "not a readable image"]),
    (lambda p: ev_mod().Image(np.zeros((4, 4)), caption=3), ["'bad'", "caption"]),
    (lambda p: ev_mod().Histogram([1.0, float("nan"), 2.0]), ["'bad'", "1 of 3 values are NaN"]),
    (lambda p: ev_mod().Histogram([]), ["'bad'", "no values"]),
    (lambda p: ev_mod().Histogram(np_histogram=([1, 2], [0.0, 1.0])), ["'bad'", "2 counts need 3 bin edges"]),
    (lambda p: ev_mod().Histogram(np_histogram=([1, 2], [0.0, 2.0, 1.0])), ["'bad'", "must increase"]),
    (lambda p: ev_mod().Histogram(np_histogram=([1, -2], [0.0, 1.0, 2.0])), ["'bad'", ">= 0"]),
    (lambda p: ev_mod().Histogram([1.0], num_bins=0), ["'bad'", "num_bins"]),
    (lambda p: ev_mod().Video(np.zeros((5, 8, 8, 3))), ["'bad'", "T×C×H×W", "transpose(0, 3, 1, 2)"]),
    (lambda p: ev_mod().Video(np.zeros((8, 8, 3))), ["'bad'", "shape (8, 8, 3)"]),
    (lambda p: ev_mod().Video(np.zeros((2, 3, 8, 8)), fps=0), ["'bad'", "fps"]),
    (lambda p: ev_mod().Video(np.zeros((2, 3, 8, 8)), format="avi"), ["'bad'", "format"]),
    (lambda p: ev_mod().Video(str(p / "not-an-image.png")), ["'bad'", "not an mp4, GIF"]),
    (lambda p: ev_mod().Video(str(p / "broken.mp4")), ["'bad'", "not a readable mp4"]),
    (lambda p: ev_mod().Video(str(p)), ["'bad'", "is a folder"]),
    (lambda p: [ev_mod().Image(rgb()), ev_mod().Histogram([1.0])], ["'bad'", "mixes Histogram, Image", "one kind"]),
    (lambda p: [ev_mod().Image(rgb()), 1.5], ["'bad'", "mixes Image, float"]),
    (lambda p: [ev_mod().Image(rgb())] * 1001, ["'bad'", "1001 Image", "at most 1000"]),
    (lambda p: ev_mod().Table(columns=["a", "b"], data=[[1, 2], [3]]), ["'bad'", "row 1 has 1 cells for 2 columns"]),
    (lambda p: ev_mod().Table(columns=["a"], data=[[{"x": 1}]]), ["'bad'", "column 'a'", "a dict cell"]),
    (lambda p: ev_mod().Table(columns=["a", "a"], data=[]), ["'bad'", "columns must differ"]),
    (lambda p: ev_mod().Table(columns=["a"], data=[[object()]]), ["'bad[0][a]'", "object"]),
    (lambda p: ev_mod().Table(columns=["a"], data=[[1]] * 100_001), ["'bad'", "100001 rows", "at most 100000"]),
    (lambda p: [ev_mod().Image(rgb()), ev_mod().Image(np.zeros((2, 2, 2, 2)))], ["'bad[1]'", "not an image"]),
])
def test_bad_media_is_refused_naming_the_key_and_nothing_is_written(ev, tmp_path, value, words):
    (tmp_path / "not-an-image.png").write_text("hello")
    good = io.BytesIO()
    PILImage.fromarray(rgb()).save(good, format="PNG")
    (tmp_path / "truncated.png").write_bytes(good.getvalue()[:200])
    (tmp_path / "broken.mp4").write_bytes(b"\x00\x00\x00\x18ftypisom" + b"\x00" * 40)  # no moov box
    run = ev.init()
    with pytest.raises(ev.LogValueError) as info:
        run.log({"ok": ev.Image(rgb()), "bad": value(tmp_path), "loss": 1.0})
    assert isinstance(info.value, ev.MediaError) or isinstance(value(tmp_path), list)
    assert isinstance(info.value, ValueError) or isinstance(value(tmp_path), list)
    for w in words:
        assert w in str(info.value), (w, str(info.value))
    run.log({"loss": 2.0})
    run.finish()
    recs = records(run.dir)
    assert history_data(run.dir) == [{"loss": 2.0}]
    assert of_type(recs, "files") == [] and media_files(run.dir) == []  # not even the good image
    (warning,) = of_type(recs, "warning")
    assert words[0] in warning.body["message"]


def ev_mod():
    import eventlog

    return eventlog


def test_missing_pillow_is_a_clear_error(ev, monkeypatch):
    import sys

    monkeypatch.setitem(sys.modules, "PIL", None)
    monkeypatch.setitem(sys.modules, "PIL.Image", None)
    run = ev.init()
    with pytest.raises(ev.MediaError, match=r"key 'img': Image needs Pillow.*pip install 'evlog\[media\]'"):
        run.log({"img": ev.Image(rgb())})


# -------------------------------------------------------------- histograms
def test_histograms_are_bins_in_the_record(ev):
    run = ev.init()
    values = np.random.RandomState(5).randn(1000)
    run.log({"h": ev.Histogram(values, num_bins=20),
             "pre": ev.Histogram(np_histogram=(np.array([3, 0, 2]), np.array([0.0, 0.5, 1.0, 4.0]))),
             "nested": {"w": ev.Histogram([1, 1, 2])}})
    run.finish()
    (d,) = history_data(run.dir)
    counts, edges = np.histogram(values, bins=20)
    assert d["h"] == {"_type": "histogram", "bins": edges.tolist(), "counts": counts.tolist()}
    assert d["pre"] == {"_type": "histogram", "bins": [0.0, 0.5, 1.0, 4.0], "counts": [3, 0, 2]}
    assert d["nested"]["w"]["_type"] == "histogram" and sum(d["nested"]["w"]["counts"]) == 3
    assert media_files(run.dir) == []


# ------------------------------------------------------------------ videos
def frames(t=6, c=3, h=16, w=20):
    rs = np.random.RandomState(7)
    return rs.randint(0, 256, (t, c, h, w), dtype=np.uint8)


def test_video_array_as_gif(ev):
    run = ev.init()
    arr = frames()
    run.log({"v": ev.Video(arr, fps=5)})
    run.finish()
    (d,) = history_data(run.dir)
    m = d["v"]
    assert (m["_type"], m["format"], m["fps"], m["frames"], m["width"], m["height"]) == ("video", "gif", 5, 6, 20, 16)
    path = Path(run.dir) / m["path"]
    assert m["path"].endswith(".gif") and hashlib.sha256(path.read_bytes()).hexdigest() == m["sha256"]
    with PILImage.open(path) as im:
        assert im.n_frames == 6 and im.info["duration"] == 200


def test_video_array_as_mp4_and_video_files(ev, tmp_path):
    pytest.importorskip("imageio_ffmpeg")
    from eventlog.media.video import mp4_info

    run = ev.init()
    run.log({"v": ev.Video(frames(t=10, h=15, w=21), fps=5, format="mp4")})  # odd sides are padded
    (first,) = history_data_live(run)
    mp4 = Path(run.dir) / first["v"]["path"]
    gif = tmp_path / "clip.gif"
    imgs = [PILImage.fromarray(f.transpose(1, 2, 0)) for f in frames(t=3)]
    imgs[0].save(gif, save_all=True, append_images=imgs[1:], duration=100, loop=0)
    copy = tmp_path / "copy.mp4"
    copy.write_bytes(mp4.read_bytes())
    run.log({"file": ev.Video(str(copy)), "gif": ev.Video(str(gif))})
    run.finish()
    d0, d1 = history_data(run.dir)
    m = d0["v"]
    assert (m["format"], m["frames"], m["fps"], m["width"], m["height"]) == ("mp4", 10, 5, 21, 15)
    assert mp4_info(mp4.read_bytes())["frames"] == 10
    assert d1["file"]["sha256"] == m["sha256"] and d1["file"]["frames"] == 10 and d1["file"]["fps"] == 5
    assert (d1["gif"]["format"], d1["gif"]["frames"], d1["gif"]["fps"]) == ("gif", 3, 10)
    assert len(media_files(run.dir)) == 2  # the copied mp4 is the same content


def history_data_live(run):
    run.save()  # flush
    return history_data(run.dir)


# ----------------------------------------------------------------- various
def test_a_list_of_media_is_one_value_with_its_files_stored_once(ev):
    run = ev.init()
    imgs = [rgb(0), rgb(1), rgb(0)]  # the first and the last are the same picture
    run.log({"gallery": [ev.Image(a, caption=f"c{i}") for i, a in enumerate(imgs)],
             "hists": (ev.Histogram([1.0, 2.0, 2.0], num_bins=2),), "nested": {"g": [ev.Image(rgb(2))]}, "loss": 0.5})
    run.summary["best"] = [ev.Image(rgb(3))]
    run.finish()
    recs = records(run.dir)
    (hist,) = of_type(recs, "history")
    g = hist.body["data"]["gallery"]
    assert [m["_type"] for m in g] == ["image"] * 3 and [m["caption"] for m in g] == ["c0", "c1", "c2"]
    assert g[0]["sha256"] == g[2]["sha256"] != g[1]["sha256"]
    for m, a in zip(g, imgs):
        np.testing.assert_array_equal(png_pixels(Path(run.dir) / m["path"]), a)
    assert hist.body["data"]["hists"][0]["counts"] == [1, 2]
    assert hist.body["data"]["nested"]["g"][0]["_type"] == "image" and hist.body["data"]["loss"] == 0.5
    files = of_type(recs, "files")
    announced = [f["path"] for r in files for f in r.body["files"]]
    assert sorted(announced) == sorted({m["path"] for m in g} | {hist.body["data"]["nested"]["g"][0]["path"]}
                                       | {of_type(recs, "summary")[0].body["update"]["best"][0]["path"]})
    assert files[0].seq < hist.seq
    assert len(media_files(run.dir)) == 4


def test_tables_are_json_files_named_by_their_content(ev):
    run = ev.init()
    t = ev.Table(columns=["id", "guess", "p"], data=[[0, "cat", 0.5]])
    t.add_data(np.int64(1), "<b>dog</b>", float("nan"))
    run.log({"preds": t})
    t.add_data(2, "cow", np.float32(0.25))  # the same object, one row more: a new file
    run.log({"preds": t, "again": ev.Table(columns=["id", "guess", "p"], data=t.data[:2])})
    run.finish()
    h = history_data(run.dir)
    first, second, again = h[0]["preds"], h[1]["preds"], h[1]["again"]
    assert first["_type"] == "table" and first["columns"] == ["id", "guess", "p"]
    assert (first["nrows"], second["nrows"]) == (2, 3) and again["sha256"] == first["sha256"]
    raw = (Path(run.dir) / first["path"]).read_bytes()
    assert first["path"] == f"media/{first['sha256']}.json" and hashlib.sha256(raw).hexdigest() == first["sha256"]
    assert json.loads(raw) == {"columns": ["id", "guess", "p"], "data": [[0, "cat", 0.5], [1, "<b>dog</b>", "NaN"]]}
    assert json.loads((Path(run.dir) / second["path"]).read_text())["data"][2] == [2, "cow", 0.25]
    assert len(media_files(run.dir)) == 2


def test_a_table_from_a_dataframe(ev):
    pd = pytest.importorskip("pandas")
    df = pd.DataFrame({"id": np.arange(3), "name": ["a", "b", "c"], "p": [0.5, np.nan, 1.0],
                       "ok": [True, False, True]})
    run = ev.init()
    run.log({"df": ev.Table(dataframe=df)})
    with pytest.raises(ev.MediaError, match="dataframe"):
        ev.Table(dataframe=df).add_data(3, "d", 0.1, True)
    run.finish()
    (row,) = history_data(run.dir)
    m = row["df"]
    assert m["columns"] == ["id", "name", "p", "ok"] and m["nrows"] == 3
    assert json.loads((Path(run.dir) / m["path"]).read_text())["data"] == [
        [0, "a", 0.5, True], [1, "b", "NaN", False], [2, "c", 1.0, True]]


def test_media_in_summary_and_reserved_type_key(ev):
    run = ev.init()
    run.summary["best"] = ev.Image(rgb())
    with pytest.raises(ev.LogValueError, match="_type"):
        run.log({"x": {"_type": "image", "path": "media/x.png"}})
    run.finish()
    recs = records(run.dir)
    summaries = of_type(recs, "summary")
    assert summaries[0].body["update"]["best"]["_type"] == "image"
    assert of_type(recs, "files")[0].seq < summaries[0].seq
    assert len(media_files(run.dir)) == 1


def test_disabled_run_checks_media_and_writes_nothing(ev, tmp_path):
    run = ev.init(mode="disabled")
    run.log({"img": ev.Image(rgb())})
    with pytest.raises(ev.MediaError):
        run.log({"img": ev.Image(np.zeros((2, 2, 2, 2)))})
    run.finish()
    assert not list(tmp_path.rglob("media"))


def test_log_without_media_stays_on_the_plain_path(ev, monkeypatch):
    from eventlog import media

    calls = []
    monkeypatch.setattr(media.MediaBatch, "__call__", lambda self, k, v: calls.append(k))
    run = ev.init()
    run.log({"a": 1.0, "b": {"c": 2}})
    run.finish()
    assert calls == []


# ------------------------------------------------------- tensorboard mirror
def test_tensorboard_sink_writes_image_histogram_and_video_summaries(ev, tmp_path):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    from support.sinks import replay

    run = ev.init()
    imgs = [rgb(i) for i in range(3)]
    values = np.random.RandomState(3).randn(500)
    for i in range(3):
        run.log({"img": ev.Image(imgs[i]), "h": ev.Histogram(values + i, num_bins=10), "loss": float(i),
                 "group": {"pic": ev.Image(imgs[0])}})
    run.log({"v": ev.Video(frames(t=4), fps=4), "row": [ev.Image(imgs[1]), ev.Image(imgs[2])],
             "tbl": ev.Table(columns=["n", "text"], data=[[1, "a|b"], [2, "two\nlines"]])})
    run.finish()
    (res,) = replay(Path(run.dir), ["tensorboard"])
    assert res.error is None
    ea = EventAccumulator(str(Path(run.dir) / "tensorboard"),
                          size_guidance={"images": 0, "histograms": 0, "scalars": 0, "tensors": 0})
    ea.Reload()
    got = ea.Images("img")
    assert [e.step for e in got] == [0, 1, 2]
    for e, arr in zip(got, imgs):
        assert (e.width, e.height) == (32, 24)
        np.testing.assert_array_equal(np.asarray(PILImage.open(io.BytesIO(e.encoded_image_string))), arr)
    assert len(ea.Images("group/pic")) == 3
    hists = ea.Histograms("h")
    assert [e.step for e in hists] == [0, 1, 2]
    for i, e in enumerate(hists):
        counts, edges = np.histogram(values + i, bins=10)
        hv = e.histogram_value
        assert hv.num == 500 and list(hv.bucket) == [0.0] + counts.astype(float).tolist()
        np.testing.assert_allclose(list(hv.bucket_limit), edges)
        assert hv.min == pytest.approx(edges[0]) and hv.max == pytest.approx(edges[-1])
    (video,) = ea.Images("v")
    assert video.step == 3
    with PILImage.open(io.BytesIO(video.encoded_image_string)) as gif:
        assert gif.format == "GIF" and gif.n_frames == 4
    assert [e.value for e in ea.Scalars("loss")] == [0.0, 1.0, 2.0]
    (text,) = ea.Tensors("tbl/text_summary")  # a table: TensorBoard's text tab, as a markdown table
    md = text.tensor_proto.string_val[0].decode()
    assert text.step == 3 and md.splitlines() == ["| n | text |", "|---|---|", "| 1 | a\\|b |", "| 2 | two lines |"]
    for i in (0, 1):  # a list of media: one tag per item
        (e,) = ea.Images(f"row/{i}")
        assert e.step == 3
        np.testing.assert_array_equal(np.asarray(PILImage.open(io.BytesIO(e.encoded_image_string))), imgs[i + 1])


def test_stdout_summary_shows_media_briefly():
    from eventlog.sinks.stdout import fmt_value

    assert fmt_value({"_type": "image", "width": 3, "height": 2, "path": "media/x.png"}) == "<image 3x2>"
    assert fmt_value({"_type": "histogram", "bins": [0, 1, 2], "counts": [1, 2]}) == "<histogram, 2 bins>"
    assert fmt_value([{"_type": "image", "width": 3, "height": 2, "path": "media/x.png"}] * 2) == "2 x <image 3x2>"
    assert fmt_value({"_type": "table", "columns": ["a", "b"], "nrows": 7}) == "<table, 7 rows x 2 columns>"
    assert json.loads(fmt_value({"a": 1})) == {"a": 1}


def test_tensorboard_sink_shows_mp4_videos_as_gif(ev):
    pytest.importorskip("imageio_ffmpeg")
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    from support.sinks import replay

    run = ev.init()
    clip = ev.Video(frames(t=5, h=16, w=16), fps=5, format="mp4")
    run.log({"v": clip})
    run.log({"v": clip})
    run.finish()
    (res,) = replay(Path(run.dir), ["tensorboard"])
    assert res.error is None
    ea = EventAccumulator(str(Path(run.dir) / "tensorboard"), size_guidance={"images": 0})
    ea.Reload()
    got = ea.Images("v")
    assert [e.step for e in got] == [0, 1]
    for e in got:
        with PILImage.open(io.BytesIO(e.encoded_image_string)) as gif:
            assert gif.format == "GIF" and gif.n_frames == 5 and gif.size == (16, 16)
