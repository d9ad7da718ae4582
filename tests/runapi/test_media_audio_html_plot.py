"""Audio, Html and plot.* (issue 13 section 2): what log() stores for each (16-bit WAV files, audio
files as they are, HTML pages, charts as a table file with their kind and fields), the curves the
plot functions compute (checked against brute force), the TensorBoard mirror, the server's headers
(a logged page served sandboxed) and the run page in Chromium: audio players, a sandboxed frame in
which the page's script does not run, and every chart kind drawn."""
from __future__ import annotations

import hashlib
import io
import json
import os
import subprocess
import sys
import wave
from pathlib import Path

import numpy as np
import pytest

from support.run import of_type, records
from support.client import evlog_sync, sync_env


def history_data(folder):
    return [r.body["data"] for r in of_type(records(folder), "history")]


def media_files(folder) -> list:
    d = Path(folder) / "media"
    return sorted(p.name for p in d.iterdir()) if d.is_dir() else []


def table_file(folder, m) -> dict:
    return json.loads((Path(folder) / m["path"]).read_text())


def wav_of(path: Path):
    """(channels, sample width, rate, int16 samples as frames × channels) of a WAV file."""
    with wave.open(str(path), "rb") as w:
        raw = w.readframes(w.getnframes())
        ch = w.getnchannels()
        return ch, w.getsampwidth(), w.getframerate(), np.frombuffer(raw, "<i2").reshape(-1, ch)


def sine(rate=8000, seconds=1.0, freq=440.0, amp=0.5):
    t = np.arange(int(rate * seconds)) / rate
    return amp * np.sin(2 * np.pi * freq * t)


# ------------------------------------------------------------------- audio
def test_an_audio_array_is_a_16_bit_wav_named_by_its_hash_announced_before_the_record(ev):
    run = ev.init()
    x = sine(8000, 0.75)
    run.log({"voice": ev.Audio(x, sample_rate=8000, caption="la")})
    run.finish()
    recs = records(run.dir)
    (m,) = [r.body["data"]["voice"] for r in of_type(recs, "history")]
    path = Path(run.dir) / m["path"]
    raw = path.read_bytes()
    assert m == {"_type": "audio", "sha256": hashlib.sha256(raw).hexdigest(), "path": f"media/{m['sha256']}.wav",
                 "size": len(raw), "format": "wav", "sample_rate": 8000, "duration": 0.75, "channels": 1,
                 "caption": "la"}
    ch, width, rate, pcm = wav_of(path)
    assert (ch, width, rate, pcm.shape) == (1, 2, 8000, (6000, 1))
    np.testing.assert_array_equal(pcm[:, 0], np.rint(x * 32767).astype(np.int16))
    # the file is announced (a files record, kind media) before the history record that names it
    kinds = [(r.type, r.body) for r in recs if r.type in ("files", "history")]
    first_files = next(i for i, (t, b) in enumerate(kinds) if t == "files" and
                       any(f["path"] == m["path"] and f["kind"] == "media" for f in b["files"]))
    assert first_files < next(i for i, (t, _) in enumerate(kinds) if t == "history")


def test_stereo_and_integer_samples(ev):
    run = ev.init()
    rs = np.random.RandomState(1)
    st = rs.randint(-32768, 32768, (500, 2)).astype(np.int16)
    u8 = np.array([0, 128, 255, 64], np.uint8)
    i32 = np.array([-(1 << 31), 0, (1 << 31) - 1, 1 << 20], np.int32)
    run.log({"st": ev.Audio(st, sample_rate=16000), "u8": ev.Audio(u8, sample_rate=4),
             "i32": ev.Audio(i32, sample_rate=4), "again": ev.Audio(st.copy(), sample_rate=16000)})
    run.finish()
    (d,) = history_data(run.dir)
    assert (d["st"]["channels"], d["st"]["duration"], d["st"]["sample_rate"]) == (2, 500 / 16000, 16000)
    ch, _, _, pcm = wav_of(Path(run.dir) / d["st"]["path"])
    assert ch == 2
    np.testing.assert_array_equal(pcm, st)  # int16 samples kept exactly, interleaved per frame
    assert wav_of(Path(run.dir) / d["u8"]["path"])[3][:, 0].tolist() == [-32768, 0, 32512, -16384]
    assert wav_of(Path(run.dir) / d["i32"]["path"])[3][:, 0].tolist() == [-32768, 0, 32767, 16]
    assert d["again"] == d["st"] and len(media_files(run.dir)) == 3  # the same sound is one file


