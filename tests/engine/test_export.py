"""Export of a run's history as CSV or JSON Lines: the format (eventlog/rundir/export.py, with a
property test read back by Python's csv module), `evlog export` on a run folder (CliRunner and a
real subprocess, a damaged log), and the server's streamed GET {run}/export and the dashboard's
download, which give the same bytes as the command for the same run."""
from __future__ import annotations

import csv
import io
import json
import math
from pathlib import Path

import pytest
from click.testing import CliRunner
from hypothesis import given, settings
from hypothesis import strategies as st

from eventlog.rundir import export
from eventlog.cli import main

from support.server import history, run_record
from support.client import evlog_sync, sync_env
from support.sinks import evlog

IMG = {"_type": "image", "sha256": "ab" * 32, "path": f"media/{'ab' * 32}.png", "size": 9, "width": 2, "height": 2}


def parse_csv(text: str) -> list:
    return list(csv.reader(io.StringIO(text, newline="")))


def rows_fn(rows):
    return lambda: iter(rows)


# ------------------------------------------------------------------ the format
def test_csv_columns_cells_and_quoting():
    rows = [(0, {"loss": 0.5, "eval": {"acc": 0.25, "deep": {"x": 1}}, "note": 'a,b "c"\nd'}),
            (1, {"loss": float("nan"), "up": float("inf"), "down": float("-inf"), "ok": True, "n": None}),
            (5, {"img": IMG, "gallery": [IMG, IMG], "h": {"_type": "histogram", "bins": [0, 1], "counts": [2]},
                 "big": 2 ** 63})]
    text = "".join(export.csv_lines(rows_fn(rows)))
    assert "\r\n" in text and text.count("\r\n") == 4  # header + 3 rows; the newline in a cell is quoted
    table = parse_csv(text)
    assert table[0] == ["_step", "loss", "eval/acc", "eval/deep/x", "note", "up", "down", "ok", "n", "img",
                        "gallery", "h", "big"]
    assert table[1][:5] == ["0", "0.5", "0.25", "1", 'a,b "c"\nd']
    assert table[1][5:] == [""] * 8
    assert table[2][:9] == ["1", "nan", "", "", "", "inf", "-inf", "true", ""]
    assert table[3][9] == IMG["path"] and json.loads(table[3][10]) == [IMG["path"]] * 2
    assert json.loads(table[3][11]) == {"_type": "histogram", "bins": [0, 1], "counts": [2]}
    assert table[3][12] == str(2 ** 63) and table[3][0] == "5"


def test_keys_choose_columns_and_rows():
    rows = [(0, {"a": 1.0}), (1, {"b": 2.0, "c": {"d": 3.0}}), (2, {"a": 4.0, "b": 5.0})]
    assert parse_csv("".join(export.csv_lines(rows_fn(rows), ["b", "c/d"]))) == [
        ["_step", "b", "c/d"], ["1", "2.0", "3.0"], ["2", "5.0", ""]]
    got = [json.loads(line) for line in "".join(export.jsonl_lines(rows, ["a"])).splitlines()]
    assert got == [{"_step": 0, "a": 1.0}, {"_step": 2, "a": 4.0}]


def test_jsonl_rows():
    rows = [(3, {"loss": float("nan"), "eval": {"acc": 1}, "img": IMG, "s": "é"})]
    (line,) = export.jsonl_lines(rows)
    assert line.endswith("}\n") and "é" in line
    assert json.loads(line) == {"_step": 3, "loss": "NaN", "eval/acc": 1, "img": IMG, "s": "é"}
    with pytest.raises(ValueError, match="csv, jsonl"):
        export.lines("xml", rows_fn(rows))


scalars = st.one_of(st.floats(allow_nan=True, allow_infinity=True), st.integers(-2 ** 63, 2 ** 63 - 1),
                    st.text(max_size=20), st.booleans())
keys = st.text(alphabet=st.characters(blacklist_categories=("Cs",), blacklist_characters="/"), min_size=1, max_size=8)


