"""Attaching processes to a run (issue 13 section 2, spec/format.md 8): an attached Run behaves as
the Run and its calls land in the owner's one log; spawned multiprocessing children and Lightning's
ddp_spawn workers log into the run the user sees; what happens when the owner finishes or dies, and
when an attached process crashes."""
from __future__ import annotations

import json
import os
import pickle
import signal
import subprocess
import sys
import textwrap
import warnings
from pathlib import Path

import pytest

from support.run import of_type, only_run_folder, records, run_folders, scrubbed_env, wait_for


def attach_here(aid: str):
    """An AttachedRun in this process (the owner's process too: `_attach` would return the owner's Run)."""
    from eventlog.attach.client import AttachedRun, _Link

    link = _Link(aid)
    return AttachedRun(link, link.connect())


def history(recs):
    return [(r.body["step"], r.body["data"]) for r in of_type(recs, "history")]


def attach_events(recs):
    return [(r.body["event"], r.body["pid"]) for r in of_type(recs, "attach")]


def write(path: Path, text: str) -> Path:
    path.write_text(textwrap.dedent(text).lstrip())
    return path


def run_py(script: Path, cwd: Path, timeout: float = 300) -> subprocess.CompletedProcess:
    env = scrubbed_env(cwd, EVLOG_DISABLE_GIT="true", EVLOG_CONSOLE="off", EVLOG_SYSTEM_INTERVAL="0")
    return subprocess.run([sys.executable, str(script)], cwd=cwd, env=env, capture_output=True, text=True,
                          timeout=timeout)


# ------------------------------------------------------------------- in one process
def test_an_attached_run_behaves_as_the_run_and_writes_through_the_owner(ev):
    run = ev.init(config={"lr": 0.1})
    run.log({"a": 1})
    att = attach_here(run._attach_id)
    assert isinstance(att, ev.Run) and att is not run
    assert (att.id, att.name, att.dir, att.project) == (run.id, run.name, run.dir, run.project)
    assert att.config["lr"] == 0.1 and att.summary["a"] == 1 and att.step == 1
    att.log({"b": 2}, commit=False)
    att.log({"c": 3})                      # commits step 1 with b and c
    run.log({"d": 4})                      # the owner's own call takes the next step: steps are the run's
    att.log({"e": 5}, step=5)
    att.config.update({"batch": 32})
    att.config["lr"] = 0.1                 # the same value again: nothing written
    att.summary["best"] = 0.9
    att.name = "renamed"
    att.define_metric("c", summary="max")
    assert run.config["batch"] == 32 and run.summary["best"] == 0.9 and run.name == "renamed"
    assert att.config["batch"] == 32 and att.step == 5
    with pytest.warns(ev.StepWarning, match="lower than the run's current step 5"):
        att.log({"late": 1}, step=2)
    with pytest.raises(ev.LogValueError, match="'bad'"):
        att.log({"bad": object()})
    with pytest.raises(ev.LogValueError, match="'lam'"):
        att.log({"lam": lambda: 1})        # cannot even be sent: refused here
    with pytest.raises(ev.ConfigError, match="allow_val_change"):
        att.config["lr"] = 0.2
    att.finish()
    assert att.finished and not run.finished
    with pytest.raises(ev.RunFinishedError, match="detached"):
        att.log({"after": 1})
    run.finish()
    recs = records(run.dir)
    assert history(recs) == [(0, {"a": 1}), (1, {"b": 2, "c": 3}), (2, {"d": 4}), (5, {"e": 5})]
    assert [r.body for r in of_type(recs, "config")] == [{"update": {"lr": 0.1}}, {"update": {"batch": 32}}]
    assert {"name": "renamed"} in [r.body for r in of_type(recs, "meta")]
    assert [r.body["name"] for r in of_type(recs, "metric")] == ["c"]
    warns = [r.body["message"] for r in of_type(recs, "warning")]
    assert any("log(step=2) refused" in w for w in warns) and any("'bad'" in w for w in warns)
    assert attach_events(recs) == [("attach", os.getpid()), ("detach", os.getpid())]
    assert recs[-1].type == "exit" and recs[-1].body["exit_code"] == 0


def test_a_run_pickled_in_its_own_process_is_that_run_and_a_disabled_run_stays_disabled(ev):
    run = ev.init()
    assert pickle.loads(pickle.dumps(run)) is run
    assert ev._attach(run._attach_id) is run
    run.finish()
    off = ev.init(mode="disabled", name="quiet")
    assert off._attach_id is None
    back = pickle.loads(pickle.dumps(off))
    assert back.disabled and back.id == off.id and back.name == "quiet" and back is not off
    back.log({"x": 1})  # writes nothing, raises nothing


