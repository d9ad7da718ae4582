"""`evlog sync PATH... [--sink NAME]... [--include-synced]`: replay run folders into sinks."""
from __future__ import annotations

import glob
import os
import sys
import threading
import time
from pathlib import Path
from typing import List, Optional, Tuple

import click

from eventlog import Error
from eventlog.sinks.base import DETACHED, SinkError, env_value
from eventlog.sinks.registry import available, load, select
from eventlog.sinks.state import (
    SyncerLock,
    find_run_folders,
    log_bytes,
    previous_sinks,
    syncer_holder,
)
from eventlog.sinks.syncer import Syncer, run_info


def human_bytes(n: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB"):
        if n < 1024 or unit == "GiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.1f} GiB"  # pragma: no cover


def expand_paths(paths: Tuple[str, ...]) -> Tuple[List[Path], List[str]]:
    """Run folders named by the arguments (run folders, folders holding runs, globs), and errors."""
    found: List[Path] = []
    errors: List[str] = []
    seen = set()
    for p in paths:
        candidates = [p]
        if not os.path.exists(p) and glob.has_magic(p):
            candidates = sorted(glob.glob(p))
            if not candidates:
                errors.append(f"{p}: no file or folder matches")
                continue
        for c in candidates:
            if not os.path.exists(c):
                errors.append(f"{c}: no such file or folder")
                continue
            folders = find_run_folders(Path(c))
            if not folders:
                errors.append(f"{c}: no evlog run folder there (a run folder has a log/ folder)")
            for f in folders:
                key = f.resolve()
                if key not in seen:
                    seen.add(key)
                    found.append(key)
    return found, errors


class _Progress:
    """One self-rewriting line on stderr (a terminal only): records every sink acknowledged, and bytes."""

    def __init__(self, syncer: Syncer, label: str) -> None:
        self.syncer = syncer
        self.before = [r.cp["total"] for r in syncer.runners]  # acknowledged in earlier sessions
        self.label = label
        self.sizes = log_bytes(syncer.folder)
        self.total = sum(s for _, s in self.sizes) or 1
        self.tty = sys.stderr.isatty()
        self.done = threading.Event()
        self.thread = threading.Thread(target=self._loop, daemon=True) if self.tty else None

    def start(self) -> None:
        if self.thread is not None:
            self.thread.start()

    def _line(self) -> str:
        runners = self.syncer.runners
        # acknowledged: the checkpointed cursors (for the HTTP sink, what the server answered for)
        records = min((r.cp["total"] - b for r, b in zip(runners, self.before)), default=0)
        done = sum(min(r.bytes_done(self.sizes), self.total) for r in runners) / max(len(runners), 1)
        pct = 100.0 * done / self.total
        return (f"\rsyncing {self.label}: {records:,} records, "
                f"{human_bytes(done)}/{human_bytes(self.total)} ({pct:.0f}%) ")

    def _loop(self) -> None:
        while not self.done.wait(0.2):
            sys.stderr.write(self._line())
            sys.stderr.flush()

    def stop(self) -> None:
        self.done.set()
        if self.thread is not None:
            self.thread.join()
            sys.stderr.write("\r\033[K")
            sys.stderr.flush()


def sync_folder(folder: Path, sinks: Tuple[str, ...], include_synced: bool) -> Tuple[bool, str, List[str]]:
    """Sync one run folder: (ok, the line to print, extra lines for stderr)."""
    name = folder.name
    lock = SyncerLock(folder)
    try:
        got = lock.acquire("evlog sync", wait=0.0)
    except OSError as exc:
        return False, f"FAILED {folder}: cannot take the sync lock: {exc}", []
    if not got:
        holder = syncer_holder(folder)
        who = f"pid {holder[0]}" if holder and holder[0] > 0 else "another process"
        return False, (f"FAILED {folder}: its syncer ({who}) is delivering it right now; "
                       "try again once that process has ended"), []
    try:
        try:
            run_id, run, _ = run_info(folder)
        except Error as exc:
            return False, f"FAILED {folder}: {exc}", []
        previous = previous_sinks(folder)
        extra: List[str] = []
        try:
            classes = select(run, os.environ, live=False, requested=list(sinks) or None, previous=previous,
                             warn=lambda m: extra.append(f"warning: {m}"))
        except SinkError as exc:
            return False, f"FAILED {folder}: {exc}", extra
        if not classes and not sinks and env_value(os.environ, "EVLOG_SINKS") is None:
            classes = [load("http")]  # as `wandb sync`: upload to the server (which says when not logged in)
        if not classes:
            names = ", ".join(sorted(available()))
            return False, (f"FAILED {folder}: no sink to sync to: none is enabled for this run; "
                           f"choose with --sink NAME (installed: {names})"), extra
        syncer = Syncer(folder, classes, live=False, run_id=run_id or name, run=run,
                        warn=lambda m: extra.append(f"warning: {m}"), reset=include_synced)
        progress = _Progress(syncer, name)
        started = time.monotonic()
        progress.start()
        try:
            results = syncer.run_all()
        finally:
            progress.stop()
        took = time.monotonic() - started
        for d in syncer.damage:
            extra.append(f"damage: {d.file} offset {d.offset}: {d.length} bytes unreadable ({d.reason}); "
                         "every readable record was delivered")
        failed = [r for r in results if r.error]
        if failed:
            why = "; ".join(f"sink {r.name}: {r.error}" for r in failed)
            # a sink's final refusal is also warned as it happens: say it once, in the FAILED line
            extra = [e for e in extra if not any(r.error in e for r in failed)]
            return False, f"FAILED {folder}: {why}", extra
        pages = [r.state.get("url") for r in syncer.runners if isinstance(r.state, dict) and r.state.get("url")]
        view = "".join(f"\nView run at {url}" for url in pages)
        if all(r.delivered == 0 for r in results):
            names = ", ".join(r.name for r in results)
            return True, f"nothing new to sync in {folder}: {names} already have all of it{view}", extra
        states = {r.closed for r in results if r.closed}
        state = states.pop() if len(states) == 1 else "/".join(sorted(states))
        parts = ", ".join(f"{r.name} {r.delivered:,} records" for r in results)
        total = sum(s for _, s in log_bytes(folder))
        note = " (the run is still running: what is on disk now)" if state == DETACHED else ""
        return True, (f"synced {folder} (run {run_id}, {state}){note}: {parts}; "
                      f"{human_bytes(total)} of log in {took:.1f} s{view}"), extra
    finally:
        lock.release()


@click.command(name="sync")
@click.argument("paths", nargs=-1, required=True)
@click.option("--sink", "sinks", multiple=True, metavar="NAME",
              help="Deliver to this sink (a name or module:Class; repeatable). Default: the sinks enabled "
                   "for the run and those it was delivered to before.")
@click.option("--include-synced", is_flag=True,
              help="Deliver everything again from the first record (each sink's cursor for the run is reset).")
def sync(paths: Tuple[str, ...], sinks: Tuple[str, ...], include_synced: bool) -> None:
    """Replay run folders into sinks: PATH is a run folder, a folder holding runs, or a glob.

    Exit 0 when every run synced, 1 when some run failed (each failure says which and why), 2 when
    no run folder was found."""
    folders, errors = expand_paths(paths)
    for e in errors:
        click.echo(f"evlog: {e}", err=True)
    if not folders:
        sys.exit(2)
    failures = len(errors)
    synced = 0
    for folder in folders:
        ok, line, extra = sync_folder(folder, sinks, include_synced)
        for e in extra:
            click.echo(f"evlog: {e}", err=True)
        click.echo(line, err=not ok)
        if ok:
            synced += 1
        else:
            failures += 1
    if len(folders) > 1 or failures:
        click.echo(f"{synced} run{'s' if synced != 1 else ''} synced, {failures} failed")
    sys.exit(1 if failures else 0)
