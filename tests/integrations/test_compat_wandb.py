"""`import eventlog.compat.wandb`: `import wandb`, its submodules and its distribution metadata are
evlog's; wandb's helpers (Settings, login, term*, require, sweeps, log_code, mark_preempting)."""
from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import warnings
from pathlib import Path

import pytest

import eventlog
from eventlog import LogReader
from support.server import sqlite_harness


def run_py(code: str, tmp: Path, env=None, **kw) -> subprocess.CompletedProcess:
    """Run `code` in a fresh interpreter (the import hook changes a process for good)."""
    script = tmp / f"snippet_{abs(hash(code))}.py"
    script.write_text(textwrap.dedent(code))
    base = {k: v for k, v in os.environ.items() if not k.startswith(("EVLOG_", "WANDB_"))}
    base.update(EVLOG_CONFIG_DIR=str(tmp / "cfg"), HOME=str(tmp), PYTHONUNBUFFERED="1")
    base.update(env or {})
    return subprocess.run([sys.executable, str(script)], capture_output=True, text=True, env=base,
                          cwd=str(tmp), timeout=300, **kw)


def test_one_line_routes_wandb_its_submodules_and_its_metadata_to_evlog(tmp_path):
    p = run_py("""
        import sys, json, importlib.util, importlib.metadata
        import eventlog.compat.wandb
        import eventlog, wandb
        from wandb.sdk.lib import RunDisabled
        from wandb.sdk.lib.config_util import ConfigError
        from wandb.wandb_run import Run
        import wandb.sdk.wandb_run, wandb.errors
        out = {
            "run_is_evlog": wandb.sdk.wandb_run.Run is eventlog.Run and Run is eventlog.Run,
            "config_error": ConfigError is eventlog.ConfigError,
            "init": wandb.init is eventlog.init,
            "disabled_is_class": isinstance(RunDisabled, type),
            "find_spec": importlib.util.find_spec("wandb") is not None,
            "find_spec_sub": importlib.util.find_spec("wandb.sdk.wandb_run") is not None,
            "version": importlib.metadata.version("wandb"),
            "meta_name": importlib.metadata.metadata("wandb")["Name"],
            "dunder_version": wandb.__version__,
            "same_module_twice": sys.modules["wandb.sdk"] is sys.modules["eventlog.compat.wandb.sdk"],
            "spec_kept": sys.modules["eventlog.compat.wandb.sdk"].__spec__.name,
        }
        try:
            import wandb.writer
        except ModuleNotFoundError as exc:
            out["unknown"] = str(exc)
        print(json.dumps(out))
    """, tmp_path)
    assert p.returncode == 0, p.stderr
    out = json.loads(p.stdout)
    assert out["run_is_evlog"] and out["config_error"] and out["init"] and out["disabled_is_class"]
    assert out["find_spec"] and out["find_spec_sub"]
    assert out["version"] == out["dunder_version"] and out["version"].startswith("0.")
    assert "+evlog." in out["version"]
    assert out["meta_name"] == "wandb"
    assert out["same_module_twice"]
    assert out["spec_kept"] == "eventlog.compat.wandb.sdk"
    # a name the layer lacks is an import error, never eventlog/logfile/writer.py loaded a second time as wandb.writer
    assert "No module named 'wandb.writer'" in out["unknown"]


def test_frameworks_version_checks_find_wandb(tmp_path):
    p = run_py("""
        import json
        import eventlog.compat.wandb
        out = {}
        try:
            from lightning_utilities.core.imports import RequirementCache
            out["lightning"] = bool(RequirementCache("wandb>=0.12.10"))
        except ImportError:
            pass
        try:
            from accelerate.utils import is_wandb_available
            out["accelerate"] = is_wandb_available()
        except ImportError:
            pass
        try:
            from transformers.integrations import is_wandb_available
            out["transformers"] = is_wandb_available()
        except ImportError:
            pass
        print(json.dumps(out))
    """, tmp_path)
    assert p.returncode == 0, p.stderr
    out = json.loads(p.stdout)
    if not out:
        pytest.skip("none of lightning, accelerate, transformers is installed")
    assert all(out.values()), out


def test_import_eventlog_loads_no_compat_layer_and_no_wandb(tmp_path):
    p = run_py("""
        import sys, eventlog
        eventlog.init, eventlog.log
        print(sorted(m for m in sys.modules if m.startswith(("eventlog.compat", "wandb", "eventlog.artifacts",
                                                              "eventlog.client", "requests", "numpy"))))
    """, tmp_path)
    assert p.returncode == 0, p.stderr
    assert p.stdout.strip() == "[]"


