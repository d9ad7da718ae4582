"""`evlog import wandb`: run folders written by the real wandb package (offline mode, in subprocesses;
one run killed with SIGKILL, one resumed), imported by the evlog command, read back with LogReader
and compared with the .wandb files read independently here; damaged and cut files; a second import
skips; an imported run synced to a real evlog server."""
from __future__ import annotations

import hashlib
import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path
from typing import Any, Dict, List

import pytest

if not any((Path(p) / "wandb" / "proto" / "wandb_internal_pb2.py").is_file() for p in sys.path if p):
    pytest.skip("the wandb package is not installed (pip install 'evlog[wandb-import]')", allow_module_level=True)

from eventlog import LogReader  # noqa: E402
from eventlog.server.testing import SERVER_BOOT  # noqa: E402

FULL = textwrap.dedent('''
    import json, sys, numpy as np, wandb
    run = wandb.init(project="imp-proj", name="full-run", notes="multi\\nline", tags=["a", "b"], group="grp",
                     job_type="eval", config={"lr": 0.01, "nested": {"x": 1}})
    run.define_metric("epoch")
    run.define_metric("val/*", step_metric="epoch", summary="min,max")
    run.config.update({"bs": 32})
    for i in range(300):
        run.log({"loss": 1.0 / (i + 1), "acc": i * 0.001, "deep": {"a": i}}, step=i * 2)
        if i % 50 == 0:
            print(f"line {i}")
            run.log({"val/loss": 0.5 - i * 0.001, "epoch": i // 50})
    img = np.zeros((8, 8, 3), np.uint8)
    img[2:4] = 200
    run.log({"img": wandb.Image(img, caption="cap"), "hist": wandb.Histogram(np.arange(100)),
             "imgs": [wandb.Image(img), wandb.Image(255 - img)],
             "tab": wandb.Table(columns=["a", "b"], data=[[1, "x"], [2.5, None]])})
    run.summary["best"] = 42
    print("to stderr", file=sys.stderr)
    open("saved.txt", "w").write("saved content")
    run.save("saved.txt", policy="now")
    json.dump({"id": run.id, "start_time": run.start_time}, open(sys.argv[1], "w"))
    run.finish(exit_code=3)
''')

KILLED = textwrap.dedent('''
    import sys, time, wandb
    run = wandb.init(project="imp-proj", name="killed", config={"a": 1})
    for i in range(400):
        run.log({"x": i}, step=i)
    print("READY", flush=True)
    time.sleep(120)
''')

RESUMED = textwrap.dedent('''
    import sys, wandb
    session = int(sys.argv[1])
    run = wandb.init(project="imp-proj", id="resumed1", resume="allow", name="twice")
    for i in range(5):
        run.log({"x": session * 100 + i}, step=session * 10 + i)
    run.finish()
''')


def _env(tmp: Path) -> Dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("EVLOG_", "WANDB_"))}
    env.update(WANDB_MODE="offline", WANDB_DIR=str(tmp), WANDB_SILENT="true", WANDB_CONFIG_DIR=str(tmp / "wcfg"),
               WANDB_CACHE_DIR=str(tmp / "wcache"), HOME=str(tmp), EVLOG_SILENT="true",
               EVLOG_CONFIG_DIR=str(tmp / "ecfg"))
    return env


def _wandb_script(tmp: Path, script: str, *args: str) -> None:
    out = subprocess.run([sys.executable, "-c", script, *args], cwd=tmp, env=_env(tmp), capture_output=True,
                         text=True, timeout=300)
    assert out.returncode == 0, out.stdout + out.stderr


def _run_folder(tmp: Path, wandb_id: str) -> Path:
    found = [p for p in (tmp / "wandb").glob(f"offline-run-*-{wandb_id}")]
    assert len(found) >= 1, list((tmp / "wandb").iterdir())
    return sorted(found)[0]


def evlog(*args: str, env: Dict[str, str] = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", SERVER_BOOT, *args], capture_output=True, text=True,
                          timeout=300, env=env)


