"""Helpers of the engine tests: building runs with known frame boundaries, deadlines,
running the `evlog` command and helper processes."""
from __future__ import annotations

import contextlib
import os
import random
import signal
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Dict, Iterator, List, Sequence, Tuple

from eventlog import LogWriter
from eventlog.logfile.segment import LOG_DIR, list_segments

TESTS = Path(__file__).resolve().parent.parent
HELPERS = TESTS / "helpers"
RUN_ID = "testrun1"
T0 = 1_700_000_000.0  # record times are T0 + seq, so every field of a record is known in advance

# (seq, type, time, body): compares equal to an eventlog.Record with the same fields
Rec = Tuple[int, str, float, Dict[str, Any]]


@dataclass
class FrameInfo:
    """One frame of a built run: its file, byte range [start, end) and the records it holds."""

    path: Path
    start: int
    end: int
    records: List[Rec]


@dataclass
class Layout:
    """Where everything went when `build_run` wrote a run; known independently of the reader."""

    folder: Path
    frames: List[FrameInfo] = field(default_factory=list)
    header_len: Dict[Path, int] = field(default_factory=dict)

    @property
    def records(self) -> List[Rec]:
        return [r for f in self.frames for r in f.records]

    @property
    def segments(self) -> List[Path]:
        return [self.folder / LOG_DIR / name for _, name in list_segments(self.folder / LOG_DIR)]

    def frames_in(self, path: Path) -> List[FrameInfo]:
        return [f for f in self.frames if f.path == path]

    def rebase(self, folder: Path) -> "Layout":
        """The same layout for a copy of the run at `folder`."""
        def move(p: Path) -> Path:
            return folder / p.relative_to(self.folder)

        return Layout(
            folder,
            [FrameInfo(move(f.path), f.start, f.end, f.records) for f in self.frames],
            {move(p): n for p, n in self.header_len.items()},
        )


def history_body(rng: random.Random, step: int, width: int = 4) -> Dict[str, Any]:
    return {"step": step, "data": {f"m{k}": rng.random() for k in range(width)}}


def build_run(
    folder: Path,
    sessions: Sequence[Sequence[Sequence[Tuple[str, Dict[str, Any]]]]],
    run_id: str = RUN_ID,
) -> Layout:
    """Write `sessions` (each a list of frames, each a list of (type, body)) into `folder`.

    Every session is one writer (so one segment); every frame is closed by flush(). The frame
    boundaries come from the file sizes before and after each flush, not from the reader.
    """
    folder = Path(folder)
    layout = Layout(folder)
    for session in sessions:
        # commit_interval=None: a frame is written in one piece at flush(), so its bytes are known
        with LogWriter(folder, run_id, frame_bytes=1 << 24, commit_interval=None) as w:
            assert not w.recovered, "build_run expects a clean folder"
            segs = list_segments(folder / LOG_DIR)
            path = folder / LOG_DIR / segs[-1][1]
            size = path.stat().st_size
            layout.header_len[path] = size
            for frame in session:
                recs: List[Rec] = []
                for typ, body in frame:
                    when = T0 + w.next_seq
                    seq = w.append(typ, body, when=when)
                    recs.append((seq, typ, when, body))
                w.flush()
                assert list_segments(folder / LOG_DIR) == segs, "build_run frames must not rotate"
                end = path.stat().st_size
                assert end > size or not recs
                if recs:
                    layout.frames.append(FrameInfo(path, size, end, recs))
                size = end
    return layout


def standard_sessions(rng: random.Random, frames_per_session: Sequence[int] = (4, 5)) -> list:
    """A run of history records (plus a config record up front), several frames per session."""
    sessions = []
    step = 0
    for s, nframes in enumerate(frames_per_session):
        frames = []
        for f in range(nframes):
            frame = []
            if s == 0 and f == 0:
                frame.append(("config", {"update": {"lr": 0.01, "name": "tëst ✓"}}))
            for _ in range(rng.randint(1, 4)):
                frame.append(("history", history_body(rng, step)))
                step += 1
            frames.append(frame)
        sessions.append(frames)
    return sessions


def as_tuples(records) -> List[Rec]:
    return [(r.seq, r.type, r.time, r.body) for r in records]


# ----------------------------------------------------------------------- processes and time
@contextlib.contextmanager
def deadline(seconds: int) -> Iterator[None]:
    """Fail (instead of hanging the suite) if the block takes longer than `seconds`."""
    def expired(signum, frame):  # noqa: ANN001
        raise TimeoutError(f"test step did not finish within {seconds} s")

    old = signal.signal(signal.SIGALRM, expired)
    signal.alarm(seconds)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, old)


def wait_for(predicate, timeout: float = 30.0, what: str = "condition") -> None:
    """Poll `predicate` until true; a timeout only guards against hangs, it is not a measurement."""
    end = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > end:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.005)


def evlog_command() -> List[str]:
    """The installed `evlog` console script of this interpreter (or the module as a fallback)."""
    script = Path(sys.executable).parent / "evlog"
    if script.exists():
        return [str(script)]
    return [sys.executable, "-m", "eventlog.cli.main"]


def helper_command(name: str, *args: Any) -> List[str]:
    return [sys.executable, str(HELPERS / name), *map(str, args)]


def subprocess_env() -> Dict[str, str]:
    env = dict(os.environ)
    env["PYTHONUNBUFFERED"] = "1"
    return env