def test_a_real_wandb_imported_first_is_replaced_with_a_warning(tmp_path):
    fake = tmp_path / "site" / "wandb"
    fake.mkdir(parents=True)
    (fake / "__init__.py").write_text("REAL = True\n")
    p = run_py("""
        import warnings, json
        import wandb
        assert wandb.REAL
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            import eventlog.compat.wandb
        import wandb as again
        print(json.dumps({"warned": [str(w.message) for w in caught], "evlog": hasattr(again, "define_metric")
                          or again.init.__module__.startswith("eventlog")}))
    """, tmp_path, env={"PYTHONPATH": str(tmp_path / "site")})
    assert p.returncode == 0, p.stderr
    out = json.loads(p.stdout)
    assert out["evlog"]
    assert any("imported before" in w for w in out["warned"])


def test_with_the_real_package_on_the_path_evlog_wins(tmp_path):
    fake = tmp_path / "site" / "wandb"
    fake.mkdir(parents=True)
    (fake / "__init__.py").write_text("REAL = True\n__version__ = '0.31.0'\n")
    p = run_py("""
        import eventlog.compat.wandb, wandb, importlib.metadata
        print(hasattr(wandb, "REAL"), importlib.metadata.version("wandb").split("+")[1])
    """, tmp_path, env={"PYTHONPATH": str(tmp_path / "site")})
    assert p.returncode == 0, p.stderr
    assert p.stdout.split() == ["False", f"evlog.{eventlog.__version__}"]


# ------------------------------------------------------------------ Settings, init(settings=...)
def test_settings_fill_init_and_reach_the_syncer(tmp_path):
    p = run_py(f"""
        import eventlog as wandb, warnings
        warnings.simplefilter("error")  # only the one expected warning below may appear
        s = wandb.Settings(silent=True, console="off", run_name="from-settings", start_method="thread",
                           x_disable_stats=True, init_timeout=90)
        run = wandb.init(mode="offline", dir={str(tmp_path)!r}, settings=s, config={{"a": 1, "b": 2}},
                         config_exclude_keys=["b"])
        print("hello from the program")
        print("NAME", run.name, dict(run.config), run._settings.console, run._settings.system_interval)
        run.finish()
    """, tmp_path)
    assert p.returncode == 0, p.stderr
    assert "NAME from-settings {'a': 1} False 0.0" in p.stdout
    # silent reached the syncer too: no banner, no offline hint
    assert "Tracking run" not in p.stdout + p.stderr and "evlog sync" not in p.stdout + p.stderr
    (folder,) = (tmp_path / "evlog").glob("run-*")
    types = [r.type for r in LogReader(folder).records()]
    assert "output" not in types and "system" not in types


def test_unknown_settings_fields_warn_once_and_dicts_work(tmp_path):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        run = eventlog.init(mode="offline", dir=str(tmp_path), settings={"mode": "disabled", "zz_unknown_field": 1})
        run.finish()
        run = eventlog.init(mode="offline", dir=str(tmp_path), settings={"zz_unknown_field": 2, "silent": True},
                            reinit=True)
        run.finish()
    msgs = [str(w.message) for w in caught if "zz_unknown_field" in str(w.message)]
    assert len(msgs) == 1 and "ignored" in msgs[0]
    with pytest.raises(eventlog.ArgumentTypeError, match="settings"):
        eventlog.init(mode="disabled", settings=42)
    with pytest.raises(eventlog.UsageError, match="fork_from"):
        eventlog.init(mode="disabled", fork_from="abc?_step=3")
    with pytest.raises(eventlog.UsageError, match="not both"):
        eventlog.init(mode="disabled", config={"a": 1}, config_include_keys=["a"], config_exclude_keys=["b"])


def test_explicit_init_argument_beats_settings(tmp_path):
    run = eventlog.init(mode="offline", dir=str(tmp_path), name="arg-name",
                        settings=eventlog.Settings(run_name="settings-name", silent=True, run_tags=("x", "y")))
    try:
        assert run.name == "arg-name" and run.tags == ("x", "y")
    finally:
        run.finish()


# ------------------------------------------------------------------ terminal helpers, require, sweeps
def test_term_helpers_print_to_stderr_once_when_asked_and_not_when_silent(capsys, monkeypatch):
    monkeypatch.delenv("EVLOG_SILENT", raising=False)
    monkeypatch.delenv("WANDB_SILENT", raising=False)
    eventlog.termwarn("careful-xyz", repeat=False)
    eventlog.termwarn("careful-xyz", repeat=False)
    eventlog.termerror("broken\nsecond line")
    eventlog.termlog("plain")
    err = capsys.readouterr().err
    assert err.count("evlog: WARNING careful-xyz") == 1
    assert "evlog: ERROR broken\nevlog: ERROR second line\n" in err
    assert "evlog: plain\n" in err
    monkeypatch.setenv("WANDB_SILENT", "true")
    eventlog.termlog("hidden")
    assert capsys.readouterr().err == ""


def test_require_setup_accepted_and_sweeps_refused_with_an_alternative():
    assert eventlog.require("service") is None
    assert eventlog.setup() is None
    with pytest.raises(eventlog.UsageError):
        eventlog.require(42)
    for fn in (eventlog.sweep, eventlog.agent, eventlog.controller):
        with pytest.raises(eventlog.UsageError, match="optuna"):
            fn({"method": "grid"})