@pytest.mark.parametrize("make, words", [
    (lambda ev: ev.Audio(np.zeros(100)), ["'bad'", "sample_rate="]),
    (lambda ev: ev.Audio(np.zeros(100), sample_rate=0), ["sample_rate", "1..", "0"]),
    (lambda ev: ev.Audio(np.zeros(100), sample_rate="16k"), ["sample_rate", "'16k'"]),
    (lambda ev: ev.Audio(np.array([0.5, 1.5, -0.2]), sample_rate=8), ["[-1, 1]", "1.5", "clip"]),
    (lambda ev: ev.Audio(np.array([0.0, np.nan]), sample_rate=8), ["NaN"]),
    (lambda ev: ev.Audio(np.zeros((2, 1000)), sample_rate=8), ["(2, 1000)", "array.T"]),
    (lambda ev: ev.Audio(np.zeros((2, 3, 4)), sample_rate=8), ["(2, 3, 4)", "samples × channels"]),
    (lambda ev: ev.Audio(np.zeros(0), sample_rate=8), ["no samples"]),
    (lambda ev: ev.Audio(np.array([70000, 0]), sample_rate=8), ["16-bit", "70000"]),
    (lambda ev: ev.Audio(b"RIFF", sample_rate=8), ["bytes", "path"]),
    (lambda ev: ev.Audio("/no/such/file.wav"), ["no such file", "/no/such/file.wav"]),
])
def test_bad_audio_is_refused_naming_the_key_and_nothing_is_written(ev, make, words):
    run = ev.init()
    with pytest.raises(ev.MediaError) as e:
        run.log({"bad": make(ev), "loss": 1.0})
    for w in words:
        assert w in str(e.value)
    run.finish()
    assert history_data(run.dir) == [] and media_files(run.dir) == []


def ffmpeg(src: Path, dest: Path, *codec: str) -> Path:
    import imageio_ffmpeg

    subprocess.run([imageio_ffmpeg.get_ffmpeg_exe(), "-v", "error", "-y", "-i", str(src), *codec, str(dest)],
                   check=True, timeout=120)
    return dest


def test_audio_files_are_stored_as_they_are_with_what_their_headers_say(ev, tmp_path):
    src = tmp_path / "in.wav"
    with wave.open(str(src), "wb") as w:
        w.setnchannels(2)
        w.setsampwidth(2)
        w.setframerate(22050)
        w.writeframes(np.rint(np.stack([sine(22050, 0.5), sine(22050, 0.5, 220)], 1) * 32767).astype("<i2").tobytes())
    files = {"wav": src, "flac": ffmpeg(src, tmp_path / "a.flac"),
             "mp3": ffmpeg(src, tmp_path / "a.mp3", "-c:a", "libmp3lame", "-b:a", "64k"),
             "ogg": ffmpeg(src, tmp_path / "a.ogg", "-c:a", "libvorbis")}
    run = ev.init()
    run.log({k: ev.Audio(str(p), caption=k) for k, p in files.items()})
    (tmp_path / "noise.wav").write_bytes(b"not a sound at all")
    with pytest.raises(ev.MediaError, match="noise.wav is not a wav, mp3, ogg or flac file"):
        run.log({"x": ev.Audio(tmp_path / "noise.wav")})
    run.finish()
    (d,) = history_data(run.dir)
    ext = {"wav": "wav", "flac": "flac", "mp3": "mp3", "ogg": "oga"}
    for k, p in files.items():
        m = d[k]
        assert m["path"] == f"media/{m['sha256']}.{ext[k]}" and m["format"] == k and m["caption"] == k
        assert (Path(run.dir) / m["path"]).read_bytes() == p.read_bytes()  # the file as it is
        assert (m["sample_rate"], m["channels"]) == (22050, 2)
    assert d["wav"]["duration"] == d["flac"]["duration"] == 0.5
    assert "duration" not in d["mp3"] and "duration" not in d["ogg"]  # their headers do not say it


def test_a_list_of_audio_is_one_value_like_a_list_of_images(ev):
    run = ev.init()
    clips = [ev.Audio(sine(8000, 0.25, f), sample_rate=8000, caption=f"{f:g} Hz") for f in (220, 440, 220)]
    run.log({"clips": clips})
    run.finish()
    (d,) = history_data(run.dir)
    assert [m["caption"] for m in d["clips"]] == ["220 Hz", "440 Hz", "220 Hz"]
    assert d["clips"][0]["path"] == d["clips"][2]["path"] != d["clips"][1]["path"]
    assert len(media_files(run.dir)) == 2


LIGHTNING_LOG_AUDIO = """
import numpy as np
import eventlog.compat.wandb
from lightning.pytorch.loggers import WandbLogger
logger = WandbLogger(project="lt")
t = np.arange(4000) / 8000
logger.log_audio("clips", [0.3 * np.sin(2 * np.pi * 220 * t), 0.3 * np.sin(2 * np.pi * 330 * t)], step=3,
                 sample_rate=[8000, 16000], caption=["low", "high"])
logger.experiment.finish()
print(logger.experiment.dir)
"""


