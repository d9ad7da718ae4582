"""`evlog login`: check an API key against the server and store it for this user."""
from __future__ import annotations

import sys
from typing import Optional

import click


@click.command()
@click.argument("key", required=False)
@click.option("--host", default=None, metavar="URL",
              help="The evlog server (default: $EVLOG_BASE_URL, else the last one logged in to).")
@click.option("--timeout", default=10.0, show_default=True, help="Seconds to wait for the server.")
def login(key: Optional[str], host: Optional[str], timeout: float) -> None:
    """Log in to an evlog server with API KEY (asked for when not given)."""
    from eventlog import Error, PermissionDenied, ServerUnreachableError
    from eventlog.client import accounts as api, credentials

    url = credentials.normalize_url(host) if host else credentials.base_url()
    if not key:
        if sys.stdin.isatty():
            key = click.prompt(f"API key for {url}", hide_input=True)
        else:
            key = sys.stdin.readline()
    key = (key or "").strip()
    if not key:
        click.echo("evlog: no API key given", err=True)
        raise click.exceptions.Exit(2)
    try:
        who = api.whoami(url, key, timeout)
    except PermissionDenied:
        click.echo(f"evlog: the API key was not accepted by {url}; nothing was stored", err=True)
        raise click.exceptions.Exit(1)
    except (ServerUnreachableError, Error) as exc:
        click.echo(f"evlog: {exc}; nothing was stored", err=True)
        raise click.exceptions.Exit(1)
    path = credentials.save(url, key, who.get("user"))
    click.echo(f"Logged in to {url} as {who.get('user')} (key stored in {path}).")
    if credentials.lookup(url).source == "env":
        click.echo("evlog: note: EVLOG_API_KEY (or WANDB_API_KEY) is set and overrides the stored key", err=True)
