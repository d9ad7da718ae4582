"""The run API seen from outside a process: exit codes at interpreter exit, SIGTERM / SIGINT,
fork, what init() records about the program (git, code), config-defaults.yaml, the offline
line (issue 3)."""
from __future__ import annotations

import hashlib
import os
import shutil
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from support.run import of_type, only_run_folder, records, run_folders, run_script, scrubbed_env, wait_for


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(text).lstrip())
    return path


def exit_body(folder):
    recs = records(folder)
    exits = of_type(recs, "exit")
    assert len(exits) == 1 and recs[-1].type == "exit", [r.type for r in recs]
    return exits[0].body


# ------------------------------------------------------------------------ exit codes
@pytest.mark.parametrize("tail, code, error_type", [
    ("pass", 0, None),
    ("import sys; sys.exit(3)", 3, "SystemExit"),
    ("import sys; sys.exit(0)", 0, None),
    ("raise ValueError('boom at step 2')", 1, "ValueError"),
])
def test_an_unfinished_run_is_finished_at_exit_with_the_process_exit_code(tmp_path, tail, code, error_type):
    script = write(tmp_path / "train.py", f"""
        import eventlog as wandb
        run = wandb.init()
        for i in range(3):
            wandb.log({{"i": i}})
        {tail}
    """)
    proc = run_script(script, tmp_path, scrubbed_env(tmp_path))
    assert proc.returncode == code, proc.stderr
    body = exit_body(only_run_folder(tmp_path))
    assert body["exit_code"] == code and body["interrupted"] is False
    if error_type is None:
        assert body["error"] is None
    else:
        assert body["error"]["type"] == error_type
    if error_type == "ValueError":
        assert body["error"]["message"] == "boom at step 2"
        assert "Traceback" in proc.stderr, "the program's own traceback is still printed"


def test_with_block_that_raises_records_exit_code_1_and_the_exception_propagates(tmp_path):
    script = write(tmp_path / "train.py", """
        import eventlog as wandb
        try:
            with wandb.init() as run:
                run.log({"a": 1})
                raise RuntimeError("diverged")
        except RuntimeError as exc:
            print("caught", exc)
        run2 = wandb.init()
        run2.log({"b": 2})
    """)
    proc = run_script(script, tmp_path, scrubbed_env(tmp_path))
    assert proc.returncode == 0, proc.stderr
    assert "caught diverged" in proc.stdout
    first, second = run_folders(tmp_path)
    bodies = sorted([exit_body(first), exit_body(second)], key=lambda b: b["exit_code"])
    assert bodies[0]["exit_code"] == 0 and bodies[0]["error"] is None
    assert bodies[1]["exit_code"] == 1 and bodies[1]["error"] == {"type": "RuntimeError", "message": "diverged"}


LOOP = """
    import sys, time
    import eventlog as wandb
    run = wandb.init()
    i = 0
    {body}
"""


def _start_looping(tmp_path, body: str) -> subprocess.Popen:
    script = write(tmp_path / "loop.py", LOOP.format(body=textwrap.indent(textwrap.dedent(body), "    ").strip()))
    return subprocess.Popen([sys.executable, str(script)], cwd=tmp_path, env=scrubbed_env(tmp_path),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def test_sigterm_writes_an_interrupted_exit_record_then_the_process_dies_of_it(tmp_path):
    proc = _start_looping(tmp_path, """
        while True:
            wandb.log({"i": i})
            i += 1
            if i == 1000:
                print("ready", flush=True)
    """)
    try:
        assert proc.stdout.readline().strip() == "ready"
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=30)
    finally:
        proc.kill()
    assert proc.returncode == -signal.SIGTERM
    folder = only_run_folder(tmp_path)
    body = exit_body(folder)
    assert body["interrupted"] is True and body["exit_code"] == 128 + signal.SIGTERM
    assert body["error"]["type"] == "SIGTERM"
    steps = [r.body["step"] for r in of_type(records(folder), "history")]
    assert len(steps) >= 1000 and steps == list(range(len(steps)))


