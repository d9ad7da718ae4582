"""`evlog runs ls [DIR]`: the run folders under a folder, their state, steps, size and sync status."""
from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Any, Dict, List

import click

from eventlog import Error
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
        rows.append({
            "folder": str(facts.folder), "id": facts.run_id, "name": facts.name, "state": facts.state,
            "steps": facts.steps, "records": facts.records, "size": folder_size(facts.folder),
            "sinks": sinks, "syncing": holder[0] if holder else None,
            "damaged": bool(facts.damage),
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