def test_lightning_log_audio_logs_a_list_of_audio(tmp_path):
    """Lightning's own WandbLogger.log_audio (unmodified): one value, a list of Audio, at its step."""
    pytest.importorskip("lightning")
    from support.run import scrubbed_env

    env = scrubbed_env(tmp_path, EVLOG_MODE="offline", EVLOG_SINKS="none", EVLOG_SILENT="true",
                       EVLOG_DISABLE_GIT="true", EVLOG_CONSOLE="off")
    out = subprocess.run([sys.executable, "-c", LIGHTNING_LOG_AUDIO], cwd=tmp_path, env=env, capture_output=True,
                         text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    folder = Path(out.stdout.strip().splitlines()[-1])
    (d,) = history_data(folder)
    assert d["trainer/global_step"] == 3
    assert [(m["_type"], m["caption"], m["sample_rate"], m["duration"]) for m in d["clips"]] == [
        ("audio", "low", 8000, 0.5), ("audio", "high", 16000, 0.25)]
    assert all((folder / m["path"]).is_file() for m in d["clips"])


# -------------------------------------------------------------------- html
def test_html_pages_are_html_files_with_the_style_injected_or_not(ev, tmp_path):
    from eventlog.media.html import INJECT

    page_file = tmp_path / "report.html"
    page_file.write_text("<html><head><title>r</title></head><body><p>from a file ü</p></body></html>")
    run = ev.init()
    run.log({"plain": ev.Html("<p>hi</p>", inject=False), "styled": ev.Html("<p>hi</p>"),
             "file": ev.Html(str(page_file)), "stream": ev.Html(io.StringIO("<b>streamed</b>"), inject=False),
             "path": ev.Html(page_file, inject=False)})
    with pytest.raises(ev.MediaError, match="Html needs an HTML str, a file object or a path, got int"):
        run.log({"bad": ev.Html(42)})
    (tmp_path / "latin1.html").write_bytes(b"<p>caf\xe9</p>")
    with pytest.raises(ev.MediaError, match="latin1.html is not UTF-8 text"):
        run.log({"bad": ev.Html(str(tmp_path / "latin1.html"))})
    run.finish()
    (d,) = history_data(run.dir)
    text = {k: (Path(run.dir) / m["path"]).read_text("utf-8") for k, m in d.items()}
    for k, m in d.items():
        raw = (Path(run.dir) / m["path"]).read_bytes()
        assert m == {"_type": "html", "sha256": hashlib.sha256(raw).hexdigest(), "path": f"media/{m['sha256']}.html",
                     "size": len(raw)}
    assert text["plain"] == "<p>hi</p>" and text["stream"] == "<b>streamed</b>"
    assert text["styled"] == "<head>" + INJECT + "</head><p>hi</p>"
    assert text["file"] == "<html><head>" + INJECT + "<title>r</title></head><body><p>from a file ü</p></body></html>"
    assert text["path"] == page_file.read_text()


# -------------------------------------------------------------------- plot
def test_charts_of_a_table_store_the_table_file_with_their_kind_fields_and_title(ev):
    run = ev.init()
    t = ev.Table(columns=["epoch", "loss", "split"], data=[[i, 1 / (i + 1), "train" if i % 2 else "val"]
                                                            for i in range(6)])
    run.log({"tbl": t, "line": ev.plot.line(t, "epoch", "loss", stroke="split", title="Loss"),
             "scatter": ev.plot.scatter(t, "epoch", "loss"), "bar": ev.plot.bar(t, "split", "loss", title="B"),
             "hist": ev.plot.histogram(t, "loss")})
    for chart, words in ((ev.plot.line(t, "epoch", "acc"), "plot.line: y='acc' is not a column of the table; "
                          "its columns are ['epoch', 'loss', 'split']"),
                         (ev.plot.bar([[1, 2]], "a", "b"), "plot.bar needs an eventlog.Table, got list"),
                         (ev.plot.scatter(t, "epoch", "loss", title=3), "title must be a str")):
        with pytest.raises(ev.MediaError) as e:
            run.log({"bad": chart, "loss": 1.0})
        assert str(e.value).startswith("key 'bad': ") and words in str(e.value)
    run.finish()
    (d,) = history_data(run.dir)
    tbl = d["tbl"]
    same = {k: tbl[k] for k in ("sha256", "path", "size", "columns", "nrows")}
    assert d["line"] == {"_type": "chart", "kind": "line", "fields": {"x": "epoch", "y": "loss", "stroke": "split"},
                         "title": "Loss", **same}
    assert d["scatter"] == {"_type": "chart", "kind": "scatter", "fields": {"x": "epoch", "y": "loss"}, **same}
    assert d["bar"] == {"_type": "chart", "kind": "bar", "fields": {"label": "split", "value": "loss"}, "title": "B",
                        **same}
    assert d["hist"]["kind"] == "histogram" and d["hist"]["fields"] == {"value": "loss"}
    assert table_file(run.dir, d["line"])["data"][1] == [1, 0.5, "train"]
    assert len(media_files(run.dir)) == 1  # the charts' data is the table's file
    assert len(history_data(run.dir)) == 1  # refused charts wrote nothing


def test_a_chart_of_a_table_with_media_cells_stores_their_files(ev):
    run = ev.init()
    clip = ev.Audio(sine(8000, 0.1), sample_rate=8000)
    t = ev.Table(columns=["n", "score", "clip"], data=[[0, 0.5, clip], [1, 0.7, clip]])
    run.log({"bars": ev.plot.bar(t, "n", "score")})
    run.finish()
    (d,) = history_data(run.dir)
    cells = [row[2] for row in table_file(run.dir, d["bars"])["data"]]
    assert cells[0] == cells[1] and cells[0]["_type"] == "audio"
    assert sorted(media_files(run.dir)) == sorted([Path(d["bars"]["path"]).name, Path(cells[0]["path"]).name])


def test_line_series_is_one_row_per_point_keyed_by_line(ev):
    run = ev.init()
    run.log({"shared": ev.plot.line_series([0, 1, 2], [[1, 2, 3], [6, 5, 4]], keys=["up", "down"], title="S",
                                           xname="epoch"),
             "own": ev.plot.line_series([[0, 1], [10, 20, 30]], [np.array([1.5, 2.5]), [7, 8, 9]])})
    for args, words in ((([0, 1], [[1, 2, 3]]), "line 'key_0' has 2 xs and 3 ys"),
                        (([0, 1], [[1, 2]], ["a", "b"]), "2 keys for 1 lines"),
                        (([[0], [1], [2]], [[1], [2]]), "3 x sequences for 2 lines")):
        with pytest.raises(ev.MediaError, match="plot.line_series: " + words.replace("(", r"\(")):
            ev.plot.line_series(*args)
    run.finish()
    (d,) = history_data(run.dir)
    assert d["shared"]["fields"] == {"x": "epoch", "y": "lineVal", "stroke": "lineKey"} and d["shared"]["title"] == "S"
    assert table_file(run.dir, d["shared"]) == {
        "columns": ["epoch", "lineKey", "lineVal"],
        "data": [[0.0, "up", 1.0], [1.0, "up", 2.0], [2.0, "up", 3.0], [0.0, "down", 6.0], [1.0, "down", 5.0],
                 [2.0, "down", 4.0]]}
    assert table_file(run.dir, d["own"])["data"] == [
        [0.0, "key_0", 1.5], [1.0, "key_0", 2.5], [10.0, "key_1", 7.0], [20.0, "key_1", 8.0], [30.0, "key_1", 9.0]]


def cm_rows(table) -> dict:
    return {(a, p): n for a, p, n in table["data"]}


def test_confusion_matrix_counts_every_pair_of_classes(ev):
    rs = np.random.RandomState(4)
    y = rs.randint(0, 3, 300)
    probs = rs.rand(300, 3)
    preds = probs.argmax(1)
    run = ev.init()
    run.log({"names": ev.plot.confusion_matrix(preds=preds, y_true=y, class_names=["cat", "dog", "owl"]),
             "probs": ev.plot.confusion_matrix(probs=probs, y_true=y, class_names=["cat", "dog", "owl"], title="P"),
             "strs": ev.plot.confusion_matrix(preds=["b", "a", "a"], y_true=["a", "a", "c"])})
    with pytest.raises(ev.MediaError, match="either probs= .* or preds="):
        ev.plot.confusion_matrix(probs=probs, preds=preds, y_true=y)
    with pytest.raises(ev.MediaError, match=r"class indices 0\.\.1"):
        ev.plot.confusion_matrix(preds=preds, y_true=y, class_names=["cat", "dog"])
    with pytest.raises(ev.MediaError, match="299 predictions for 300 true labels"):
        ev.plot.confusion_matrix(preds=preds[:-1], y_true=y)
    run.finish()
    (d,) = history_data(run.dir)
    names = ["cat", "dog", "owl"]
    want = {(names[a], names[p]): int(((y == a) & (preds == p)).sum()) for a in range(3) for p in range(3)}
    t = table_file(run.dir, d["names"])
    assert t["columns"] == ["Actual", "Predicted", "nPredictions"] and len(t["data"]) == 9
    assert cm_rows(t) == want and sum(want.values()) == 300
    assert cm_rows(table_file(run.dir, d["probs"])) == want and d["probs"]["title"] == "P"
    assert d["names"]["fields"] == {"actual": "Actual", "predicted": "Predicted", "value": "nPredictions"}
    strs = cm_rows(table_file(run.dir, d["strs"]))  # classes a, b, c, named as wandb names them
    assert strs[("Class_1", "Class_1")] == 1 and strs[("Class_1", "Class_2")] == 1
    assert strs[("Class_3", "Class_1")] == 1 and sum(strs.values()) == 3 and len(strs) == 9


def classifier(n=240, k=3, seed=7):
    rs = np.random.RandomState(seed)
    y = rs.randint(0, k, n)
    scores = rs.rand(n, k) + np.eye(k)[y] * rs.rand(n, 1)  # informative but noisy
    return y, np.round(scores / scores.sum(1, keepdims=True), 2)  # rounded: ties between scores


def pairwise_auc(pos, neg) -> float:
    """P(score of a positive > score of a negative), ties counting half (the ROC curve's area)."""
    p, q = np.asarray(pos)[:, None], np.asarray(neg)[None, :]
    return float(((p > q).sum() + 0.5 * (p == q).sum()) / (p.size * q.size))


def curves(folder, m) -> dict:
    t = table_file(folder, m)
    ci, xi, yi = (t["columns"].index(m["fields"][f]) for f in ("stroke", "x", "y"))
    out = {}
    for r in t["data"]:
        out.setdefault(r[ci], []).append((r[xi], r[yi]))
    return out


def test_roc_curves_per_class_have_the_area_of_the_pairwise_ranking(ev):
    y, scores = classifier()
    run = ev.init()
    run.log({"roc": ev.plot.roc_curve(y, scores, labels=["cat", "dog", "owl"]),
             "two": ev.plot.roc_curve(y, scores, classes_to_plot=[0, 2], title="two"),
             "binary": ev.plot.roc_curve(y == 1, scores[:, 1])})
    with pytest.raises(ev.MediaError, match="y_probas must be samples × classes with one row per label"):
        ev.plot.roc_curve(y, scores[:-1])
    with pytest.raises(ev.MediaError, match="classes_to_plot"):
        ev.plot.roc_curve(y, scores, classes_to_plot=[9])
    with pytest.raises(ev.MediaError, match=r"plot.pr_curve: y_true= .* and y_probas= .* are required"):
        ev.plot.pr_curve(y_true=y)
    run.finish()
    (d,) = history_data(run.dir)
    assert d["roc"]["title"] == "ROC Curve" and d["roc"]["fields"] == {"x": "fpr", "y": "tpr", "stroke": "class"}
    got = curves(run.dir, d["roc"])
    assert list(got) == ["cat", "dog", "owl"]
    for c, name in enumerate(["cat", "dog", "owl"]):
        pts = np.array(got[name])
        assert tuple(pts[0]) == (0.0, 0.0) and tuple(pts[-1]) == (1.0, 1.0)
        assert (np.diff(pts[:, 0]) >= 0).all() and (np.diff(pts[:, 1]) >= 0).all()
        area = float(np.sum(np.diff(pts[:, 0]) * (pts[1:, 1] + pts[:-1, 1]) / 2))
        assert area == pytest.approx(pairwise_auc(scores[y == c, c], scores[y != c, c]), abs=1e-6)
    assert list(curves(run.dir, d["two"])) == ["0", "2"]
    assert list(curves(run.dir, d["binary"])) == ["False", "True"]  # 1-D scores: the positive class's


def test_pr_curves_are_the_best_precision_at_each_recall_or_beyond(ev):
    y, scores = classifier(seed=11)
    run = ev.init()
    run.log({"pr": ev.plot.pr_curve(y, scores), "fine": ev.plot.pr_curve(y, scores, interp_size=5,
                                                                         labels=["a", "b", "c"])})
    run.finish()
    (d,) = history_data(run.dir)
    assert d["pr"]["title"] == "Precision-Recall Curve"
    assert d["pr"]["fields"] == {"x": "recall", "y": "precision", "stroke": "class"}
    for m, n, names in ((d["pr"], 21, ["0", "1", "2"]), (d["fine"], 5, ["a", "b", "c"])):
        got = curves(run.dir, m)
        assert list(got) == names
        for c, name in enumerate(names):
            target, s = y == c, scores[:, c]
            # brute force: precision and recall at every threshold
            pr = [(target[s >= th].mean(), target[s >= th].sum() / target.sum()) for th in np.unique(s)]
            want = [(round(r, 6), round(max(p for p, rr in pr if rr >= r - 1e-9), 6)) for r in np.linspace(0, 1, n)]
            np.testing.assert_allclose(np.array(got[name]), np.array(want), atol=1e-6)


def test_eventlog_plot_is_the_plot_module_and_import_stays_light(ev):
    import eventlog.media.plot

    assert ev.plot is eventlog.media.plot and ev.Audio.__module__ == "eventlog.media.audio"
    mods = "('numpy', 'PIL', 'wave', 'eventlog.media.audio', 'eventlog.media.html', 'eventlog.media.plot')"
    out = subprocess.run([sys.executable, "-c", f"import sys, eventlog; print([m for m in {mods} if m in sys.modules]);"
                          "eventlog.Audio; eventlog.Html; eventlog.plot;"
                          f"print([m for m in {mods} if m in sys.modules])"],
                         capture_output=True, text=True, timeout=60, check=True)
    loaded = "['eventlog.media.audio', 'eventlog.media.html', 'eventlog.media.plot']"
    assert out.stdout.split("\n")[:2] == ["[]", loaded]


# ------------------------------------------------------- tensorboard mirror
def test_tensorboard_mirror_writes_audio_and_charts_as_their_table_and_skips_html(ev):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    from support.sinks import replay

    run = ev.init()
    t = ev.Table(columns=["x", "y"], data=[[1, 2.5], [2, 3.5]])
    run.log({"clip": ev.Audio(sine(8000, 0.5), sample_rate=8000), "chart": ev.plot.line(t, "x", "y"),
             "page": ev.Html("<p>hi</p>"), "loss": 1.0})
    run.finish()
    warnings = []
    (res,) = replay(Path(run.dir), ["tensorboard"], warn=warnings.append)
    assert res.error is None and warnings == []
    ea = EventAccumulator(str(Path(run.dir) / "tensorboard"), size_guidance={"audio": 0, "tensors": 0})
    ea.Reload()
    (clip,) = ea.Audio("clip")
    (d,) = history_data(run.dir)
    assert clip.encoded_audio_string == (Path(run.dir) / d["clip"]["path"]).read_bytes()
    assert (clip.sample_rate, clip.length_frames, clip.content_type) == (8000, 4000, "audio/wav")
    (text,) = ea.Tensors("chart/text_summary")
    assert text.tensor_proto.string_val[0].decode().splitlines() == ["| x | y |", "|---|---|", "| 1 | 2.5 |",
                                                                     "| 2 | 3.5 |"]
    tags = ea.Tags()
    assert not any("page" in tag for kind in tags.values() if isinstance(kind, list) for tag in kind)


# ------------------------------------------------------ server and browser
PAGE_SRC = ("<h1 id='hello'>a logged page</h1>"
            "<script>document.body.dataset.ran = '1'; parent.document.title = 'pwned';"
            "new Image().src = '/pwned-img?c=' + encodeURIComponent(document.cookie);"
            "fetch('/-/api/runs/pwned').catch(() => 0);</script>")
TRAIN = """
import numpy as np
import eventlog
run = eventlog.init(project='sounds', id='browser-ahp')
rate = 8000
t = np.arange(rate) / rate
run.log({'tone': eventlog.Audio(0.5 * np.sin(2 * np.pi * 440 * t), sample_rate=rate, caption='440 Hz'),
         'clips': [eventlog.Audio(0.3 * np.sin(2 * np.pi * f * t[:rate // 2]), sample_rate=rate, caption=f'{f} Hz')
                   for f in (220, 330)],
         'page': eventlog.Html(PAGE_SRC)})
tbl = eventlog.Table(columns=['epoch', 'loss', 'split'],
                     data=[[i // 2, 1.0 / (1 + i // 2) + (0.1 if i % 2 else 0), 'val' if i % 2 else 'train']
                           for i in range(20)])
vals = eventlog.Table(columns=['v'], data=[[float(v)] for v in np.random.RandomState(2).randn(64)])
bars = eventlog.Table(columns=['name', 'n'], data=[['a', 3], ['b', 5], ['c', 1], ['d', 4]])
rs = np.random.RandomState(7)
y = rs.randint(0, 3, 240)
scores = rs.rand(240, 3) + np.eye(3)[y] * rs.rand(240, 1)
scores = scores / scores.sum(1, keepdims=True)
run.log({'c_line': eventlog.plot.line(tbl, 'epoch', 'loss', stroke='split', title='loss per split'),
         'c_series': eventlog.plot.line_series([0, 1, 2, 3], [[1, 2, 3, 4], [4, 3, 2, 1], [2, 2, 2, 2]],
                                               keys=['up', 'down', 'flat']),
         'c_scatter': eventlog.plot.scatter(tbl, 'epoch', 'loss'),
         'c_bar': eventlog.plot.bar(bars, 'name', 'n', title='counts'),
         'c_hist': eventlog.plot.histogram(vals, 'v'),
         'c_cm': eventlog.plot.confusion_matrix(preds=scores.argmax(1), y_true=y, class_names=['cat', 'dog', 'owl']),
         'c_pr': eventlog.plot.pr_curve(y, scores, labels=['cat', 'dog', 'owl']),
         'c_roc': eventlog.plot.roc_curve(y, scores, labels=['cat', 'dog', 'owl'])})
run.finish()
"""


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    """A SQLite server with one run that logged audio, an HTML page with a script, and every chart kind."""
    from support.server import start_harness

    tmp = tmp_path_factory.mktemp("ahp-site")
    h = start_harness(f"sqlite:///{tmp / 'ahp.db'}", tmp)
    user, key = h.user("alice")
    script = tmp / "train.py"
    script.write_text(f"PAGE_SRC = {PAGE_SRC!r}\n" + TRAIN)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("EVLOG_", "WANDB_"))}
    env.update(EVLOG_MODE="offline", EVLOG_SINKS="none", EVLOG_SILENT="true", EVLOG_DISABLE_GIT="true",
               EVLOG_CONFIG_DIR=str(tmp / "cfg"), HOME=str(tmp))
    subprocess.run([sys.executable, str(script)], cwd=tmp, env=env, check=True, timeout=120)
    (folder,) = [p for p in (tmp / "evlog").iterdir() if p.name.startswith("run-")]
    out = evlog_sync(str(folder), env=sync_env(tmp, h.url, key))
    assert out.returncode == 0, out.stderr
    data = {}
    for d in history_data(folder):
        data.update(d)
    yield {"h": h, "user": user, "key": key, "folder": folder, "data": data,
           "run": f"{user}/sounds/browser-ahp"}
    h.proc.stop()
    h.close()


