"""Artifacts on the server (spec/protocol.md 8): file contents per project named by SHA-256
(uploaded streamed, in parts, the hash checked), versions per artifact name (v0, v1, ... by
digest), aliases, and the runs that logged or used them. The HTTP sink uploads the files, then
commits the manifest (`POST {run}/artifacts/log`); both are idempotent."""
from __future__ import annotations

import hashlib
import json
import re
import secrets
import time
from typing import Any, AsyncIterator, Dict, List, Optional
from urllib.parse import quote

from sqlalchemy import delete, func, select
from sqlalchemy.engine import Connection, Engine
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse

from eventlog.artifacts.files import manifest_digest
from eventlog.artifacts.names import ALIAS_RE, LATEST, NAME_RE, VERSION_RE, version_index

from . import schema as s
from .access import check_run_write, ensure_project, for_read, for_write, run_row
from .db import writer
from .errors import ApiError, bad_request, hide, too_large
from .names import check_name, check_path
from .text import column_text
from .wire import dumps, pack, unpack

PART = 4 * 1024 * 1024
SHA_RE = re.compile(r"^[0-9a-f]{64}$")
MAX_FILES = 100_000
MAX_JSON = 64 * 1024 * 1024


def _json(data: Any, status: int = 200) -> Response:
    return Response(dumps(data), status_code=status, media_type="application/json",
                    headers={"Cache-Control": "no-store"})


def no_such_artifact(what: str) -> ApiError:
    return ApiError(404, "no_such_artifact", f"no artifact {what}")


def _check_sha(sha: Any) -> str:
    if not isinstance(sha, str) or not SHA_RE.match(sha):
        raise bad_request(f"{sha!r} is not a SHA-256 (64 lowercase hex digits)")
    return sha


def _check_alias_param(alias: str) -> str:
    if not (VERSION_RE.match(alias) or ALIAS_RE.match(alias)):
        raise ApiError(400, "bad_name", f"{alias!r} is neither a version (v0, v1, ...) nor an alias")
    return alias


# ------------------------------------------------------------------ blobs
def _write_project(engine: Engine, principal: Any, entity: str, project: str) -> int:
    with writer(engine).begin() as conn:
        target = for_write(conn, principal, entity, project)
        return ensure_project(conn, principal, target)


def _has_blob(conn: Connection, project_id: int, shas: List[str]) -> set:
    t = s.artifact_blobs.c
    have = set()
    for i in range(0, len(shas), 500):
        have.update(conn.execute(select(t.sha256).where(t.project_id == project_id,
                                                        t.sha256.in_(shas[i:i + 500]))).scalars())
    return have


def missing_blobs(engine: Engine, principal: Any, entity: str, project: str, shas: Any) -> Dict[str, Any]:
    """{"missing": [sha...]}: which of `shas` the project does not hold (write permission)."""
    if not isinstance(shas, list) or len(shas) > MAX_FILES:
        raise bad_request(f'the body must be JSON like {{"sha256": [sha, ...]}} with at most {MAX_FILES} items')
    shas = sorted({_check_sha(x) for x in shas})
    with engine.connect() as conn:
        target = for_write(conn, principal, entity, project)
        have = _has_blob(conn, target.project_id, shas) if target.project_id is not None else set()
    return {"missing": [x for x in shas if x not in have]}


def _put_part(engine: Engine, upload_id: str, part: int, data: bytes) -> None:
    with writer(engine).begin() as conn:
        conn.execute(s.artifact_parts.insert().values(upload_id=upload_id, part=part, data=data))


def _drop_parts(engine: Engine, upload_id: str) -> None:
    with writer(engine).begin() as conn:
        conn.execute(delete(s.artifact_parts).where(s.artifact_parts.c.upload_id == upload_id))


def _finish_blob(engine: Engine, project_id: int, sha: str, size: int, upload_id: str) -> bool:
    """Make the upload the project's blob `sha`; False (parts dropped) when it was there already."""
    with writer(engine).begin() as conn:
        if _has_blob(conn, project_id, [sha]):
            conn.execute(delete(s.artifact_parts).where(s.artifact_parts.c.upload_id == upload_id))
            return False
        conn.execute(s.artifact_blobs.insert().values(project_id=project_id, sha256=sha, size=size,
                                                      upload_id=upload_id, created_at=time.time()))
        return True


