"""Issue 17: every built-in sink passes the one sink contract (eventlog.sinks.contract), each read
back from its real receiver (the jsonl file, the terminal, TensorBoard's reader, a real evlog
server, a real mlflow server); and the contract catches sinks that break it."""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Dict, List, Optional

import pytest

from eventlog.sinks import Sink
from eventlog.sinks.base import Terminal
from eventlog.sinks.contract import ContractError, check_sink
from eventlog.sinks.registry import BUILTIN, load

from support.sinks import subprocess_env  # noqa: I001


@dataclass
class Setup:
    """How to run one sink through the contract: its reader, and what a correct sink stores."""

    read_back: Callable[[Path], list]
    want: Callable[[list], list]  # the log's records -> what read_back() must give at the end
    env: Dict[str, str] = field(default_factory=subprocess_env)
    terminal: Optional[Terminal] = None
    run: dict = field(default_factory=dict)


def history(records: list) -> list:
    return [r for r in records if r.type == "history"]


# ------------------------------------------------------------------ receivers
@pytest.fixture(scope="module")
def evlog_server(tmp_path_factory):
    from support.server import sqlite_harness  # skips without the server extra

    with sqlite_harness(tmp_path_factory.mktemp("contract-srv")) as h:
        yield h


@pytest.fixture(scope="module")
def mlflow_uri(tmp_path_factory):
    pytest.importorskip("mlflow")
    from support.mlflow import mlflow_server

    with mlflow_server(tmp_path_factory.mktemp("contract-mlflow")) as (uri, _log):
        yield uri


def jsonl_setup(request) -> Setup:  # noqa: ANN001
    def read(folder: Path) -> list:
        path = folder / "sinks" / "jsonl" / "records.jsonl"
        return [json.loads(line)["seq"] for line in path.read_text().splitlines()] if path.exists() else []

    return Setup(read, lambda records: [r.seq for r in records])


class Capture(Terminal):
    """The terminal: each block the sink writes, kept."""

    def __init__(self) -> None:
        super().__init__(-1)
        self.blocks: List[List[str]] = []

    def lines(self, lines) -> None:  # noqa: ANN001
        self.blocks.append(list(lines))


HEADLINES = ("Tracking run", "Resuming run", "WARNING", " crashed: ", " finished ")


def stdout_setup(request) -> Setup:  # noqa: ANN001
    term = Capture()

    def read(folder: Path) -> list:  # one item per block printed: the line that says what it is
        return [next(ln for ln in block if any(h in ln for h in HEADLINES)) for block in term.blocks]

    def want(records: list) -> list:
        who = "evlog: Run contract-run (id contract-stdout)"
        crashed = who + " crashed: the training process ended without finishing the run; {} steps logged"
        return ["evlog: Tracking run contract-run (id contract-stdout)", crashed.format(40),
                "evlog: Resuming run contract-run (id contract-stdout), session 1",
                "evlog: WARNING contract: a warning record", crashed.format(80),
                "evlog: Resuming run contract-run (id contract-stdout), session 2",
                who + " finished in 3.0 s: 120 steps logged"]

    return Setup(read, want, terminal=term)


def tensorboard_setup(request) -> Setup:  # noqa: ANN001
    pytest.importorskip("tensorboardX")
    pytest.importorskip("tensorboard")
    import numpy as np
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    def read(folder: Path) -> list:
        ea = EventAccumulator(str(folder / "tensorboard"), size_guidance={"scalars": 0})
        ea.Reload()
        return [(e.step, e.value) for e in ea.Scalars("loss")] if "loss" in ea.Tags()["scalars"] else []

    return Setup(read, lambda records: [(r.body["step"], float(np.float32(r.body["data"]["loss"])))
                                        for r in history(records)])


def http_setup(request) -> Setup:  # noqa: ANN001
    srv = request.getfixturevalue("evlog_server")
    user, key = srv.user("contract")

    def read(folder: Path) -> list:
        rows = srv.rows(user, "contract", "contract-http", key, limit=100000)
        return [(row["step"], row["data"]["loss"]) for row in rows]

    env = subprocess_env({"EVLOG_BASE_URL": srv.url, "EVLOG_API_KEY": key})
    return Setup(read, lambda records: [(r.body["step"], r.body["data"]["loss"]) for r in history(records)],
                 env=env, run={"entity": user, "mode": "online"})