def test_the_server_serves_audio_as_audio_and_logged_pages_sandboxed(site):
    h, key, data, run = site["h"], site["key"], site["data"], site["run"]
    wav = h.get(f"/api/v1/runs/{run}/files/{data['tone']['path']}", key)
    assert wav.status_code == 200 and wav.headers["content-type"] == "audio/wav"
    assert wav.content == (site["folder"] / data["tone"]["path"]).read_bytes()
    part = h.http.get(f"{h.url}/api/v1/runs/{run}/files/{data['tone']['path']}",
                      headers={**h.headers(key), "Range": "bytes=0-11"}, timeout=60)
    assert part.status_code == 206 and part.content == wav.content[:12]  # players seek with ranges
    page = h.get(f"/-/files/{run}/{data['page']['path']}", key)
    assert page.status_code == 200 and page.headers["content-type"] == "text/html; charset=utf-8"
    csp = [d.strip() for d in page.headers["content-security-policy"].split(";")]
    assert csp[0] == "sandbox" and "default-src 'none'" in csp and "frame-ancestors 'self'" in csp
    assert not any("allow-" in d or "script-src" in d for d in csp)
    assert page.headers["x-content-type-options"] == "nosniff"
    assert PAGE_SRC in page.text
    from eventlog.server.media import media_type

    sha = "0" * 64
    assert [media_type(f"media/{sha}.{ext}") for ext in ("wav", "mp3", "oga", "flac", "html", "svg")] == [
        "audio/wav", "audio/mpeg", "audio/ogg", "audio/flac", "text/html; charset=utf-8", None]
    chart = h.get(f"/-/files/{run}/{data['c_cm']['path']}", key)
    assert chart.headers["content-type"] == "application/json" and "content-security-policy" not in chart.headers
    index = h.get(f"/-/api/runs/{run}/media", key).json()["media"]
    assert index["tone"]["type"] == "audio" and index["clips"]["type"] == "audio"
    assert index["page"]["type"] == "html" and index["c_roc"]["type"] == "chart"


