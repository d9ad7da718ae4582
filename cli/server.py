"""`evlog server`: run the server, and administer its accounts (users, teams, project visibility).

`evlog server [--db URL] [--host H] [--port P] [--workers N] [--allow-anonymous]` starts it; the
admin subcommands take `--db URL` after their own arguments (or $EVLOG_SERVER_DB).
"""
from __future__ import annotations

import errno
import os
import sys
from typing import Optional, Tuple

import click

_DB_HELP = "Database URL: sqlite:///path or postgresql+psycopg://user@host/db (default: $EVLOG_SERVER_DB, else an embedded SQLite file in the user's data folder)."


def _need_server_extra() -> None:
    try:
        import sqlalchemy  # noqa: F401
        import starlette  # noqa: F401
        import uvicorn  # noqa: F401
    except ImportError as exc:
        click.echo(f"evlog: the server needs the `server` extra: pip install 'evlog[server]' ({exc.name} is missing)",
                   err=True)
        raise click.exceptions.Exit(2)


def _engine(ctx: click.Context, db: Optional[str]):  # noqa: ANN202
    _need_server_extra()
    from eventlog.server.db import make_engine
    from eventlog.server.migrations import SchemaTooNewError, migrate

    url = db or (ctx.find_object(dict) or {}).get("db")
    engine = make_engine(url, pool_size=1)
    try:
        migrate(engine)
    except SchemaTooNewError as exc:
        click.echo(f"evlog: {exc}", err=True)
        raise click.exceptions.Exit(1)
    except Exception as exc:  # noqa: BLE001 - unreachable database and the like
        click.echo(f"evlog: cannot open the database: {type(exc).__name__}: {str(exc).splitlines()[0]}", err=True)
        raise click.exceptions.Exit(1)
    return engine


def _admin(fn, *args, **kwargs):  # noqa: ANN001, ANN002, ANN003, ANN202
    from eventlog.server.accounts import AdminError

    try:
        return fn(*args, **kwargs)
    except AdminError as exc:
        click.echo(f"evlog: {exc}", err=True)
        raise click.exceptions.Exit(1)


def _safe_url(url: str) -> str:
    from sqlalchemy.engine import make_url

    try:
        return make_url(url).render_as_string(hide_password=True)
    except Exception:  # noqa: BLE001
        return "<database>"


db_option = click.option("--db", "db", metavar="URL", default=None, help=_DB_HELP)


@click.group(name="server", invoke_without_command=True)
@db_option
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option("--port", default=8080, show_default=True, type=int, help="Port to listen on.")
@click.option("--workers", default=1, show_default=True, type=click.IntRange(1, 64), help="Worker processes.")
@click.option("--allow-anonymous", is_flag=True, help="Let clients create anonymous accounts (init(anonymous=...)).")
@click.option("--public-url", default=None, metavar="URL", help="Base URL printed in run URLs (behind a proxy).")
@click.option("--access-log/--no-access-log", default=False, show_default=True, help="Log every request.")
@click.pass_context
def server(ctx: click.Context, db: Optional[str], host: str, port: int, workers: int, allow_anonymous: bool,
           public_url: Optional[str], access_log: bool) -> None:
    """Run the evlog server (the "cloud" runs sync to), or administer it."""
    ctx.ensure_object(dict)["db"] = db
    if ctx.invoked_subcommand is not None:
        return
    _need_server_extra()
    import uvicorn

    from eventlog.server.config import ServerConfig
    from eventlog.server.db import resolve_url

    url = resolve_url(db)
    config = ServerConfig.from_env()  # limits and pool size: EVLOG_SERVER_* variables
    config.db_url = url
    config.allow_anonymous = allow_anonymous or config.allow_anonymous
    config.public_url = public_url or config.public_url
    _engine(ctx, url).dispose()  # create / upgrade the schema once, before the workers start
    _check_port(host, port)
    os.environ.update(config.to_env())
    click.echo(f"evlog server on http://{host}:{port} ({workers} worker{'s' * (workers > 1)}, "
               f"database {_safe_url(url)}{', anonymous allowed' if allow_anonymous else ''})", err=True)
    from eventlog.server.timeouts import HeaderTimeoutProtocol  # headers that never finish (spec/protocol.md 3.3)

    uvicorn.run("eventlog.server.app:create_app", factory=True, host=host, port=port, workers=workers,
                access_log=access_log, log_level="info" if access_log else "warning",
                timeout_graceful_shutdown=10, http=HeaderTimeoutProtocol)