# ---------------------------------------------------------------- an independent .wandb reader
# Run in a subprocess: the pytest process never imports the real wandb (tests elsewhere may route
# `import wandb` to evlog). Written from the LevelDB log format here, independent of
# eventlog/interop/wandb_log.py; it stops at the first bad chunk.
WANDB_DUMP = textwrap.dedent('''
    import json, struct, sys, zlib
    from wandb.proto import wandb_internal_pb2
    data = open(sys.argv[1], "rb").read()
    assert data[:4] == b":W&B"
    out, pos, parts, start = [], 7, b"", 7
    while pos + 7 <= len(data):
        if 32768 - pos % 32768 < 7:
            pos += 32768 - pos % 32768
            continue
        crc, n, kind = struct.unpack_from("<IHB", data, pos)
        body = data[pos + 7:pos + 7 + n]
        if len(body) < n or kind not in (1, 2, 3, 4) or zlib.crc32(body, zlib.crc32(bytes([kind]))) != crc:
            break
        if kind in (1, 2):
            start, parts = pos, body
        else:
            parts += body
        pos += 7 + n
        if kind in (1, 4):
            rec = wandb_internal_pb2.Record()
            rec.ParseFromString(parts)
            kind_ = rec.WhichOneof("record_type")
            step = ts = None
            if kind_ == "history":
                items = {it.nested_key[0] if len(it.nested_key) else it.key: it.value_json for it in rec.history.item}
                step, ts = rec.history.step.num, json.loads(items["_timestamp"])
            out.append([start, pos, kind_, step, ts])
    print(json.dumps(out))
''')


def wandb_records(path: Path) -> List[list]:
    """[start, end, record type, history step, _timestamp] of each whole record of a .wandb file."""
    out = subprocess.run([sys.executable, "-c", WANDB_DUMP, str(path)], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout)


def wandb_rows(path: Path) -> Dict[int, float]:
    """step -> _timestamp of the history records of a .wandb file (independent reader)."""
    return {step: ts for _, _, kind, step, ts in wandb_records(path) if kind == "history"}


def records(folder: Path) -> list:
    return list(LogReader(str(folder)).records())


def imported(root: Path) -> List[Path]:
    return sorted(p for p in (root / "evlog").glob("run-*"))


# ---------------------------------------------------------------- the source runs
@pytest.fixture(scope="module")
def sources(tmp_path_factory) -> Dict[str, Any]:
    tmp = tmp_path_factory.mktemp("wandb-src")
    _wandb_script(tmp, FULL, str(tmp / "full.json"))
    full = json.loads((tmp / "full.json").read_text())
    for session in ("0", "1"):
        _wandb_script(tmp, RESUMED, session)
        time.sleep(1.1)  # the second session's folder gets a later name (wandb names them by the second)
    # the killed run: the whole process group (the program and its wandb-core) gets SIGKILL mid-run
    proc = subprocess.Popen([sys.executable, "-c", KILLED], cwd=tmp, env=_env(tmp), stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True, start_new_session=True)
    try:
        assert proc.stdout.readline().strip().endswith("READY")
        os.killpg(proc.pid, signal.SIGKILL)
    finally:
        proc.wait(timeout=60)
    killed = [p for p in (tmp / "wandb").glob("offline-run-*") if not p.name.endswith((full["id"], "resumed1"))]
    assert len(killed) == 1
    return {"tmp": tmp, "full": full, "full_dir": _run_folder(tmp, full["id"]), "killed_dir": killed[0],
            "resumed_dirs": sorted((tmp / "wandb").glob("offline-run-*-resumed1"))}


@pytest.fixture(scope="module")
def full_import(sources, tmp_path_factory) -> Dict[str, Any]:
    root = tmp_path_factory.mktemp("full-import")
    out = evlog("import", "wandb", str(sources["full_dir"]), "--dir", str(root))
    assert out.returncode == 0, out.stdout + out.stderr
    [folder] = imported(root)
    return {"root": root, "folder": folder, "out": out.stdout, "recs": records(folder)}