def open_run(page, site):
    from support.dashboard import sign_in

    sign_in(page, site["h"].url, site["key"], f"/{site['user']}/sounds/runs/browser-ahp")
    page.wait_for_selector("#media[data-ready='1']")


def file_url(site, m) -> str:
    return f"/-/files/{site['run']}/{m['path']}"


def test_the_run_page_plays_audio_and_lists_of_audio(site, page):
    from support.dashboard import shot

    open_run(page, site)
    tone = page.locator('.media-panel[data-key="tone"] audio')
    assert tone.count() == 1 and tone.get_attribute("src") == file_url(site, site["data"]["tone"])
    assert tone.evaluate("a => a.controls") is True
    page.wait_for_function("document.querySelector('.media-panel[data-key=\"tone\"] audio').readyState >= 1",
                           timeout=15_000)
    assert tone.evaluate("a => a.duration") == pytest.approx(1.0, abs=0.01)  # the browser decoded the WAV
    assert page.locator('.media-panel[data-key="tone"] .media-caption').inner_text() == "440 Hz"
    clips = page.locator('.media-panel[data-key="clips"] .media-gallery audio')
    assert clips.count() == 2
    assert clips.evaluate_all("els => els.map(e => e.getAttribute('src'))") == [
        file_url(site, m) for m in site["data"]["clips"]]
    assert page.locator('.media-panel[data-key="clips"] .media-caption').all_inner_texts() == ["220 Hz", "330 Hz"]
    page.wait_for_function("Array.from(document.querySelectorAll('.media-panel[data-key=\"clips\"] audio'))"
                           ".every(a => a.readyState >= 1)", timeout=15_000)
    assert clips.evaluate_all("els => els.map(e => Math.round(e.duration * 100))") == [50, 50]
    row = page.locator("#summary-table tr", has_text="tone")
    assert " ".join(row.inner_text().split()) == "tone audio wav, 1 s"
    shot(page, "run-media-audio")


