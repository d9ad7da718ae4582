"""The sink interface: what the syncer calls, and what it hands a sink (spec/sinks.md).

A sink receives a run's decoded records in seq order, in batches, and says how far it got. The
syncer persists each sink's cursor (and the small state the sink returns from `flush()`) in one
atomic file, so a restarted syncer or a later `evlog sync` continues exactly where the sink stopped.
Delivery is at-least-once; a sink that must never show a record twice uses its saved state to drop
or cut off what it had written after its last checkpoint (see the built-in sinks).
"""
from __future__ import annotations

import os
import re
import sys
from pathlib import Path
from typing import Any, Dict, Iterable, List, Mapping, Optional

from eventlog import Cursor, Record
from eventlog.errors import Error as EvlogError
# is_media: a media map of a history record (spec/format.md "Media"); media_kind: the `_type` of a
# media map or of a list of them
from eventlog.records.media import is_media_map as is_media, media_kind  # noqa: F401  (the sinks' helpers)
# flatten: nested maps as one level, {"a": {"b": 1}} -> {"a/b": 1}; media maps are values, not nesting
from eventlog.rundir.export import flat as flatten  # noqa: F401
from eventlog.rundir.cursors import SINKS_DIR  # noqa: F401  (<run>/sinks/: the sinks' own files)
from eventlog.util import env as _env
# JSON files, replaced atomically: how the cursor files are written (spec/sinks.md)
from eventlog.util.atomic import read_json, write_json_atomic as atomic_write_json  # noqa: F401
NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")

# States a sink is closed with (Sink.close).
FINISHED = "finished"   # the run's last session ended with exit_code 0, and every record was delivered
FAILED = "failed"       # the run ended with a non-zero exit code, every record was delivered
CRASHED = "crashed"     # the run ended without an exit record (process killed); what was on disk was delivered
DETACHED = "detached"   # delivery stopped while the run may go on (syncer stopped, `evlog sync` of a live run)
FINAL_STATES = (FINISHED, FAILED, CRASHED)


class SinkError(EvlogError):
    """A sink cannot work (missing dependency, bad configuration); the message says what to do."""


def env_flag(env: Mapping[str, str], name: str, *aliases: str, default: bool = False) -> bool:
    """A boolean environment setting: EVLOG_* first, then its WANDB_* aliases; a word other than
    a true one (eventlog.util.env.TRUE) is false, never an error."""
    value = _env.text(env, name, *aliases)
    return default if value is None else _env.is_true(value)


def env_value(env: Mapping[str, str], name: str, *aliases: str) -> Optional[str]:
    """The stripped value of the first of the variables set to non-blank text, else None."""
    return _env.text(env, name, *aliases)


class Terminal:
    """Whole lines to a file descriptor, each block in one write(2) so that a program printing on
    the same terminal is never cut mid-line by us. Write errors (terminal gone) are ignored."""

    def __init__(self, fd: int = 1) -> None:
        self.fd = fd

    def lines(self, lines: Iterable[str]) -> None:
        text = "".join(line.rstrip("\n") + "\n" for line in lines)
        data = text.encode("utf-8", "replace")
        try:
            while data:
                n = os.write(self.fd, data)
                data = data[n:]
        except OSError:
            pass


class SinkContext:
    """What the syncer hands a sink in `open()`."""

    def __init__(
        self,
        *,
        name: str,
        folder: Path,
        run_id: str,
        run: Dict[str, Any],
        cursor: Cursor,
        state: Optional[Dict[str, Any]],
        live: bool,
        env: Optional[Mapping[str, str]] = None,
        terminal: Optional[Terminal] = None,
        warn=None,  # noqa: ANN001
        retrying=None,  # noqa: ANN001
    ) -> None:
        self.name = name
        self.folder = Path(folder)          #: the run folder
        self.run_id = run_id                #: the run's id (from its `run` record, else a segment header)
        self.run = run                      #: body of the run's `run` record ({} when it has none)
        self.cursor = cursor                #: where this delivery starts (next seq wanted)
        self.state = state                  #: what flush() returned at the last checkpoint; None the first time
        self.live = live                    #: True in the run's own syncer, False in `evlog sync`
        self.env = dict(os.environ if env is None else env)
        self.terminal = terminal or Terminal(1)
        self._warn = warn
        self._retrying = retrying

    @property
    def state_dir(self) -> Path:
        """`<run>/sinks/<name>/`, created on first use: files the sink keeps for this run."""
        path = self.folder / SINKS_DIR / self.name
        path.mkdir(parents=True, exist_ok=True)
        return path

    def warn(self, message: str) -> None:
        """One line on the syncer's stderr, prefixed with the sink's name."""
        if self._warn is not None:
            self._warn(f"sink {self.name}: {message}")
        else:
            sys.stderr.write(f"evlog: sink {self.name}: {message}\n")

    def retrying(self, reason: Optional[str]) -> None:
        """Say that the receiver cannot be reached (`reason`, e.g. "cannot reach URL") and the sink
        is retrying, or (None) that a delivery got through again. The syncer notes it in the cursor
        file (`retrying`), so `finish()` stops waiting early for a receiver that is down."""
        if self._retrying is not None:
            self._retrying(reason)


class Sink:
    """Base class of sinks. Subclass it, set `name`, implement `write` (and `flush` when the
    receiver buffers); register the class under the entry-point group `eventlog.sinks`."""

    #: unique name: file-name safe, used for the cursor file and `--sink NAME`
    name: str = ""
    #: True for sinks that only make sense while the run runs (stdout): `evlog sync` uses them only
    #: when asked with --sink
    live_only: bool = False

    @classmethod
    def enabled(cls, run: Mapping[str, Any], env: Mapping[str, str]) -> bool:
        """Whether this sink is on by default for a run (its `run` record body, the environment).

        EVLOG_SINKS overrides the choice for every sink."""
        return False

    def open(self, ctx: SinkContext) -> None:
        """Called once before the first batch (or before close when there is nothing to deliver)."""
        self.ctx = ctx

    def write(self, records: List[Record]) -> Optional[int]:
        """Deliver records (in seq order, never empty). Return None when all were taken, or the
        next seq wanted when only a prefix was (the rest comes again later). Raise to say the
        delivery failed: the syncer retries the same records with a backoff."""
        raise NotImplementedError

    def flush(self) -> Optional[Dict[str, Any]]:
        """Make everything written so far durable at the receiver, and return a small JSON-able
        state to store with the cursor (given back as `ctx.state` when the sink is opened again)."""
        return None

    def close(self, state: str) -> None:
        """Delivery ends: `state` is finished, failed, crashed (the run) or detached (we stop while
        the run may go on). Called after a last flush()."""


# ------------------------------------------------------------- value helpers
def numeric(value: Any) -> Optional[float]:
    """The value as a float when it is a plain number or bool, else None."""
    if isinstance(value, bool):
        return 1.0 if value else 0.0
    if isinstance(value, (int, float)):
        try:
            return float(value)
        except OverflowError:
            return None
    return None
