"""The frameworks' own wandb integrations, unmodified, on evlog after `import eventlog.compat.wandb`:
optuna-integration, transformers Trainer, Lightning WandbLogger, accelerate. Each runs a tiny CPU job
in a subprocess (offline), then the run's records are read back from its folder."""
from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
from pathlib import Path
from typing import Dict, List

import pytest

from eventlog import LogReader

SCRIPTS = Path(__file__).parent.parent / "frameworks"


def need(*modules: str) -> None:
    for m in modules:
        if importlib.util.find_spec(m) is None:
            pytest.skip(f"{m} is not installed (pip install '.[frameworks]')")


def run_script(name: str, tmp: Path, *args: str, **env: str) -> subprocess.CompletedProcess:
    full = {k: v for k, v in os.environ.items() if not k.startswith(("EVLOG_", "WANDB_"))}
    full.update(WANDB_MODE="offline", WANDB_DIR=str(tmp), EVLOG_CONFIG_DIR=str(tmp / "cfg"), HOME=str(tmp),
                EVLOG_SYSTEM_INTERVAL="0", EVLOG_SINKS="none", TOKENIZERS_PARALLELISM="false",
                HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1", PYTHONUNBUFFERED="1")
    full.update(env)
    p = subprocess.run([sys.executable, str(SCRIPTS / name), *args], capture_output=True, text=True, env=full,
                       cwd=str(tmp), timeout=900)
    assert p.returncode == 0, f"{name} failed:\n{p.stdout[-3000:]}\n{p.stderr[-6000:]}"
    return p


def runs(tmp: Path) -> List[Path]:
    return sorted((tmp / "evlog").glob("run-*"))


class Run:
    """What a run folder's log says."""

    def __init__(self, folder: Path) -> None:
        self.records = list(LogReader(folder).records())
        self.folder = folder
        self.rows = [r.body for r in self.records if r.type == "history"]
        self.config: Dict = {}
        self.summary: Dict = {}
        for r in self.records:
            if r.type == "config":
                self.config.update(r.body.get("update", {}))
                for k in r.body.get("remove", ()):
                    self.config.pop(k, None)
            elif r.type == "history":
                self.summary.update(r.body["data"])
            elif r.type == "summary":
                self.summary.update(r.body.get("update", {}))
        self.run = next(r.body for r in self.records if r.type == "run")
        self.exit = [r.body for r in self.records if r.type == "exit"]
        self.metrics = [r.body for r in self.records if r.type == "metric"]
        self.artifacts = [r.body for r in self.records if r.type == "artifact"]
        self.meta = {}
        for r in self.records:
            if r.type == "meta":
                self.meta.update(r.body)

    def series(self, key: str, step_key: str) -> list:
        """(step metric value, value) of `key` in every row that has it."""
        return [(row["data"].get(step_key), row["data"][key]) for row in self.rows if key in row["data"]]

    def keys(self) -> set:
        return {k for row in self.rows for k in row["data"]}


# ------------------------------------------------------------------ optuna
def test_optuna_single_run_logs_each_trial_at_its_number(tmp_path):
    need("optuna", "optuna_integration")
    out = run_script("optuna_study.py", tmp_path, "single")
    (folder,) = runs(tmp_path)
    run = Run(folder)
    trials = eval(out.stdout.split("TRIALS", 1)[1])
    assert [(row["step"], row["data"]["x"], row["data"]["loss"]) for row in run.rows] == \
        [(n, x, v) for n, x, v in trials]
    assert run.config["direction"] == ["MINIMIZE"]
    assert run.run["project"] == "optuna-demo" and run.exit[-1]["exit_code"] == 0


def test_optuna_as_multirun_makes_one_run_per_trial(tmp_path):
    need("optuna", "optuna_integration")
    out = run_script("optuna_study.py", tmp_path, "multirun")
    trials = eval(out.stdout.split("TRIALS", 1)[1])
    found = sorted((Run(f) for f in runs(tmp_path)), key=lambda r: r.rows[0]["data"]["trial_number"])
    assert len(found) == len(trials) == 5
    for run, (n, x, v) in zip(found, trials):
        assert run.rows[0]["data"] == {"x": x, "loss": v, "trial_number": n}
        assert run.config["x"] == x and run.config["direction"] == ["MINIMIZE"]
        assert run.meta["name"].startswith(f"trial/{n}/")
        assert set(run.meta["tags"]) == {"hpo", "quadratic"}
        assert run.exit[-1]["exit_code"] == 0


# ------------------------------------------------------------------ transformers
def test_transformers_trainer_logs_at_train_global_step(tmp_path):
    need("transformers", "torch")
    run_script("hf_trainer.py", tmp_path, str(tmp_path / "out"), "6")
    (folder,) = runs(tmp_path)
    run = Run(folder)
    losses = run.series("train/loss", "train/global_step")
    assert [s for s, _ in losses] == [2, 4, 6]
    assert all(isinstance(v, float) for _, v in losses)
    evals = run.series("eval/loss", "train/global_step")
    assert [s for s, _ in evals] == [3, 6]
    # the model's config with id2label's int keys, and the training arguments
    assert run.config["id2label"] == {"0": "LABEL_0", "1": "LABEL_1", "2": "LABEL_2"}
    assert run.config["hidden_size"] == 16 and run.config["max_steps"] == 6
    assert run.config["model/num_parameters"] > 0
    # the default x axis transformers defines
    by_name = {m["name"]: m for m in run.metrics}
    assert by_name["*"]["step_metric"] == "train/global_step" and "train/global_step" in by_name
    assert "train_runtime" in run.summary and "train_loss" in run.summary  # summary-only values
    assert run.meta.get("name", run.run["name"]) == "tiny-bert"
    assert run.exit[-1]["exit_code"] == 0


def test_transformers_log_model_end_logs_the_model_as_an_artifact(tmp_path):
    need("transformers", "torch")
    run_script("hf_trainer.py", tmp_path, str(tmp_path / "out"), "4", WANDB_LOG_MODEL="end")
    (folder,) = runs(tmp_path)
    run = Run(folder)
    (art,) = [a for a in run.artifacts if a.get("type") == "model" and "final_model" in a.get("aliases", [])]
    names = {f["path"] if isinstance(f, dict) else f for f in art.get("files", art.get("manifest", []))}
    assert any(n.endswith(("model.safetensors", "pytorch_model.bin")) for n in names), art
    assert "final_model" in art.get("aliases", [])
    assert run.exit[-1]["exit_code"] == 0


def test_transformers_watch_all_logs_gradient_and_parameter_histograms(tmp_path):
    need("transformers", "torch")
    run_script("hf_trainer.py", tmp_path, str(tmp_path / "out"), "110", WANDB_WATCH="all")
    (folder,) = runs(tmp_path)
    run = Run(folder)
    keys = run.keys()
    assert any(k.startswith("gradients/") for k in keys), sorted(keys)[:20]
    assert any(k.startswith("parameters/") for k in keys)
    hist = next(row["data"][k] for row in run.rows for k in row["data"] if k.startswith("gradients/"))
    assert hist["_type"] == "histogram" and len(hist["bins"]) == len(hist["counts"]) + 1


# ------------------------------------------------------------------ Lightning
def test_lightning_logs_metrics_at_trainer_global_step_with_hyperparameters(tmp_path):
    need("lightning", "torch")
    run_script("lightning_fit.py", tmp_path, str(tmp_path), "default")
    (folder,) = runs(tmp_path)
    run = Run(folder)
    steps = [s for s, _ in run.series("train/loss", "trainer/global_step")]
    assert steps == list(range(12)) or steps == list(range(1, 13)) or steps == sorted(steps) and len(steps) == 12
    assert len(run.series("val/loss", "trainer/global_step")) == 3
    assert run.config["lr"] == 0.05 and run.config["hidden"] == 4
    assert {m["name"]: m.get("step_metric") for m in run.metrics}.get("*") == "trainer/global_step"
    assert run.exit[-1]["exit_code"] == 0


def test_lightning_log_model_logs_checkpoints_as_artifacts_and_finishes_clean(tmp_path):
    need("lightning", "torch")
    run_script("lightning_fit.py", tmp_path, str(tmp_path), "log_model")
    (folder,) = runs(tmp_path)
    run = Run(folder)
    assert run.artifacts, "no artifact record"
    art = run.artifacts[-1]
    assert art["type"] == "model" and {"latest", "best"} <= set(art.get("aliases", []))
    assert run.exit[-1]["exit_code"] == 0


def test_lightning_watch_logs_histograms(tmp_path):
    need("lightning", "torch")
    run_script("lightning_fit.py", tmp_path, str(tmp_path), "watch")
    (folder,) = runs(tmp_path)
    keys = Run(folder).keys()
    assert any(k.startswith("gradients/net.") for k in keys), sorted(keys)
    assert any(k.startswith("parameters/net.") for k in keys)


def test_lightning_log_image_and_log_table(tmp_path):
    need("lightning", "torch")
    run_script("lightning_fit.py", tmp_path, str(tmp_path), "media")
    (folder,) = runs(tmp_path)
    run = Run(folder)
    (imgs,) = [row["data"]["samples"] for row in run.rows if "samples" in row["data"]]
    assert [i["_type"] for i in imgs] == ["image", "image"] and [i.get("caption") for i in imgs] == ["a", "b"]
    (table,) = [row["data"]["preds"] for row in run.rows if "preds" in row["data"]]
    assert table["_type"] == "table" and table["columns"] == ["id", "image", "score"] and table["nrows"] == 2
    import json

    cells = json.loads((folder / table["path"]).read_text())["data"]
    assert cells[0][1]["_type"] == "image" and (folder / cells[0][1]["path"]).is_file()


# ------------------------------------------------------------------ accelerate
def test_accelerate_logs_through_its_wandb_tracker(tmp_path):
    need("accelerate", "torch")
    run_script("accelerate_loop.py", tmp_path)
    (folder,) = runs(tmp_path)
    run = Run(folder)
    assert [row["step"] for row in run.rows] == list(range(8))
    assert all("train_loss" in row["data"] for row in run.rows)
    assert run.config == {"lr": 0.1, "epochs": 2}
    assert run.run["project"] == "accelerate-demo" and run.run["tags"] == ["acc"]
    assert run.exit[-1]["exit_code"] == 0


# ------------------------------------------------------------------ online, end to end
@pytest.fixture(scope="module")
def server(tmp_path_factory):
    from support.server import sqlite_harness

    with sqlite_harness(tmp_path_factory.mktemp("frameworks-srv")) as h:
        yield h


def test_lightning_online_run_reads_back_through_the_api_with_its_model_artifact(server, tmp_path, monkeypatch):
    need("lightning", "torch")
    from eventlog.client import credentials

    user, key = server.user("light")
    cfg = tmp_path / "cfg"
    env = {"EVLOG_CONFIG_DIR": str(cfg), "EVLOG_BASE_URL": server.url, "EVLOG_SINKS": "http",
           "EVLOG_FINISH_TIMEOUT": "120", "WANDB_MODE": ""}
    credentials.save(server.url, key, user, env={"EVLOG_CONFIG_DIR": str(cfg)})
    out = run_script("lightning_fit.py", tmp_path, str(tmp_path), "log_model", **env)
    run_id = out.stdout.split("RUN", 1)[1].split()[0]
    import eventlog

    monkeypatch.setenv("EVLOG_CONFIG_DIR", str(cfg))
    monkeypatch.setenv("EVLOG_BASE_URL", server.url)
    for var in ("EVLOG_API_KEY", "WANDB_API_KEY", "WANDB_BASE_URL"):
        monkeypatch.delenv(var, raising=False)
    api = eventlog.Api()
    run = api.run(f"{user}/lightning-demo/{run_id}")
    assert run.state == "finished" and run.config["lr"] == 0.05
    rows = list(run.scan_history(keys=["train/loss", "trainer/global_step"]))
    assert len(rows) == 12 and [r["trainer/global_step"] for r in rows] == sorted(r["trainer/global_step"] for r in rows)
    # the server knows the x axis Lightning defined, and holds the checkpoint artifact with its aliases
    got = server.get(f"/api/v1/runs/{user}/lightning-demo/{run_id}", key).json()
    assert any(m.get("name") == "*" and m.get("step_metric") == "trainer/global_step"
               for m in (got["metrics"] if isinstance(got["metrics"], list) else
                         [dict(v, name=k) for k, v in got["metrics"].items()]))
    logged = server.get(f"/api/v1/runs/{user}/lightning-demo/{run_id}/artifacts", key).json()["logged"]
    assert logged and {"latest", "best"} <= set(logged[-1]["aliases"] if "aliases" in logged[-1]
                                                else logged[-1]["version"]["aliases"])
    art = api.artifact(f"{user}/lightning-demo/model-{run_id}:best")
    path = Path(art.download(root=str(tmp_path / "dl")))
    ckpt = next(Path(tmp_path / "ckpt").glob("*.ckpt"))
    assert (path / "model.ckpt").read_bytes() == ckpt.read_bytes()