def test_sigint_writes_an_interrupted_exit_record_and_raises_keyboardinterrupt(tmp_path):
    proc = _start_looping(tmp_path, """
        try:
            while True:
                wandb.log({"i": i})
                i += 1
                if i == 1000:
                    print("ready", flush=True)
        except KeyboardInterrupt:
            print("got KeyboardInterrupt", flush=True)
            raise
    """)
    try:
        assert proc.stdout.readline().strip() == "ready"
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=30)
    finally:
        proc.kill()
    assert "got KeyboardInterrupt" in out, err
    assert proc.returncode in (-signal.SIGINT, 130, 1)
    body = exit_body(only_run_folder(tmp_path))
    assert body["interrupted"] is True and body["exit_code"] == 128 + signal.SIGINT


def test_logging_after_a_caught_sigint_goes_on_in_a_new_session(tmp_path):
    proc = _start_looping(tmp_path, """
        try:
            while True:
                wandb.log({"i": i})
                i += 1
                if i == 100:
                    print("ready", flush=True)
        except KeyboardInterrupt:
            wandb.log({"saved_checkpoint": 1})
        run.finish()
    """)
    try:
        assert proc.stdout.readline().strip() == "ready"
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=30)
    finally:
        proc.kill()
    assert proc.returncode == 0, err
    recs = records(only_run_folder(tmp_path))
    types = [r.type for r in recs]
    first_exit = types.index("exit")
    assert recs[first_exit].body["interrupted"] is True
    assert types[first_exit + 1] == "resume" and recs[first_exit + 1].body["session"] == 1
    assert recs[-1].type == "exit" and recs[-1].body["exit_code"] == 0
    assert {"saved_checkpoint": 1} in [r.body["data"] for r in of_type(recs, "history")]


def test_sigkill_leaves_a_readable_log_without_exit_record(tmp_path):
    proc = _start_looping(tmp_path, """
        while True:
            wandb.log({"i": i})
            i += 1
            if i == 500:
                run.save()
                print("ready", flush=True)
    """)
    try:
        assert proc.stdout.readline().strip() == "ready"
        proc.kill()
        proc.wait(timeout=30)
    finally:
        proc.kill()
    recs = records(only_run_folder(tmp_path))
    assert recs[0].type == "run" and not of_type(recs, "exit")
    assert len(of_type(recs, "history")) >= 500


def test_forked_child_cannot_write_into_the_parent_log(tmp_path):
    script = write(tmp_path / "fork.py", """
        import os, sys
        import eventlog as wandb
        run = wandb.init()
        run.log({"parent": 1})
        pid = os.fork()
        if pid == 0:
            try:
                run.log({"child": 1})
                print("child wrote", flush=True)
            except wandb.ForkedWriterError as exc:
                print("child refused:", exc, flush=True)
            try:
                run.summary["child"] = 1
            except wandb.ForkedWriterError:
                print("child summary refused", flush=True)
            sys.exit(0)   # a normal exit: atexit runs in the child too
        _, status = os.waitpid(pid, 0)
        run.log({"parent": 2})
        print("child status", status, flush=True)
    """)
    proc = run_script(script, tmp_path, scrubbed_env(tmp_path))
    assert proc.returncode == 0, proc.stderr
    assert "child refused:" in proc.stdout and "forked" in proc.stdout
    assert "child summary refused" in proc.stdout and "child wrote" not in proc.stdout
    assert "child status 0" in proc.stdout
    recs = records(only_run_folder(tmp_path))
    assert [r.body["data"] for r in of_type(recs, "history")] == [{"parent": 1}, {"parent": 2}]
    assert len(of_type(recs, "exit")) == 1 and recs[-1].type == "exit"


# ---------------------------------------------------------------- program, git, code
def _git(cwd, *args):
    env = dict(os.environ, GIT_AUTHOR_NAME="t", GIT_AUTHOR_EMAIL="t@e", GIT_COMMITTER_NAME="t",
               GIT_COMMITTER_EMAIL="t@e", GIT_CONFIG_NOSYSTEM="1", HOME=str(cwd))
    return subprocess.run(["git", *args], cwd=cwd, env=env, check=True, capture_output=True, text=True).stdout.strip()