# ---------------------------------------------------------------- a finished run
def test_the_run_record_carries_the_wandb_runs_identity_and_where_it_came_from(sources, full_import):
    run = full_import["recs"][0]
    assert run.type == "run" and run.seq == 0
    b = run.body
    wid = sources["full"]["id"]
    assert b["id"] == f"wb-{wid}" and full_import["folder"].name.endswith(f"-wb-{wid}")
    assert (b["name"], b["project"], b["notes"], b["tags"], b["group"], b["job_type"]) == \
        ("full-run", "imp-proj", "multi\nline", ["a", "b"], "grp", "eval")
    assert b["start_time"] == pytest.approx(sources["full"]["start_time"], abs=1e-3) and run.time == b["start_time"]
    assert b["source"]["kind"] == "wandb" and b["source"]["run_id"] == wid
    assert b["source"]["path"].endswith(f"run-{wid}.wandb")
    assert b["program"]["python"] == ".".join(map(str, sys.version_info[:3]))
    assert b["mode"] == "offline" and b["entity"] is None


def test_config_is_the_initial_config_then_its_updates_without_wandbs_own_key(full_import):
    config = {}
    for r in full_import["recs"]:
        if r.type == "config":
            config.update(r.body["update"])
    assert config == {"lr": 0.01, "nested": {"x": 1}, "bs": 32}


def test_history_rows_keep_their_steps_values_and_times(sources, full_import):
    rows = [r for r in full_import["recs"] if r.type == "history"]
    source_rows = wandb_rows(next(sources["full_dir"].glob("*.wandb")))
    assert [r.body["step"] for r in rows] == sorted(source_rows) and len(rows) == 300
    by_step = {r.body["step"]: r for r in rows}
    for i in (0, 1, 77, 299):
        d = by_step[i * 2].body["data"]
        assert d["loss"] == 1.0 / (i + 1) and d["acc"] == i * 0.001 and d["deep"] == {"a": i}
        assert not {"_step", "_runtime", "_timestamp"} & set(d)
    assert by_step[100].body["data"]["val/loss"] == 0.5 - 50 * 0.001 and by_step[100].body["data"]["epoch"] == 1
    for step, t in source_rows.items():
        assert by_step[step].time == t  # the source's timestamp, not the import's


def test_define_metric_definitions_are_metric_records(full_import):
    metrics = {r.body["name"]: r.body for r in full_import["recs"] if r.type == "metric"}
    assert metrics["val/*"]["step_metric"] == "epoch" and metrics["val/*"]["step_sync"] is True
    assert metrics["val/*"]["summary"] == ["min", "max"]
    assert "epoch" in metrics


def test_summary_exit_code_and_end(full_import, sources):
    recs = full_import["recs"]
    assert recs[-1].type == "exit" and recs[-2].type == "summary"
    summary = recs[-2].body["update"]
    assert summary["best"] == 42  # run.summary["best"] = 42: not from a row
    assert summary["val/loss"] == {"min": 0.5 - 250 * 0.001, "max": 0.5}  # min/max as wandb computed them
    assert summary["loss"] == 1.0 / 300
    ex = recs[-1].body
    assert ex["exit_code"] == 3 and ex["interrupted"] is False
    last_row = max(r.time for r in recs if r.type == "history")
    assert recs[-1].time >= last_row and ex["runtime"] == pytest.approx(recs[-1].time - recs[0].body["start_time"])


def test_console_output_by_stream(full_import):
    text = {"stdout": "", "stderr": ""}
    for r in full_import["recs"]:
        if r.type == "output":
            text[r.body["stream"]] += r.body["text"]
    assert text["stdout"] == "".join(f"line {i}\n" for i in range(0, 300, 50))
    assert text["stderr"] == "to stderr\n"


def test_media_are_stored_as_log_stores_them(sources, full_import):
    folder, recs = full_import["folder"], full_import["recs"]
    [row] = [r for r in recs if r.type == "history" and "img" in r.body["data"]]
    img, hist = row.body["data"]["img"], row.body["data"]["hist"]
    src = next((sources["full_dir"] / "files" / "media" / "images").glob("img_*.png")).read_bytes()
    assert img["_type"] == "image" and img["caption"] == "cap" and (img["width"], img["height"]) == (8, 8)
    assert img["sha256"] == hashlib.sha256(src).hexdigest() and (folder / img["path"]).read_bytes() == src
    announced = [r for r in recs if r.type == "files" and any(f["path"] == img["path"] for f in r.body["files"])]
    assert announced and announced[0].seq < row.seq
    assert hist["_type"] == "histogram" and sum(hist["counts"]) == 100 and len(hist["bins"]) == len(hist["counts"]) + 1
    imgs = row.body["data"]["imgs"]
    assert [m["_type"] for m in imgs] == ["image", "image"] and imgs[0]["sha256"] != imgs[1]["sha256"]
    assert imgs[0]["sha256"] == img["sha256"]  # the same pixels: one file (so 4 files: 3 media and saved.txt)
    assert all((folder / m["path"]).is_file() for m in imgs)
    tab = row.body["data"]["tab"]
    assert tab["_type"] == "table" and tab["columns"] == ["a", "b"] and tab["nrows"] == 2
    assert json.loads((folder / tab["path"]).read_text())["data"] == [[1, "x"], [2.5, None]]


