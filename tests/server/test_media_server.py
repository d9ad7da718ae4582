"""Media on the server (issue 8, part 1): the HTTP sink uploads a run's media files, history rows on
the server reference them, and GET {run}/files/{path} serves them with their content type, long
caching and byte ranges (video players seek with Range requests)."""
from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import pytest

from support.run import of_type, records
from support.client import evlog_sync, sync_env


def test_media_reach_the_server_and_are_served_to_browsers(ev, srv, tmp_path):
    user, key = srv.user()
    run = ev.init(project="media", id="media1")
    rs = np.random.RandomState(0)
    imgs = [rs.randint(0, 256, (16, 24, 3), dtype=np.uint8) for _ in range(3)]
    for i, img in enumerate(imgs):
        run.log({"img": ev.Image(img), "h": ev.Histogram(rs.randn(100), num_bins=8), "loss": 1.0 / (i + 1)})
    run.log({"img": ev.Image(imgs[0]), "clip": ev.Video(rs.rand(4, 3, 8, 8), fps=2),  # the same image again
             "row": [ev.Image(imgs[1]), ev.Image(imgs[2])],  # a list of media: one value, files known already
             "tbl": ev.Table(columns=["a", "b"], data=[[1, "x"], [2, None]])})
    run.finish()
    local = {r.body["step"]: r.body["data"] for r in of_type(records(run.dir), "history")}

    out = evlog_sync(run.dir, env=sync_env(tmp_path, srv.url, key))
    assert out.returncode == 0, out.stderr + out.stdout
    rows = srv.rows(user, "media", "media1", key)
    assert [r["data"] for r in rows] == [local[s] for s in sorted(local)]  # the maps, as logged
    assert rows[3]["data"]["img"]["path"] == rows[0]["data"]["img"]["path"]
    files = {f["path"]: f for f in srv.get(f"/api/v1/runs/{user}/media/media1/files", key).json()["files"]}
    media = {p: f for p, f in files.items() if f["kind"] == "media"}
    assert len(media) == 5 and all(f["uploaded"] for f in media.values())  # 3 images, a video, a table, once each
    import json

    state = json.loads((Path(run.dir) / "sinks" / "http.cursor.json").read_text())["state"]
    assert not [p for p in state["uploaded"] if p.startswith("media/")]  # the cursor does not grow per image

    base = f"/api/v1/runs/{user}/media/media1/files/"
    m = rows[1]["data"]["img"]
    got = srv.get(base + m["path"], key)
    assert got.status_code == 200 and got.headers["content-type"] == "image/png"
    assert hashlib.sha256(got.content).hexdigest() == m["sha256"]
    assert got.content == (Path(run.dir) / m["path"]).read_bytes()
    assert "immutable" in got.headers["cache-control"] and got.headers["x-content-type-options"] == "nosniff"

    v = rows[3]["data"]["clip"]
    whole = srv.get(base + v["path"], key)
    assert whole.headers["content-type"] == "image/gif" if v["format"] == "gif" else "video/mp4"
    part = srv.http.get(srv.url + base + v["path"], headers={**srv.headers(key), "Range": "bytes=6-15"}, timeout=60)
    assert part.status_code == 206 and part.content == whole.content[6:16]
    assert part.headers["content-range"] == f"bytes 6-15/{len(whole.content)}"
    tail = srv.http.get(srv.url + base + v["path"], headers={**srv.headers(key), "Range": "bytes=-4"}, timeout=60)
    assert tail.status_code == 206 and tail.content == whole.content[-4:]
    bad = srv.http.get(srv.url + base + v["path"], headers={**srv.headers(key), "Range": "bytes=99999-"}, timeout=60)
    assert bad.status_code == 416

    index = srv.get(f"/api/v1/runs/{user}/media/media1/media", key).json()["media"]
    assert sorted(index) == ["clip", "h", "img", "row", "tbl"]
    tbl = index["tbl"]["items"][0]
    assert index["tbl"]["type"] == "table" and tbl["nrows"] == 2
    got = srv.get(base + tbl["path"], key)
    assert got.headers["content-type"] == "application/json" and got.json() == {"columns": ["a", "b"],
                                                                                   "data": [[1, "x"], [2, None]]}
    assert index["row"] == {"type": "image", "steps": [3], "items": [local[3]["row"]]}
    assert [m["path"] for m in local[3]["row"]] == [local[1]["img"]["path"], local[2]["img"]["path"]]
    assert index["img"]["type"] == "image" and index["img"]["steps"] == [0, 1, 2, 3]
    assert [m["path"] for m in index["img"]["items"]] == [local[s]["img"]["path"] for s in range(4)]
    assert index["h"]["steps"] == [0, 1, 2] and index["h"]["items"][0] == local[0]["h"]
    assert index["clip"] == {"type": "video", "steps": [3], "items": [local[3]["clip"]]}
    only = srv.get(f"/api/v1/runs/{user}/media/media1/media", key, keys="h").json()["media"]
    assert list(only) == ["h"]
    assert srv.get(f"/api/v1/runs/{user}/media/media1/media").status_code == 403  # private project

    code = srv.get(base + "code/" + "nothing.py", key)
    assert code.status_code == 404
    run_obj = srv.run(user, "media", "media1", key).json()
    assert run_obj["summary"]["img"]["_type"] == "image" and run_obj["summary"]["h"]["_type"] == "histogram"