needs_git = pytest.mark.skipif(shutil.which("git") is None, reason="git is not installed")

TRAIN = """
    import eventlog as wandb
    run = wandb.init(project="gitproj")
    run.log({"x": 1})
    print(run.dir)
"""


@needs_git
def test_init_records_program_git_and_code(tmp_path):
    repo = tmp_path / "repo"
    repo.mkdir()
    _git(repo, "init", "-q", "-b", "feature/x")
    _git(repo, "remote", "add", "origin", "https://alice:TopSecret99@git.example.com/team/proj.git")
    script = write(repo / "train.py", TRAIN)
    write(repo / "model.py", "LAYERS = 2\n")
    _git(repo, "add", ".")
    _git(repo, "commit", "-q", "-m", "first")
    sha = _git(repo, "rev-parse", "HEAD")
    (repo / "model.py").write_text("LAYERS = 3\n")  # a local change: dirty, and in the diff
    work = tmp_path / "elsewhere"
    work.mkdir()
    proc = run_script(script, work, scrubbed_env(tmp_path), args=["--lr", "0.1"])
    assert proc.returncode == 0, proc.stderr
    folder = Path(proc.stdout.strip())
    assert folder.parent == work / "evlog"
    recs = records(folder)
    run = recs[0].body
    assert run["program"]["argv"] == [str(script), "--lr", "0.1"]
    assert run["program"]["path"] == str(script) and run["program"]["cwd"] == str(work)
    assert run["program"]["pid"] > 0 and run["program"]["python"] == "%d.%d.%d" % sys.version_info[:3]
    git = run["git"]
    assert git["commit"] == sha and git["branch"] == "feature/x" and git["dirty"] is True
    assert git["remote"] == "https://git.example.com/team/proj.git"
    assert git["diff_file"] == "diff.patch"
    diff = (folder / "diff.patch").read_text()
    assert "-LAYERS = 2" in diff and "+LAYERS = 3" in diff
    code = run["code"]
    assert code["path"] == "code/train.py" and code["original"] == str(script)
    assert code["sha256"] == hashlib.sha256(script.read_bytes()).hexdigest()
    assert (folder / "code" / "train.py").read_bytes() == script.read_bytes()
    files = [e for r in of_type(recs, "files") for e in r.body["files"]]
    assert {(e["path"], e["kind"]) for e in files} == {("code/train.py", "code"), ("diff.patch", "diff")}
    # the secret is nowhere in the run folder
    for p in folder.rglob("*"):
        if p.is_file():
            assert b"TopSecret99" not in p.read_bytes(), p
    assert "TopSecret99" not in repr([r.body for r in recs])


@needs_git
def test_clean_repo_has_no_diff_and_git_can_be_turned_off(tmp_path):
    repo = tmp_path / "repo"
    repo.mkdir()
    _git(repo, "init", "-q")
    script = write(repo / "train.py", TRAIN)
    _git(repo, "add", ".")
    _git(repo, "commit", "-q", "-m", "first")
    proc = run_script(script, repo, scrubbed_env(tmp_path))
    folder = Path(proc.stdout.strip())
    git = records(folder)[0].body["git"]
    assert git["dirty"] is False and git["diff_file"] is None and git["remote"] is None
    assert not (folder / "diff.patch").exists()
    (repo / "train.py").write_text((repo / "train.py").read_text() + "\n# changed\n")
    proc = run_script(script, repo, scrubbed_env(tmp_path, EVLOG_DISABLE_GIT="true"))
    folder = Path(proc.stdout.strip())
    assert records(folder)[0].body["git"] is None and not (folder / "diff.patch").exists()


def test_outside_git_no_git_info(tmp_path):
    script = write(tmp_path / "train.py", TRAIN)
    proc = run_script(script, tmp_path, scrubbed_env(tmp_path, GIT_CEILING_DIRECTORIES=str(tmp_path.parent)))
    assert proc.returncode == 0, proc.stderr
    assert records(Path(proc.stdout.strip()))[0].body["git"] is None


