"""`evlog runs ls [DIR]`: the run folders under a folder, their state, steps, size and sync status,
and for each run that did not finish (crashed, killed, preempted) the command that resumes it;
`evlog runs resume RUN`: run that command."""
from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Any, Dict, List

import click

from eventlog import Error
from eventlog.runapi.resume import from_log, lock_holder, resume_command
from eventlog.sinks.state import find_run_folders, run_facts, syncer_holder

from .sync import human_bytes


def folder_size(path: Path) -> int:
    total = 0
    for root, _dirs, files in os.walk(path):
        for name in files:
            try:
                total += os.lstat(os.path.join(root, name)).st_size
            except OSError:
                pass
    return total


def sink_status(facts, data: Dict[str, Any]) -> str:  # noqa: ANN001
    if data.get("error"):
        return "error"
    seq = int((data.get("cursor") or {}).get("seq", 0))
    behind = facts.next_seq - seq
    if behind <= 0:
        return "synced"
    return f"{behind} behind"


@click.group(name="runs")
def runs() -> None:
    """Look at run folders."""


@runs.command(name="ls")
@click.argument("directory", required=False, default=None)
@click.option("--json", "as_json", is_flag=True, help="One JSON object per run.")
def ls(directory: str, as_json: bool) -> None:
    """The run folders under DIRECTORY (default: ./evlog, else the current folder): id, name, state
    (running, finished, failed, crashed), steps, size, and for each sink whether it is synced."""
    if directory is None:
        directory = "evlog" if Path("evlog").is_dir() else "."
    base = Path(directory)
    if not base.exists():
        click.echo(f"evlog: {directory}: no such file or folder", err=True)
        sys.exit(2)
    folders = find_run_folders(base, depth=4)
    rows: List[Dict[str, Any]] = []
    for folder in folders:
        try:
            facts = run_facts(folder)
        except Error as exc:
            click.echo(f"evlog: {folder}: {exc}", err=True)
            continue
        sinks = {name: sink_status(facts, data) for name, data in sorted(facts.sinks.items())}
        holder = syncer_holder(facts.folder)
        resume_cmd = None
        if facts.state in ("crashed", "failed"):
            st = from_log(facts.folder)
            if st.resumable:
                resume_cmd = resume_command(facts.folder, st)
        rows.append({
            "folder": str(facts.folder), "id": facts.run_id, "name": facts.name, "state": facts.state,
            "steps": facts.steps, "records": facts.records, "size": folder_size(facts.folder),
            "sinks": sinks, "syncing": holder[0] if holder else None,
            "damaged": bool(facts.damage), "resume": resume_cmd,
        })
    if as_json:
        for row in rows:
            click.echo(json.dumps(row, sort_keys=True))
        return
    if not rows:
        click.echo(f"no run folders under {directory}")
        return
    table = [("ID", "NAME", "STATE", "STEPS", "SIZE", "SINKS", "FOLDER")]
    for row in rows:
        sinks = " ".join(f"{k}:{v}" for k, v in row["sinks"].items()) or "-"
        if row["syncing"]:
            sinks += f" (syncer pid {row['syncing']})"
        state = row["state"] + (" (damaged)" if row["damaged"] else "")
        try:
            shown = os.path.relpath(row["folder"])
        except ValueError:
            shown = row["folder"]
        table.append((row["id"], row["name"], state, str(row["steps"]), human_bytes(row["size"]), sinks, shown))
    widths = [max(len(r[i]) for r in table) for i in range(len(table[0]))]
    for r in table:
        click.echo("  ".join(c.ljust(widths[i]) if i < len(r) - 1 else c for i, c in enumerate(r)).rstrip())
    unfinished = [row for row in rows if row["resume"]]
    if unfinished:
        click.echo("")
        click.echo("runs that did not finish; each resumes with its command (or `evlog runs resume ID`):")
        for row in unfinished:
            click.echo(f"  {row['id']} ({row['state']}): {row['resume']}")
            click.echo(f"    evlog runs resume {row['id']}")


def _find(run: str) -> Path:
    """The run folder RUN names: a path, or a run id under ./evlog (else the current folder)."""
    p = Path(run)
    if (p / "log").is_dir():
        return p
    base = Path("evlog") if Path("evlog").is_dir() else Path(".")
    found = [f for f in find_run_folders(base, depth=4) if f.name.endswith(f"-{run}")]
    if len(found) != 1:
        what = "no run folder" if not found else f"{len(found)} run folders"
        click.echo(f"evlog: {what} for run {run!r} under {base.resolve()}: give the run folder's path "
                   "(`evlog runs ls` lists them)", err=True)
        sys.exit(2)
    return found[0]


@runs.command(name="resume")
@click.argument("run")
@click.option("--dry-run", is_flag=True, help="Print the command instead of running it.")
def resume_cmd(run: str, dry_run: bool) -> None:
    """Resume RUN (a run id, or its folder) that did not finish: run its program again, in its
    working directory, with EVLOG_RESUME=must and EVLOG_RUN_ID set, so init() continues the run."""
    folder = _find(run)
    try:
        st = from_log(folder)
    except Error as exc:
        click.echo(f"evlog: {folder}: {exc}", err=True)
        sys.exit(2)
    holder = lock_holder(folder)
    if holder is not None:
        click.echo(f"evlog: run {st.run_id} is running ({holder}): nothing to resume", err=True)
        sys.exit(2)
    if not st.resumable:
        code = (st.ended or {}).get("exit_code")
        state = "finished" if not code else f"failed (exit code {code})"
        click.echo(f"evlog: run {st.run_id} {state}: nothing to resume (init(id=..., resume=\"allow\") continues "
                   "it anyway)", err=True)
        sys.exit(2)
    cmd = resume_command(folder, st)
    prog = st.program or {}
    if cmd is None:
        click.echo(f"evlog: run {st.run_id} was not started from a script that can be run again; run your "
                   f"program with EVLOG_RESUME=must EVLOG_RUN_ID={st.run_id}", err=True)
        sys.exit(2)
    if dry_run:
        click.echo(cmd)
        return
    click.echo(f"evlog: resuming run {st.run_id}: {cmd}", err=True)
    env = dict(os.environ, EVLOG_RESUME="must", EVLOG_RUN_ID=str(st.run_id),
               EVLOG_DIR=str(Path(folder).resolve().parent.parent))
    argv = [prog.get("executable") or "python3", *prog["argv"]]
    try:
        if prog.get("cwd"):
            os.chdir(prog["cwd"])
        os.execvpe(argv[0], argv, env)
    except OSError as exc:
        click.echo(f"evlog: cannot run {argv[0]}: {exc}", err=True)
        sys.exit(2)