def test_saved_files_are_copied(full_import):
    folder = full_import["folder"]
    assert (folder / "files" / "saved.txt").read_text() == "saved content"
    saved = [f for r in full_import["recs"] if r.type == "files" for f in r.body["files"] if f["kind"] == "other"]
    assert [f["path"] for f in saved] == ["files/saved.txt"]
    assert saved[0]["sha256"] == hashlib.sha256(b"saved content").hexdigest()


def test_the_imported_run_verifies_clean(full_import):
    out = evlog("verify", str(full_import["folder"]))
    assert out.returncode == 0 and "clean" in out.stdout, out.stdout + out.stderr


def test_the_end_summary_counts_what_was_imported(full_import):
    assert "imported 1 run, 300 history rows, 4 files" in full_import["out"]
    assert "evlog sync" in full_import["out"]


def test_a_second_import_of_the_same_source_is_skipped(sources, full_import):
    root, folder = full_import["root"], full_import["folder"]
    before = sorted((p.name, p.stat().st_size) for p in (folder / "log").iterdir())
    out = evlog("import", "wandb", str(sources["tmp"] / "wandb"), "--dir", str(root))
    assert out.returncode == 0, out.stderr
    assert f"skipped wandb run {sources['full']['id']}" in out.stdout and "imported before" in out.stdout
    assert sorted((p.name, p.stat().st_size) for p in (folder / "log").iterdir()) == before
    ids = [p.name.rsplit("-", 2)[-2] + "-" + p.name.rsplit("-", 1)[-1] for p in imported(root)]
    assert len(ids) == len(set(ids)) == 3  # the full run once, plus the killed and the resumed run
    again = evlog("import", "wandb", str(sources["tmp"] / "wandb"), "--dir", str(root))
    assert "imported 0 runs" in again.stdout and again.stdout.count("imported before") == 3


# ---------------------------------------------------------------- killed, resumed
def test_a_killed_run_is_imported_up_to_the_kill_without_an_exit(sources, tmp_path):
    out = evlog("import", "wandb", str(sources["killed_dir"]), "--dir", str(tmp_path))
    assert out.returncode == 0, out.stdout + out.stderr
    [folder] = imported(tmp_path)
    recs = records(folder)
    steps = [r.body["step"] for r in recs if r.type == "history"]
    expected = wandb_rows(next(sources["killed_dir"].glob("*.wandb")))
    assert steps == sorted(expected) and steps == list(range(len(steps)))
    assert not any(r.type == "exit" for r in recs)
    assert "no exit record" in out.stdout
    assert evlog("verify", str(folder)).returncode == 0


def test_a_resumed_run_is_one_run_with_a_session_per_folder(sources, tmp_path):
    assert len(sources["resumed_dirs"]) == 2
    out = evlog("import", "wandb", *map(str, sources["resumed_dirs"]), "--dir", str(tmp_path))
    assert out.returncode == 0, out.stdout + out.stderr
    [folder] = imported(tmp_path)
    recs = records(folder)
    kinds = [r.type for r in recs]
    assert kinds.count("exit") == 2 and kinds.count("resume") == 1
    assert kinds.index("exit") < kinds.index("resume")
    resume = recs[kinds.index("resume")].body
    assert resume["session"] == 1 and resume["last_step"] == 4
    rows = [(r.body["step"], r.body["data"]["x"]) for r in recs if r.type == "history"]
    assert rows == [(i, i) for i in range(5)] + [(10 + i, 100 + i) for i in range(5)]