def test_a_call_after_the_owner_finished_is_refused_naming_the_run_and_attaching_then_fails(ev):
    run = ev.init()
    aid = run._attach_id
    att = attach_here(aid)
    att.log({"x": 1})
    run.finish()
    with pytest.raises(ev.RunFinishedError) as info:
        att.log({"x": 2})
    msg = str(info.value)
    assert run.id in msg and "not applied" in msg and run.dir in msg
    with pytest.raises(ev.RunDetachedError, match=run.id):
        attach_here(aid)
    with pytest.raises(ev.RunFinishedError):
        run._attach_id
    assert history(records(run.dir)) == [(0, {"x": 1})]


def test_a_wrong_token_or_a_malformed_attach_id_is_refused(ev):
    run = ev.init()
    aid = run._attach_id
    prefix, run_id, token, path = aid.split(":", 3)
    forged = ":".join([prefix, run_id, "0" * len(token), path])
    with pytest.raises(ev.UsageError, match="token does not match"):
        attach_here(forged)
    for bad in ("nonsense", 42, "evlog-attach-1:abc"):
        with pytest.raises(ev.UsageError, match="attach_id"):
            ev._attach(bad)
    with pytest.raises(ev.UsageError, match="attach_id="):
        ev._attach(None, run_id=run.id)
    run.finish()
    assert attach_events(records(run.dir)) == [], "a refused process is not let in"
    mode = os.stat(path).st_mode if os.path.exists(path) else None
    assert mode is None, "the socket is removed when the run finishes"


def test_the_socket_is_private_to_the_user(ev):
    import stat

    run = ev.init()
    path = run._attach_id.split(":", 3)[3]
    assert stat.S_ISSOCK(os.stat(path).st_mode)
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    assert stat.S_IMODE(os.stat(os.path.dirname(path)).st_mode) == 0o700
    assert not Path(path).is_relative_to(run.dir), "not in the run folder (it is copied and synced)"
    run.finish()


# --------------------------------------------------------------- across processes
def test_spawned_children_given_the_run_log_into_that_one_run(tmp_path):
    write(tmp_path / "spawn_owner.py", """
        import json, multiprocessing as mp, os
        import eventlog

        def child(run, i):
            assert isinstance(run, eventlog.Run) and eventlog.run is run, "the unpickled run is the child's run"
            assert run.owner_pid != os.getpid()
            run.config.update({f"child{i}": os.getpid()})
            for j in range(5):
                eventlog.log({f"c{i}": j})     # module-level log() reaches it too
            run.summary[f"done{i}"] = True

        if __name__ == "__main__":
            run = eventlog.init(config={"lr": 0.5})
            run.log({"owner": 0})
            ctx = mp.get_context("spawn")
            procs = [ctx.Process(target=child, args=(run, i)) for i in range(2)]
            for p in procs:
                p.start()
            for p in procs:
                p.join()
            run.log({"owner": 1})
            print(json.dumps({"codes": [p.exitcode for p in procs], "pids": [p.pid for p in procs]}))
            run.finish()
    """)
    proc = run_py(tmp_path / "spawn_owner.py", tmp_path)
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    assert out["codes"] == [0, 0]
    folder = only_run_folder(tmp_path)  # one run folder: the children made none
    recs = records(folder)
    rows = history(recs)
    steps = [s for s, _ in rows]
    assert steps == list(range(len(rows))), "one step per committed log(), from every process, in order"
    assert rows[0][1] == {"owner": 0} and rows[-1][1] == {"owner": 1}
    for i in range(2):
        assert [d[f"c{i}"] for _, d in rows if f"c{i}" in d] == list(range(5))
    config = {}
    for r in of_type(recs, "config"):
        config.update(r.body["update"])
    assert config == {"lr": 0.5, "child0": out["pids"][0], "child1": out["pids"][1]}
    final = of_type(recs, "summary")[-1].body["update"]
    assert final["done0"] is True and final["done1"] is True and final["c1"] == 4
    events = attach_events(recs)
    assert sorted(events) == sorted([(e, pid) for pid in out["pids"] for e in ("attach", "detach")])
    assert recs[-1].type == "exit" and recs[-1].body["exit_code"] == 0


def test_an_attached_process_that_crashes_leaves_the_run_going(ev, tmp_path):
    run = ev.init()
    run.log({"owner": 0})
    code = textwrap.dedent(f"""
        import os, eventlog
        run = eventlog._attach({run._attach_id!r})
        assert eventlog.run is run
        run.log({{"child": 1}})
        os._exit(3)
    """)
    child = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert child.returncode == 3, child.stderr
    ch = run.__dict__["_attach_channel"]
    assert wait_for(lambda: not ch._conns), "the owner noticed the connection end"
    run.log({"owner": 1})
    run.finish()
    recs = records(run.dir)
    assert history(recs) == [(0, {"owner": 0}), (1, {"child": 1}), (2, {"owner": 1})]
    events = attach_events(recs)
    assert [e for e, _ in events] == ["attach", "lost"] and events[0][1] == events[1][1] != os.getpid()
    assert recs[-1].body["exit_code"] == 0


