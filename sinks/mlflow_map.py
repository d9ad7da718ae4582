"""How evlog values become MLflow names, params and tags (spec/sinks.md 8), for the mlflow sink.

Pure functions over plain data: no MLflow import, so the mapping is testable and the sink module
stays light to import. MLflow's limits (mlflow/utils/validation.py) are restated here.
"""
from __future__ import annotations

import hashlib
import json
import re
from typing import Any, Dict, Mapping, Optional, Tuple

MAX_KEY = 250            # MAX_ENTITY_KEY_LENGTH: metric, param and tag names
MAX_PARAM_VALUE = 6000   # MAX_PARAM_VAL_LENGTH
MAX_TAG_VALUE = 8000     # MAX_TAG_VAL_LENGTH
MAX_METRICS = 1000       # per log_batch request
MAX_PARAMS_TAGS = 100    # params, and tags, per log_batch request
MAX_ENTITIES = 1000      # metrics + params + tags per request
MAX_REQUEST_CHARS = 900_000  # below MAX_BATCH_LOG_REQUEST_SIZE (1e6 bytes), JSON overhead included
ELLIPSIS = "..."

# MLflow tag keys the sink writes besides the mlflow.* ones.
TAG_RUN_ID = "evlog.run_id"      # the evlog run this MLflow run mirrors: how the sink finds it again
TAG_NEXT_SEQ = "evlog.next_seq"  # every record below this seq is in the MLflow run (sent last in a batch)

_BAD_CHARS = re.compile(r"[^\w./\- :]")


def mlflow_name(key: str) -> str:
    """`key` as a valid MLflow metric/param/tag name: characters outside letters, digits, `_ - . /
    : space` become `_`, empty and `.`/`..` path parts are dropped or made `_`/`__` (MLflow refuses
    names that are not normalized paths), and a name over 250 characters keeps its first 241 and
    `~` plus 8 hex digits of the SHA-256 of the whole key (so long keys stay distinct)."""
    name = _BAD_CHARS.sub("_", key)
    parts = [p for p in name.split("/") if p != ""]
    parts = ["_" if p == "." else "__" if p == ".." else p for p in parts]
    name = "/".join(parts) or "_"
    if len(name) > MAX_KEY:
        name = name[:MAX_KEY - 9] + "~" + hashlib.sha256(key.encode("utf-8", "surrogatepass")).hexdigest()[:8]
    return name


def clip(text: str, limit: int) -> Tuple[str, bool]:
    """(text cut to `limit` characters ending in "...", whether it was cut)."""
    if len(text) <= limit:
        return text, False
    return text[:limit - len(ELLIPSIS)] + ELLIPSIS, True


def param_text(value: Any) -> str:
    """A config value as MLflow param text: str() of plain values, as mlflow.log_params writes them
    (True -> "True", None -> "None"); lists and maps as JSON."""
    if isinstance(value, (list, tuple, dict)):
        return json.dumps(value, default=str, allow_nan=True, ensure_ascii=False)
    return str(value)


def flat_config(config: Mapping[str, Any]) -> Dict[str, Any]:
    """A config map as one level, nested keys joined with "/" (an empty map stays a value)."""
    out: Dict[str, Any] = {}

    def walk(prefix: str, value: Any) -> None:
        if isinstance(value, dict) and value:
            for k, v in value.items():
                walk(f"{prefix}/{k}" if prefix else str(k), v)
        else:
            out[prefix] = value

    for k, v in config.items():
        walk(str(k), v)
    return out


def run_tags(run: Mapping[str, Any], run_id: str) -> Dict[str, str]:
    """The MLflow tags of an evlog `run` record body (values not yet clipped)."""
    tags: Dict[str, str] = {TAG_RUN_ID: run_id, "mlflow.source.type": "LOCAL"}
    tags.update(meta_tags(run))
    for key, tag in (("group", "group"), ("job_type", "job_type"), ("project", "evlog.project"),
                     ("entity", "evlog.entity"), ("url", "evlog.url")):
        if isinstance(run.get(key), str) and run[key]:
            tags[tag] = run[key]
    git = run.get("git") if isinstance(run.get("git"), dict) else {}
    for key, tag in (("commit", "mlflow.source.git.commit"), ("branch", "mlflow.source.git.branch"),
                     ("remote", "mlflow.source.git.repoURL")):
        if isinstance(git.get(key), str) and git[key]:
            tags[tag] = git[key]
    program = run.get("program") if isinstance(run.get("program"), dict) else {}
    if isinstance(program.get("path"), str) and program["path"]:
        tags["mlflow.source.name"] = program["path"]
    return tags


def meta_tags(body: Mapping[str, Any], *, changes: bool = False) -> Dict[str, str]:
    """Tags for the `name`, `notes`, `tags` fields of a `run` record body, or (`changes`) of a `meta`
    record's, where notes nil means they were cleared."""
    tags: Dict[str, str] = {}
    if isinstance(body.get("name"), str) and body["name"]:
        tags["mlflow.runName"] = body["name"]
    if isinstance(body.get("notes"), str) or (changes and "notes" in body and body["notes"] is None):
        tags["mlflow.note.content"] = body["notes"] or ""
    if isinstance(body.get("tags"), (list, tuple)):
        tags["evlog.tags"] = ",".join(str(t) for t in body["tags"])
    return tags


def status_of_exit(body: Mapping[str, Any]) -> str:
    """The MLflow run status of an `exit` record: FINISHED (exit code 0), KILLED (interrupted by
    SIGTERM/SIGINT), else FAILED."""
    if body.get("interrupted") is True:
        return "KILLED"
    code = body.get("exit_code", 0)
    return "FINISHED" if code == 0 else "FAILED"


def run_page(uri: str, experiment_id: str, run_id: str) -> Optional[str]:
    """The MLflow UI page of a run, for an http(s) tracking URI."""
    if not uri.startswith(("http://", "https://")):
        return None
    return f"{uri.rstrip('/')}/#/experiments/{experiment_id}/runs/{run_id}"