@settings(max_examples=150, deadline=None)
@given(st.lists(st.dictionaries(keys.filter(lambda k: k != "_step"), scalars, max_size=6), max_size=8))
def test_csv_reads_back_with_the_csv_module(datas):
    rows = [(i, d) for i, d in enumerate(datas)]
    table = parse_csv("".join(export.csv_lines(rows_fn(rows))))
    header = table[0]
    assert header[0] == "_step" and len(set(header)) == len(header)
    assert sorted(header[1:]) == sorted({k for d in datas for k in d})
    assert len(table) == 1 + len(rows)
    for (step, d), line in zip(rows, table[1:]):
        assert line[0] == str(step)
        for k, cellv in zip(header[1:], line[1:]):
            if k not in d:
                assert cellv == ""
                continue
            v = d[k]
            if type(v) is bool:
                assert cellv == ("true" if v else "false")
            elif type(v) is float:
                back = float(cellv)
                assert (math.isnan(v) and math.isnan(back)) or back == v
            else:
                assert cellv == str(v)


# ------------------------------------------------------------------ the command
def sample_run(ev, run_id="exp1"):
    run = ev.init(project="export", id=run_id)
    for i in range(4):
        run.log({"loss": 1.0 / (i + 1), "eval": {"acc": i / 4}, "tag": "a,b" if i == 2 else "x"})
    run.finish()
    return Path(run.dir)


def test_export_command_writes_csv_and_jsonl(ev, tmp_path):
    folder = sample_run(ev)
    runner = CliRunner()
    got = runner.invoke(main, ["export", str(folder)])
    assert got.exit_code == 0, got.output
    assert parse_csv(got.stdout) == [["_step", "loss", "eval/acc", "tag"], ["0", "1.0", "0.0", "x"],
                                     ["1", "0.5", "0.25", "x"], ["2", "0.3333333333333333", "0.5", "a,b"],
                                     ["3", "0.25", "0.75", "x"]]
    out = tmp_path / "h.jsonl"
    got = runner.invoke(main, ["export", str(folder), "-o", str(out), "--keys", "loss"])
    assert got.exit_code == 0 and got.stdout == ""
    assert [json.loads(x) for x in out.read_text().splitlines()] == [
        {"_step": i, "loss": 1.0 / (i + 1)} for i in range(4)]
    assert not list(tmp_path.glob("*.tmp"))
    got = runner.invoke(main, ["export", str(tmp_path / "nowhere")])
    assert got.exit_code == 2 and "no run folder" in got.stderr
    got = runner.invoke(main, ["export", str(folder), "--format", "xml"])
    assert got.exit_code == 2 and "xml" in got.stderr


