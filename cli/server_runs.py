"""`evlog server runs delete ENTITY/PROJECT/RUN_ID`: delete a run directly on the server's
database (server/deletion.py): its data and files go, its id stays reserved."""
from __future__ import annotations

from typing import Optional

import click


@click.group(name="runs")
def runs() -> None:
    """Manage runs."""


@runs.command("delete")
@click.argument("path", metavar="ENTITY/PROJECT/RUN_ID")
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
@click.option("--db", "db", metavar="URL", default=None, help="Database URL (as `evlog server --db`).")
@click.pass_context
def runs_delete(ctx: click.Context, path: str, yes: bool, db: Optional[str]) -> None:
    """Delete run RUN_ID of ENTITY/PROJECT with its history, files and logs. This cannot be undone,
    and the run id can never be used again in that project."""
    from .server import _engine

    parts = path.split("/")
    if len(parts) != 3 or not all(parts):
        raise click.BadParameter(f"give the run as ENTITY/PROJECT/RUN_ID, got {path!r}", param_hint="PATH")
    entity, project, run_id = parts
    engine = _engine(ctx, db)
    if not yes:
        click.confirm(f"Delete run {path} and all its data for good (its id can never be used again)?", abort=True)
    from eventlog.server.deletion import delete_run
    from eventlog.server.errors import ApiError

    try:
        delete_run(engine, None, entity, project, run_id, admin=True)
    except ApiError as exc:
        click.echo(f"evlog: {exc.message}", err=True)
        raise click.exceptions.Exit(1)
    finally:
        engine.dispose()
    click.echo(f"deleted run {path}; its id stays reserved")