def mlflow_setup(request) -> Setup:  # noqa: ANN001
    uri = request.getfixturevalue("mlflow_uri")
    from mlflow.tracking import MlflowClient

    client = MlflowClient(tracking_uri=uri)

    def read(folder: Path) -> list:
        exp = client.get_experiment_by_name("contract")
        runs = client.search_runs([exp.experiment_id], "tags.`evlog.run_id` = 'contract-mlflow'") if exp else []
        points = [m for run in runs for m in client.get_metric_history(run.info.run_id, "loss")]
        return sorted((m.step, m.timestamp, m.value) for m in points)

    return Setup(read, lambda records: [(r.body["step"], round(r.time * 1000), r.body["data"]["loss"])
                                        for r in history(records)],
                 env=subprocess_env({"EVLOG_MLFLOW_TRACKING_URI": uri}))


SETUPS = {"jsonl": jsonl_setup, "stdout": stdout_setup, "tensorboard": tensorboard_setup,
          "http": http_setup, "mlflow": mlflow_setup}


# -------------------------------------------------------------------- tests
@pytest.mark.parametrize("name", sorted(BUILTIN))
def test_builtin_sink_passes_the_contract(name, request, tmp_path):
    assert name in SETUPS, f"the built-in sink {name!r} has no contract setup here"
    setup = SETUPS[name](request)
    result = check_sink(load(name), setup.read_back, tmp_path / "run", env=setup.env, terminal=setup.terminal,
                        run=setup.run, run_id=f"contract-{name}")
    assert result.stored == setup.want(result.records)
    assert len(history(result.records)) == 120 and result.records[-1].type == "exit"


class Duplicates(Sink):
    """Appends every record's seq to a file and never cuts it back: records that come again twice."""

    name = "dupsink"

    def open(self, ctx) -> None:  # noqa: ANN001
        self.file = open(ctx.state_dir / "seqs.txt", "a")

    def write(self, records):  # noqa: ANN001
        self.file.write("".join(f"{r.seq}\n" for r in records))

    def flush(self):
        self.file.flush()
        return {}

    def close(self, state) -> None:  # noqa: ANN001
        self.file.close()


class Forgets(Duplicates):
    """Starts its file over whenever it is opened: a restart loses what was stored."""

    name = "forgetsink"

    def open(self, ctx) -> None:  # noqa: ANN001
        self.file = open(ctx.state_dir / "seqs.txt", "w")


class HoldsBack(Duplicates):
    """Idempotent, but keeps what it takes in memory until close(): a flush shows nothing."""

    name = "holdsink"

    def open(self, ctx) -> None:  # noqa: ANN001
        self.path, self.pending = ctx.state_dir / "seqs.txt", []
        self.size = (ctx.state or {}).get("size", 0)

    def write(self, records):  # noqa: ANN001
        self.pending += [f"{r.seq}\n" for r in records]

    def flush(self):
        return {"size": self.size + len("".join(self.pending))}

    def close(self, state) -> None:  # noqa: ANN001
        with open(self.path, "a") as f:
            f.truncate(self.size)
            f.write("".join(self.pending))


def seqs_file(folder: Path, name: str) -> list:
    path = folder / "sinks" / name / "seqs.txt"
    return [int(s) for s in path.read_text().split()] if path.exists() else []


@pytest.mark.parametrize("sink, broken", [
    (Duplicates, "replay after a lost checkpoint: stored more than once: 84, 85, 86"),
    (Forgets, "restart: what was stored before is gone: 0, 1"),
    (HoldsBack, "flush: the new records were not stored"),
])
def test_the_contract_catches_a_broken_sink(sink, broken, tmp_path):
    with pytest.raises(ContractError) as caught:
        check_sink(sink, lambda folder: seqs_file(folder, sink.name), tmp_path / "run", env=subprocess_env())
    assert str(caught.value).startswith(broken), caught.value


def test_the_contract_wants_a_folder_of_its_own(tmp_path):
    (tmp_path / "run").mkdir()
    (tmp_path / "run" / "mine.txt").write_text("x")
    with pytest.raises(ValueError, match="not empty"):
        check_sink(Duplicates, lambda folder: [], tmp_path / "run")