# ---------------------------------------------------------------- damage
def _copy_run(src: Path, dest: Path) -> Path:
    import shutil

    shutil.copytree(src, dest, symlinks=True)
    return next(dest.glob("*.wandb"))


def test_cut_files_are_read_up_to_the_cut(sources, tmp_path):
    src = next(sources["full_dir"].glob("*.wandb"))
    data = src.read_bytes()
    whole = wandb_records(src)
    # cuts inside a record (a cut on a record's end is no torn record): in the last one, in one
    # past the first 32 KiB block, 3 bytes past record 40's end, and inside the file's header
    past_block = next(r[0] for r in whole if r[0] >= 40_000) + 5
    for i, cut in enumerate((len(data) - 3, past_block, whole[40][1] + 3, 7)):
        run_dir = tmp_path / f"cut{i}" / sources["full_dir"].name
        wfile = _copy_run(sources["full_dir"], run_dir)
        wfile.write_bytes(data[:cut])
        root = tmp_path / f"out{i}"
        out = evlog("import", "wandb", str(run_dir), "--dir", str(root))
        assert out.returncode == 0, out.stdout + out.stderr
        expected = sorted(wandb_rows(wfile))
        if cut == 7:  # the header alone: no run record to make a run of
            assert "no run record" in out.stdout and not imported(root)
            continue
        [folder] = imported(root)
        recs = records(folder)
        steps = [r.body["step"] for r in recs if r.type == "history"]
        assert steps == expected and len(steps) == (300 if i == 0 else len(steps)) and (i == 0 or len(steps) < 300)
        assert not any(r.type == "exit" for r in recs)  # the exit record is the last: always cut off
        assert "torn record" in out.stdout
        assert evlog("verify", str(folder)).returncode == 0


def test_damaged_bytes_are_skipped_and_reported_and_reading_goes_on(sources, tmp_path):
    src = next(sources["full_dir"].glob("*.wandb"))
    data = bytearray(src.read_bytes())
    assert len(data) > 3 * 32768
    whole = wandb_records(src)
    for at in (10_000, 40_000):
        data[at:at + 16] = bytes(16)  # zeros over a chunk in the middle of block 0 and of block 1
    run_dir = tmp_path / sources["full_dir"].name
    wfile = _copy_run(sources["full_dir"], run_dir)
    wfile.write_bytes(bytes(data))
    out = evlog("import", "wandb", str(run_dir), "--dir", str(tmp_path / "out"))
    assert out.returncode == 0, out.stdout + out.stderr
    assert out.stdout.count("damaged:") == 2 and "unreadable at offset" in out.stdout
    [folder] = imported(tmp_path / "out")
    recs = records(folder)
    steps = {r.body["step"] for r in recs if r.type == "history"}
    all_steps = sorted(wandb_rows(src))
    assert steps < set(all_steps)
    # rows written after the second damaged block are all there: reading went on at the next block
    late = {step for start, _, kind, step, _ in whole if start >= 65536 and kind == "history"}
    assert late and late <= steps
    # and so are the rows before the first damage
    early = {step for _, end, kind, step, _ in whole if end < 10_000 and kind == "history"}
    assert early and early <= steps
    assert recs[-1].type == "exit" and recs[-1].body["exit_code"] == 3
    assert evlog("verify", str(folder)).returncode == 0


def test_a_file_that_is_not_a_wandb_log_is_refused_and_an_empty_one_skipped(tmp_path):
    bad = tmp_path / "wandb" / "offline-run-20240101_000000-bad00001"
    bad.mkdir(parents=True)
    (bad / "run-bad00001.wandb").write_bytes(b"PK\x03\x04 not a wandb file")
    out = evlog("import", "wandb", str(bad), "--dir", str(tmp_path / "out"))
    assert out.returncode == 2 and "is not a wandb transaction log" in out.stderr and "Traceback" not in out.stderr
    (bad / "run-bad00001.wandb").write_bytes(b"")
    out = evlog("import", "wandb", str(bad), "--dir", str(tmp_path / "out"))
    assert out.returncode == 0 and "it is empty" in out.stdout
    out = evlog("import", "wandb", str(tmp_path / "nowhere"), "--dir", str(tmp_path / "out"))
    assert out.returncode == 2 and "no such file or folder" in out.stderr