def _check_port(host: str, port: int) -> None:
    """Fail before saying "serving" when the port cannot be bound (in use, or not ours to take)."""
    import socket

    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as uvicorn binds: TIME_WAIT is no conflict
        try:
            sock.bind((host, port))
        except OSError as exc:
            why = "is in use by another program" if exc.errno == errno.EADDRINUSE else f"cannot be used ({exc.strerror})"
            click.echo(f"evlog: port {port} on {host} {why}: stop that program, or pick another port with "
                       "--port N", err=True)
            raise click.exceptions.Exit(1)


def _when(t: Optional[float]) -> str:
    import datetime

    return datetime.datetime.fromtimestamp(t).strftime("%Y-%m-%d %H:%M") if t else "-"


def _table(header: Tuple[str, ...], rows: list) -> None:
    cells = [header] + [tuple(map(str, r)) for r in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(header))]
    for r in cells:
        click.echo("  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip())


@server.group()
def users() -> None:
    """Manage users."""


@users.command("ls")
@db_option
@click.pass_context
def users_ls(ctx: click.Context, db: Optional[str]) -> None:
    """List the users: name, role, live API keys, teams, when created."""
    from eventlog.server.admin_lists import list_users

    found = list_users(_engine(ctx, db))
    _table(("USER", "ROLE", "KEYS", "TEAMS", "CREATED"),
           [(u["name"], "admin" if u["admin"] else "anonymous" if u["anonymous"] else "user", u["keys"],
             ",".join(u["teams"]) or "-", _when(u["created_at"])) for u in found])
    click.echo(f"{len(found)} user{'s' if len(found) != 1 else ''}", err=True)


@users.command("add")
@click.argument("name")
@click.option("--admin", is_flag=True, help="Make the user a server admin (in every entity).")
@db_option
@click.pass_context
def users_add(ctx: click.Context, name: str, admin: bool, db: Optional[str]) -> None:
    """Create user NAME; prints its API key on the last line."""
    from eventlog.server.accounts import add_user

    key = _admin(add_user, _engine(ctx, db), name, admin=admin)
    click.echo(f"created {'admin ' if admin else ''}user {name}; its API key:")
    click.echo(key)


@users.command("key")
@click.argument("name")
@db_option
@click.pass_context
def users_key(ctx: click.Context, name: str, db: Optional[str]) -> None:
    """Make another API key for user NAME; prints it on the last line."""
    from eventlog.server.accounts import add_key

    click.echo(_admin(add_key, _engine(ctx, db), name))


@users.command("revoke")
@click.argument("name")
@click.option("--key", "key", default=None, help="Revoke only this key (default: every key of NAME).")
@db_option
@click.pass_context
def users_revoke(ctx: click.Context, name: str, key: Optional[str], db: Optional[str]) -> None:
    """Revoke API keys of user NAME: they stop working and their sign-ins end. `users key NAME`
    makes a new one."""
    from eventlog.server.accounts import revoke_keys

    n = _admin(revoke_keys, _engine(ctx, db), name, key)
    click.echo(f"revoked {n} key{'s' if n != 1 else ''} of {name}")


@server.group()
def teams() -> None:
    """Manage teams."""


@teams.command("add")
@click.argument("team")
@click.option("--member", "members", multiple=True, metavar="NAME", help="A user to add (repeatable).")
@db_option
@click.pass_context
def teams_add(ctx: click.Context, team: str, members: Tuple[str, ...], db: Optional[str]) -> None:
    """Create TEAM if needed and add members to it."""
    from eventlog.server.accounts import add_team

    names = _admin(add_team, _engine(ctx, db), team, members)
    click.echo(f"team {team}: {', '.join(names) or 'no members'}")


@server.group()
def projects() -> None:
    """Manage projects."""


@projects.command("ls")
@db_option
@click.pass_context
def projects_ls(ctx: click.Context, db: Optional[str]) -> None:
    """List the projects: entity/project, visibility, runs, last activity."""
    from eventlog.server.admin_lists import list_projects

    found = list_projects(_engine(ctx, db))
    _table(("PROJECT", "VISIBILITY", "RUNS", "LAST ACTIVITY"),
           [(p["path"], p["visibility"], p["runs"], _when(p["last_activity"])) for p in found])
    click.echo(f"{len(found)} project{'s' if len(found) != 1 else ''}", err=True)


@projects.command("set")
@click.argument("path", metavar="ENTITY/PROJECT")
@click.option("--visibility", type=click.Choice(["open", "private"]), required=True)
@db_option
@click.pass_context
def projects_set(ctx: click.Context, path: str, visibility: str, db: Optional[str]) -> None:
    """Set a project's visibility (creating it if needed)."""
    from eventlog.server.accounts import set_visibility

    vis, created = _admin(set_visibility, _engine(ctx, db), path, visibility)
    click.echo(f"{'created ' if created else ''}project {path}: {vis}")


if __name__ == "__main__":  # pragma: no cover
    sys.exit(server())