async def put_blob(srv: Any, request: Request) -> Response:
    """PUT /api/v1/artifacts/{entity}/{project}/-/blobs/{sha256}: the file's bytes, streamed into
    parts of PART bytes (never held whole); 400 sha256_mismatch when they hash to another value."""
    pp = request.path_params
    sha = _check_sha(pp["sha256"])
    principal = await srv.principal(request)
    project_id = await srv.call(_write_project, srv.engine, principal, pp["entity"], pp["project"])

    def has() -> bool:
        with srv.engine.connect() as conn:
            return bool(_has_blob(conn, project_id, [sha]))

    if await srv.call(has):
        async for _ in request.stream():  # read, so the client gets the answer rather than a reset
            pass
        return _json({"sha256": sha, "stored": False}, 200)
    upload_id = secrets.token_hex(16)
    h, size, part, buf = hashlib.sha256(), 0, 0, bytearray()
    limit = srv.config.max_artifact_file
    try:
        async for chunk in request.stream():
            size += len(chunk)
            if size > limit:
                raise too_large(f"the file is larger than this server's artifact file limit of {limit} bytes")
            h.update(chunk)
            buf += chunk
            while len(buf) >= PART:
                await srv.call(_put_part, srv.engine, upload_id, part, bytes(buf[:PART]))
                del buf[:PART]
                part += 1
        if buf:
            await srv.call(_put_part, srv.engine, upload_id, part, bytes(buf))
        if h.hexdigest() != sha:
            raise ApiError(400, "sha256_mismatch",
                           f"the bytes received hash to {h.hexdigest()}, not {sha}: the upload was incomplete or "
                           "altered; send it again")
        stored = await srv.call(_finish_blob, srv.engine, project_id, sha, size, upload_id)
    except BaseException:
        await srv.call(_drop_parts, srv.engine, upload_id)
        raise
    return _json({"sha256": sha, "size": size, "stored": stored}, 201)


# --------------------------------------------------------------- versions
def _version_json(conn: Connection, v: Any, art: Any, entity: str, project: str) -> Dict[str, Any]:
    aliases = sorted(conn.execute(select(s.artifact_aliases.c.alias).where(
        s.artifact_aliases.c.artifact_id == art.id, s.artifact_aliases.c.version_id == v.id)).scalars())
    aliases = ([LATEST] if LATEST in aliases else []) + [a for a in aliases if a != LATEST]
    base = f"/api/v1/artifacts/{quote(entity)}/{quote(project)}/{quote(art.name)}/v{v.version}/files/"
    files = []
    for f in unpack(v.files) or []:
        f = dict(f)
        if f.get("sha256"):
            f["url"] = base + quote(f["path"])
        files.append(f)
    run = None
    if v.run_pk is not None:
        r = conn.execute(select(s.runs.c.run_id).where(s.runs.c.id == v.run_pk)).first()
        run = {"entity": entity, "project": project, "id": r.run_id} if r else None
    return {"entity": entity, "project": project, "name": art.name, "type": art.type, "version": v.version,
            "digest": v.digest, "aliases": aliases, "description": v.description,
            "metadata": unpack(v.metadata) or {}, "files": files, "size": v.size, "file_count": v.file_count,
            "created_at": v.created_at, "run": run}


def _artifact_row(conn: Connection, project_id: int, name: str) -> Any:
    return conn.execute(select(s.artifacts).where(s.artifacts.c.project_id == project_id,
                                                  s.artifacts.c.name == name)).first()


def _version_row(conn: Connection, art: Any, alias: str) -> Any:
    n = version_index(alias)
    t = s.artifact_versions.c
    if n is not None:
        return conn.execute(select(s.artifact_versions).where(t.artifact_id == art.id, t.version == n)).first()
    vid = conn.execute(select(s.artifact_aliases.c.version_id).where(
        s.artifact_aliases.c.artifact_id == art.id, s.artifact_aliases.c.alias == alias)).scalar()
    return None if vid is None else conn.execute(select(s.artifact_versions).where(t.id == vid)).first()


def _check_files(files: Any) -> List[Dict[str, Any]]:
    if not isinstance(files, list) or len(files) > MAX_FILES:
        raise bad_request(f"files must be a list of at most {MAX_FILES} manifest entries")
    out, seen = [], set()
    for f in files:
        if not isinstance(f, dict) or not isinstance(f.get("path"), str):
            raise bad_request("each file must be an object with a path")
        path = check_path(f["path"])
        if path in seen:
            raise bad_request(f"file {path!r} is listed twice")
        seen.add(path)
        if f.get("ref") is not None:
            if not isinstance(f["ref"], str):
                raise bad_request(f"file {path!r}: ref must be a URI string")
            out.append({"path": path, "ref": f["ref"]})
            continue
        size = f.get("size")
        if type(size) is not int or size < 0:
            raise bad_request(f"file {path!r}: size must be a non-negative integer")
        out.append({"path": path, "sha256": _check_sha(f.get("sha256")), "size": size})
    return out


