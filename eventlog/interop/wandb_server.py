"""`evlog import wandb --from-server ENTITY/PROJECT`: the runs of a wandb project read through wandb's
public `Api` (WANDB_API_KEY or `wandb login`): name, notes, tags, group, job_type, config, history
rows at their steps and times, summary, state. Media values in rows are not downloaded (reported).

UNTESTED: no wandb server is reachable where evlog is tested; the folder importer
(wandb_import.py) is the tested path: download runs with `wandb sync`'s folders instead when you can.
"""
from __future__ import annotations

from datetime import datetime, timezone
from typing import Any, Optional

from ..errors import ImportSourceError
from .newrun import ImportedRun, ImportReport, derived_run_id, find_imported
from .wandb_values import INTERNAL_KEYS, is_wandb_media

_EXIT = {"finished": 0, "failed": 1}


def _time(text: Any) -> Optional[float]:
    if not isinstance(text, str) or not text:
        return None
    try:
        t = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None
    return (t if t.tzinfo else t.replace(tzinfo=timezone.utc)).timestamp()


def import_from_server(spec: str, root_dir: str, *, project: Optional[str] = None, entity: Optional[str] = None,
                       report: Optional[ImportReport] = None) -> ImportReport:
    """Import every run of the wandb project `spec` ("entity/project") into `<root_dir>/evlog/`."""
    from .wandb_log import record_class

    record_class()  # the real wandb package
    import wandb

    report = report if report is not None else ImportReport()
    src_entity, _, src_project = spec.partition("/")
    if not src_entity or not src_project or "/" in src_project:
        raise ImportSourceError(f"--from-server {spec!r}: give ENTITY/PROJECT, e.g. my-team/my-project")
    try:
        runs = list(wandb.Api().runs(f"{src_entity}/{src_project}"))
    except Exception as exc:  # noqa: BLE001 - wandb raises many kinds (auth, network, not found)
        raise ImportSourceError(f"--from-server {spec}: wandb's API refused ({type(exc).__name__}: {exc}); log in "
                                "with `wandb login` or set WANDB_API_KEY") from None
    for r in runs:
        run_id = derived_run_id("wandb", r.id)
        if find_imported(root_dir, run_id) is not None:
            report.skip(f"wandb run {spec}/{r.id}", f"imported before, as {find_imported(root_dir, run_id)}")
            continue
        meta = getattr(r, "metadata", None) or {}
        start = _time(getattr(r, "created_at", None)) or 0.0
        program = {"argv": [meta.get("program", "")] + list(meta.get("args") or []), "path": meta.get("program"),
                   "python": meta.get("python"), "host": meta.get("host"), "os": meta.get("os"),
                   "executable": meta.get("executable")}
        config = {k: v for k, v in dict(r.config).items() if not k.startswith("_wandb")}
        src = {"kind": "wandb", "run_id": r.id, "entity": src_entity, "project": src_project, "server": True}
        with ImportedRun(root_dir, run_id, name=r.name or r.id, project=project or src_project, entity=entity,
                         group=r.group, job_type=r.job_type, notes=r.notes, tags=list(r.tags or ()),
                         start_time=start, config=config, source=src, program=program, report=report) as run:
            t = start
            for row in r.scan_history():
                step = row.get("_step")
                t = row.get("_timestamp") or t
                data = {}
                for k, v in row.items():
                    if k in INTERNAL_KEYS or v is None:
                        continue
                    if is_wandb_media(v):
                        report.skip(f"{run_id} step {step} {k!r}", "media are not downloaded from a wandb server")
                        continue
                    data[k] = v
                if data and isinstance(step, int):
                    run.history(step, data, t)
            summary = {k: v for k, v in dict(r.summary).items()
                       if k not in INTERNAL_KEYS and not is_wandb_media(v) and k not in run.current_summary}
            if summary:
                run.summary(summary, t)
            runtime = dict(r.summary).get("_runtime")
            end = start + runtime if isinstance(runtime, (int, float)) else t
            if r.state in _EXIT:
                run.finish(_EXIT[r.state], max(end, t))
            else:
                report.warn(run_id, f"the wandb run is {r.state}: imported without an end")
    return report
