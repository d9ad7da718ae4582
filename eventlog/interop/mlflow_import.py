"""`evlog import mlflow --tracking-uri URI [--experiment NAME]`: MLflow runs as evlog runs.

Read through MLflow's own client (the `mlflow` extra). Per run: params -> config (numbers and
booleans that MLflow stored as text become numbers/booleans again), the full history of every metric
(`get_metric_history`) -> history rows at their steps, each row at its latest timestamp;
`mlflow.runName` -> name, `mlflow.note.content` -> notes, `mlflow.parentRunId` -> group (the parent's
name), git tags -> the run record's `git`, the other `mlflow.*` tags kept in `source.tags`, user tags
-> evlog tags (`key` or `key:value`; longer than a tag may be: config `mlflow.tags`); status ->
the exit record (FINISHED 0, FAILED 1, KILLED 130 + interrupted); start/end times; the artifact
listing -> the summary field `mlflow.artifacts` (a list of {path, size}: listed, not downloaded).
Runs still RUNNING/SCHEDULED are skipped (import them once they have ended).
"""
from __future__ import annotations

import re
from typing import Any, Callable, Dict, List, Optional, Tuple

SOURCE_KIND = "mlflow"
EXIT_CODES = {"FINISHED": 0, "FAILED": 1, "KILLED": 130}
ARTIFACTS_KEY = "mlflow.artifacts"
MAX_ARTIFACTS = 10_000  # entries listed per run at most (the rest are counted in the report)
_INT = re.compile(r"-?\d{1,18}")
_FLOAT = re.compile(r"-?(\d+\.\d*|\.\d+|\d+)([eE][-+]?\d+)?|-?(inf|nan)", re.IGNORECASE)
_SEARCH_PAGE = 1000
PROBE_TIMEOUT = 10.0


def param_value(text: str) -> Any:
    """A param as it was before MLflow stored it as text: int, float, bool or None where `str()` of
    one gives exactly this text back; otherwise the text."""
    if _INT.fullmatch(text):
        return int(text) if str(int(text)) == text else text
    if _FLOAT.fullmatch(text):
        x = float(text)
        if text.lower().lstrip("-") in ("inf", "nan") or repr(x) == text or str(x) == text:
            return x
        return text
    return {"True": True, "False": False, "None": None}.get(text, text)


def _client(tracking_uri: str):
    from ..errors import ImportSourceError

    try:
        from mlflow.tracking import MlflowClient
    except ImportError:
        raise ImportSourceError("importing from MLflow needs the mlflow package: pip install 'evlog[mlflow]'") \
            from None
    return MlflowClient(tracking_uri=tracking_uri)


def _probe(tracking_uri: str) -> None:
    """Fail at once when an HTTP tracking server does not answer (MLflow's client retries for minutes)."""
    from ..errors import ImportSourceError

    if not tracking_uri.startswith(("http://", "https://")):
        return
    import requests

    try:
        requests.get(tracking_uri.rstrip("/") + "/health", timeout=PROBE_TIMEOUT)
    except requests.RequestException as exc:
        raise ImportSourceError(f"--tracking-uri {tracking_uri}: no answer from there ({type(exc).__name__}); "
                                "is the MLflow server running at that address?") from None


def _experiments(client, experiment: Optional[str], tracking_uri: str) -> list:
    from ..errors import ImportSourceError

    if experiment is None:
        return list(client.search_experiments())
    found = client.get_experiment_by_name(experiment)
    if found is None and experiment.isdigit():
        try:
            found = client.get_experiment(experiment)
        except Exception:  # noqa: BLE001 - MLflow raises when the id does not exist
            found = None
    if found is None:
        names = sorted(e.name for e in client.search_experiments())
        raise ImportSourceError(f"--experiment {experiment!r}: no such experiment at {tracking_uri}; "
                                f"the experiments there are: {', '.join(names) or '(none)'}")
    return [found]


def runs_of(client, experiment_id: str) -> list:
    """Every active run of an experiment, oldest first (search_runs pages)."""
    out, token = [], None
    while True:
        page = client.search_runs([experiment_id], max_results=_SEARCH_PAGE, page_token=token,
                                  order_by=["attributes.start_time ASC"])
        out.extend(page)
        token = getattr(page, "token", None)
        if not token:
            return out


def metric_rows(client, run_id: str, keys) -> Tuple[Dict[int, Tuple[float, dict]], int, int]:
    """(step -> (latest timestamp in s, {key: value}), values read, values replaced by a later one of the
    same key and step) from the full history of each metric."""
    rows: Dict[int, Tuple[float, dict]] = {}
    read = replaced = 0
    for key in sorted(keys):
        history = sorted(client.get_metric_history(run_id, key), key=lambda m: (m.step, m.timestamp))
        for m in history:
            read += 1
            t = m.timestamp / 1000.0
            row_time, row = rows.get(m.step, (t, None))
            if row is None:
                row = {}
            rows[m.step] = (max(row_time, t), row)
            if key in row:
                replaced += 1
            row[key] = m.value
    return rows, read, replaced