def log_version(engine: Engine, principal: Any, entity: str, project: str, run_id: str,
                body: Any) -> Dict[str, Any]:
    """POST {run}/artifacts/log: commit a version logged by the run's record `seq`, its files
    stored already (409 missing_blobs otherwise); the same seq again answers the same version."""

    if not isinstance(body, dict):
        raise bad_request("the body must be a JSON object (the artifact record, spec/format.md 9, with seq)")
    seq, name, type_ = body.get("seq"), body.get("name"), body.get("type")
    if type(seq) is not int or seq < 0:
        raise bad_request("seq must be the record's seq (a non-negative integer)")
    for what, v in (("name", name), ("type", type_)):
        if not isinstance(v, str) or not NAME_RE.match(v):
            raise bad_request(f"artifact {what} {v!r} is not valid")
    files = _check_files(body.get("files"))
    digest = manifest_digest(files)
    if body.get("digest") not in (None, digest):
        raise bad_request(f"digest {body.get('digest')!r} does not match the files (their digest is {digest})")
    aliases = body.get("aliases") or []
    if not isinstance(aliases, list) or not all(isinstance(a, str) and ALIAS_RE.match(a) and not VERSION_RE.match(a)
                                                for a in aliases):
        raise bad_request("aliases must be a list of aliases (letters, digits, '_', '-', '.'; not like v3)")
    aliases = [LATEST] + [a for a in aliases if a != LATEST]
    description = body.get("description")
    if description is not None and not isinstance(description, str):
        raise bad_request("description must be a string or null")
    description = column_text(description)  # NUL as U+FFFD on every database (spec/protocol.md 1)
    metadata = body.get("metadata") or {}
    if not isinstance(metadata, dict):
        raise bad_request("metadata must be an object")
    now = time.time()
    with writer(engine).begin() as conn:
        target = for_write(conn, principal, entity, project)
        if target.project_id is None:
            raise ApiError(404, "no_such_run", f"no run {run_id!r} in {target.entity}/{target.project}")
        run = run_row(conn, target, run_id)
        check_run_write(conn, principal, target, run)  # the run's creator and its entity only
        ev = conn.execute(select(s.artifact_events).where(s.artifact_events.c.run_pk == run.id,
                                                          s.artifact_events.c.seq == seq)).first()
        if ev is not None and ev.version_id is not None:
            v = conn.execute(select(s.artifact_versions).where(s.artifact_versions.c.id == ev.version_id)).first()
            art = conn.execute(select(s.artifacts).where(s.artifacts.c.id == v.artifact_id)).first()
            return dict(_version_json(conn, v, art, target.entity, target.project), created=False)
        shas = sorted({f["sha256"] for f in files if "sha256" in f})
        have = _has_blob(conn, target.project_id, shas)
        missing = [x for x in shas if x not in have]
        if missing:
            raise ApiError(409, "missing_blobs", f"{len(missing)} file(s) of the artifact are not uploaded yet: "
                           "PUT them to -/blobs/{sha256} first", missing=missing)
        art = _artifact_row(conn, target.project_id, name)
        if art is None:
            conn.execute(s.artifacts.insert().values(project_id=target.project_id, name=name, type=type_,
                                                     created_at=now, updated_at=now))
            art = _artifact_row(conn, target.project_id, name)
        elif art.type != type_:
            raise ApiError(409, "type_mismatch", f"artifact {name!r} in {target.entity}/{target.project} has type "
                           f"{art.type!r}, not {type_!r}")
        t = s.artifact_versions.c
        v = conn.execute(select(s.artifact_versions).where(t.artifact_id == art.id, t.digest == digest)).first()
        created = v is None
        if created:
            n = conn.execute(select(func.max(t.version)).where(t.artifact_id == art.id)).scalar()
            conn.execute(s.artifact_versions.insert().values(
                artifact_id=art.id, version=0 if n is None else n + 1, digest=digest, description=description,
                metadata=pack(metadata), files=pack(files), size=sum(f.get("size", 0) for f in files),
                file_count=len(files), run_pk=run.id, created_at=now))
            v = conn.execute(select(s.artifact_versions).where(t.artifact_id == art.id, t.digest == digest)).first()
        a = s.artifact_aliases.c
        conn.execute(delete(s.artifact_aliases).where(a.artifact_id == art.id, a.alias.in_(aliases)))
        for alias in aliases:
            conn.execute(s.artifact_aliases.insert().values(artifact_id=art.id, alias=alias, version_id=v.id))
        conn.execute(s.artifacts.update().where(s.artifacts.c.id == art.id).values(updated_at=now))
        path = f"{target.entity}/{target.project}/{name}:v{v.version}"
        if ev is None:
            conn.execute(s.artifact_events.insert().values(run_pk=run.id, seq=seq, action="log", version_id=v.id,
                                                           path=path, created_at=now))
        return dict(_version_json(conn, v, art, target.entity, target.project), created=created)


