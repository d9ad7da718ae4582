"""Artifacts (issue 13 section 2): eventlog.Artifact built from files, folders, new files and
references; run.log_artifact numbering versions by content, moving aliases, storing each content
once in the run root's store; run.use_artifact resolving "name:alias" and recording the use;
download() checking SHA-256; the HTTP sink uploading files then manifest, idempotently; the server
listing names, versions, aliases and serving the files; fetch() reading them back."""
from __future__ import annotations

import hashlib
import os
from pathlib import Path

import pytest

from eventlog.errors import ArtifactError
from support.run import of_type, records
from support.client import evlog_sync, sync_env


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _blobs(root: Path) -> list:
    return sorted(p.name for p in (root / "evlog" / "artifacts" / "blobs").rglob("*") if p.is_file())


# ---------------------------------------------------------------------------- local
def test_versions_aliases_dedup_and_records(ev, tmp_path):
    work = Path.cwd()
    (work / "ckpt.bin").write_bytes(os.urandom(300_000))
    (work / "data" / "sub").mkdir(parents=True)
    (work / "data" / "a.txt").write_text("alpha")
    (work / "data" / "sub" / "b.txt").write_text("beta")
    run = ev.init(project="arts", mode="offline")

    art = ev.Artifact("model-x", type="model", description="first", metadata={"id2label": {0: "neg", 1: "pos"}})
    art.add_file("ckpt.bin", name="model.ckpt", policy="immutable")
    art.add_dir("data", name="data")
    with art.new_file("notes.txt", mode="w") as f:
        f.write("hello")
    art.add_reference("s3://bucket/big.parquet")
    assert sorted(art.manifest.entries) == ["big.parquet", "data/a.txt", "data/sub/b.txt", "model.ckpt", "notes.txt"]
    assert art.version is None and art.metadata == {"id2label": {"0": "neg", "1": "pos"}}
    run.log_artifact(art, aliases=["best"])
    assert (art.name, art.version, art.aliases) == ("model-x:v0", "v0", ["latest", "best"])

    same = ev.Artifact("model-x", type="model")  # the same contents: the same version, aliases move
    same.add_file("ckpt.bin", name="model.ckpt")
    same.add_dir("data", name="data")
    with same.new_file("notes.txt", mode="w") as f:
        f.write("hello")
    same.add_reference("s3://bucket/big.parquet")
    assert same.digest == art.digest
    ev.log_artifact(same, aliases=["again"])
    assert same.version == "v0"

    other = ev.Artifact("model-x", type="model")
    other.add_file("ckpt.bin", name="model.ckpt")  # content stored already: not stored again
    run.log_artifact(other)
    assert other.version == "v1" and other.digest != art.digest
    assert len(_blobs(work)) == 4  # ckpt, a.txt, b.txt, notes.txt: once each across versions

    with pytest.raises(ArtifactError, match="type"):
        run.log_artifact(ev.Artifact("model-x", type="dataset"))
    with pytest.raises(Exception, match="not valid"):
        ev.Artifact("bad name", type="model")

    best = run.use_artifact("model-x:best", type="model")
    assert best.version == "v0" and best.aliases == ["again", "best"]  # "latest" moved to v1
    assert run.use_artifact("model-x").version == "v1"
    assert run.use_artifact("arts/model-x:v0").digest == art.digest
    with pytest.raises(LookupError, match="no artifact"):
        run.use_artifact("model-x:nope")
    run.finish()

    recs = records(run.dir)
    logged = [r.body for r in of_type(recs, "artifact")]
    assert [(b["name"], b["version"], b["aliases"]) for b in logged] == [
        ("model-x", 0, ["latest", "best"]), ("model-x", 0, ["latest", "again"]), ("model-x", 1, ["latest"])]
    files = {f["path"]: f for f in logged[0]["files"]}
    assert files["model.ckpt"]["sha256"] == _sha((work / "ckpt.bin").read_bytes())
    assert files["big.parquet"] == {"path": "big.parquet", "ref": "s3://bucket/big.parquet"}
    assert logged[0]["metadata"] == {"id2label": {"0": "neg", "1": "pos"}} and logged[0]["project"] == "arts"
    used = [r.body for r in of_type(recs, "use_artifact")]
    assert [(u["version"], u["path"], u["source"]) for u in used] == [
        (0, "model-x:best", "local"), (1, "model-x:latest", "local"), (0, "arts/model-x:v0", "local")]

    path = best.download()
    assert path == os.path.join(".", "artifacts", "model-x:v0")
    got = Path(path)
    assert (got / "model.ckpt").read_bytes() == (work / "ckpt.bin").read_bytes()
    assert (got / "data" / "sub" / "b.txt").read_text() == "beta" and (got / "notes.txt").read_text() == "hello"
    assert not (got / "big.parquet").exists()  # a reference is recorded, not fetched
    assert best.get_path("data/a.txt").download(str(tmp_path / "one")) == str(tmp_path / "one" / "data" / "a.txt")


