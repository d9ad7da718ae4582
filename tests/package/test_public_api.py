"""The `eventlog` namespace: `__all__` is what README.md documents, every error derives from
`eventlog.Error`, and `import eventlog` / the engine alone stay light (the run API loads on first use)."""
from __future__ import annotations

import inspect
import json
import os
import re
import statistics
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Dict, List

import pytest

import eventlog
import eventlog.errors

REPO = Path(__file__).resolve().parents[2]
SECTION = "### The names of `eventlog`"
IMPORT_BUDGET_S = 0.080


def documented_names() -> List[str]:
    """The backquoted names of the bullets under README.md's SECTION, in order (duplicates kept)."""
    text = (REPO / "README.md").read_text(encoding="utf-8")
    assert SECTION in text, f"README.md lost its section {SECTION!r}"
    body = text.split(SECTION, 1)[1]
    body = re.split(r"\n#", body, 1)[0]
    bullets = re.findall(r"^- [^\n]*(?:\n  [^\n]*)*", body, flags=re.M)
    return [name for b in bullets for name in re.findall(r"`([^`]+)`", b)]


def fresh_python(code: str, cwd: Path, env: Dict[str, str] = None) -> str:
    """Run `code` in a new interpreter (nothing of evlog imported yet) and return its stdout."""
    out = subprocess.run([sys.executable, "-c", textwrap.dedent(code)], cwd=str(cwd), env=env or dict(os.environ),
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    return out.stdout


def modules_after(statement: str, tmp_path: Path) -> List[str]:
    return json.loads(fresh_python(f"import json, sys\n{statement}\nprint(json.dumps(sorted(sys.modules)))",
                                   tmp_path))


# ------------------------------------------------------------------------------ __all__ and the docs
def test_all_is_exactly_the_names_readme_documents():
    doc = documented_names()
    assert all(re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", n) for n in doc), doc
    assert len(doc) == len(set(doc)), sorted(n for n in doc if doc.count(n) > 1)
    assert len(eventlog.__all__) == len(set(eventlog.__all__))
    assert set(eventlog.__all__) - set(doc) == set(), "in __all__ but not documented in README.md"
    assert set(doc) - set(eventlog.__all__) == set(), "documented in README.md but not in __all__"


def test_every_lazy_public_name_and_every_error_class_is_in_all():
    lazy = {n for n in (*eventlog._LAZY, *eventlog._LAZY_MODULES) if not n.startswith("_")}
    assert lazy - set(eventlog.__all__) == set()
    classes = {n for n, o in vars(eventlog.errors).items()
               if inspect.isclass(o) and issubclass(o, (eventlog.Error, eventlog.EvlogWarning))}
    assert classes - set(eventlog.__all__) == set()
    assert not [n for n in eventlog.__all__ if n.startswith("_")]
    assert set(eventlog.__all__) <= set(dir(eventlog))


def test_star_import_gives_every_name_of_all(tmp_path):
    got = json.loads(fresh_python("""
        import json
        ns = {}
        exec("from eventlog import *", ns)
        import eventlog
        print(json.dumps({n: [type(ns[n]).__name__, ns[n] is getattr(eventlog, n)]
                          for n in ns if n != "__builtins__"}))
    """, tmp_path))
    assert sorted(got) == sorted(eventlog.__all__)
    assert all(same for _, same in got.values())
    assert got["run"][0] == "NoneType" and got["plot"][0] == "module" and got["init"][0] == "function"
    assert [n for n, (kind, _) in got.items() if kind == "NoneType"] == ["run"]


# ------------------------------------------------------------------------------ one error hierarchy
def test_sink_errors_are_evlog_errors():
    from eventlog.sinks.base import SinkError
    from eventlog.sinks.registry import load

    with pytest.raises(eventlog.Error, match="no sink named") as info:
        load("no-such-sink")
    assert type(info.value) is SinkError


def test_server_admin_and_schema_errors_are_evlog_errors(tmp_path):
    pytest.importorskip("sqlalchemy")
    from eventlog.server import schema
    from eventlog.server.accounts import AdminError, add_user
    from eventlog.server.db import make_engine
    from eventlog.server.migrations import LATEST, SchemaTooNewError, check_version, migrate

    engine = make_engine(f"sqlite:///{tmp_path / 'server.db'}", pool_size=1)
    try:
        migrate(engine)
        with pytest.raises(eventlog.Error, match="invalid user name") as admin:
            add_user(engine, "no spaces allowed")
        assert type(admin.value) is AdminError
        with engine.begin() as conn:
            conn.execute(schema.schema_version.insert().values(version=LATEST + 1, applied_at=0.0))
        with pytest.raises(eventlog.Error, match="newer") as too_new:
            check_version(engine)
        assert type(too_new.value) is SchemaTooNewError and isinstance(too_new.value, RuntimeError)
    finally:
        engine.dispose()


def test_errors_module_loads_nothing_heavy(tmp_path):
    mods = modules_after("import eventlog.errors", tmp_path)
    assert [m for m in mods if m.startswith("eventlog")] == ["eventlog", "eventlog.errors"]
    assert "msgpack" not in mods and "zstandard" not in mods


# ------------------------------------------------------------------------------ light imports
def test_the_engine_alone_does_not_load_the_run_api(tmp_path):
    mods = modules_after("""
import eventlog.logfile.segment, eventlog.logfile.reader, eventlog.logfile.writer
w = eventlog.logfile.writer.LogWriter("run", "r1")
w.append("history", {"step": 0, "data": {"x": 1.0}})
w.close()
assert [r.body["data"] for r in eventlog.logfile.reader.LogReader("run").records()] == [{"x": 1.0}]
""", tmp_path)
    assert "eventlog.logfile.writer" in mods and "eventlog.logfile.reader" in mods
    assert "eventlog.runapi" not in mods
    assert "eventlog.runapi.config" not in mods and "eventlog.media" not in mods


def test_import_eventlog_is_fast(tmp_path):
    """A behaviour budget (the one timing assert of the suite): the median of several fresh
    interpreters, bytecode cached by a first run, against 80 ms."""
    env = dict(os.environ)
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    code = "import time; t = time.perf_counter(); import eventlog; print(time.perf_counter() - t)"
    fresh_python(code, tmp_path, env)
    times = [float(fresh_python(code, tmp_path, env)) for _ in range(7)]
    assert statistics.median(times) < IMPORT_BUDGET_S, times


def test_run_api_through_the_lazy_names_in_a_fresh_process(tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith(("EVLOG_", "WANDB_"))}
    env.update(EVLOG_SINKS="none", EVLOG_SILENT="true", EVLOG_DISABLE_CODE="true", EVLOG_DISABLE_GIT="true",
               EVLOG_CONSOLE="off", EVLOG_SYSTEM_INTERVAL="0", EVLOG_CONFIG_DIR=str(tmp_path / "cfg"))
    out = fresh_python("""
        import sys
        import eventlog as wandb
        assert "eventlog.runapi" not in sys.modules
        assert wandb.run is None
        pre = wandb.config
        assert "eventlog.runapi" in sys.modules and "call eventlog.init() first" in repr(pre)
        try:
            pre["lr"]
        except wandb.NoRunError:
            pass
        else:
            raise AssertionError("config before init() did not raise")
        from eventlog import config as early, init, summary as early_summary
        run = init(project="p", config={"lr": 0.5})
        assert wandb.run is run and wandb.config is run.config and wandb.summary is run.summary
        assert early["lr"] == 0.5 and isinstance(run, wandb.Run)
        wandb.log({"loss": 2.0})
        assert early_summary["loss"] == 2.0
        run.finish()
        assert wandb.run is None and wandb.config is pre and wandb.summary is early_summary
        print("ok", run.id)
    """, tmp_path, env)
    assert out.startswith("ok ")
    assert len(list((tmp_path / "evlog").glob("run-*"))) == 1