def use_version(engine: Engine, principal: Any, entity: str, project: str, run_id: str,
                body: Any) -> Dict[str, Any]:
    """POST {run}/artifacts/use: record that the run's record `seq` used an artifact version
    (by entity/project/name and digest or version); one the caller may not read, or this server
    does not hold, is recorded by its path only."""

    if not isinstance(body, dict) or type(body.get("seq")) is not int:
        raise bad_request("the body must be a JSON object with seq (the use_artifact record's) and name")
    name = body.get("name")
    if not isinstance(name, str) or not NAME_RE.match(name):
        raise bad_request(f"artifact name {name!r} is not valid")
    with writer(engine).begin() as conn:
        target = for_write(conn, principal, entity, project)
        if target.project_id is None:
            raise ApiError(404, "no_such_run", f"no run {run_id!r} in {target.entity}/{target.project}")
        run = run_row(conn, target, run_id)
        check_run_write(conn, principal, target, run)  # the run's creator and its entity only
        e = s.artifact_events.c
        if conn.execute(select(e.seq).where(e.run_pk == run.id, e.seq == body["seq"])).first() is not None:
            return {"recorded": False}
        ae, ap = body.get("entity") or target.entity, body.get("project") or target.project
        version = body.get("version")
        path = f"{ae}/{ap}/{name}:" + (f"v{version}" if type(version) is int else "?")
        vid = None
        try:
            src = for_read(conn, principal, str(ae), str(ap))
        except ApiError:
            src = None
        art = _artifact_row(conn, src.project_id, name) if src is not None else None
        if art is not None:
            t = s.artifact_versions.c
            q = select(s.artifact_versions).where(t.artifact_id == art.id)
            q = q.where(t.digest == body["digest"]) if isinstance(body.get("digest"), str) else q.where(t.version == version)
            v = conn.execute(q).first()
            if v is not None:
                vid, path = v.id, f"{src.entity}/{src.project}/{name}:v{v.version}"
        conn.execute(s.artifact_events.insert().values(run_pk=run.id, seq=body["seq"], action="use", version_id=vid,
                                                       path=path, created_at=time.time()))
        return {"recorded": True, "path": path, "resolved": vid is not None}


# ------------------------------------------------------------------ reading
def list_artifacts(engine: Engine, principal: Any, entity: str, project: str) -> Dict[str, Any]:
    with engine.connect() as conn:
        target = for_read(conn, principal, entity, project)
        out = []
        for art in conn.execute(select(s.artifacts).where(s.artifacts.c.project_id == target.project_id)
                                .order_by(s.artifacts.c.name)):
            out.append(_artifact_json(conn, art))
    return {"artifacts": out}


def _artifact_json(conn: Connection, art: Any) -> Dict[str, Any]:
    a, t = s.artifact_aliases.c, s.artifact_versions.c
    aliases = {al: n for al, n in conn.execute(
        select(a.alias, t.version).select_from(s.artifact_aliases.join(s.artifact_versions, t.id == a.version_id))
        .where(a.artifact_id == art.id))}
    count = conn.execute(select(func.count()).where(t.artifact_id == art.id)).scalar()
    return {"name": art.name, "type": art.type, "versions": count, "aliases": aliases,
            "created_at": art.created_at, "updated_at": art.updated_at}