def test_mutable_copies_now_immutable_checks_at_log_time(ev):
    work = Path.cwd()
    (work / "w.bin").write_bytes(b"before")
    run = ev.init(project="arts", mode="offline")
    art = ev.Artifact("weights", type="model")
    art.add_file("w.bin")  # mutable: copied now
    (work / "w.bin").write_bytes(b"after!")
    run.log_artifact(art)
    assert Path(art.download()).joinpath("w.bin").read_bytes() == b"before"

    imm = ev.Artifact("weights2", type="model")
    imm.add_file("w.bin", policy="immutable")
    (work / "w.bin").write_bytes(b"changed")
    with pytest.raises(OSError, match="changed since it was added"):
        run.log_artifact(imm)
    run.finish()
    assert [r.body["name"] for r in of_type(records(run.dir), "artifact")] == ["weights"]  # no record of the refused one


def test_download_refuses_a_corrupt_store_file(ev, tmp_path):
    from eventlog.errors import ArtifactIntegrityError

    run = ev.init(project="arts", mode="offline")
    art = ev.Artifact("d", type="dataset")
    with art.new_file("x.txt") as f:
        f.write("content")
    run.log_artifact(art)
    blob = Path.cwd() / "evlog" / "artifacts" / "blobs" / _sha(b"content")[:2] / _sha(b"content")
    blob.write_bytes(b"tampered")
    with pytest.raises(ArtifactIntegrityError):
        run.use_artifact("d:latest").download(str(tmp_path / "out"))
    assert not (tmp_path / "out" / "x.txt").exists()


def test_the_calls_lightning_and_transformers_make(ev):
    """WandbLogger(log_model=True) and WANDB_LOG_MODEL=end call exactly these."""
    work = Path.cwd()
    (work / "epoch=0.ckpt").write_bytes(b"c0")
    (work / "out").mkdir()
    (work / "out" / "config.json").write_text("{}")
    (work / "out" / "model.safetensors").write_bytes(b"w" * 1000)
    run = ev.init(project="fw", mode="offline")
    import numpy as np

    art = ev.Artifact(name=f"model-{run.id}", type="model", metadata={
        "score": np.float32(0.5), "original_filename": "epoch=0.ckpt",
        "ModelCheckpoint": {"monitor": None, "mode": "min", "save_top_k": 1, "_every_n_train_steps": 0}})
    art.add_file(str(work / "epoch=0.ckpt"), name="model.ckpt", policy="immutable")
    run.log_artifact(art, aliases=["latest", "best"])
    hf = ev.Artifact(name=f"model-{run.id}", type="model", metadata={"final_model": True, "train_loss": 0.1})
    for f in sorted((work / "out").glob("*")):
        with hf.new_file(f.name, mode="wb") as fa:
            fa.write(f.read_bytes())
    ev.run.log_artifact(hf, aliases=["final_model"])
    ckpt = ev.Artifact(name=f"model-{run.id}", type="model")
    ckpt.add_dir(str(work / "out"))
    ev.log_artifact(ckpt, aliases=["epoch_1.0", "checkpoint_global_step_4"])
    assert art.metadata["score"] == 0.5 and art.wait() is art
    assert (hf.version, ckpt.version) == ("v1", "v1")  # the same two files: one version
    assert ckpt.aliases == ["latest", "checkpoint_global_step_4", "epoch_1.0", "final_model"]
    folder = run.use_artifact(f"model-{run.id}:best", type="model").download()
    assert (Path(folder) / "model.ckpt").read_bytes() == b"c0"
    run.finish()