def test_export_of_a_damaged_log_reports_the_damage_and_keeps_the_rest(ev):
    folder = sample_run(ev, "damaged")
    run = ev.init(project="export", id="damaged", resume="allow")  # a second session: a second segment
    run.log({"loss": 9.0})
    run.finish()
    (first, *_rest) = sorted((folder / "log").glob("seg-*.zst"))
    data = bytearray(first.read_bytes())
    data[len(data) // 2] ^= 0xFF  # a flipped byte in the first segment's records
    first.write_bytes(bytes(data))
    got = CliRunner().invoke(main, ["export", str(folder)])
    assert got.exit_code == 0
    assert got.stderr.count("unreadable") >= 1 and "left out" in got.stderr
    lines = got.stderr.strip().splitlines()
    assert len(lines) == len(set(lines))  # the CSV reads the log twice; each damage is told once
    table = parse_csv(got.stdout)
    assert table[-1][table[0].index("loss")] == "9.0"


def test_export_command_in_a_subprocess(ev, tmp_path):
    folder = sample_run(ev, "sub1")
    out = evlog("export", str(folder), "--format", "jsonl")
    assert out.returncode == 0, out.stderr
    assert [json.loads(x)["_step"] for x in out.stdout.splitlines()] == [0, 1, 2, 3]


# ------------------------------------------------------------------ the server
def test_the_server_streams_the_same_bytes_as_the_command(ev, srv, tmp_path):
    user, key = srv.user()
    outsider, okey = srv.user("outsider")
    folder = sample_run(ev, "srv1")
    assert evlog_sync(str(folder), env=sync_env(tmp_path, srv.url, key)).returncode == 0
    url = f"/api/v1/runs/{user}/export/srv1/export"
    for fmt in ("csv", "jsonl"):
        got = srv.get(url, key, format=fmt)
        assert got.status_code == 200, got.text
        assert got.headers["content-disposition"] == f'attachment; filename="srv1.{fmt}"'
        local = CliRunner().invoke(main, ["export", str(folder), "--format", fmt]).stdout_bytes.decode()
        assert got.content.decode() == local
    assert srv.get(url, key).headers["content-type"].startswith("text/csv")
    assert srv.get(url, key, format="jsonl", keys="eval/acc").text.splitlines()[1] == '{"_step":1,"eval/acc":0.25}'
    bad = srv.get(url, key, format="xml")
    assert bad.status_code == 400 and bad.json()["reason"] == "bad_request" and "csv, jsonl" in bad.json()["error"]
    assert srv.get(url, okey).status_code in (403, 404) and srv.get(url).status_code in (401, 403)
    assert srv.get(f"/api/v1/runs/{user}/export/nope/export", key).status_code == 404


def test_a_run_of_many_chunks_is_read_a_page_at_a_time(srv):
    from eventlog.server import history as server_history

    user, key = srv.user()
    n = 5 * 40 + 7  # 41 chunks of 5 records (the run record first): more than one page of chunks
    recs = [run_record("many")] + [history(1 + i, i, {"x": float(i), **({"late": i} if i > 150 else {})})
                                   for i in range(n)]
    srv.upload(user, "big", "many", recs, key, batch=5)
    assert server_history.PAGE_CHUNKS < 41
    table = parse_csv(srv.get(f"/api/v1/runs/{user}/big/many/export", key).text)
    assert table[0] == ["_step", "x", "late"]
    assert [int(r[0]) for r in table[1:]] == list(range(n))
    assert table[-1] == [str(n - 1), f"{float(n - 1)!r}", str(n - 1)] and table[2][2] == ""


def test_the_dashboard_download_follows_the_session(ev, srv, tmp_path):
    from support.dashboard import Web

    user, key = srv.user()
    folder = sample_run(ev, "web1")
    assert evlog_sync(str(folder), env=sync_env(tmp_path, srv.url, key)).returncode == 0
    path = f"/-/export/{user}/export/web1"
    w = Web(srv.url)
    assert w.get(path).status_code == 404  # private project, not signed in: not found
    assert w.sign_in(key).status_code in (302, 303)
    got = w.get(path, params={"format": "csv"})
    assert got.status_code == 200 and parse_csv(got.text)[0] == ["_step", "loss", "eval/acc", "tag"]
    page = w.get(f"/{user}/export/runs/web1")
    assert f'href="{path}?format=csv"' in page.text and f'href="{path}?format=jsonl"' in page.text


def test_long_histories_come_in_pieces_that_join_into_every_row():
    rows = [(i, {"a": float(i), **({"b": "x,y"} if i % 700 == 0 else {})}) for i in range(1500)]
    pieces = list(export.csv_lines(rows_fn(rows)))
    assert len(pieces) > 2
    table = parse_csv("".join(pieces))
    assert table[0] == ["_step", "a", "b"] and len(table) == 1501
    assert table[701] == ["700", "700.0", "x,y"] and table[702] == ["701", "701.0", ""]
    pieces = list(export.jsonl_lines(rows))
    assert len(pieces) > 2 and all(p.endswith("\n") for p in pieces)
    assert [json.loads(x)["_step"] for x in "".join(pieces).splitlines()] == list(range(1500))
