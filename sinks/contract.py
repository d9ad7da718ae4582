"""The sink contract as a check any sink's own test suite can run (spec/sinks.md 9).

`check_sink(MySink, read_back, tmp_path / "run")` writes a small run of three sessions into the
folder and delivers it to the sink as the syncer does (the real `Syncer`, and by hand where the
syncer gives no hook), then checks what `read_back(folder)` says the receiver holds: nothing stored
twice when records come again (idempotent on seq), a restarted sink resumes at its cursor, and a
flush makes what was taken visible, closing and reopening keeps it. A failed check raises
`ContractError` (an AssertionError, so pytest shows it as a failure) naming the step.
"""
from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Dict, Hashable, List, Mapping, Optional, Sequence, Type

from eventlog import Cursor, LogReader, LogWriter, Record

from .base import FINISHED, Sink, SinkContext, Terminal
from .state import cursor_of, cursor_path, load_cursor
from .syncer import Syncer, run_info

T0 = 1_700_000_000.0
STEPS = 40                # history records per session (several write() batches of BATCH)
BATCH = 16
ReadBack = Callable[[Path], Sequence[Hashable]]


class ContractError(AssertionError):
    """The sink broke the contract; the message says at which step and how."""


@dataclass
class ContractResult:
    records: List[Record]           # the run the check wrote, as the log holds it
    stored: List[Hashable]          # what read_back() gave at the end (for the caller's own checks)


def check_sink(sink: Type[Sink], read_back: ReadBack, folder: Path, *, env: Optional[Mapping[str, str]] = None,
               terminal: Optional[Terminal] = None, run: Optional[Dict[str, Any]] = None,
               run_id: str = "contract") -> ContractResult:
    """Run the contract against `sink`; `read_back(folder)` lists what the receiver holds of the run,
    one hashable item per stored thing (a seq, a (tag, step) pair...), so a thing stored twice shows
    twice. `env`, `terminal` go to the sink's context, `run` adds fields to the run record."""
    return _Check(sink, read_back, Path(folder), env, terminal, run or {}, run_id).run()


