"""`evlog export RUN`: a run's history as CSV or JSON Lines (eventlog/rundir/export.py)."""
from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Optional

import click

from eventlog import Error
from eventlog.rundir import export
from eventlog.logfile.reader import log_start_seq

from .runs import _find


@click.command(name="export")
@click.argument("run")
@click.option("--format", "fmt", type=click.Choice(export.FORMATS), default=None,
              help="csv or jsonl (default: from the --output name's suffix, else csv).")
@click.option("--keys", default=None, help="Only these keys, comma-separated (nested keys as eval/acc).")
@click.option("-o", "--output", type=click.Path(dir_okay=False), default=None,
              help="Write to this file (whole or not at all) instead of standard output.")
def export_cmd(run: str, fmt: Optional[str], keys: Optional[str], output: Optional[str]) -> None:
    """Write the history of RUN (a run folder, or a run id under ./evlog) as CSV or JSON Lines:
    one line per step, a `_step` column, nested keys joined with "/". Damaged parts of the log are
    reported on standard error and left out; the rest is exported."""
    folder = _find(run)
    if fmt is None:
        fmt = "jsonl" if output and output.lower().endswith((".jsonl", ".ndjson")) else "csv"
    key_list = [k for k in keys.split(",") if k] if keys else None
    reported = set()

    def damaged(d) -> None:  # noqa: ANN001 - a Damage; the CSV reads the log twice, so report once
        if (d.file, d.offset) not in reported:
            reported.add((d.file, d.offset))
            click.echo(f"evlog: {d}; those records are left out", err=True)

    try:
        start = log_start_seq(folder)
        lines = export.lines(fmt, export.folder_rows(folder, on_damage=damaged), key_list)
        if output is None:
            out = sys.stdout
            for line in lines:
                out.write(line)
            out.flush()
        else:
            tmp = Path(f"{output}.{os.getpid()}.tmp")
            try:
                with open(tmp, "w", encoding="utf-8", newline="") as f:
                    f.writelines(lines)
                os.replace(tmp, output)
            finally:
                tmp.unlink(missing_ok=True)
    except Error as exc:
        click.echo(f"evlog: {exc}", err=True)
        sys.exit(2)
    if start > 0:
        click.echo(f"evlog: this run folder's log begins at record {start}: the run was resumed from the "
                   "server, which holds the history before it (download it from the run's page)", err=True)