# ---------------------------------------------------------------- processes
def test_import_eventlog_loads_no_importer_and_the_shim_is_refused(sources, tmp_path):
    code = "import sys, eventlog; print(sorted(m for m in sys.modules if m.startswith(('wandb', 'eventlog.interop'))))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0 and out.stdout.strip() == "[]", out.stdout + out.stderr
    code = textwrap.dedent(f'''
        import eventlog.compat.wandb
        from eventlog.errors import ImportSourceError
        from eventlog.interop.wandb_import import import_wandb
        try:
            import_wandb([{str(sources["full_dir"])!r}], {str(tmp_path)!r})
        except ImportSourceError as exc:
            print("refused:", exc)
    ''')
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert "refused:" in out.stdout and "evlog import wandb" in out.stdout, out.stdout + out.stderr
    assert not (tmp_path / "evlog").exists()


def test_an_imported_run_syncs_to_an_evlog_server(full_import, tmp_path):
    from support.server import start_harness

    h = start_harness(f"sqlite:///{tmp_path / 'server.db'}", tmp_path)
    try:
        user, key = h.user("alice")
        env = {k: v for k, v in os.environ.items() if not k.startswith(("EVLOG_", "WANDB_"))}
        env.update(EVLOG_BASE_URL=h.url, EVLOG_API_KEY=key, EVLOG_CONFIG_DIR=str(tmp_path / "cfg"), HOME=str(tmp_path))
        out = evlog("sync", str(full_import["folder"]), env=env)
        assert out.returncode == 0, out.stdout + out.stderr
        run_id = full_import["recs"][0].body["id"]
        run = h.run(user, "imp-proj", run_id, key).json()
        assert (run["name"], run["group"], run["job_type"], run["tags"]) == ("full-run", "grp", "eval", ["a", "b"])
        assert run["state"] == "failed" and run["exit_code"] == 3 and run["history_rows"] == 300
        assert run["config"] == {"lr": 0.01, "nested": {"x": 1}, "bs": 32}
        assert run["summary"]["best"] == 42 and run["started_at"] == full_import["recs"][0].body["start_time"]
        assert [m["name"] for m in run["metrics"]][-1] == "val/*"
        rows = h.rows(user, "imp-proj", run_id, key)
        assert [r["step"] for r in rows] == [r.body["step"] for r in full_import["recs"] if r.type == "history"]
        img = next(r["data"]["img"] for r in rows if "img" in r["data"])
        got = h.get(f"/api/v1/runs/{user}/imp-proj/{run_id}/files/{img['path']}", key)
        assert got.status_code == 200 and hashlib.sha256(got.content).hexdigest() == img["sha256"]
    finally:
        h.proc.stop()
        h.close()


def test_progress_is_told_every_byte_read(sources, tmp_path):
    code = textwrap.dedent(f'''
        import json
        from eventlog.interop.wandb_import import import_wandb, total_bytes
        calls = []
        report = import_wandb([{str(sources["full_dir"])!r}], {str(tmp_path)!r}, progress=calls.append)
        print(json.dumps([sum(calls), len(calls), total_bytes([{str(sources["full_dir"])!r}]), report.rows]))
    ''')
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    told, calls, total, rows = json.loads(out.stdout)
    assert told == total == next(sources["full_dir"].glob("*.wandb")).stat().st_size
    assert calls > 1 and rows == 300  # told as it goes, not once at the end


def test_output_log_is_the_console_output_of_a_log_without_output_records(sources, tmp_path):
    run_dir = tmp_path / sources["resumed_dirs"][0].name  # that program printed nothing
    _copy_run(sources["resumed_dirs"][0], run_dir)
    (run_dir / "files" / "output.log").write_text("written by an older wandb\nline two\n")
    out = evlog("import", "wandb", str(run_dir), "--dir", str(tmp_path / "out"))
    assert out.returncode == 0, out.stdout + out.stderr
    [folder] = imported(tmp_path / "out")
    texts = [(r.body["stream"], r.body["text"]) for r in records(folder) if r.type == "output"]
    assert texts == [("stdout", "written by an older wandb\nline two\n")]