@pytest.mark.parametrize("how", ["argument", "EVLOG_DISABLE_CODE", "WANDB_DISABLE_CODE"])
def test_save_code_can_be_turned_off(tmp_path, how):
    text = TRAIN.replace('project="gitproj"', 'project="gitproj", save_code=False') if how == "argument" else TRAIN
    script = write(tmp_path / "train.py", text)
    env = scrubbed_env(tmp_path, **({how: "true"} if how != "argument" else {}))
    proc = run_script(script, tmp_path, env)
    folder = Path(proc.stdout.strip())
    recs = records(folder)
    assert recs[0].body["code"] is None and not (folder / "code").exists()
    assert recs[0].body["settings"]["save_code"] is False
    assert all(e["kind"] != "code" for r in of_type(recs, "files") for e in r.body["files"])


def test_config_defaults_yaml_beside_the_script(tmp_path):
    write(tmp_path / "proj" / "config-defaults.yaml", """
        wandb_version: 1
        lr:
          desc: learning rate
          value: 0.01
        epochs: 10
    """)
    script = write(tmp_path / "proj" / "train.py", """
        import eventlog as wandb
        run = wandb.init(config={"epochs": 3})
        print(run.config.as_dict())
        print(run.dir)
    """)
    proc = run_script(script, tmp_path, scrubbed_env(tmp_path))
    assert proc.returncode == 0, proc.stderr
    shown, folder = proc.stdout.strip().splitlines()
    assert shown == str({"lr": 0.01, "epochs": 3})
    cfg = of_type(records(folder), "config")
    assert [r.body for r in cfg] == [{"update": {"lr": 0.01, "epochs": 3}}]


def test_offline_prints_one_line_with_the_sync_command_unless_silent(tmp_path):
    script = write(tmp_path / "train.py", TRAIN)
    env = scrubbed_env(tmp_path)
    env.pop("EVLOG_SILENT")
    proc = run_script(script, tmp_path, env)
    folder = proc.stdout.strip()
    lines = [ln for ln in proc.stderr.splitlines() if ln.startswith("evlog:")]
    assert lines == [f"evlog: run stored offline in {folder}; sync it later with: evlog sync {folder}"]
    proc = run_script(script, tmp_path, dict(env, WANDB_SILENT="true"))
    assert proc.returncode == 0 and "evlog:" not in proc.stderr


def test_init_from_a_thread_and_log_from_threads(tmp_path):
    script = write(tmp_path / "threads.py", """
        import threading
        import eventlog as wandb
        box = {}
        t = threading.Thread(target=lambda: box.setdefault("run", wandb.init()))
        t.start(); t.join()
        run = box["run"]
        def work(k):
            for i in range(200):
                run.log({"k": k})
        ts = [threading.Thread(target=work, args=(k,)) for k in range(4)]
        [t.start() for t in ts]; [t.join() for t in ts]
        print(run.dir)
    """)
    proc = run_script(script, tmp_path, scrubbed_env(tmp_path))
    assert proc.returncode == 0, proc.stderr
    recs = records(proc.stdout.strip())
    assert len(of_type(recs, "history")) == 800 and exit_body(proc.stdout.strip())["exit_code"] == 0


def test_syncer_is_started_and_waited_for(tmp_path):
    """init() starts the run's syncer (eventlog.runapi.syncproc) and finish() waits for it: with the jsonl
    sink, the records are delivered by the time the process ends."""
    script = write(tmp_path / "train.py", """
        import eventlog as wandb
        run = wandb.init()
        for i in range(10):
            run.log({"i": i})
        run.finish()
        print(run.dir)
    """)
    proc = run_script(script, tmp_path, scrubbed_env(tmp_path, EVLOG_SINKS="jsonl"))
    assert proc.returncode == 0, proc.stderr
    folder = Path(proc.stdout.strip())
    if not (folder / "sinks").exists():
        pytest.skip("no syncer with a jsonl sink installed")
    assert wait_for(lambda: any((folder / "sinks").rglob("*.cursor.json")), timeout=5)