def test_a_logged_page_is_shown_sandboxed_and_its_script_never_runs(site, page, browser):
    from support.dashboard import shot

    asked = []
    record = lambda r: asked.append(r.url)  # noqa: E731
    browser.on("request", record)
    open_run(page, site)
    frame_el = page.locator('.media-panel[data-key="page"] iframe')
    assert frame_el.count() == 1
    assert frame_el.evaluate("f => f.getAttribute('sandbox')") == ""  # every restriction: no scripts, opaque origin
    assert frame_el.get_attribute("src") == file_url(site, site["data"]["page"])
    frame = page.frame_locator('.media-panel[data-key="page"] iframe')
    assert frame.locator("#hello").inner_text() == "a logged page"  # the page is shown
    inner = next(f for f in page.frames if f.url.endswith(site["data"]["page"]["path"]))
    assert inner.evaluate("document.body.dataset.ran === undefined && self.origin") == "null"
    assert page.title() != "pwned"
    browser.remove_listener("request", record)
    assert not any("pwned" in u for u in asked), asked
    assert any(u.endswith(site["data"]["page"]["path"]) for u in asked)  # the recorder saw the page load
    page.locator('.media-panel[data-key="page"]').scroll_into_view_if_needed()
    shot(page, "run-media-html")


OPEN_ALONE = """
import json, sys
from playwright.sync_api import sync_playwright
url, path, key, exe, args = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4], json.loads(sys.argv[5])
with sync_playwright() as pw:
    browser = pw.chromium.launch(executable_path=exe, headless=True, args=args)
    ctx = browser.new_context()  # CSP enforced (the tests' shared context bypasses it)
    page = ctx.new_page()
    page.goto(url + "/-/login?next=/")
    page.fill("#api_key", key)
    page.click("#login-submit")
    page.wait_for_load_state()
    asked = []
    ctx.on("request", lambda r: asked.append(r.url))
    page.goto(url + path)
    print(json.dumps({"hello": page.locator("#hello").inner_text(), "ran": page.evaluate("document.body.dataset.ran"),
                      "origin": page.evaluate("self.origin"), "title": page.title(), "asked": asked,
                      "session": [c["name"] for c in ctx.cookies()]}))
    browser.close()
"""


