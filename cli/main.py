"""The `evlog` command group: thin click commands over library calls."""
from __future__ import annotations

import sys
from pathlib import Path
from typing import Optional, Tuple

import click

from eventlog import Error, __version__
from eventlog.logfile.inspect import format_record, record_json, verify
from eventlog.logfile.reader import LogReader, resolve_run_folder
from eventlog.records.types import RECORD_TYPES  # what `tail --type` takes
from eventlog.sinks.state import find_run_folders

USAGE_EXIT = 2


def _usage_fail(message: str) -> "click.exceptions.Exit":
    click.echo(f"evlog: {message}", err=True)
    return click.exceptions.Exit(USAGE_EXIT)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="evlog")
def main() -> None:
    """evlog: experiment tracking on an append-only event log."""


@main.command()
@click.argument("path")
@click.option("--follow", "-f", is_flag=True, help="Keep printing new records as they arrive.")
@click.option("--json", "as_json", is_flag=True, help="One JSON object per line.")
@click.option("--type", "types", multiple=True, metavar="T", help="Only records of this type (repeatable).")
@click.option("--until-exit/--no-until-exit", default=True, show_default=True,
              help="With --follow: stop after the run's exit record.")
def tail(path: str, follow: bool, as_json: bool, types: Tuple[str, ...], until_exit: bool) -> None:
    """Print the records of the run folder PATH."""
    def warn(d) -> None:  # noqa: ANN001
        click.echo(f"evlog: warning: damage: {d}", err=True)

    unknown = sorted(set(types) - set(RECORD_TYPES))
    if unknown:
        raise _usage_fail(f"--type {unknown[0]}: no such record type; the types are: {', '.join(RECORD_TYPES)}")
    try:
        reader = LogReader(path, on_damage=warn)
    except Error as exc:
        raise _usage_fail(str(exc))
    stream = reader.follow(until_exit=until_exit) if follow else reader.records()
    out = sys.stdout
    try:
        for rec in stream:
            if types and rec.type not in types:
                continue
            out.write((record_json(rec) if as_json else format_record(rec)) + "\n")
            if follow:
                out.flush()
    except KeyboardInterrupt:
        pass
    except BrokenPipeError:
        sys.stderr.close()
        return
    except Error as exc:  # e.g. FormatVersionError: one clear line, not a traceback
        out.flush()
        raise _usage_fail(f"{path}: {exc}")
    if reader.pending_bytes and not follow:
        click.echo(f"evlog: {reader.pending_bytes} bytes at the end are not yet readable (torn or in-flight frame)",
                   err=True)


@main.command(name="verify")
@click.argument("paths", nargs=-1, required=True)
def verify_cmd(paths: Tuple[str, ...]) -> None:
    """Check run folders for damage: exit 0 when clean, 1 when damage was found, 2 on usage errors.

    PATH is a run folder or a folder holding runs (each run in it is verified), as for `evlog sync`."""
    folders = []
    for p in paths:
        try:
            folders.append(resolve_run_folder(p))
        except Error as exc:
            holder = Path(p).is_dir() and not (Path(p) / "log").exists()
            found = find_run_folders(Path(p)) if holder else []
            if not found:
                raise _usage_fail(f"{p}: no evlog run folder there (a run folder has a log/ folder)"
                                  if holder else str(exc))
            folders.extend(f.resolve() for f in found)
    damaged_runs = 0
    for folder in folders:
        try:
            report = verify(folder)
        except Error as exc:  # e.g. FormatVersionError: one clear line, not a traceback
            raise _usage_fail(f"{folder}: {exc}")
        if report.clean:
            torn = "; a torn tail (below)" if report.pending_bytes else ""
            click.echo(f"ok {report.folder}: {report.records} records, clean{torn}")
        else:
            click.echo(f"DAMAGED {report.folder}: {report.records} records recovered")
        for d in report.damage:
            click.echo(f"  damage: {d.file} offset {d.offset}: {d.length} bytes lost ({d.reason})")
        for first, count in report.seq_gaps:
            click.echo(f"  missing: {count} records from seq {first}")
        if report.pending_bytes:
            click.echo(f"  torn tail: {report.pending_bytes} bytes not yet readable at the end")
        damaged_runs += not report.clean
    if len(folders) > 1:
        click.echo(f"{len(folders)} runs verified: {len(folders) - damaged_runs} clean, {damaged_runs} damaged")
    sys.exit(1 if damaged_runs else 0)


from .export import export_cmd  # noqa: E402
from .importcmd import import_group  # noqa: E402
from .login import login  # noqa: E402  (the other command modules import nothing from here)
from .runs import runs as _runs_group  # noqa: E402
from .server import server  # noqa: E402
from .server_runs import runs as _server_runs  # noqa: E402  (it imports cli/server.py's _engine)
from .sync import sync as _sync_command  # noqa: E402

server.add_command(_server_runs)  # `evlog server runs delete`
main.add_command(server)
main.add_command(login)
main.add_command(_sync_command)
main.add_command(_runs_group)
main.add_command(export_cmd)
main.add_command(import_group)

if __name__ == "__main__":  # pragma: no cover
    main()