def get_artifact(engine: Engine, principal: Any, entity: str, project: str, name: str) -> Dict[str, Any]:
    """An artifact name's versions (without their files) and aliases."""
    check_name("artifact", name)
    with engine.connect() as conn:
        target = for_read(conn, principal, entity, project)
        art = _artifact_row(conn, target.project_id, name)
        if art is None:
            raise no_such_artifact(f"{name!r} in {entity}/{project}")
        versions = []
        for v in conn.execute(select(s.artifact_versions).where(s.artifact_versions.c.artifact_id == art.id)
                              .order_by(s.artifact_versions.c.version)):
            doc = _version_json(conn, v, art, target.entity, target.project)
            doc.pop("files")
            versions.append(doc)
        return dict(_artifact_json(conn, art), versions=versions)


def get_version(engine: Engine, principal: Any, entity: str, project: str, name: str, alias: str) -> Dict[str, Any]:
    """The version `alias` (vN or an alias) of `name`, with its files."""
    check_name("artifact", name)
    _check_alias_param(alias)
    with engine.connect() as conn:
        target = for_read(conn, principal, entity, project)
        art = _artifact_row(conn, target.project_id, name)
        v = _version_row(conn, art, alias) if art is not None else None
        if v is None:
            raise no_such_artifact(f"{entity}/{project}/{name}:{alias}")
        return _version_json(conn, v, art, target.entity, target.project)


def run_artifacts(engine: Engine, principal: Any, entity: str, project: str, run_id: str) -> Dict[str, Any]:
    """{"logged": [...], "used": [...]}: the versions a run logged and used, in seq order, each a
    version object (with files) plus `seq` and `path`; a use this server cannot resolve has only those."""

    out: Dict[str, List[Any]] = {"logged": [], "used": []}
    with engine.connect() as conn:
        target = for_read(conn, principal, entity, project)
        run = run_row(conn, target, run_id)
        e = s.artifact_events.c
        for ev in conn.execute(select(s.artifact_events).where(e.run_pk == run.id).order_by(e.seq)):
            item: Dict[str, Any] = {"seq": ev.seq, "path": ev.path}
            if ev.version_id is not None:
                v = conn.execute(select(s.artifact_versions).where(s.artifact_versions.c.id == ev.version_id)).first()
                art = conn.execute(select(s.artifacts).where(s.artifacts.c.id == v.artifact_id)).first()
                proj = conn.execute(select(s.projects.c.name, s.projects.c.entity_id)
                                    .where(s.projects.c.id == art.project_id)).first()
                ent = conn.execute(select(s.entities.c.name).where(s.entities.c.id == proj.entity_id)).scalar()
                try:  # a used version of another project shows only to those who may read that project
                    for_read(conn, principal, ent, proj.name)
                    item.update(_version_json(conn, v, art, ent, proj.name))
                except ApiError:
                    pass
            out["logged" if ev.action == "log" else "used"].append(item)
    return out


def file_source(engine: Engine, principal: Any, entity: str, project: str, name: str, alias: str,
                path: str) -> Dict[str, Any]:
    """Where a version's file is: {"upload_id", "size", "sha256"} (read permission)."""
    doc = get_version(engine, principal, entity, project, name, alias)
    f = next((f for f in doc["files"] if f["path"] == path), None)
    if f is None or not f.get("sha256"):
        raise ApiError(404, "no_such_file", f"artifact {entity}/{project}/{name}:{alias} has no stored file {path!r}")
    with engine.connect() as conn:
        target = for_read(conn, principal, entity, project)
        row = conn.execute(select(s.artifact_blobs).where(s.artifact_blobs.c.project_id == target.project_id,
                                                          s.artifact_blobs.c.sha256 == f["sha256"])).first()
    if row is None:
        raise ApiError(404, "no_such_file", f"the content of {path!r} is not on this server")
    return {"upload_id": row.upload_id, "size": row.size, "sha256": row.sha256}


def _read_part(engine: Engine, upload_id: str, part: int) -> Optional[bytes]:
    with engine.connect() as conn:
        data = conn.execute(select(s.artifact_parts.c.data).where(s.artifact_parts.c.upload_id == upload_id,
                                                                  s.artifact_parts.c.part == part)).scalar()
    return None if data is None else bytes(data)


def file_response(srv: Any, src: Dict[str, Any], path: str) -> Response:
    """The file's bytes, streamed a part at a time, as a download (never rendered by a browser)."""
    async def body() -> AsyncIterator[bytes]:
        part = 0
        while True:
            data = await srv.call(_read_part, srv.engine, src["upload_id"], part)
            if data is None:
                return
            yield data
            part += 1

    filename = path.rsplit("/", 1)[-1]
    headers = {"Content-Length": str(src["size"]), "X-Content-Type-Options": "nosniff",
               "Content-Disposition": f"attachment; filename*=UTF-8''{quote(filename)}",
               "Cache-Control": "private, max-age=31536000, immutable", "ETag": f'"{src["sha256"]}"'}
    return StreamingResponse(body(), media_type="application/octet-stream", headers=headers)