def artifact_listing(client, run_id: str, limit: int = MAX_ARTIFACTS) -> Tuple[List[dict], int]:
    """([{path, size}] of the run's artifact files, depth first in path order, at most `limit`; how many more)."""
    out: List[dict] = []
    more = 0
    pending = [None]
    while pending:
        path = pending.pop()
        entries = sorted(client.list_artifacts(run_id, path), key=lambda f: f.path, reverse=True)
        for f in entries:
            if f.is_dir:
                pending.append(f.path)
            elif len(out) < limit:
                out.append({"path": f.path, "size": f.file_size})
            else:
                more += 1
    out.sort(key=lambda e: e["path"])
    return out, more


def _tags(tags: Dict[str, str]) -> Tuple[List[str], Dict[str, str], Dict[str, str]]:
    """(evlog tags, user tags too long to be one (config), mlflow.* system tags)."""
    from ..runapi.settings import TAG_MAX

    labels, long, system = [], {}, {}
    for k in sorted(tags):
        v = tags[k]
        if k.startswith("mlflow."):
            system[k] = v
            continue
        label = k if v in ("", "true", "True") else f"{k}:{v}"
        label = label.strip()
        if label and len(label) <= TAG_MAX and "\n" not in label:
            labels.append(label)
        else:
            long[k] = v
    return labels, long, system


def _git(system: Dict[str, str]) -> Optional[dict]:
    commit = system.get("mlflow.source.git.commit")
    if not commit:
        return None
    return {"commit": commit, "branch": system.get("mlflow.source.git.branch"),
            "remote": system.get("mlflow.source.git.repoURL"), "dirty": None, "diff_file": None}


def import_mlflow(tracking_uri: str, root_dir: str, *, experiment: Optional[str] = None, report=None,
                  progress: Optional[Callable[[int, int], None]] = None):
    """Import the runs of `experiment` (a name or id; all experiments when None) from the MLflow tracking
    server or store at `tracking_uri` into `<root_dir>/evlog/`; runs imported before are skipped.
    `progress(done, total)` is called once the runs are listed and after each run. Returns the ImportReport."""
    from ..errors import ImportSourceError
    from .newrun import ImportReport

    report = report if report is not None else ImportReport()
    _probe(tracking_uri)
    try:
        client = _client(tracking_uri)
        exps = _experiments(client, experiment, tracking_uri)
    except ImportSourceError:
        raise
    except Exception as exc:  # noqa: BLE001 - MlflowException, connection errors: say where, not a traceback
        raise ImportSourceError(f"--tracking-uri {tracking_uri}: cannot list the experiments there "
                                f"({type(exc).__name__}: {str(exc)[:600]}); is it an MLflow tracking server or store?") \
            from None
    todo = []
    for exp in exps:
        runs = runs_of(client, exp.experiment_id)
        if not runs and experiment is not None:
            report.skip(f"experiment {exp.name!r}", "it has no runs")
        todo.extend((exp, r) for r in runs)
    names = {r.info.run_id: (r.info.run_name or r.data.tags.get("mlflow.runName") or r.info.run_id) for _, r in todo}
    if progress is not None:
        progress(0, len(todo))
    for i, (exp, run) in enumerate(todo):
        _import_run(client, tracking_uri, exp, run, names, root_dir, report)
        if progress is not None:
            progress(i + 1, len(todo))
    return report


def _import_run(client, tracking_uri: str, exp, run, names: Dict[str, str], root_dir: str, report) -> None:
    from .newrun import ImportedRun, derived_run_id, find_imported

    info, data = run.info, run.data
    name = names[info.run_id]
    what = f"{exp.name}/{name} ({info.run_id})"
    run_id = derived_run_id("mlflow", info.run_id)
    done = find_imported(root_dir, run_id)
    if done is not None:
        report.skip(what, f"imported before as {done}")
        return
    if info.status not in EXIT_CODES:
        report.skip(what, f"it is {info.status}: import it again once it has ended")
        return
    start = (info.start_time or 0) / 1000.0
    labels, long_tags, system = _tags(dict(data.tags))
    config = {k: param_value(v) for k, v in data.params.items()}
    if long_tags:
        config["mlflow.tags"] = long_tags
    parent = system.get("mlflow.parentRunId")
    group = names.get(parent, parent) if parent else None
    source = {"kind": SOURCE_KIND, "tracking_uri": tracking_uri, "experiment_id": exp.experiment_id,
              "experiment": exp.name, "run_id": info.run_id, "artifact_uri": info.artifact_uri,
              "user": info.user_id, "status": info.status, "tags": system}
    program = {"path": system.get("mlflow.source.name")}
    rows, _, replaced = metric_rows(client, info.run_id, data.metrics.keys())
    artifacts, more = artifact_listing(client, info.run_id)
    end = (info.end_time / 1000.0) if info.end_time else max([start] + [t for t, _ in rows.values()])
    with ImportedRun(root_dir, run_id, name=name, project=exp.name, group=group,
                     notes=system.get("mlflow.note.content"), tags=labels, start_time=start, config=config,
                     source=source, program=program, git=_git(system), report=report) as out:
        for step in sorted(rows):
            t, row = rows[step]
            out.history(step, row, t)
        if artifacts:
            out.summary({ARTIFACTS_KEY: artifacts}, end)
        out.finish(EXIT_CODES[info.status], end, interrupted=info.status == "KILLED")
    if replaced:
        report.warn(what, f"{replaced} metric values shared a step with a later value of the same key "
                    "(logged without a step?): the latest is kept")
    if more:
        report.warn(what, f"{more} more artifacts are not listed (at most {MAX_ARTIFACTS})")
