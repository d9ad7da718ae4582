"""The run banner: what init() prints before it returns (so it comes before the program's own next
print, as wandb's does), and the stdout sink prints for a syncer that init() did not start.

The syncer gets BANNER_PRINTED=1 in its environment when init() printed the banner itself, and its
stdout sink then leaves the banner out (spec/sinks.md, the stdout sink).
"""
from __future__ import annotations

import os
import shlex
import sys
from typing import Any, Iterable, List, Mapping, Optional

from .. import protocol

PREFIX = "evlog: "
BANNER_PRINTED = "EVLOG_BANNER_PRINTED"


def run_url(run: Mapping[str, Any], env: Mapping[str, str]) -> Optional[str]:
    """The run's page on the evlog server: the run record's `url`, else one made from the server
    (EVLOG_BASE_URL) and the run's entity; None offline, or while the entity is not known (a run
    started with the server unreachable: its page's address is known once the server answers)."""
    if run.get("mode") == "offline":
        return None
    if run.get("url"):
        return str(run["url"]).rstrip("/")
    base = env.get("EVLOG_BASE_URL") or env.get("WANDB_BASE_URL")
    if not base or not run.get("entity"):
        return None
    return protocol.run_url(str(base), str(run["entity"]), str(run.get("project") or protocol.DEFAULT_PROJECT),
                            str(run.get("id", "")), quoted=False)


def project_url(run: Mapping[str, Any], env: Mapping[str, str]) -> Optional[str]:
    """The run's project page (the run page's address without `/runs/<id>`), when that is known."""
    return protocol.project_url(run_url(run, env))


def sync_command(folder: Any) -> str:
    return f"evlog sync {shlex.quote(str(folder))}"


def start_lines(run: Mapping[str, Any], folder: Any, env: Mapping[str, str]) -> List[str]:
    """The banner of a new run, from its `run` record."""
    name = str(run.get("name") or run.get("id"))
    lines = [f"Tracking run {name} (id {run.get('id')})"]
    if run.get("project"):
        lines.append(f"Project: {run['entity'] + '/' if run.get('entity') else ''}{run['project']}")
    lines.append(f"Run folder: {folder}")
    url = run_url(run, env)
    if url:
        lines.append(f"View run at {url}")
    elif run.get("mode") == "online":
        lines.append("The server could not be reached: the run is stored locally and its syncer uploads it "
                     f"once the server answers (or later: {sync_command(folder)})")
    else:
        lines.append(f"Offline: the run is stored locally; sync it later with: {sync_command(folder)}")
    return lines


def resume_lines(name: str, run_id: str, session: Any, folder: Any) -> List[str]:
    """The banner of a resumed session."""
    return [f"Resuming run {name} (id {run_id}), session {session}", f"Run folder: {folder}"]


def block(lines: Iterable[str]) -> str:
    """The lines as printed: each prefixed, an empty line as the bare prefix."""
    return "".join((PREFIX + line if line else PREFIX.rstrip()) + "\n" for line in lines)


def show(lines: Iterable[str]) -> None:
    """Print the lines on the program's stdout in one write, after what it printed before."""
    text = block(lines)
    try:
        sys.stdout.write(text)
        sys.stdout.flush()
    except (OSError, ValueError, AttributeError):  # no stdout (closed, a daemon): the banner is a nicety
        pass


def stdout_sink_on(env: Mapping[str, str]) -> bool:
    """Whether a live syncer with this environment runs the stdout sink (EVLOG_SINKS may leave it out)."""
    chosen = env.get("EVLOG_SINKS")
    if chosen is None or not chosen.strip():
        return True
    names = [p.strip() for p in chosen.replace(" ", ",").split(",") if p.strip()]
    return "stdout" in names


def syncer_env(env: Optional[Mapping[str, str]]) -> dict:
    """The syncer's environment once init() has printed the banner."""
    out = dict(os.environ if env is None else env)
    out[BANNER_PRINTED] = "1"
    return out


def for_run(run: Any, env: Mapping[str, str]) -> List[str]:
    """The banner of a Run init() just opened: a new run's, or a resumed session's."""
    if run.resumed:
        return resume_lines(run.name, run.id, run._session, run.folder)
    body = {"id": run.id, "name": run.name, "project": run.project, "entity": run.entity, "mode": run.mode,
            "url": run.url}
    return start_lines(body, run.folder, env)
