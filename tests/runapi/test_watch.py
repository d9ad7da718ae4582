"""`run.watch()` / `unwatch()` with a real torch model on CPU (issue 13 section 2): histograms of
gradients and parameters every `log_freq` batches, at the step the loop commits, under wandb's
key names; one set of hooks per model; unwatch removes them; clear errors."""
from __future__ import annotations

import subprocess
import sys
import textwrap

import pytest

from support.run import of_type, records

torch = pytest.importorskip("torch")


def model():
    torch.manual_seed(0)
    return torch.nn.Sequential(torch.nn.Linear(3, 4), torch.nn.ReLU(), torch.nn.Linear(4, 1))


PARAMS = ["0.weight", "0.bias", "2.weight", "2.bias"]


def train(run, m, steps, seen=None):
    """A training loop: forward, backward, step, log the loss (which commits the step). `seen`
    collects, per step, each parameter's values at the forward pass and its gradient."""
    opt = torch.optim.SGD(m.parameters(), lr=0.1)
    for step in range(steps):
        before = {n: p.detach().clone() for n, p in m.named_parameters()}
        loss = m(torch.randn(8, 3)).pow(2).mean()
        opt.zero_grad()
        loss.backward()
        if seen is not None:
            seen[run.step] = (before, {n: p.grad.detach().clone() for n, p in m.named_parameters()})
        opt.step()
        run.log({"loss": loss.item()})


def rows(run):
    return {r.body["step"]: r.body["data"] for r in of_type(records(run.dir), "history")}


def hooks(m):
    """(forward hooks on the model, tensor hooks on its parameters)."""
    return len(m._forward_hooks), sum(len(p._backward_hooks or {}) for p in m.parameters())


def test_watch_all_logs_histograms_of_parameters_and_gradients_every_log_freq_batches(ev):
    run = ev.init()
    m = model()
    seen = {}
    run.watch(m, log="all", log_freq=3)
    train(run, m, 7, seen)
    run.finish()
    got = rows(run)
    assert sorted(got) == list(range(7))
    expected = sorted([f"parameters/{n}" for n in PARAMS] + [f"gradients/{n}" for n in PARAMS] + ["loss"])
    for step, data in got.items():
        if step in (2, 5):  # the 3rd and 6th batch
            assert sorted(data) == expected, step
        else:
            assert list(data) == ["loss"], step
    for step in (2, 5):
        before, grads = seen[step]
        for name in PARAMS:
            for kind, tensor in (("parameters", before[name]), ("gradients", grads[name])):
                h = got[step][f"{kind}/{name}"]
                assert h["_type"] == "histogram" and len(h["bins"]) == 65 and len(h["counts"]) == 64
                assert sum(h["counts"]) == tensor.numel(), "every value counted once"
                lo, hi = tensor.min().item(), tensor.max().item()
                if lo == hi:
                    lo, hi = lo - 0.5, hi + 0.5
                assert h["bins"][0] == pytest.approx(lo) and h["bins"][-1] == pytest.approx(hi)


@pytest.mark.parametrize("log, kinds", [("gradients", {"gradients"}), ("parameters", {"parameters"}), (None, set())])
def test_log_chooses_what_is_logged_and_gradients_is_the_default(ev, log, kinds):
    run = ev.init()
    m = model()
    if log == "gradients":
        ev.watch(m, log_freq=1)  # module-level, default log="gradients"
    else:
        ev.watch(m, log=log, log_freq=1)
    train(run, m, 2)
    run.finish()
    for data in rows(run).values():
        assert {k.split("/")[0] for k in data if k != "loss"} == kinds


def test_a_model_watched_twice_is_hooked_once_and_unwatch_removes_every_hook(ev):
    run = ev.init()
    m = model()
    run.watch(m, log="all", log_freq=5)
    run.watch(m, log="all", log_freq=2)  # again: replaces the hooks (and log_freq)
    assert hooks(m) == (1, len(PARAMS))
    train(run, m, 4)
    run.unwatch()
    assert hooks(m) == (0, 0)
    train(run, m, 4)
    run.finish()
    with_hist = sorted(s for s, d in rows(run).items() if "gradients/0.weight" in d)
    assert with_hist == [1, 3], "every 2nd batch while watched, nothing after unwatch"


def test_several_models_get_wandbs_prefixes_and_unwatch_of_one_leaves_the_other(ev):
    run = ev.init()
    a, b = model(), model()
    run.watch([a, b], log="parameters", log_freq=1)
    a(torch.randn(2, 3))
    b(torch.randn(2, 3))
    run.log({"step": 0})
    run.unwatch(a)
    assert hooks(a) == (0, 0) and hooks(b) == (1, 0)
    with pytest.warns(ev.EvlogWarning, match="not watched"):
        run.unwatch(a)
    a(torch.randn(2, 3))
    b(torch.randn(2, 3))
    run.log({"step": 1})
    run.finish()
    got = rows(run)
    assert {k for k in got[0] if k.startswith("parameters/")} == (
        {f"parameters/{n}" for n in PARAMS} | {f"parameters/graph_1{n}" for n in PARAMS})
    assert {k for k in got[1] if k.startswith("parameters/")} == {f"parameters/graph_1{n}" for n in PARAMS}


def test_hooks_of_a_finished_run_log_nothing_and_raise_nothing(ev):
    run = ev.init()
    m = model()
    run.watch(m, log="all", log_freq=1)
    run.finish()
    m(torch.randn(2, 3)).sum().backward()  # training goes on after finish(): the hooks stay quiet
    assert of_type(records(run.dir), "history") == []


@pytest.mark.parametrize("call, error, words", [
    (lambda ev, m: ev.watch("model"), "ArgumentTypeError", ["models", "torch.nn.Module", "str"]),
    (lambda ev, m: ev.watch([m, 3]), "ArgumentTypeError", ["models[1]", "int"]),
    (lambda ev, m: ev.watch(m, log="weights"), "UsageError", ["log='weights'", "gradients"]),
    (lambda ev, m: ev.watch(m, log_freq="10"), "ArgumentTypeError", ["log_freq"]),
    (lambda ev, m: ev.watch(m, idx=-1), "ArgumentTypeError", ["idx"]),
])
def test_bad_arguments_raise_typed_errors_naming_them(ev, call, error, words):
    run = ev.init()
    m = model()
    with pytest.raises(getattr(ev, error)) as info:
        call(ev, m)
    for w in words:
        assert w in str(info.value)
    assert hooks(m) == (0, 0)
    run.finish()


def test_watch_without_a_run_or_without_torch_says_what_is_missing(ev, tmp_path):
    with pytest.raises(ev.NoRunError, match="watch"):
        ev.watch(model())
    code = textwrap.dedent("""
        import sys
        sys.modules["torch"] = None  # torch not installed
        import eventlog
        run = eventlog.init(mode="disabled")
        try:
            eventlog.watch(object())
        except eventlog.UsageError as exc:
            print(type(exc).__name__, exc)
    """)
    p = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, cwd=tmp_path)
    assert p.returncode == 0, p.stderr
    assert p.stdout.startswith("UsageError") and "torch is not installed" in p.stdout and "models" in p.stdout