class _Check:
    def __init__(self, sink: Type[Sink], read_back: ReadBack, folder: Path, env: Optional[Mapping[str, str]],
                 terminal: Optional[Terminal], run: Dict[str, Any], run_id: str) -> None:
        if folder.exists() and any(folder.iterdir()):
            raise ValueError(f"{folder} is not empty: check_sink writes its own run there")
        self.cls, self.read_back, self.folder, self.run_id = _recording(sink), read_back, folder, run_id
        self.env, self.terminal, self.run_fields = env, terminal, run
        self.warnings: List[str] = []

    def run(self) -> ContractResult:
        n1 = self._session(0)
        r1 = self._sync("first delivery", 0, n1)
        if not r1:
            raise ContractError("first delivery: read_back() found nothing stored")
        n2 = self._session(1)
        saved = load_cursor(self.folder, self.cls.name)
        r2 = self._sync("restart", n1, n2)
        self._grew("restart", r1, r2)
        if self.cls.opens[0] != (n1, saved["state"]):
            raise ContractError(f"restart: the new sink was opened at {self.cls.opens[0]}, not at its cursor "
                                f"{n1} with the saved state {saved['state']!r}")
        n3 = self._session(2)
        r3 = self._by_hand(n2, n3, r2)
        # the by-hand delivery never saved its cursor: the syncer comes back to the checkpoint of n2
        self._same("replay after a lost checkpoint", self._sync("replay after a lost checkpoint", n2, n3), r3)
        cursor_path(self.folder, self.cls.name).unlink()
        self._same("replay of the whole log", self._sync("replay of the whole log", 0, n3), r3)
        return ContractResult(list(LogReader(self.folder).records()), list(r3))

    # ----------------------------------------------------------------- steps
    def _session(self, n: int) -> int:
        """Append session n (0: run, config, history; 1: resume, history, warning; 2: resume, history,
        summary, exit) and return the log's next seq."""
        with LogWriter(self.folder, self.run_id) as w:
            add = lambda t, body: w.append(t, body, when=T0 + w.next_seq)  # noqa: E731
            if n == 0:
                add("run", {"id": self.run_id, "name": "contract-run", "project": "contract", "entity": None,
                            "mode": "offline", "start_time": T0, "settings": {}, **self.run_fields})
                add("config", {"update": {"lr": 0.01, "model": {"depth": 4}}})
            else:
                add("resume", {"session": n, "last_step": n * STEPS - 1, "mode": "offline", "source": "log"})
            for step in range(n * STEPS, (n + 1) * STEPS):
                add("history", {"step": step, "data": {"loss": 1.0 / (step + 1), "acc": step / 1000}})
            if n == 1:
                add("warning", {"message": "contract: a warning record", "keys": []})
            if n == 2:
                add("summary", {"update": {"best": 0.5}})
                add("exit", {"exit_code": 0, "runtime": 3.0, "interrupted": False, "error": None})
            return w.next_seq

    def _sync(self, step: str, start: int, end: int) -> List[Hashable]:
        """Deliver with the syncer as `evlog sync` does; the sink must be handed exactly [start, end)."""
        run_id, run, _ = run_info(self.folder)
        self.cls.reset()
        syncer = Syncer(self.folder, [self.cls], live=False, run_id=run_id or self.run_id, run=run, env=self.env,
                        terminal=self.terminal, warn=self.warnings.append, max_batch=BATCH, checkpoint_interval=0)
        (result,) = syncer.run_all()
        if result.error:
            raise ContractError(f"{step}: delivery failed: {result.error} (warnings: {self.warnings})")
        if self.cls.taken != list(range(start, end)):
            raise ContractError(f"{step}: the sink took seqs {_span(self.cls.taken)}, not {start}..{end - 1} once each")
        return self._read(step)

    def _by_hand(self, start: int, end: int, before: List[Hashable]) -> List[Hashable]:
        """Open a sink at the saved cursor, write, flush: all visible before close(); the state survives
        JSON and a reopened sink keeps everything."""
        step = "flush"
        saved = load_cursor(self.folder, self.cls.name)
        if cursor_of(saved).seq != start:
            raise ContractError(f"{step}: the saved cursor is at {cursor_of(saved).seq}, "
                                f"not after the {start} records taken")
        records = [r for r in LogReader(self.folder).records(cursor_of(saved)) if r.seq < end]
        sink = self._open(cursor_of(saved), saved["state"])
        while records:
            nxt = sink.write(records[:BATCH])
            taken = BATCH if nxt is None else sum(r.seq < nxt for r in records[:BATCH])
            if not taken:
                raise ContractError(f"{step}: write() took none of seqs {records[0].seq}.. (returned {nxt})")
            records = records[taken:]
        try:
            state = json.loads(json.dumps(sink.flush(), allow_nan=True))
        except (TypeError, ValueError) as exc:
            raise ContractError(f"{step}: flush() returned a state that is not JSON ({exc})") from None
        after = self._read("flush (before close)")
        self._grew(step, before, after)
        sink.close(FINISHED)
        self._same("close (what flush() left out)", self._read("close"), after)
        reopened = self._open(Cursor(end), state)
        reopened.flush()
        reopened.close(FINISHED)
        self._same("reopen with the flushed state", self._read("reopen"), after)
        return after

    # --------------------------------------------------------------- helpers
    def _open(self, cursor: Cursor, state: Any) -> Sink:
        run_id, run, _ = run_info(self.folder)
        sink = self.cls()
        sink.open(SinkContext(name=self.cls.name, folder=self.folder, run_id=run_id or self.run_id, run=run,
                              cursor=cursor, state=state, live=False, env=self.env, terminal=self.terminal,
                              warn=self.warnings.append))
        return sink

    def _read(self, step: str) -> List[Hashable]:
        stored = list(self.read_back(self.folder))
        twice = [k for k, n in Counter(stored).items() if n > 1]
        if twice:
            raise ContractError(f"{step}: stored more than once: {_some(twice)}")
        return stored

    def _same(self, step: str, got: List[Hashable], want: List[Hashable]) -> None:
        if Counter(got) != Counter(want):
            lost, extra = Counter(want) - Counter(got), Counter(got) - Counter(want)
            raise ContractError(f"{step}: the receiver changed: lost {_some(lost)}; gained {_some(extra)}")

    def _grew(self, step: str, before: List[Hashable], after: List[Hashable]) -> None:
        lost = Counter(before) - Counter(after)
        if lost:
            raise ContractError(f"{step}: what was stored before is gone: {_some(lost)}")
        if len(after) <= len(before):
            raise ContractError(f"{step}: the new records were not stored (read_back() has nothing new)")


def _recording(cls: Type[Sink]) -> Type[Sink]:
    """`cls` noting where each instance was opened (cursor seq, state) and which seqs it took."""
    class Recording(cls):  # type: ignore[misc, valid-type]
        opens: List[tuple] = []
        taken: List[int] = []

        @classmethod
        def reset(klass) -> None:
            klass.opens, klass.taken = [], []

        def open(self, ctx: SinkContext) -> None:
            Recording.opens.append((ctx.cursor.seq, ctx.state))
            super().open(ctx)

        def write(self, records: List[Record]) -> Optional[int]:
            nxt = super().write(records)
            Recording.taken.extend(r.seq for r in records if nxt is None or r.seq < nxt)
            return nxt

    Recording.__name__ = Recording.__qualname__ = cls.__name__
    return Recording


def _some(items: Any) -> str:
    """The first few items, in the order read_back() gave them."""
    items = list(items)
    return ", ".join(map(repr, items[:5])) + (f" ... ({len(items)} in all)" if len(items) > 5 else "") or "none"


def _span(seqs: List[int]) -> str:
    return f"{seqs[0]}..{seqs[-1]} ({len(seqs)} records)" if seqs else "none"