# ---------------------------------------------------------------- endpoints
async def _body_json(srv: Any, request: Request) -> Any:
    raw = await srv.body(request, MAX_JSON)
    try:
        return json.loads(raw)
    except ValueError:
        raise bad_request("the body must be JSON") from None


def routes(srv: Any) -> list:
    """The /api/v1 artifact routes (spec/protocol.md 8)."""
    from starlette.routing import Route

    base = "/api/v1/artifacts/{entity}/{project}"
    run = "/api/v1/runs/{entity}/{project}/{run_id}"

    async def artifacts_list(request: Request) -> Response:
        pp = request.path_params
        return _json(await srv.call(list_artifacts, srv.engine, await srv.principal(request), pp["entity"], pp["project"]))

    async def missing(request: Request) -> Response:
        pp = request.path_params
        body = await _body_json(srv, request)
        shas = body.get("sha256") if isinstance(body, dict) else None
        return _json(await srv.call(missing_blobs, srv.engine, await srv.principal(request), pp["entity"],
                                    pp["project"], shas))

    async def blob(request: Request) -> Response:
        return await put_blob(srv, request)

    async def artifact(request: Request) -> Response:
        pp = request.path_params
        return _json(await srv.call(get_artifact, srv.engine, await srv.principal(request), pp["entity"],
                                    pp["project"], pp["name"]))

    async def version(request: Request) -> Response:
        pp = request.path_params
        return _json(await srv.call(get_version, srv.engine, await srv.principal(request), pp["entity"],
                                    pp["project"], pp["name"], pp["version"]))

    async def file(request: Request) -> Response:
        pp = request.path_params
        src = await srv.call(file_source, srv.engine, await srv.principal(request), pp["entity"], pp["project"],
                             pp["name"], pp["version"], pp["path"])
        return file_response(srv, src, pp["path"])

    async def log(request: Request) -> Response:
        pp = request.path_params
        body = await _body_json(srv, request)
        return _json(await srv.call(log_version, srv.engine, await srv.principal(request), pp["entity"],
                                    pp["project"], pp["run_id"], body))

    async def use(request: Request) -> Response:
        pp = request.path_params
        body = await _body_json(srv, request)
        return _json(await srv.call(use_version, srv.engine, await srv.principal(request), pp["entity"],
                                    pp["project"], pp["run_id"], body))

    async def of_run(request: Request) -> Response:
        pp = request.path_params
        return _json(await srv.call(run_artifacts, srv.engine, await srv.principal(request), pp["entity"],
                                    pp["project"], pp["run_id"]))

    return [
        Route(base, artifacts_list),
        Route(base + "/-/blobs/missing", missing, methods=["POST"]),
        Route(base + "/-/blobs/{sha256}", blob, methods=["PUT"]),
        Route(base + "/{name}", artifact),
        Route(base + "/{name}/{version}", version),
        Route(base + "/{name}/{version}/files/{path:path}", file),
        Route(run + "/artifacts", of_run),
        Route(run + "/artifacts/log", log, methods=["POST"]),
        Route(run + "/artifacts/use", use, methods=["POST"]),
    ]


def web_routes(web: Any) -> list:
    """The dashboard's copies under its session cookie (a run's artifacts; file downloads)."""
    from starlette.routing import Route

    async def of_run(request: Request) -> Response:
        pp = request.path_params
        try:
            out = await web.srv.call(run_artifacts, web.engine, await web.reader(request), pp["entity"],
                                     pp["project"], pp["run_id"])
        except ApiError as exc:
            raise hide(exc) from None
        return _json(out)

    async def file(request: Request) -> Response:
        pp = request.path_params
        try:
            src = await web.srv.call(file_source, web.engine, await web.reader(request), pp["entity"],
                                     pp["project"], pp["name"], pp["version"], pp["path"])
        except ApiError as exc:
            raise hide(exc) from None
        return file_response(web.srv, src, pp["path"])

    return [Route("/-/api/runs/{entity}/{project}/{run_id}/artifacts", of_run),
            Route("/-/artifacts/{entity}/{project}/{name}/{version}/files/{path:path}", file)]