# ------------------------------------------------------------------ run odds and ends
def test_log_code_saves_source_files_as_code(tmp_path):
    src = tmp_path / "src"
    (src / "pkg").mkdir(parents=True)
    (src / "train.py").write_text("print(1)\n")
    (src / "pkg" / "model.py").write_text("X = 2\n")
    (src / "notes.txt").write_text("not code\n")
    (src / ".hidden").mkdir()
    (src / ".hidden" / "secret.py").write_text("no\n")
    run = eventlog.init(mode="offline", dir=str(tmp_path / "runs"), save_code=False, settings={"silent": True})
    try:
        saved = run.log_code(str(src))
        only_txt = run.log_code(str(src), name="txt", include_fn=lambda p: p.endswith(".txt"))
        with pytest.raises(eventlog.UsageError, match="no such folder"):
            run.log_code(str(tmp_path / "missing"))
    finally:
        run.finish()
    assert sorted(saved) == ["code/pkg/model.py", "code/train.py"]
    assert only_txt == ["code/txt/notes.txt"]
    assert (Path(run.dir) / "code/pkg/model.py").read_text() == "X = 2\n"
    entries = [f for r in LogReader(run.dir).records() if r.type == "files" for f in r.body["files"]]
    assert {e["path"]: e["kind"] for e in entries if e["path"].startswith("code/")} == {
        "code/pkg/model.py": "code", "code/train.py": "code", "code/txt/notes.txt": "code"}


def test_mark_preempting_label_and_urls(tmp_path):
    run = eventlog.init(mode="offline", dir=str(tmp_path), settings={"silent": True})
    try:
        run._label(code="transformers_trainer")
        eventlog.mark_preempting()
        assert run.project_url is None and run.get_url() is None and run.sweep_id is None
    finally:
        run.finish()
    types = [r.type for r in LogReader(run.dir).records()]
    assert types.index("preempting") < types.index("exit")
    with pytest.raises(eventlog.NoRunError):
        eventlog.mark_preempting()


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    with sqlite_harness(tmp_path_factory.mktemp("compat-srv")) as h:
        yield h


def test_login_checks_and_stores_the_key_and_project_url_follows(server, tmp_path, monkeypatch):
    monkeypatch.setenv("EVLOG_CONFIG_DIR", str(tmp_path / "cfg"))
    for var in ("EVLOG_API_KEY", "WANDB_API_KEY", "EVLOG_BASE_URL", "WANDB_BASE_URL"):
        monkeypatch.delenv(var, raising=False)
    user, key = server.user()
    with pytest.raises(eventlog.PermissionDenied):
        eventlog.login(key="not-a-key", host=server.url)
    with pytest.raises(eventlog.NotLoggedInError, match="login"):
        eventlog.login(host=server.url)  # no key stored, no terminal to ask on
    assert eventlog.login(key=key, host=server.url) is True
    assert eventlog.login(host=server.url) is True  # now stored
    monkeypatch.setenv("EVLOG_BASE_URL", server.url)
    run = eventlog.init(project="compat", dir=str(tmp_path), settings={"silent": True})
    try:
        assert run.url == f"{server.url}/{user}/compat/runs/{run.id}"
        assert run.project_url == f"{server.url}/{user}/compat"
    finally:
        run.finish()


def test_wandb_util_env_apis_and_data_types_exist_and_unknown_attributes_are_attribute_errors(tmp_path):
    p = run_py("""
        import json, os
        import eventlog.compat.wandb
        import wandb, wandb.util, wandb.env
        from wandb.apis import PublicApi
        wandb.env.set_project("from-env")
        print(json.dumps({
            "id": wandb.util.generate_id(), "project": os.environ["WANDB_PROJECT"],
            "api": PublicApi is wandb.Api, "image": wandb.data_types.Image is wandb.Image,
            "no_keras": hasattr(wandb, "keras_integration_xyz"),
        }))
    """, tmp_path)
    assert p.returncode == 0, p.stderr
    out = json.loads(p.stdout)
    assert len(out["id"]) == 8 and out["id"].isalnum() and out["project"] == "from-env"
    assert out["api"] and out["image"] and out["no_keras"] is False


def test_runops_table_lists_every_attribute_of_every_mixin():
    """RunOps loads each runops module on first use of one of the attributes PARTS lists for it: an
    attribute missing from the table would never reach the Run."""
    from eventlog import runops

    for module, (cls_name, attrs) in runops.PARTS.items():
        cls = runops.mixin(module)
        own = {k for k in vars(cls) if k not in ("__module__", "__doc__", "__slots__", "__qualname__")
               and not (k.startswith("__") and k.endswith("__") and k != "__reduce__")}
        own -= {"_mfold", "_alerted"}  # plain class defaults, on RunOps itself
        assert own == set(attrs), (module, own ^ set(attrs))