def test_a_logged_page_opened_on_its_own_is_sandboxed_by_the_servers_csp(site, browser):
    """A link to the file, opened in a tab with the dashboard's session: the CSP header sandboxes it."""
    from support.dashboard import CHROMIUM_ARGS, chromium_path

    path = file_url(site, site["data"]["page"])
    out = subprocess.run([sys.executable, "-c", OPEN_ALONE, site["h"].url, path, site["key"], chromium_path(),
                          json.dumps(CHROMIUM_ARGS)], capture_output=True, text=True, timeout=180)
    assert out.returncode == 0, out.stderr
    got = json.loads(out.stdout)
    assert got["session"]  # signed in: the page was fetched with the dashboard's cookie
    assert got["hello"] == "a logged page"  # shown
    assert got["ran"] is None and got["origin"] == "null" and got["title"] != "pwned"  # its script did not run
    assert got["asked"] == [site["h"].url + path]  # and it asked for nothing


SERIES_RGB = [(47, 111, 223), (232, 89, 12), (43, 138, 62)]  # EV.color(0), (1), (2)


def colored(canvas, rgb) -> int:
    """Pixels of the chart's canvas drawn in (about) colour rgb: what a series drew."""
    return canvas.evaluate("(c, rgb) => { const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;"
                           " let n = 0; for (let i = 0; i < d.length; i += 4) if (d[i + 3] > 100 &&"
                           " Math.abs(d[i] - rgb[0]) + Math.abs(d[i + 1] - rgb[1]) + Math.abs(d[i + 2] - rgb[2]) < 60)"
                           " n++; return n; }", list(rgb))