# ---------------------------------------------------------------------------- server
def test_sync_uploads_files_then_manifest_and_the_server_serves_them(ev, srv, tmp_path, monkeypatch):
    user, key = srv.user()
    work = Path.cwd()
    big = os.urandom(9 * 1024 * 1024 + 7)  # more than two of the server's 4 MiB parts
    (work / "big.bin").write_bytes(big)
    run = ev.init(project="artsrv", id="art1", mode="offline")
    a = ev.Artifact("net", type="model", metadata={"lr": 0.1})
    a.add_file("big.bin", name="weights.bin")
    with a.new_file("cfg/info.txt") as f:
        f.write("v0")
    a.add_reference("https://example.com/data.csv")
    run.log_artifact(a, aliases=["best"])
    b = ev.Artifact("net", type="model")
    b.add_file("big.bin", name="weights.bin")
    run.log_artifact(b)
    run.use_artifact("net:best")
    run.finish()

    env = sync_env(tmp_path, srv.url, key)
    out = evlog_sync(run.dir, env=env)
    assert out.returncode == 0, out.stderr + out.stdout
    base = f"/api/v1/artifacts/{user}/artsrv"
    listing = srv.get(base, key).json()["artifacts"]
    assert listing == [{"name": "net", "type": "model", "versions": 2, "aliases": {"best": 0, "latest": 1},
                        "created_at": listing[0]["created_at"], "updated_at": listing[0]["updated_at"]}]
    v0 = srv.get(f"{base}/net/best", key).json()
    assert (v0["version"], v0["aliases"], v0["digest"], v0["metadata"]) == (0, ["best"], a.digest, {"lr": 0.1})
    assert v0["run"] == {"entity": user, "project": "artsrv", "id": "art1"}
    files = {f["path"]: f for f in v0["files"]}
    assert files["data.csv"] == {"path": "data.csv", "ref": "https://example.com/data.csv"}
    got = srv.get(files["weights.bin"]["url"], key)
    assert got.status_code == 200 and got.content == big
    assert got.headers["content-type"] == "application/octet-stream" and "attachment" in got.headers["content-disposition"]
    assert srv.get(f"{base}/net/v1/files/cfg/info.txt", key).status_code == 404  # not in v1
    assert srv.get(f"{base}/net/v0/files/cfg/info.txt", key).content == b"v0"
    assert srv.get(f"{base}/net/v7", key).json()["reason"] == "no_such_artifact"
    assert srv.get(f"{base}/net/latest").status_code == 403  # private project, no key
    versions = srv.get(f"{base}/net", key).json()["versions"]
    assert [(v["version"], v["aliases"]) for v in versions] == [(0, ["best"]), (1, ["latest"])]

    mine = srv.get(f"/api/v1/runs/{user}/artsrv/art1/artifacts", key).json()
    assert [(x["name"], x["version"]) for x in mine["logged"]] == [("net", 0), ("net", 1)]
    assert [x["path"] for x in mine["used"]] == [f"{user}/artsrv/net:v0"] and mine["used"][0]["version"] == 0

    # syncing again (the cursor reset: every record replayed) adds no version and moves nothing
    (Path(run.dir) / "sinks" / "http.cursor.json").unlink()
    assert evlog_sync(run.dir, env=env).returncode == 0
    assert srv.get(base, key).json()["artifacts"][0]["versions"] == 2
    assert srv.get(f"{base}/net/latest", key).json()["version"] == 1
    assert len(srv.get(f"/api/v1/runs/{user}/artsrv/art1/artifacts", key).json()["logged"]) == 2

    # a content the project holds already is not sent again; a body that hashes otherwise is refused
    sha = _sha(big)
    missing = srv.http.post(srv.url + f"{base}/-/blobs/missing", json={"sha256": [sha, "0" * 64]},
                            headers=srv.headers(key), timeout=60).json()
    assert missing == {"missing": ["0" * 64]}
    bad = srv.http.put(srv.url + f"{base}/-/blobs/{'1' * 64}", data=b"not that", headers=srv.headers(key), timeout=60)
    assert bad.status_code == 400 and bad.json()["reason"] == "sha256_mismatch"
    assert srv.http.post(srv.url + f"{base}/-/blobs/missing", json={"sha256": ["1" * 64]},
                         headers=srv.headers(key), timeout=60).json() == {"missing": ["1" * 64]}

    # fetch() (eventlog.Api().artifact) and an online run's use_artifact read it from the server
    monkeypatch.setenv("EVLOG_BASE_URL", srv.url)
    monkeypatch.setenv("EVLOG_API_KEY", key)
    from eventlog.artifacts import fetch

    got = fetch(f"{user}/artsrv/net:best", type="model")
    assert (got.version, got.digest, got.qualified_name) == ("v0", a.digest, f"{user}/artsrv/net:v0")
    folder = Path(got.download(str(tmp_path / "dl")))
    assert (folder / "weights.bin").read_bytes() == big and (folder / "cfg" / "info.txt").read_text() == "v0"
    with pytest.raises(LookupError):
        fetch(f"{user}/artsrv/net:nope")

    online = ev.init(project="artsrv", id="art2", mode="online", reinit=True)
    used = online.use_artifact("net:latest")
    assert used.version == "v1" and used._remote is not None
    online.finish()
    body = of_type(records(online.dir), "use_artifact")[0].body
    assert (body["source"], body["version"], body["entity"]) == ("server", 1, user)