def test_when_the_owner_dies_an_attached_call_raises_naming_the_run_and_where_its_data_is(ev, tmp_path):
    owner = subprocess.Popen(
        [sys.executable, "-c", textwrap.dedent("""
            import json, sys, eventlog
            run = eventlog.init()
            print(json.dumps({"aid": run._attach_id, "dir": run.dir}), flush=True)
            sys.stdin.readline()
        """)],
        cwd=tmp_path, env=scrubbed_env(tmp_path, EVLOG_DISABLE_GIT="true", EVLOG_CONSOLE="off",
                                       EVLOG_SYSTEM_INTERVAL="0"),
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
    )
    try:
        info = json.loads(owner.stdout.readline())
        att = ev._attach(info["aid"])
        assert ev.run is att and att.owner_pid == owner.pid
        att.log({"x": 1})
        assert wait_for(lambda: any(r.type == "history" for r in ev.LogReader(info["dir"]).records()))
        owner.send_signal(signal.SIGKILL)
        owner.wait(timeout=60)
        with pytest.raises(ev.RunDetachedError) as exc:
            att.log({"x": 2})
        msg = str(exc.value)
        assert att.id in msg and "not applied" in msg and info["dir"] in msg and "resume" in msg
        with pytest.raises(ev.RunDetachedError, match=att.id):
            ev._attach(info["aid"])
    finally:
        if owner.poll() is None:
            owner.kill()
            owner.wait()
    assert [d for _, d in history(list(ev.LogReader(info["dir"]).records()))] == [{"x": 1}]


def test_lightning_ddp_spawn_with_wandb_logger_logs_every_step_into_one_run(tmp_path):
    pytest.importorskip("lightning")
    write(tmp_path / "train_ddp.py", """
        import eventlog.compat.wandb  # noqa: F401  -- `import wandb` is evlog
        import json, os
        import torch
        from torch.utils.data import DataLoader, TensorDataset
        import lightning.pytorch as pl
        from lightning.pytorch.loggers import WandbLogger


        class Tiny(pl.LightningModule):
            def __init__(self, lr=0.1):
                super().__init__()
                self.save_hyperparameters()
                self.layer = torch.nn.Linear(4, 1)

            def training_step(self, batch, batch_idx):
                x, y = batch
                loss = torch.nn.functional.mse_loss(self.layer(x), y)
                self.log("train_loss", loss)
                return loss

            def configure_optimizers(self):
                return torch.optim.SGD(self.parameters(), lr=self.hparams.lr)


        class Watch(pl.Callback):
            def on_train_start(self, trainer, pl_module):
                trainer.logger.watch(pl_module, log="gradients", log_freq=2)


        if __name__ == "__main__":
            torch.manual_seed(0)
            data = DataLoader(TensorDataset(torch.randn(64, 4), torch.randn(64, 1)), batch_size=8)
            logger = WandbLogger(project="ddp", save_dir=os.getcwd())
            trainer = pl.Trainer(strategy="ddp_spawn", devices=2, accelerator="cpu", max_epochs=2,
                                 log_every_n_steps=1, logger=logger, callbacks=[Watch()],
                                 enable_checkpointing=False, enable_progress_bar=False,
                                 enable_model_summary=False)
            trainer.fit(Tiny(), data)
            import wandb
            print(json.dumps({"dir": wandb.run.dir}))
            wandb.finish()
    """)
    proc = run_py(tmp_path / "train_ddp.py", tmp_path, timeout=600)
    assert proc.returncode == 0, proc.stderr[-4000:]
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    folder = only_run_folder(tmp_path)
    assert str(folder) == out["dir"]
    recs = records(folder)
    rows = [d for _, d in history(recs)]
    # 64 samples over 2 ranks, batches of 8: 4 steps per epoch, 2 epochs; rank 0 logs each one
    assert [d["trainer/global_step"] for d in rows if "train_loss" in d] == list(range(8))
    assert all(isinstance(d["train_loss"], float) for d in rows if "trainer/global_step" in d)
    grads = [d for d in rows if "gradients/layer.weight" in d]
    assert grads and all(d["gradients/layer.weight"]["_type"] == "histogram" for d in grads)
    assert "gradients/layer.bias" in grads[0]
    config = {}
    for r in of_type(recs, "config"):
        config.update(r.body["update"])
    assert config.get("lr") == 0.1, "log_hyperparams in the worker reached the run"
    assert {"name": "*", "step_metric": "trainer/global_step"}.items() <= of_type(recs, "metric")[-1].body.items()
    assert [e for e, _ in attach_events(recs)] == ["attach", "detach"], "only rank 0 attaches"
    assert recs[-1].type == "exit" and recs[-1].body["exit_code"] == 0