def legend(page, key) -> list:
    """The names of a chart's series in its legend (a legend that is not live has no row for x)."""
    return page.locator(f'.media-panel[data-key="{key}"] .u-legend .u-series .u-label').all_inner_texts()


def test_every_chart_kind_is_drawn(site, page):
    from support.dashboard import shot

    open_run(page, site)
    data = site["data"]
    keys = ["c_bar", "c_cm", "c_hist", "c_line", "c_pr", "c_roc", "c_scatter", "c_series"]
    for k in keys:
        page.wait_for_selector(f'.media-panel[data-key="{k}"] .media-chart[data-drawn="{data[k]["path"]}"]')
    chart = lambda k: page.locator(f'.media-panel[data-key="{k}"] .media-chart')  # noqa: E731
    kinds = {k: chart(k).get_attribute("data-kind") for k in keys}
    assert kinds == {"c_bar": "bar", "c_cm": "confusion_matrix", "c_hist": "histogram", "c_line": "line",
                     "c_pr": "pr_curve", "c_roc": "roc_curve", "c_scatter": "scatter", "c_series": "line"}
    # lines: one series per stroke value, named by it
    assert chart("c_line").get_attribute("data-series") == "2" and legend(page, "c_line") == ["train", "val"]
    assert chart("c_line").get_attribute("data-points") == "20"
    assert legend(page, "c_series") == ["up", "down", "flat"]
    assert chart("c_scatter").get_attribute("data-points") == "20"
    assert chart("c_bar").get_attribute("data-bars") == "4"
    assert chart("c_hist").get_attribute("data-count") == "64"
    for k in ("c_pr", "c_roc"):
        assert chart(k).get_attribute("data-series") == "3" and legend(page, k) == ["cat", "dog", "owl"]
    for k in keys:  # each series drawn on the canvas, in its colour
        if k != "c_cm":
            n = int(chart(k).get_attribute("data-series"))
            canvas = chart(k).locator("canvas").first
            assert all(colored(canvas, SERIES_RGB[i]) > 20 for i in range(n)), k
    assert page.locator('.media-panel[data-key="c_line"] .u-title').inner_text() == "loss per split"
    # the confusion matrix: a 3 × 3 grid of the counts of the table, actual down, predicted across
    grid = chart("c_cm")
    assert grid.get_attribute("data-cells") == "9"
    assert grid.locator("thead th").all_inner_texts()[1:] == ["cat", "dog", "owl"]
    counts = {(a, p): n for a, p, n in table_file(site["folder"], data["c_cm"])["data"]}
    body = grid.locator("tbody tr")
    for i, a in enumerate(["cat", "dog", "owl"]):
        assert body.nth(i).locator("th").inner_text() == a
        assert body.nth(i).locator("td").all_inner_texts() == [str(counts[(a, p)]) for p in ["cat", "dog", "owl"]]
    assert sum(counts.values()) == 240
    row = page.locator("#summary-table tr", has_text="c_roc")
    assert " ".join(row.inner_text().split()) == "c_roc chart, roc_curve"
    page.locator('.media-panel[data-key="c_bar"]').scroll_into_view_if_needed()
    shot(page, "run-media-charts")