def test_only_media_files_get_a_browser_content_type():
    from eventlog.server.media import file_response, media_type

    sha = "a" * 64
    assert media_type(f"media/{sha}.png") == "image/png"
    assert media_type(f"media/{sha}.mp4") == "video/mp4"
    assert media_type(f"media/{sha}.json") == "application/json"  # tables: read by the page's script
    assert media_type(f"media/{sha}.svg") is None          # never rendered: scripts
    assert media_type("files/page.html") is None
    assert media_type(f"other/{sha}.png") is None
    r = file_response("files/page.html", b"<script>", None)
    assert r.media_type == "application/octet-stream" and r.headers["x-content-type-options"] == "nosniff"


@pytest.mark.parametrize("header, status, body", [
    (None, 200, b"0123456789"),
    ("bytes=0-3", 206, b"0123"),
    ("bytes=7-", 206, b"789"),
    ("bytes=-2", 206, b"89"),
    ("bytes=5-100", 206, b"56789"),
    ("bytes=10-", 416, b""),
    ("bytes=4-2", 416, b""),
    ("items=1-2", 200, b"0123456789"),
])
def test_byte_ranges(header, status, body):
    from eventlog.server.media import file_response

    r = file_response("media/" + "b" * 64 + ".mp4", b"0123456789", header)
    assert (r.status_code, r.body) == (status, body)


def test_the_media_index_is_written_per_chunk_and_rebuilt_by_the_migration(srv):
    """Ingestion stores the media values of the chunks that hold any (and only of those), so the
    index never reads a run's history; migration 3 fills it in for chunks stored before it."""
    from sqlalchemy import delete, func, select

    from eventlog.server import migrations, schema
    from support.server import history, run_record

    user, key = srv.user()

    def img(i):
        return {"_type": "image", "path": f"media/{i:064x}.png", "sha256": f"{i:064x}", "width": 2, "height": 3}

    recs = [run_record("m1")]
    for i in range(600):
        data = {"loss": 1.0 / (i + 1), "note": "a _type in a string is not media"}
        if i in (5, 250, 251):
            data["img"] = img(i)
        if i == 420:
            data["eval"] = {"grid": img(i), "hist": {"_type": "histogram", "bins": [0, 1], "counts": [3]},
                            "row": [img(i), img(i + 1)], "mixed": [img(i), {"_type": "video"}], "nums": [1, 2]}
        recs.append(history(1 + i, i, data))
    srv.upload(user, "idx", "m1", recs, key, batch=100)  # chunks of seqs 0-99, 100-199, ...: media in 3
    with srv.engine.connect() as conn:
        pk = conn.execute(select(schema.runs.c.id).join(schema.entities, schema.entities.c.name == user)
                          .join(schema.projects, (schema.projects.c.id == schema.runs.c.project_id)
                                & (schema.projects.c.entity_id == schema.entities.c.id))
                          .where(schema.runs.c.run_id == "m1")).scalar_one()
        starts = conn.execute(select(schema.media.c.first_seq).where(schema.media.c.run_pk == pk)
                              .order_by(schema.media.c.first_seq)).scalars().all()
    assert starts == [0, 200, 400]
    want = {
        "img": {"type": "image", "steps": [5, 250, 251], "items": [img(5), img(250), img(251)]},
        "eval/grid": {"type": "image", "steps": [420], "items": [img(420)]},
        "eval/hist": {"type": "histogram", "steps": [420], "items": [recs[421][3]["data"]["eval"]["hist"]]},
        "eval/row": {"type": "image", "steps": [420], "items": [[img(420), img(421)]]},
    }
    url = f"/api/v1/runs/{user}/idx/m1/media"
    assert srv.get(url, key).json()["media"] == want
    assert srv.get(url, key, keys="eval/grid").json()["media"] == {"eval/grid": want["eval/grid"]}

    # a database from before the index: migration 3 fills it in from the stored chunks
    with srv.engine.begin() as conn:
        conn.execute(delete(schema.media))
        conn.execute(delete(schema.schema_version).where(schema.schema_version.c.version >= 3))
        schema.media.drop(conn)
    assert migrations.migrate(srv.engine) == migrations.LATEST
    with srv.engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(schema.media).where(schema.media.c.run_pk == pk)
                            ).scalar_one() == 3
    assert srv.get(url, key).json()["media"] == want
